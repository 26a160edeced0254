"""Behaviour events: their types, weights and validation."""

from cartwise.events.event import EVENT_TYPES, EVENT_WEIGHTS, Event, EventType

__all__ = ["EVENT_TYPES", "EVENT_WEIGHTS", "Event", "EventType"]
