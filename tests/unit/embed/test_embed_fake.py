"""The deterministic test embedder in slabdb.testing."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from slabdb.embed import EmbeddingUnavailableError
from slabdb.testing import FakeEmbedder, FlakyEmbedder, hash_vector

TEXTS = ["hello", "hello world", "", "ünïcödé ✓", "x" * 5000]


def test_same_text_same_vector_in_another_process() -> None:
    here = FakeEmbedder(dimension=32).embed_documents(TEXTS)
    script = (
        "import json, sys\n"
        "from slabdb.testing.embedders import FakeEmbedder\n"
        "texts = json.loads(sys.argv[1])\n"
        "print(json.dumps(FakeEmbedder(dimension=32).embed_documents(texts).tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONHASHSEED": "12345", **__import__("os").environ},
    )
    assert result.returncode == 0, result.stderr
    there = np.array(json.loads(result.stdout), dtype=np.float32)
    np.testing.assert_array_equal(here, there)


def test_vectors_are_pinned() -> None:
    # A change here changes every fake vector users' tests may have stored: don't.
    vector = hash_vector("hello", 4)
    np.testing.assert_allclose(vector, [0.142115, 0.679408, 0.474579, 0.541280], atol=1e-4)


def test_shape_norm_and_distinctness() -> None:
    embedder = FakeEmbedder(dimension=16)
    vectors = embedder.embed_documents(TEXTS)
    assert vectors.shape == (len(TEXTS), 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert len({v.tobytes() for v in vectors}) == len(TEXTS)
    np.testing.assert_array_equal(embedder.embed_query("hello"), vectors[0])
    assert embedder.describe()["model"] == "fake-shake256-16"


def test_seed_changes_vectors_and_long_text_is_truncated() -> None:
    a = FakeEmbedder(dimension=8).embed_query("text")
    b = FakeEmbedder(dimension=8, seed="other").embed_query("text")
    assert not np.allclose(a, b)
    cut = FakeEmbedder(dimension=8, max_input_chars=10)
    np.testing.assert_array_equal(cut.embed_query("y" * 10 + "tail"), cut.embed_query("y" * 10))


def test_records_batches() -> None:
    embedder = FakeEmbedder(dimension=4, batch_size=2)
    embedder.embed_documents(["a", "b", "c"])
    embedder.embed_query("q")
    assert embedder.calls == [("document", ["a", "b"]), ("document", ["c"]), ("query", ["q"])]
    assert embedder.texts_embedded == 4


def test_flaky_embedder_fails_then_delegates() -> None:
    inner = FakeEmbedder(dimension=4)
    flaky = FlakyEmbedder(inner, failures=2)
    for _ in range(2):
        with pytest.raises(EmbeddingUnavailableError):
            flaky.embed_documents(["a"])
    np.testing.assert_array_equal(flaky.embed_documents(["a"]), inner.embed_documents(["a"]))
    assert flaky.dimension == 4 and flaky.name == "fake"
