"""Embedders for tests: deterministic, instant, no model, no network.

:class:`FakeEmbedder` maps a text to a unit vector derived from SHAKE-256 of
``seed + text`` (little-endian uint32 words → floats in [-1, 1) → L2-normalised). The
vector depends only on the text, the seed and the dimension: identical in every process,
on every platform and under every numpy version. Similar texts are *not* similar
vectors (apart from identical texts); use it where vectors only need to be stable and
distinct. It records every batch it was asked for, so tests can check batching and
"nothing was re-embedded".

:class:`FlakyEmbedder` wraps another embedder and fails its first calls, for retry and
error-table tests.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from slabdb.embed.base import (
    Embedder,
    EmbeddingError,
    EmbeddingUnavailableError,
    FloatMatrix,
    InputKind,
)

FAKE_DEFAULT_DIMENSION = 384
"""Same as the default model, so a fake can stand in for it without changing an index."""
FAKE_DEFAULT_BATCH_SIZE = 64
FAKE_MAX_INPUT_TOKENS = 512
FAKE_MAX_INPUT_CHARS = 2048
"""Texts are cut to this many characters before hashing (truncation, like real models)."""


def hash_vector(text: str, dimension: int, seed: str = "") -> np.ndarray:
    """The fake embedding of one text: a float32 unit vector of ``dimension`` floats."""
    words = hashlib.shake_256((seed + "\x00" + text).encode("utf-8")).digest(4 * dimension)
    raw = np.frombuffer(words, dtype="<u4").astype(np.float64)
    vector = raw / 2.0**31 - 1.0  # [-1, 1)
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:  # pragma: no cover - needs 2**31 in every word
        vector = np.ones(dimension)
        norm = float(np.sqrt(dimension))
    return (vector / norm).astype(np.float32)


class FakeEmbedder(Embedder):
    """Hash-based embedder: same text → same unit vector, in any process.

    Args:
        dimension: Vector length.
        seed: Changes every vector (a "different model").
        batch_size: Texts per recorded batch.
        max_input_chars: Texts are cut to this length before hashing.
    """

    def __init__(
        self,
        dimension: int = FAKE_DEFAULT_DIMENSION,
        *,
        seed: str = "",
        batch_size: int = FAKE_DEFAULT_BATCH_SIZE,
        max_input_chars: int = FAKE_MAX_INPUT_CHARS,
    ) -> None:
        if dimension < 1 or batch_size < 1 or max_input_chars < 1:
            raise ValueError("dimension, batch_size and max_input_chars must be at least 1")
        self._dimension = dimension
        self._seed = seed
        self._batch_size = batch_size
        self._max_input_chars = max_input_chars
        self._lock = threading.Lock()
        self.calls: list[tuple[InputKind, list[str]]] = []
        """Every backend batch, in order: ``(kind, texts)``."""

    @property
    def name(self) -> str:
        return "fake"

    @property
    def model(self) -> str:
        return f"fake-shake256-{self._dimension}" + (f"-{self._seed}" if self._seed else "")

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int:
        return FAKE_MAX_INPUT_TOKENS

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def texts_embedded(self) -> int:
        """How many texts were embedded so far (all calls)."""
        with self._lock:
            return sum(len(texts) for _, texts in self.calls)

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        with self._lock:
            self.calls.append((kind, list(texts)))
        return np.stack(
            [hash_vector(t[: self._max_input_chars], self._dimension, self._seed) for t in texts]
        )


class FlakyEmbedder(Embedder):
    """Delegates to ``inner`` but raises ``error`` on its first ``failures`` batches."""

    def __init__(
        self,
        inner: Embedder,
        *,
        failures: int = 1,
        error: EmbeddingError | None = None,
    ) -> None:
        self.inner = inner
        self.failures_left = failures
        self.error = error or EmbeddingUnavailableError("injected transient failure")
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_input_tokens(self) -> int:
        return self.inner.max_input_tokens

    @property
    def batch_size(self) -> int:
        return self.inner.batch_size

    @property
    def normalized(self) -> bool:
        return self.inner.normalized

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        with self._lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                raise self.error
        if kind == "query":
            return self.inner.embed_queries(texts)
        return self.inner.embed_documents(texts)
