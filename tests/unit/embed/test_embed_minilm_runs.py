"""MiniLM runs each batch in groups of similar token count (``length_runs``): the vectors
are those of embedding each text alone, in the input's order."""

from __future__ import annotations

import numpy as np
import pytest

from slabdb.embed.local import MiniLMEmbedder, length_runs


def test_length_runs_group_by_length_within_the_budget() -> None:
    lengths = [200, 10, 12, 250, 11, 90, 95]
    runs = length_runs(lengths, budget=300)
    assert sorted(p for run in runs for p in run) == list(range(len(lengths)))
    for run in runs:
        assert len(run) == 1 or max(lengths[p] for p in run) * len(run) <= 300
    flat = [lengths[p] for run in runs for p in run]
    assert flat == sorted(flat)  # shortest first, so each run pads little
    assert runs[0] == [1, 4, 2]  # the three short texts share one run


def test_a_text_longer_than_the_budget_gets_a_run_of_its_own() -> None:
    assert length_runs([500, 5], budget=100) == [[1], [0]]


def test_run_tokens_must_be_positive() -> None:
    with pytest.raises(ValueError, match="run_tokens"):
        MiniLMEmbedder(run_tokens=0)


def test_runs_keep_the_input_order_and_the_vectors_of_single_texts() -> None:
    texts = [
        "gimp: GNU Image Manipulation Program " * 30,  # truncated at 256 tokens
        "vim",
        "libpq5: PostgreSQL C client library, the shared library of libpq",
        "",
        "darktable: virtual lighttable and darkroom for photographers " * 5,
        "a b c",
    ]
    grouped = MiniLMEmbedder(run_tokens=300).embed_documents(texts)
    alone = MiniLMEmbedder(batch_size=1).embed_documents(texts)
    np.testing.assert_allclose(grouped, alone, atol=1e-5)
    padded = MiniLMEmbedder(run_tokens=10**6).embed_documents(texts)  # one run, all padded
    np.testing.assert_allclose(grouped, padded, atol=1e-5)
