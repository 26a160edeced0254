"""Vector search: cosine nearest neighbours over item embeddings, with filter masks.

:class:`VectorIndex` is exact for small catalogs and HNSW (usearch) above a threshold;
both answer the same `search` and persist with `save`/`load`.
"""

from cartwise.vectors.index import Neighbours, VectorIndex

__all__ = ["Neighbours", "VectorIndex"]
