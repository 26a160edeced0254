"""Cartwise's exception hierarchy.

Every error a user can cause derives from :class:`CartwiseError`; the CLI prints its
message and the HTTP layer maps each subclass to a 4xx status with the same text.
"""

from __future__ import annotations


class CartwiseError(Exception):
    """Base class of every error Cartwise raises on purpose."""

    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, str | None]:
        return {"error": type(self).__name__, "message": self.message, "field": self.field, "hint": self.hint}


class ValidationError(CartwiseError):
    """Input that does not match the expected shape or range."""

    http_status = 422


class Unauthorized(CartwiseError):
    """An HTTP request without an API key, or with one that is unknown or revoked."""

    http_status = 401


class Forbidden(CartwiseError):
    """An HTTP request whose API key lacks the scope the endpoint needs."""

    http_status = 403


class NotFound(CartwiseError):
    """A referenced item, user or file does not exist."""

    http_status = 404


class NotTrained(CartwiseError):
    """A model was asked for answers before `cartwise train` ran."""

    http_status = 409


class StoreError(CartwiseError):
    """The store directory is missing, locked, from another version or corrupt."""

    http_status = 500


class StoreFull(StoreError):
    """The store cannot write: its disk is full or it lies on a read-only filesystem.
    Nothing of the write was kept; what was stored before is intact."""

    http_status = 507


class TrainerBusy(CartwiseError):
    """Another trainer (`cartwise train`, the retraining worker) holds the store's training
    lock: one trainer per store."""

    http_status = 409


class ModelMismatch(CartwiseError):
    """A saved model belongs to another store or an incompatible version."""

    http_status = 409


class BusUnavailable(CartwiseError):
    """The event bus could not take or give a message (down, unreachable, timed out):
    nothing was acknowledged, so the client may retry."""

    http_status = 503
