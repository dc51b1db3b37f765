"""BM25 sparse vectors, so keyword search finds exact names like ``libpq5``.

Tokens come from the ``bm25s`` library (its regex splitter, English stop words and the
Snowball stemmer of ``PyStemmer``), so ``photos`` and ``photo`` meet. Each token is hashed
to a 32-bit sparse index (CRC-32 of its UTF-8 bytes): the encoder needs no vocabulary,
the query side is stateless, and the rare collision (about one pair in 100,000 tokens)
only merges two tokens' weights.

A document's weight for token ``t`` is the Lucene BM25 term score
``idf(t) · tf / (tf + k1 · (1 − b + b · len / avg_len))`` with
``idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5))``, and a query's weight is how often the
token occurs, so the dot product the index computes is the document's BM25 score (the
same number as ``bm25s.BM25(method="lucene")``, a test checks it).
:meth:`BM25Encoder.encode_query` divides by the largest score the query could reach
(``Σ count · idf``), which puts keyword scores in ``[0, 1)`` next to cosine scores for
hybrid ranking. The corpus statistics (N, average length, document frequency per hash)
are fitted once on the catalog and saved (titles included, see :data:`TITLE_REPEAT`); texts edited later are encoded with them
(a new word has ``df = 0``: the highest idf).
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TITLE_REPEAT = 2
"""A document's title (the package name) counts this many extra times, a simple BM25F:
``libpq5`` outranks packages whose descriptions merely mention it."""
DEFAULT_K1 = 1.2
DEFAULT_B = 0.75
STATS_VERSION = 1

SparseValues = dict[str, list[Any]]
"""``{"indices": [uint32, ...], "values": [float, ...]}`` as Pinecone's API takes it."""


def token_index(token: str) -> int:
    """The sparse index of a token: CRC-32 of its UTF-8 bytes (stable across processes)."""
    return zlib.crc32(token.encode("utf-8"))


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop words removed, stemmed tokens of each text (``bm25s``)."""
    import bm25s
    import Stemmer

    if not texts:
        return []
    out = bm25s.tokenize(
        list(texts),
        stopwords="en",
        stemmer=Stemmer.Stemmer("english"),
        return_ids=False,
        show_progress=False,
    )
    return [list(tokens) for tokens in out]


def _with_titles(texts: Sequence[str], titles: Sequence[str] | None) -> list[list[str]]:
    docs = tokenize(texts)
    if titles is None:
        return docs
    if len(titles) != len(texts):
        raise ValueError(f"{len(titles)} titles for {len(texts)} texts")
    return [doc + tokens * TITLE_REPEAT for doc, tokens in zip(docs, tokenize(titles), strict=True)]


@dataclass
class BM25Stats:
    """What BM25 needs to know about the corpus."""

    n_docs: int
    avg_len: float
    doc_freq: dict[int, int] = field(default_factory=dict)
    k1: float = DEFAULT_K1
    b: float = DEFAULT_B

    def idf(self, index: int) -> float:
        df = self.doc_freq.get(index, 0)
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))


class BM25Encoder:
    """Texts to sparse vectors with fixed corpus statistics."""

    def __init__(self, stats: BM25Stats) -> None:
        self.stats = stats

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        titles: Iterable[str] | None = None,
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> BM25Encoder:
        texts = list(texts)
        docs = _with_titles(texts, None if titles is None else list(titles))
        doc_freq: Counter[int] = Counter()
        for tokens in docs:
            doc_freq.update({token_index(t) for t in tokens})
        n = len(docs)
        avg = sum(len(d) for d in docs) / n if n else 1.0
        return cls(BM25Stats(n, max(avg, 1.0), dict(doc_freq), k1, b))

    # -- encoding ------------------------------------------------------------------------

    def _document(self, tokens: list[str]) -> SparseValues:
        s = self.stats
        counts = Counter(token_index(t) for t in tokens)
        norm = s.k1 * (1 - s.b + s.b * len(tokens) / s.avg_len)
        pairs = sorted((i, s.idf(i) * tf / (tf + norm)) for i, tf in counts.items())
        return {"indices": [i for i, _ in pairs], "values": [float(v) for _, v in pairs]}

    def encode_documents(
        self, texts: Sequence[str], titles: Sequence[str] | None = None
    ) -> list[SparseValues]:
        """One sparse vector per text (empty ``indices`` for a text with no tokens);
        ``titles[i]`` is weighted up in document ``i``."""
        return [self._document(tokens) for tokens in _with_titles(texts, titles)]

    def encode_query(self, text: str, *, normalize: bool = True) -> SparseValues:
        """Token counts, divided by the query's largest possible score when ``normalize``."""
        tokens = tokenize([text])[0] if text.strip() else []
        counts = Counter(token_index(t) for t in tokens)
        best = sum(c * self.stats.idf(i) for i, c in counts.items())
        scale = 1.0 / best if normalize and best > 0 else 1.0
        pairs = sorted(counts.items())
        return {"indices": [i for i, _ in pairs], "values": [c * scale for _, c in pairs]}

    # -- persistence ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        s = self.stats
        return {
            "version": STATS_VERSION,
            "k1": s.k1,
            "b": s.b,
            "n_docs": s.n_docs,
            "avg_len": s.avg_len,
            "doc_freq": {str(k): v for k, v in sorted(s.doc_freq.items())},
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BM25Encoder:
        if raw.get("version") != STATS_VERSION:
            raise ValueError(f"unknown BM25 statistics version {raw.get('version')!r}")
        df = {int(k): int(v) for k, v in raw["doc_freq"].items()}
        return cls(BM25Stats(int(raw["n_docs"]), float(raw["avg_len"]), df, raw["k1"], raw["b"]))

    def save(self, path: Path) -> None:
        """Write the statistics (gzip JSON) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            json.dump(self.to_json(), f)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> BM25Encoder:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return cls.from_json(json.load(f))
