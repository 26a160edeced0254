"""The contract every text encoder meets: texts in, L2-normalised float32 rows out.

Items and queries are encoded by separate methods because asymmetric models (E5) embed
them with different prefixes; symmetric models simply share one path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from cartwise.errors import ValidationError

# Called after each batch with (texts encoded so far, total texts).
ProgressCallback = Callable[[int, int], None]


@runtime_checkable
class TextEncoder(Protocol):
    """A sentence-embedding model; rows of every returned matrix have unit L2 norm."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode_items(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        on_progress: ProgressCallback | None = None,
    ) -> NDArray[np.float32]: ...

    def encode_queries(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """A list of strings, or a ValidationError naming the first bad entry."""
    if isinstance(texts, str):
        raise ValidationError("expected a sequence of texts, got a single string", hint="wrap it in a list")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValidationError(f"text at position {position} is {type(text).__name__}, expected str")
    return texts


def l2_normalise(matrix: NDArray[np.floating]) -> NDArray[np.float32]:
    """Rows scaled to unit length; all-zero rows stay zero instead of becoming NaN."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def encode_in_batches(
    encode_batch: Callable[[list[str]], NDArray[np.floating]],
    texts: list[str],
    dim: int,
    *,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> NDArray[np.float32]:
    """Run `encode_batch` over slices of `texts`, reporting progress after each slice."""
    if batch_size < 1:
        raise ValidationError(f"batch_size must be at least 1, got {batch_size}", field="batch_size")
    out = np.empty((len(texts), dim), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        out[start : start + len(batch)] = encode_batch(batch)
        if on_progress is not None:
            on_progress(start + len(batch), len(texts))
    return l2_normalise(out)
