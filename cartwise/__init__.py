"""Cartwise: self-hosted search and recommendations for online stores."""

__version__ = "0.1.0"

from cartwise.engine import Engine  # noqa: E402
from cartwise.errors import CartwiseError, ModelMismatch, NotFound, NotTrained, StoreError, ValidationError  # noqa: E402

__all__ = [
    "CartwiseError",
    "Engine",
    "ModelMismatch",
    "NotFound",
    "NotTrained",
    "StoreError",
    "ValidationError",
    "__version__",
]
