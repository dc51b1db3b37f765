"""Embedders for sync tests that run in worker subprocesses (by ``module:Factory`` name).

* :class:`SlowFakeEmbedder`: a :class:`FakeEmbedder` that sleeps per batch, so a test
  can kill a worker in the middle of one.
* :class:`PoisonEmbedder`: rejects any batch containing a marker string, permanently
  (:class:`EmbeddingRejectedError`) or transiently, like a backend choking on some rows.
"""

from __future__ import annotations

import time

from slabdb.embed.base import (
    EmbeddingRejectedError,
    EmbeddingUnavailableError,
    FloatMatrix,
    InputKind,
)
from slabdb.testing.embedders import FakeEmbedder


class SlowFakeEmbedder(FakeEmbedder):
    """Same vectors as ``FakeEmbedder(dimension)``; sleeps ``delay_seconds`` per batch."""

    def __init__(
        self, dimension: int = 16, *, delay_seconds: float = 0.05, batch_size: int = 64
    ) -> None:
        super().__init__(dimension, batch_size=batch_size)
        self.delay_seconds = delay_seconds

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        time.sleep(self.delay_seconds)
        return super()._embed_batch(texts, kind)


class PoisonEmbedder(FakeEmbedder):
    """Fails every batch that contains ``marker``; the rest embed like ``FakeEmbedder``."""

    def __init__(
        self, dimension: int = 16, *, marker: str = "POISON", transient: bool = False
    ) -> None:
        super().__init__(dimension)
        self.marker = marker
        self.transient = transient

    def _embed_batch(self, texts: list[str], kind: InputKind) -> FloatMatrix:
        if any(self.marker in t for t in texts):
            if self.transient:
                raise EmbeddingUnavailableError(f"backend keeps timing out on {self.marker}")
            raise EmbeddingRejectedError(f"backend rejected a text containing {self.marker}")
        return super()._embed_batch(texts, kind)
