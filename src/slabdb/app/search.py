"""Search the products by meaning, by keyword, or both (one SlabDB query each).

* Semantic: the MiniLM query vector; the score is the cosine (vectors are unit length).
* Keyword: an all-zero dense vector and the BM25 query (normalised to ``[0, 1)``), so the
  score is the document's BM25 score over the query's best possible; zero-score rows are
  dropped.
* Hybrid: ``alpha · dense + (1 − alpha) · sparse``, Pinecone's convex combination on a
  ``dotproduct`` index.

The index holds chunks (``id#n``); results keep SlabDB's order and show each product
once, at its best chunk. A category becomes the metadata filter ``{"section": ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slabdb.app.index import Match, SearchIndex
from slabdb.app.sparse import BM25Encoder, SparseValues
from slabdb.embed.base import Embedder

DEFAULT_ALPHA = 0.5
DEFAULT_TOP_K = 20
CHUNKS_PER_RESULT = 3
"""Ask for this many chunks per wanted product: long descriptions take several."""


class Mode(StrEnum):
    SEMANTIC = "semantic"
    KEYWORD = "keyword"
    HYBRID = "hybrid"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @classmethod
    def parse(cls, raw: str | None) -> Mode:
        try:
            return cls((raw or "").lower())
        except ValueError:
            return cls.SEMANTIC


class KeywordStatsMissingError(Exception):
    """Keyword and hybrid search need the BM25 statistics, which are not built yet."""


@dataclass(frozen=True)
class Hit:
    product_id: int
    name: str
    summary: str
    section: str
    installed_size: int
    score: float


class Searcher:
    """Builds the query vectors for a mode and runs the query."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Callable[[], Embedder],
        encoder: Callable[[], BM25Encoder | None],
        *,
        alpha: float = DEFAULT_ALPHA,
        top_k: int = DEFAULT_TOP_K,
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError("alpha must be in [0, 1]")
        self.index = index
        self._embedder = embedder
        self._encoder = encoder
        self.alpha = alpha
        self.top_k = top_k

    def _vectors(self, text: str, mode: Mode) -> tuple[list[float], SparseValues | None]:
        embedder = self._embedder()
        if mode is Mode.SEMANTIC:
            return [float(x) for x in embedder.embed_query(text)], None
        encoder = self._encoder()
        if encoder is None:
            raise KeywordStatsMissingError("keyword statistics are not built yet")
        sparse = encoder.encode_query(text)
        if mode is Mode.KEYWORD:
            return [0.0] * embedder.dimension, sparse
        dense = [self.alpha * float(x) for x in embedder.embed_query(text)]
        weight = 1.0 - self.alpha
        return dense, {
            "indices": sparse["indices"],
            "values": [weight * v for v in sparse["values"]],
        }

    def search(self, text: str, mode: Mode, section: str = "") -> list[Hit]:
        dense, sparse = self._vectors(text, mode)
        if mode is Mode.KEYWORD and not (sparse and sparse["indices"]):
            return []
        matches = self.index.query(
            vector=dense,
            sparse=sparse,
            filter={"section": {"$eq": section}} if section else None,
            top_k=self.top_k * CHUNKS_PER_RESULT,
        )
        return best_chunk_per_product(matches, self.top_k, drop_zero=mode is Mode.KEYWORD)


def best_chunk_per_product(matches: list[Match], limit: int, *, drop_zero: bool) -> list[Hit]:
    """One hit per product, in the order SlabDB ranked their best chunks."""
    seen: set[int] = set()
    out: list[Hit] = []
    for m in matches:
        if drop_zero and m.score <= 0:
            continue
        pid = _product_id(m)
        if pid is None or pid in seen:
            continue
        seen.add(pid)
        out.append(_hit(pid, m.metadata, m.score))
        if len(out) >= limit:
            break
    return out


def _product_id(m: Match) -> int | None:
    raw: Any = m.metadata.get("id", m.id.split("#", 1)[0])
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _hit(pid: int, meta: dict[str, Any], score: float) -> Hit:
    return Hit(
        product_id=pid,
        name=str(meta.get("name", "")),
        summary=str(meta.get("summary", "")),
        section=str(meta.get("section", "")),
        installed_size=int(meta.get("installed_size", 0) or 0),
        score=score,
    )
