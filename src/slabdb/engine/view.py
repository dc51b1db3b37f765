"""An immutable read view of one namespace: its sources, newest first.

Which version of an id is current is :mod:`slabdb.core.visibility`'s rule (highest LSN
across sources; a tombstone hides it).  A delete-all (a *cleared* memtable) hides every
source older than it.

Query is scatter-gather: every source returns its local top-k among live rows that
match the filter; a candidate counts only if no newer source holds a newer version of
its id.  When a source's top-k lost candidates that way, the view computes every row of
that source a newer source supersedes (cached per pair of immutable slabs) and asks the
source once more with those rows excluded, so the merged result is the exact top-k
among current records.  Filters apply inside each source, never after: if ``k``
records match, ``k`` come back.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slabdb.core.values import RecordVersion, SparseVector
from slabdb.core.visibility import newest, newest_per_id, supersedes
from slabdb.engine.sources import SlabSource, Source
from slabdb.filters import Expr
from slabdb.query.scoring import higher_is_better

F32 = npt.NDArray[np.float32]


class Hit:
    """One query result: a record's id and score; its current version is read on demand
    (a query that returns neither values nor metadata never decodes them)."""

    __slots__ = ("_row", "_source", "id", "score")

    def __init__(self, score: float, record_id: str, source: Source, row: int) -> None:
        self.score = score
        self.id = record_id
        self._source = source
        self._row = row

    @property
    def version(self) -> RecordVersion:
        return self._source.version(self._row)

    def __repr__(self) -> str:
        return f"Hit(id={self.id!r}, score={self.score!r})"


def _visible(sources: Sequence[Source]) -> tuple[Source, ...]:
    out: list[Source] = []
    for src in sources:
        out.append(src)
        if src.cleared:
            break
    return tuple(out)


class NamespaceView:
    """Sources of one namespace at one moment, newest first.

    ``pair_cache`` (owned by the namespace) remembers, for two immutable slabs, which
    rows of the older one the newer one supersedes, so views built after every write
    do not recompute it.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        pair_cache: dict[tuple[str, str], npt.NDArray[np.int64]] | None = None,
        applied_lsn: int = 0,
    ) -> None:
        self.sources = _visible(sources)
        self.applied_lsn = applied_lsn
        """Every write up to this LSN is visible in this view."""
        self._pair_cache = pair_cache if pair_cache is not None else {}
        self._shadows: dict[int, npt.NDArray[np.int64]] = {}
        # An empty source (the usual idle memtable) holds no candidate and shadows
        # nothing: queries skip it, and no candidate is checked against it.
        self._searched = tuple(p for p, src in enumerate(self.sources) if src.scan_rows > 0)
        self._heavy = tuple(p for p in self._searched if self.sources[p].worth_a_thread)
        self._newer = tuple(
            tuple(self.sources[q] for q in self._searched if q < p)
            for p in range(len(self.sources))
        )

    @staticmethod
    def _superseded_rows(older: Source, newer: Source) -> npt.NDArray[np.int64]:
        """Rows of ``older`` whose id ``newer`` holds at a higher LSN."""
        mine, theirs = older.row_map(), newer.row_map()
        rows: list[int] = []
        if len(theirs) <= len(mine):
            for rid, their_row in theirs.items():
                hit = mine.get(rid)
                if hit is not None and supersedes(newer.lsn_at(their_row), older.lsn_at(hit)):
                    rows.append(hit)
        else:
            for rid, row in mine.items():
                other = theirs.get(rid)
                if other is not None and supersedes(newer.lsn_at(other), older.lsn_at(row)):
                    rows.append(row)
        return np.asarray(rows, dtype=np.int64)

    def shadowed(self, position: int) -> npt.NDArray[np.int64]:
        """Rows of source ``position`` superseded by a newer source (sorted, unique)."""
        cached = self._shadows.get(position)
        if cached is not None:
            return cached
        older = self.sources[position]
        parts = []
        for newer in self.sources[:position]:
            if isinstance(older, SlabSource) and isinstance(newer, SlabSource):
                key = (older.slab_id, newer.slab_id)
                rows = self._pair_cache.get(key)
                if rows is None:
                    rows = self._pair_cache[key] = self._superseded_rows(older, newer)
            else:
                rows = self._superseded_rows(older, newer)
            parts.append(rows)
        out = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
        self._shadows[position] = out
        return out

    # --- point reads -------------------------------------------------------------------
    def current(self, record_id: str) -> RecordVersion | None:
        """The current live version of ``record_id``, or None if absent or deleted."""
        located = ((src, src.row_of(record_id)) for src in self.sources)
        best = newest((src.lsn_at(row), (src, row)) for src, row in located if row is not None)
        if best is None:
            return None
        version = best[0].version(best[1])
        return None if version.deleted else version

    def _is_current(self, position: int, record_id: str, lsn: int) -> bool:
        for src in self._newer[position]:
            newer = src.lsn_of(record_id)
            if newer is not None and supersedes(newer, lsn):
                return False
        return True

    # --- whole-namespace reads -----------------------------------------------------------
    @functools.cached_property
    def _live(self) -> dict[str, tuple[int, int]]:
        """id -> (source position, row) of every current live record."""
        best = newest_per_id(
            (record_id, lsn, (pos, row, deleted))
            for pos, src in enumerate(self.sources)
            for record_id, lsn, deleted, row in src.latest_rows()
        )
        return {rid: (pos, row) for rid, (_lsn, (pos, row, deleted)) in best.items() if not deleted}

    @functools.cached_property
    def sorted_ids(self) -> list[str]:
        return sorted(self._live)

    @property
    def count(self) -> int:
        return len(self._live)

    def matching_ids(self, expr: Expr | None) -> list[str]:
        """Ids of current live records whose metadata matches ``expr``, sorted."""
        if expr is None:
            return self.sorted_ids
        live = self._live
        out: list[str] = []
        for pos, src in enumerate(self.sources):
            for row in src.matching_rows(expr):
                rid = src.id_at(row)
                if live.get(rid) == (pos, row):
                    out.append(rid)
        return sorted(out)

    # --- similarity search -------------------------------------------------------------
    def query(
        self,
        *,
        vector: F32 | None,
        sparse: SparseVector | None,
        metric: str,
        top_k: int,
        expr: Expr | None,
        executor: Executor | None = None,
    ) -> list[Hit]:
        """The exact top-k current records matching ``expr``, best first."""
        if top_k <= 0 or not self._searched:
            return []
        request = _Search(vector, sparse, metric, top_k, expr)
        return self._merge(self._scatter(request, executor), metric, top_k)

    def _scatter(self, req: _Search, executor: Executor | None) -> list[_Candidates]:
        """(position, candidates) of every non-empty source; on the pool only when two or
        more sources pay for it.

        Sources worth a thread (:attr:`Source.worth_a_thread`) go to the pool, the rest
        run inline meanwhile; one big source and a handful of small ones run inline.
        """
        positions, heavy = self._searched, self._heavy
        if executor is None or len(heavy) < 2:
            return [(p, self._gather(req, p)) for p in positions]
        run = functools.partial(self._gather, req)
        futures = {p: executor.submit(run, p) for p in heavy[1:]}
        inline = {p: run(p) for p in positions if p not in futures}
        return [(p, inline[p] if p in inline else futures[p].result()) for p in positions]

    def _search_source(
        self, req: _Search, pos: int, k: int, exclude: npt.NDArray[np.int64] | None
    ) -> tuple[list[tuple[float, int]], bool]:
        """(current (score, row) candidates among the source's top ``k``, exhausted)."""
        src = self.sources[pos]
        rows, scores = src.search(req.vector, req.sparse, req.metric, k, req.expr, exclude)
        pairs = zip(scores.tolist(), rows.tolist(), strict=True)
        if not self._newer[pos]:  # nothing newer can supersede a row of this source
            return list(pairs), len(rows) < k
        current = [(s, r) for s, r in pairs if self._is_current(pos, src.id_at(r), src.lsn_at(r))]
        return current, len(rows) < k

    def _gather(self, req: _Search, pos: int) -> list[tuple[float, int]]:
        """The source's best ``top_k`` current candidates."""
        # An earlier query on this view may already know the superseded rows.
        current, exhausted = self._search_source(req, pos, req.top_k, self._shadows.get(pos))
        if len(current) >= req.top_k or exhausted:
            return current[: req.top_k]
        # Some of this source's best rows are superseded: leave every superseded row out
        # and search once more (doubling k only as a safety net).
        exclude, k = self.shadowed(pos), req.top_k
        while True:
            current, exhausted = self._search_source(req, pos, k, exclude)
            if len(current) >= req.top_k or exhausted:
                return current[: req.top_k]
            k *= 2

    def _merge(self, per_source: list[_Candidates], metric: str, top_k: int) -> list[Hit]:
        """The best ``top_k`` candidates by score, ties by id, one per id.

        Sorted by score alone first: ids are read only for the candidates walked (about
        ``top_k``), and sorted only within a run of equal scores.
        """
        sign = -1.0 if higher_is_better(metric) else 1.0
        merged = [(sign * score, pos, row) for pos, hits in per_source for score, row in hits]
        merged.sort(key=_sort_key)
        out: list[Hit] = []
        seen: set[str] = set()
        start = 0
        while start < len(merged) and len(out) < top_k:
            end = start + 1
            while end < len(merged) and merged[end][0] == merged[start][0]:
                end += 1
            tied = [(self.sources[pos].id_at(row), pos, row) for _, pos, row in merged[start:end]]
            tied.sort(key=_sort_key)
            for rid, pos, row in tied:
                if rid not in seen and len(out) < top_k:
                    seen.add(rid)
                    out.append(Hit(sign * merged[start][0], rid, self.sources[pos], row))
            start = end
        return out


_Candidates = tuple[int, list[tuple[float, int]]]
"""A source's position in the view and its (score, row) candidates."""
_sort_key = operator.itemgetter(0)


@dataclass(frozen=True)
class _Search:
    """One similarity search, as every source is asked it."""

    vector: F32 | None
    sparse: SparseVector | None
    metric: str
    top_k: int
    expr: Expr | None
