"""Online learning: what the answers learn from each event as it is accepted, between two
`cartwise train` runs.

The trained models stay as they are; this package keeps small deltas beside them: decayed
popularity and trending counters (:mod:`~cartwise.online.counters`), item co-occurrence
counted since training (:mod:`~cartwise.online.cooccurrence`), bundled into one immutable
:class:`~cartwise.online.deltas.OnlineDeltas` that is published with the live state, and
built by :class:`~cartwise.online.layer.OnlineLayer` from the events each commit stored.
:mod:`~cartwise.online.answers` fuses model and deltas into the answers' candidates;
:class:`~cartwise.online.clicks.OnlineClickLayer` is the click model's online part, taught by
:class:`~cartwise.online.clicks.ImpressionLearner` from the answers shoppers act on.
"""

from cartwise.online.clicks import ImpressionLearner, OnlineClickLayer
from cartwise.online.cooccurrence import CoCounts
from cartwise.online.counters import DecayedCounts
from cartwise.online.deltas import OnlineDeltas
from cartwise.online.layer import OnlineLayer

__all__ = ["CoCounts", "DecayedCounts", "ImpressionLearner", "OnlineClickLayer", "OnlineDeltas", "OnlineLayer"]
