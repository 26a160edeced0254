"""Cartwise: self-hosted search and recommendations for online stores."""

from typing import TYPE_CHECKING, Any

from cartwise.errors import (
    CartwiseError,
    ModelMismatch,
    NotFound,
    NotTrained,
    StoreError,
    ValidationError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cartwise.engine import Engine


def __getattr__(name: str) -> Any:
    # The engine pulls in every model and the tokenizers; import it only when asked for,
    # so `import cartwise.evaluate` or the store stay light.
    if name == "Engine":
        from cartwise.engine import Engine

        return Engine
    raise AttributeError(f"module 'cartwise' has no attribute {name!r}")


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
