"""Stage 1 of the search: top-k cosine neighbours of the global embeddings.

Exact search with NumPy (one matrix-vector product and a partial sort) is
the default; `faiss` (the optional `faiss-cpu` package, an exact flat
inner-product index here) is used when asked for and importable.
"""

import numpy as np


def normalize_rows(matrix):
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    matrix = np.asarray(matrix, dtype="float32")
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def top_k(database, queries, k):
    """Exact top-k inner products.

    Args:
        database: float32 `(N, d)`, rows already normalised for cosine.
        queries: float32 `(Q, d)`.
        k: neighbours per query (clipped to N).

    Returns:
        `(scores, indices)`, each `(Q, k)`, best first; equal scores are
        ordered by row index.
    """
    k = min(int(k), database.shape[0])
    scores = np.asarray(queries, "float32") @ np.asarray(database, "float32").T
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    indices = np.take_along_axis(part, order, axis=1)
    return np.take_along_axis(scores, indices, axis=1), indices


def faiss_available():
    """Whether the optional `faiss` package can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class FaissIndex:
    """An exact inner-product faiss index (`IndexFlatIP`) over normalised rows.

    Args:
        database: float32 `(N, d)`.
    """

    def __init__(self, database):
        import faiss

        database = np.ascontiguousarray(database, dtype="float32")
        self._index = faiss.IndexFlatIP(database.shape[1])
        self._index.add(database)
        self.size = database.shape[0]

    def top_k(self, queries, k):
        """`(scores, indices)` like `top_k`."""
        scores, indices = self._index.search(np.ascontiguousarray(queries, "float32"), min(int(k), self.size))
        return scores, indices
