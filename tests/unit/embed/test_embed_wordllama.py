"""The fast embedder: WordLlama's packaged 256-d weights, offline."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from slabdb.embed import get_embedder
from slabdb.embed.wordllama import WordLlamaEmbedder

# Run in a fresh interpreter with the Hugging Face hub offline and every non-loopback
# connection refused: loading must need neither.
OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys

    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"network access attempted: {address!r}")
        return real_connect(self, address)

    socket.socket.connect = guarded_connect
    socket.create_connection = lambda *a, **k: (_ for _ in ()).throw(OSError("network"))

    from slabdb.embed import get_embedder

    embedder = get_embedder("wordllama")
    vectors = embedder.embed_documents(["the cat sat", "a dog barked", "stock prices fell"])
    print(json.dumps({"shape": list(vectors.shape), "norms": vectors.tolist()}))
    """
)


def test_loads_and_embeds_offline_in_a_fresh_process() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["HOME"] = "/nonexistent-home"  # no ~/.cache/wordllama to fall back on
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["shape"] == [3, 256]
    vectors = np.array(out["norms"], dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    embedder = get_embedder("wordllama")
    assert isinstance(embedder, WordLlamaEmbedder)
    return embedder


def test_vectors_are_256_dimensional_unit_float32(
    wordllama: WordLlamaEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["The cat sleeps on the sofa.", "Interest rates went up.", "guitar music"]
    vectors = wordllama.embed_documents(texts)
    assert vectors.shape == (3, 256) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert wordllama.dimension == 256 and wordllama.name == "wordllama"
    single = np.stack([wordllama.embed_query(t) for t in texts])
    np.testing.assert_allclose(single, vectors, atol=1e-5)


def test_related_texts_are_closer(wordllama: WordLlamaEmbedder) -> None:
    a, p, u = wordllama.embed_documents(
        [
            "The central bank raised interest rates.",
            "Interest rates were increased by the central bank.",
            "My dog likes to chase tennis balls.",
        ]
    )
    assert float(a @ p) > float(a @ u)


def test_long_and_empty_inputs(wordllama: WordLlamaEmbedder) -> None:
    vectors = wordllama.embed_documents(["word " * 50_000, ""])
    assert vectors.shape == (2, 256)
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
    assert not vectors[1].any()  # nothing to average: the zero vector, not NaN


def test_matryoshka_dimension() -> None:
    small = get_embedder("wordllama", dimension=64)
    assert small.embed_documents(["hello world"]).shape == (1, 64)
    with pytest.raises(ValueError):
        get_embedder("wordllama", dimension=100)


def test_import_leaves_root_logger_alone() -> None:
    script = (
        "import logging\n"
        "from slabdb.embed import get_embedder\n"
        "get_embedder('wordllama').load()\n"
        "root = logging.getLogger()\n"
        "print(len(root.handlers), root.level)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", str(logging.WARNING)]
