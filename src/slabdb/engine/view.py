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
records match, ``k`` come back.  :meth:`NamespaceView.query_batch`
(:mod:`slabdb.engine.view_batch`) asks each source once for a block of queries.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from slabdb.core.values import RecordVersion, SparseVector
from slabdb.core.visibility import newest, newest_per_id
from slabdb.engine import code_groups, group_search, view_batch
from slabdb.engine.sources import SlabSource, Source
from slabdb.engine.view_batch import BATCH_BLOCK_QUERIES as BATCH_BLOCK_QUERIES
from slabdb.engine.view_batch import Candidates
from slabdb.filters import Expr
from slabdb.query.scoring import higher_is_better

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


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
        code_cache: code_groups.CodeGroupCache | None = None,
    ) -> None:
        self.sources = _visible(sources)
        self._code_cache = code_cache if code_cache is not None else code_groups.CodeGroupCache()
        self.applied_lsn = applied_lsn
        """Every write up to this LSN is visible in this view."""
        self._pair_cache = pair_cache if pair_cache is not None else {}
        self._shadows: dict[int, npt.NDArray[np.int64]] = {}
        self.group_plans: dict[tuple[int, int], Any] = {}
        """:mod:`slabdb.engine.group_search`'s unfiltered plans for this view."""
        # An empty source (the usual idle memtable) holds no candidate and shadows
        # nothing: queries skip it, and no candidate is checked against it.
        self._searched = tuple(p for p, src in enumerate(self.sources) if src.scan_rows > 0)
        self._heavy = tuple(p for p in self._searched if self.sources[p].worth_a_thread)
        self._newer = tuple(
            tuple(self.sources[q] for q in self._searched if q < p)
            for p in range(len(self.sources))
        )
        self._slabs_only = tuple(  # every newer non-empty source a slab: shadows cached
            isinstance(self.sources[p], SlabSource)
            and all(isinstance(src, SlabSource) for src in self._newer[p])
            for p in range(len(self.sources))
        )

    @property
    def searched_positions(self) -> tuple[int, ...]:
        """Positions of the non-empty sources (the ones a query searches)."""
        return self._searched

    @functools.cached_property
    def code_groups(self) -> tuple[code_groups.CodeGroup, ...]:
        """Slabs whose flat codes share a codebook, each group searched as one index."""
        return code_groups.view_groups(self, self._code_cache)

    @staticmethod
    def _superseded_rows(older: Source, newer: Source) -> I64:
        """Rows of ``older`` whose id ``newer`` holds at a higher LSN (sorted)."""
        mine, theirs = older.row_map(), newer.row_map()
        common = mine.keys() & theirs.keys()  # C-level, over the smaller of the two
        if not common:
            return np.empty(0, dtype=np.int64)
        old_rows = np.fromiter((mine[rid] for rid in common), np.int64, len(common))
        new_rows = np.fromiter((theirs[rid] for rid in common), np.int64, len(common))
        newer_wins = newer.lsns_at(new_rows) > older.lsns_at(old_rows)  # visibility's rule
        return np.sort(old_rows[newer_wins])

    def _pair_rows(self, older: Source, newer: Source) -> I64:
        """:meth:`_superseded_rows`, cached per pair of (immutable) slabs."""
        if not (isinstance(older, SlabSource) and isinstance(newer, SlabSource)):
            return self._superseded_rows(older, newer)
        key = (older.slab_id, newer.slab_id)
        rows = self._pair_cache.get(key)
        if rows is None:
            rows = self._pair_cache[key] = self._superseded_rows(older, newer)
        return rows

    def shadowed(self, position: int) -> I64:
        """Rows of source ``position`` superseded by a newer source (sorted, unique)."""
        cached = self._shadows.get(position)
        if cached is None:
            older = self.sources[position]
            cached = _union([self._pair_rows(older, newer) for newer in self.sources[:position]])
            self._shadows[position] = cached
        return cached

    # --- point reads -------------------------------------------------------------------
    def current(self, record_id: str) -> RecordVersion | None:
        """The current live version of ``record_id``, or None if absent or deleted."""
        located = ((src, src.row_of(record_id)) for src in self.sources)
        best = newest((src.lsn_at(row), (src, row)) for src, row in located if row is not None)
        if best is None:
            return None
        version = best[0].version(best[1])
        return None if version.deleted else version

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
        if len(self._searched) == 1:  # one non-empty source: nothing can shadow its rows
            pos = self._searched[0]
            rows, scores = self.sources[pos].search(vector, sparse, metric, top_k, expr)
            return self._merge([(pos, rows, scores)], metric, top_k)
        request = _Search(vector, sparse, metric, top_k, expr)
        grouped: list[Candidates] = []
        covered: frozenset[int] = frozenset()
        if sparse is None:
            grouped, covered = group_search.search_groups(self, vector, metric, top_k, expr)
        return self._merge(grouped + self._scatter(request, executor, covered), metric, top_k)

    def query_batch(
        self,
        *,
        vectors: F32,
        metric: str,
        top_k: int,
        expr: Expr | None,
        executor: Executor | None = None,
    ) -> list[list[Hit]]:
        """:meth:`query` of every row of ``vectors`` (an (n, d) float32 matrix), each
        source searched once per block of queries (:func:`view_batch.query_batch`)."""
        return view_batch.query_batch(
            self, vectors=vectors, metric=metric, top_k=top_k, expr=expr, executor=executor
        )

    def _scatter(
        self, req: _Search, executor: Executor | None, skip: frozenset[int] = frozenset()
    ) -> list[Candidates]:
        """(position, candidates) of every non-empty source not in ``skip``; on the pool
        only when two or more sources pay for it.

        Sources worth a thread (:attr:`Source.worth_a_thread`) go to the pool, the rest
        run inline meanwhile; one big source and a handful of small ones run inline.
        """
        positions, heavy = self._searched, self._heavy
        if skip:
            positions = tuple(p for p in positions if p not in skip)
            heavy = tuple(p for p in heavy if p not in skip)
        if executor is None or len(heavy) < 2:
            return [(p, *self._gather(req, p)) for p in positions]
        run = functools.partial(self._gather, req)
        futures = {p: executor.submit(run, p) for p in heavy[1:]}
        inline = {p: run(p) for p in positions if p not in futures}
        return [(p, *(inline[p] if p in inline else futures[p].result())) for p in positions]

    def known_shadows(self, position: int) -> I64 | None:
        """The source's superseded rows when they are known or cheap (every newer source
        a slab, whose pairs the namespace caches), else None."""
        known = self._shadows.get(position)
        if known is None and self._slabs_only[position]:
            known = self.shadowed(position)
        return known

    def current_rows(self, position: int, rows: I64) -> npt.NDArray[np.bool_]:
        """Which of ``rows`` (of source ``position``) no newer non-empty source supersedes:
        a membership test once the view knows the source's superseded rows
        (:meth:`shadowed`; always when every newer source is a slab, whose pairs the
        namespace caches), else the rows' ids looked up in each newer source's id map
        (one pass per source, the LSNs compared as arrays)."""
        known = self.known_shadows(position)
        if known is not None:
            return ~_members(rows, known)
        keep = np.ones(len(rows), dtype=np.bool_)
        if not len(rows):
            return keep
        src = self.sources[position]
        ids = src.ids_at(rows.tolist())
        lsns: I64 | None = None
        for newer in self._newer[position]:
            theirs = newer.row_map()
            found = [theirs.get(rid, -1) for rid in ids]
            if max(found) < 0:  # the usual case: no candidate has a newer version here
                continue
            at = np.asarray(found, dtype=np.int64)
            held = at >= 0
            lsns = src.lsns_at(rows) if lsns is None else lsns
            newer_lsns = np.zeros(len(rows), dtype=np.int64)
            newer_lsns[held] = newer.lsns_at(at[held])
            keep &= ~(held & (newer_lsns > lsns))  # visibility's rule: the higher LSN wins
        return keep

    def keep_current(self, pos: int, rows: I64, scores: F32, k: int) -> tuple[I64, F32, bool]:
        """(current rows of a source's top ``k``, their scores, the source exhausted)."""
        exhausted = len(rows) < k
        if not self._newer[pos]:  # nothing newer can supersede a row of this source
            return rows, scores, exhausted
        keep = self.current_rows(pos, rows)
        return rows[keep], scores[keep], exhausted

    def _search_source(
        self, req: _Search, pos: int, k: int, exclude: I64 | None
    ) -> tuple[I64, F32, bool]:
        """(current rows among the source's top ``k``, their scores, exhausted)."""
        src = self.sources[pos]
        rows, scores = src.search(req.vector, req.sparse, req.metric, k, req.expr, exclude)
        return self.keep_current(pos, rows, scores, k)

    def _gather(self, req: _Search, pos: int) -> tuple[I64, F32]:
        """The source's best ``top_k`` current (rows, scores)."""
        # An earlier query on this view may already know the superseded rows.
        rows, scores, exhausted = self._search_source(req, pos, req.top_k, self._shadows.get(pos))
        if len(rows) >= req.top_k or exhausted:
            return rows[: req.top_k], scores[: req.top_k]
        return self._search_excluding_shadowed(req, pos)

    def _search_excluding_shadowed(self, req: _Search, pos: int) -> tuple[I64, F32]:
        """Some of this source's best rows are superseded: leave every superseded row out
        and search once more (doubling k only as a safety net)."""
        exclude, k = self.shadowed(pos), req.top_k
        while True:
            rows, scores, exhausted = self._search_source(req, pos, k, exclude)
            if len(rows) >= req.top_k or exhausted:
                return rows[: req.top_k], scores[: req.top_k]
            k *= 2

    def _widened(
        self, vector: F32, metric: str, top_k: int, expr: Expr | None, pos: int
    ) -> tuple[I64, F32]:
        return self._search_excluding_shadowed(_Search(vector, None, metric, top_k, expr), pos)

    def _merge(self, per_source: list[Candidates], metric: str, top_k: int) -> list[Hit]:
        """The best ``top_k`` candidates by score, ties by id, one per id.

        Sorted by score alone first (one stable argsort): ids are read only for the
        candidates walked (about ``top_k``), and sorted only within a run of equal scores.
        """
        if len(per_source) == 1:  # one source: already best first
            return self._hits_of(*per_source[0], top_k)
        all_scores = np.concatenate([s for _p, _r, s in per_source])
        keys = -all_scores if higher_is_better(metric) else all_scores
        order = np.argsort(keys, kind="stable")
        positions = np.repeat(
            [p for p, _r, _s in per_source], [len(r) for _p, r, _s in per_source]
        )[order].tolist()
        row_list = np.concatenate([r for _p, r, _s in per_source])[order].tolist()
        return self._walk(positions, row_list, all_scores[order].tolist(), top_k)

    def _hits_of(self, pos: int, rows: I64, scores: F32, top_k: int) -> list[Hit]:
        """Hits of one source's candidates (best first): as they are when no two share a
        score or an id (sorted, so equal scores would be neighbours), else :meth:`_walk`."""
        row_list, score_list = rows.tolist(), scores.tolist()
        src = self.sources[pos]
        ids = src.ids_at(row_list)
        n = len(ids)
        if len(set(ids)) == n and len(set(score_list)) == n:
            return list(map(Hit, score_list, ids, itertools.repeat(src, n), row_list))[:top_k]
        return self._walk([pos] * n, row_list, score_list, top_k)

    def _walk(
        self, positions: list[int], rows: list[int], scores: list[float], top_k: int
    ) -> list[Hit]:
        """Hits from candidates sorted by score: runs of equal scores sorted by id, each
        id once, until ``top_k``."""
        sources = self.sources
        out: list[Hit] = []
        seen: set[str] = set()
        start, n = 0, len(rows)
        while start < n and len(out) < top_k:
            end = start + 1
            while end < n and scores[end] == scores[start]:
                end += 1
            if end - start == 1:  # no tie: no list to sort
                pos, row = positions[start], rows[start]
                tied = [(sources[pos].id_at(row), pos, row)]
            else:
                tied = [
                    (sources[positions[t]].id_at(rows[t]), positions[t], rows[t])
                    for t in range(start, end)
                ]
                tied.sort(key=_sort_key)
            for rid, pos, row in tied:
                if rid not in seen and len(out) < top_k:
                    seen.add(rid)
                    out.append(Hit(scores[start], rid, sources[pos], row))
            start = end
        return out


_sort_key = operator.itemgetter(0)


def _members(rows: I64, sorted_rows: I64) -> npt.NDArray[np.bool_]:
    """Which of ``rows`` are in ``sorted_rows`` (sorted, unique)."""
    if not len(sorted_rows):
        return np.zeros(len(rows), dtype=np.bool_)
    at = np.minimum(np.searchsorted(sorted_rows, rows), len(sorted_rows) - 1)
    return sorted_rows[at] == rows


def _union(parts: list[I64]) -> I64:
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class _Search:
    """One similarity search, as every source is asked it."""

    vector: F32 | None
    sparse: SparseVector | None
    metric: str
    top_k: int
    expr: Expr | None
