"""Stage-1 exact top-k against a plain Python reference."""

import numpy as np
import pytest

from dove_keras.search import nearest

pytestmark = pytest.mark.backend_independent


def _reference_top_k(database, query, k):
    scores = [float(np.dot(row, query)) for row in database]
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    return [scores[i] for i in order], order


def test_top_k_matches_python_reference_with_ties():
    rng = np.random.default_rng(0)
    database = nearest.normalize_rows(rng.standard_normal((50, 8)))
    database[[7, 21, 40]] = database[3]  # exact ties: ordered by row
    queries = nearest.normalize_rows(np.concatenate([database[3:4], rng.standard_normal((4, 8))]))
    for k in (1, 5, 50, 80):
        scores, indices = nearest.top_k(database, queries, k)
        assert indices.shape == (5, min(k, 50))
        for query, row_scores, row_indices in zip(queries, scores, indices):
            expected_scores, expected = _reference_top_k(database, query, k)
            assert row_indices.tolist() == expected
            np.testing.assert_allclose(row_scores, expected_scores, atol=1e-6)
    _, indices = nearest.top_k(database, queries[:1], 4)
    assert indices[0].tolist() == [3, 7, 21, 40]


def test_normalize_rows_keeps_zero_rows():
    rows = nearest.normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]])


def test_faiss_index_matches_numpy():
    pytest.importorskip("faiss", reason="faiss-cpu is an optional extra")
    rng = np.random.default_rng(1)
    database = nearest.normalize_rows(rng.standard_normal((200, 16)))
    queries = nearest.normalize_rows(rng.standard_normal((3, 16)))
    scores, indices = nearest.FaissIndex(database).top_k(queries, 10)
    expected_scores, expected = nearest.top_k(database, queries, 10)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
