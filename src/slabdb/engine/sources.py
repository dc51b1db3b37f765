"""Read sources: one uniform interface over memtable snapshots and slabs.

A namespace view is a tuple of sources, newest first.  Each source answers for the
versions it holds; deciding which version of an id is current (highest LSN across
sources, tombstones hide) is the view's job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from slabdb.core.values import RecordVersion, SparseVector
from slabdb.filters import Expr, may_match
from slabdb.memtable import MemtableSnapshot
from slabdb.query.scoring import dense_scores, sparse_dot, top_k_rows
from slabdb.slab import SlabReader

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

ANN_VISITED_ROWS = 2048
"""Roughly the rows a graph search plus re-rank touches (for the parallel decision)."""
PARALLEL_MIN_ROWS = 4096
"""A source scanning fewer rows than this is searched inline, not on the query pool
(handing it to a thread costs more than the scan)."""


class Source(ABC):
    """Record versions from one memtable snapshot or one slab."""

    cleared: bool = False
    """True if a delete-all happened here: every older source is hidden."""

    @property
    @abstractmethod
    def scan_rows(self) -> int:
        """Rows an unfiltered search of this source scores (its cost, roughly)."""

    @property
    def worth_a_thread(self) -> bool:
        """True if searching this source pays for a hand-off to the query pool."""
        return self.scan_rows >= PARALLEL_MIN_ROWS

    @abstractmethod
    def lsn_of(self, record_id: str) -> int | None:
        """LSN of this source's newest version of the id (tombstones too), or None."""

    @abstractmethod
    def row_of(self, record_id: str) -> int | None:
        """Row of this source's newest version of the id, or None."""

    @abstractmethod
    def version(self, row: int) -> RecordVersion:
        """The record version at ``row``."""

    @abstractmethod
    def id_at(self, row: int) -> str: ...

    @abstractmethod
    def lsn_at(self, row: int) -> int: ...

    def ids_at(self, rows: list[int]) -> list[str]:
        """The ids of ``rows``."""
        return [self.id_at(row) for row in rows]

    @abstractmethod
    def lsns_at(self, rows: I64) -> I64:
        """LSNs of ``rows``, as an int64 array."""

    @abstractmethod
    def search(
        self,
        vector: F32 | None,
        sparse: SparseVector | None,
        metric: str,
        k: int,
        expr: Expr | None,
        exclude: I64 | None = None,
    ) -> tuple[I64, F32]:
        """Rows and scores of the best ``k`` live matching rows not in ``exclude``, best first."""

    def search_batch(
        self, vectors: F32, metric: str, k: int, expr: Expr | None, exclude: I64 | None = None
    ) -> list[tuple[I64, F32]]:
        """:meth:`search` of each dense query row of ``vectors`` (the filter evaluated once)."""
        return [self.search(v, None, metric, k, expr, exclude) for v in vectors]

    @abstractmethod
    def row_map(self) -> dict[str, int]:
        """id -> row of this source's newest version of each id."""

    @abstractmethod
    def latest_rows(self) -> Iterator[tuple[str, int, bool, int]]:
        """(id, lsn, deleted, row) of this source's newest version of each id."""

    @abstractmethod
    def matching_rows(self, expr: Expr | None) -> set[int]:
        """Live rows whose metadata matches ``expr`` (all live rows if None)."""


class MemtableSource(Source):
    def __init__(self, snap: MemtableSnapshot, vector_type: str) -> None:
        self.snap = snap
        self.cleared = snap.cleared
        self._vector_type = vector_type

    @property
    def scan_rows(self) -> int:
        return self.snap.n

    def lsn_of(self, record_id: str) -> int | None:
        row = self.snap.latest.get(record_id)
        return None if row is None else int(self.snap.lsns[row])

    def row_of(self, record_id: str) -> int | None:
        return self.snap.latest.get(record_id)

    def row_map(self) -> dict[str, int]:
        return self.snap.latest

    def version(self, row: int) -> RecordVersion:
        return self.snap.version(row)

    def id_at(self, row: int) -> str:
        return self.snap.ids[row]

    def lsn_at(self, row: int) -> int:
        return int(self.snap.lsns[row])

    def lsns_at(self, rows: I64) -> I64:
        return np.asarray(self.snap.lsns, dtype=np.int64)[rows]

    def matching_rows(self, expr: Expr | None) -> set[int]:
        return set(self.snap.matching_rows(expr).tolist())

    def search(
        self,
        vector: F32 | None,
        sparse: SparseVector | None,
        metric: str,
        k: int,
        expr: Expr | None,
        exclude: I64 | None = None,
    ) -> tuple[I64, F32]:
        return self._search_rows(self._candidate_rows(expr, exclude), vector, sparse, metric, k)

    def search_batch(
        self, vectors: F32, metric: str, k: int, expr: Expr | None, exclude: I64 | None = None
    ) -> list[tuple[I64, F32]]:
        rows = self._candidate_rows(expr, exclude)
        return [self._search_rows(rows, v, None, metric, k) for v in vectors]

    def _candidate_rows(self, expr: Expr | None, exclude: I64 | None) -> I64:
        rows = self.snap.matching_rows(expr)
        if exclude is not None and len(exclude):
            rows = np.setdiff1d(rows, exclude, assume_unique=True)
        return rows

    def _search_rows(
        self, rows: I64, vector: F32 | None, sparse: SparseVector | None, metric: str, k: int
    ) -> tuple[I64, F32]:
        snap = self.snap
        if len(rows) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if vector is not None and snap.vectors is not None and self._vector_type == "dense":
            assert snap.norms is not None
            if 2 * len(rows) > snap.n:  # score everything: cheaper than gathering rows
                scores = dense_scores(snap.vectors, snap.norms, vector, metric)[rows]
            else:
                scores = dense_scores(snap.vectors[rows], snap.norms[rows], vector, metric)
        else:
            scores = np.zeros(len(rows), dtype=np.float32)
        if sparse is not None:
            sp = snap.sparse
            scores = scores + np.asarray(
                [sparse_dot(sparse, sp[r]) for r in rows], dtype=np.float32
            )
        best = top_k_rows(scores, k, metric)
        return rows[best], scores[best].astype(np.float32)

    def latest_rows(self) -> Iterator[tuple[str, int, bool, int]]:
        snap = self.snap
        for record_id, row in snap.latest.items():
            yield record_id, int(snap.lsns[row]), bool(snap.deleted[row]), row


class SlabSource(Source):
    def __init__(self, reader: SlabReader, slab_id: str) -> None:
        self.reader = reader
        self.slab_id = slab_id

    @property
    def scan_rows(self) -> int:
        """A slab with an ANN index visits a few thousand rows at most, not all."""
        reader = self.reader
        return min(reader.n, ANN_VISITED_ROWS) if reader.has_ann else reader.n

    def lsn_of(self, record_id: str) -> int | None:
        row = self.reader.id_to_row.get(record_id)
        return None if row is None else int(self.reader.lsns[row])

    def row_of(self, record_id: str) -> int | None:
        return self.reader.id_to_row.get(record_id)

    def version(self, row: int) -> RecordVersion:
        return self.reader.version(row)

    def id_at(self, row: int) -> str:
        return self.reader.ids[row]

    def ids_at(self, rows: list[int]) -> list[str]:
        ids = self.reader.ids
        return [ids[row] for row in rows]

    def lsn_at(self, row: int) -> int:
        return int(self.reader.lsns[row])

    def lsns_at(self, rows: I64) -> I64:
        return self.reader.lsns[rows].astype(np.int64)

    def _allow(self, expr: Expr | None) -> AbstractBitMap | None:
        return None if expr is None else self.reader.filter_bitmap(expr)

    def may_match(self, expr: Expr | None) -> bool:
        """False when the slab's per-field stats rule out every row (the slab is skipped)."""
        reader = self.reader
        return expr is None or may_match(expr, reader.field_stats, reader.n)

    def matching_rows(self, expr: Expr | None) -> set[int]:
        if not self.may_match(expr):
            return set()
        allow = self.reader.live if expr is None else self.reader.filter_bitmap(expr)
        return set(allow)

    def search(
        self,
        vector: F32 | None,
        sparse: SparseVector | None,
        metric: str,
        k: int,
        expr: Expr | None,
        exclude: I64 | None = None,
    ) -> tuple[I64, F32]:
        if not self.may_match(expr):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        return self.reader.search(
            vector=vector,
            sparse=sparse,
            metric=metric,
            k=k,
            allow=self._allow(expr),
            exclude_rows=exclude,
        )

    def search_batch(
        self, vectors: F32, metric: str, k: int, expr: Expr | None, exclude: I64 | None = None
    ) -> list[tuple[I64, F32]]:
        if not self.may_match(expr):
            return [(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))] * len(vectors)
        return self.reader.search_batch(
            queries=vectors, metric=metric, k=k, allow=self._allow(expr), exclude_rows=exclude
        )

    def row_map(self) -> dict[str, int]:
        return self.reader.id_to_row

    def latest_rows(self) -> Iterator[tuple[str, int, bool, int]]:
        r = self.reader
        lsns = r.lsns
        deleted = r.deleted
        for row, record_id in enumerate(r.ids):
            yield record_id, int(lsns[row]), bool(deleted[row]), row
