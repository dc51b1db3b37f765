"""Scores and top-k selection: what every source ranks by (slabdb.query.scoring)."""

import numpy as np
import pytest

from slabdb.query.scoring import dense_scores, top_k_rows, vector_norms


def _best_first(scores: np.ndarray, metric: str) -> list[int]:
    """Row numbers best first, ties by lower row (the reference, in plain Python)."""
    sign = -1.0 if metric != "euclidean" else 1.0
    return sorted(range(len(scores)), key=lambda row: (sign * float(scores[row]), row))


@pytest.mark.parametrize("metric", ["cosine", "dotproduct", "euclidean"])
@pytest.mark.parametrize("k", [1, 4, 39, 40, 60])
def test_top_k_rows_is_best_first_with_ties_by_lower_row(metric: str, k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.integers(-3, 4, size=40).astype(np.float32)  # many equal scores
    found = top_k_rows(scores, k, metric)
    assert found.dtype == np.int64
    assert found.tolist() == _best_first(scores, metric)[:k]


def test_top_k_rows_of_nothing_is_empty() -> None:
    assert top_k_rows(np.empty(0, np.float32), 10, "cosine").tolist() == []
    assert top_k_rows(np.ones(3, np.float32), 0, "cosine").tolist() == []


def test_cosine_scores_match_float64_and_a_zero_norm_scores_zero() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((20, 16)).astype(np.float32)
    query = rng.standard_normal(16).astype(np.float32)
    wide, q = matrix.astype(np.float64), query.astype(np.float64)
    truth = wide @ q / (np.linalg.norm(wide, axis=1) * np.linalg.norm(q))
    scores = dense_scores(matrix, vector_norms(matrix), query, "cosine")
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, truth, rtol=1e-5)
    matrix[3] = 0.0  # a zero row: 0, not NaN, and no warning
    with np.errstate(all="raise"):
        scores = dense_scores(matrix, vector_norms(matrix), query, "cosine")
        zero_query = dense_scores(matrix, vector_norms(matrix), np.zeros(16, np.float32), "cosine")
    assert scores[3] == 0.0 and np.isfinite(scores).all()
    assert not zero_query.any()
