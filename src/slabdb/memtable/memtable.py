"""The freshness layer: recent record versions in memory, searched by brute force.

A :class:`Memtable` is append-only: a new version of an id adds a row and marks the
old row superseded.  Readers never look at the live structure; they take a
:class:`MemtableSnapshot` (cached until the next write), so queries run without
holding the namespace lock while writers go on appending.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from slabdb.core.values import RecordVersion, SparseVector
from slabdb.filters import Expr, matches, to_bitmap
from slabdb.filters.metadata_index import MetadataIndex
from slabdb.query.scoring import vector_norms

F32 = npt.NDArray[np.float32]
_INITIAL_CAPACITY = 256
SEGMENT_ROWS = 1024
"""Rows per immutable metadata-index segment; filters evaluate row by row only in the tail."""


class SegmentIndex:
    """Bitmap indexes of a memtable's full 1,024-row segments, built on first use.

    Rows never change once appended, so a built segment stays valid; building lazily
    means ingest pays nothing until a filtered query needs the segments.
    """

    def __init__(self) -> None:
        self._segments: list[MetadataIndex] = []
        self._lock = threading.Lock()

    def covering(self, metadata: list[dict[str, Any] | None], n_rows: int) -> list[MetadataIndex]:
        """Indexes of every full segment among the first ``n_rows`` rows."""
        full = n_rows // SEGMENT_ROWS
        with self._lock:
            while len(self._segments) < full:
                lo = len(self._segments) * SEGMENT_ROWS
                self._segments.append(MetadataIndex.build(metadata[lo : lo + SEGMENT_ROWS]))
            return self._segments[:full]


@dataclass(frozen=True)
class MemtableSnapshot:
    """An immutable view of a memtable's first ``n`` rows."""

    ids: list[str]
    lsns: npt.NDArray[np.int64]
    deleted: npt.NDArray[np.bool_]
    superseded: npt.NDArray[np.bool_]
    vectors: F32 | None
    norms: F32 | None
    metadata: list[dict[str, Any] | None]
    sparse: list[SparseVector | None]
    latest: dict[str, int]
    cleared: bool
    max_lsn: int
    segment_index: SegmentIndex | None = None
    """Bitmap indexes of rows ``[i * SEGMENT_ROWS, (i + 1) * SEGMENT_ROWS)``, built lazily."""

    @property
    def segments(self) -> list[MetadataIndex]:
        if self.segment_index is None:
            return []
        return self.segment_index.covering(self.metadata, self.n)

    @property
    def n(self) -> int:
        return len(self.ids)

    def live_mask(self) -> npt.NDArray[np.bool_]:
        """Rows that are neither superseded within this memtable nor tombstones."""
        return ~(self.superseded | self.deleted)

    def matching_rows(self, expr: Expr | None) -> npt.NDArray[np.int64]:
        """Live rows matching ``expr``: bitmaps for full segments, row by row in the tail."""
        live = self.live_mask()
        if expr is None:
            return np.flatnonzero(live).astype(np.int64)
        mask = np.zeros(self.n, dtype=np.bool_)
        segments = self.segments
        for i, segment in enumerate(segments):
            hits = to_bitmap(expr, segment)
            if hits:
                mask[np.asarray(hits.to_array(), dtype=np.int64) + i * SEGMENT_ROWS] = True
        md = self.metadata
        for row in range(len(segments) * SEGMENT_ROWS, self.n):
            if live[row] and matches(expr, md[row]):
                mask[row] = True
        return np.flatnonzero(mask & live).astype(np.int64)

    def version(self, row: int) -> RecordVersion:
        return RecordVersion(
            id=self.ids[row],
            lsn=int(self.lsns[row]),
            deleted=bool(self.deleted[row]),
            vector=None if self.vectors is None else self.vectors[row],
            metadata=self.metadata[row],
            sparse=self.sparse[row],
        )


class Memtable:
    """Mutable, append-only record versions of one namespace (guarded by its lock)."""

    def __init__(self, dimension: int | None) -> None:
        self._dim = dimension
        self._ids: list[str] = []
        self._lsns = np.zeros(_INITIAL_CAPACITY, dtype=np.int64)
        self._deleted = np.zeros(_INITIAL_CAPACITY, dtype=np.bool_)
        self._superseded = np.zeros(_INITIAL_CAPACITY, dtype=np.bool_)
        self._vectors: F32 | None = (
            None
            if dimension is None
            else np.zeros((_INITIAL_CAPACITY, dimension), dtype=np.float32)
        )
        self._norms = np.zeros(_INITIAL_CAPACITY, dtype=np.float32)
        self._metadata: list[dict[str, Any] | None] = []
        self._sparse: list[SparseVector | None] = []
        self._latest: dict[str, int] = {}
        self._segment_index = SegmentIndex()
        self.clear_lsn: int | None = None
        self.max_lsn = 0
        self.min_row_lsn = 0
        self._snapshot: MemtableSnapshot | None = None

    @property
    def cleared(self) -> bool:
        """True if a delete-all was applied here: every older source is hidden."""
        return self.clear_lsn is not None

    def __len__(self) -> int:
        """Distinct ids held."""
        return len(self._latest)

    @property
    def row_count(self) -> int:
        """Versions held, superseded ones included (the flush trigger: rewriting a few hot
        ids many times must still flush, or memtable and uncheckpointed WAL grow forever)."""
        return len(self._ids)

    @property
    def is_empty(self) -> bool:
        return not self._latest and not self.cleared

    def _grow(self) -> None:
        cap = len(self._lsns) * 2
        self._lsns = np.resize(self._lsns, cap)
        self._deleted = np.resize(self._deleted, cap)
        self._superseded = np.resize(self._superseded, cap)
        self._norms = np.resize(self._norms, cap)
        if self._vectors is not None:
            grown = np.zeros((cap, self._vectors.shape[1]), dtype=np.float32)
            grown[: len(self._ids)] = self._vectors[: len(self._ids)]
            self._vectors = grown

    def put(self, rec: RecordVersion) -> None:
        """Add one version; it supersedes any earlier version of the id."""
        self.put_many([rec])

    def put_many(self, recs: list[RecordVersion]) -> None:
        """Add versions in order (vectors and norms are written in one pass)."""
        if not recs:
            return
        start = len(self._ids)
        end = start + len(recs)
        while end > len(self._lsns):
            self._grow()
        rows = slice(start, end)
        self._lsns[rows] = [r.lsn for r in recs]
        self._deleted[rows] = [r.deleted for r in recs]
        self._superseded[rows] = False
        if self._vectors is not None:
            block = self._vectors[rows]
            block[:] = 0.0
            for i, rec in enumerate(recs):
                if rec.vector is not None:
                    block[i] = rec.vector
            self._norms[rows] = vector_norms(block)
        latest = self._latest
        superseded = self._superseded
        for row, rec in enumerate(recs, start):
            old = latest.get(rec.id)
            if old is not None:
                superseded[old] = True
            latest[rec.id] = row
            self._ids.append(rec.id)
            self._metadata.append(rec.metadata)
            self._sparse.append(rec.sparse)
        lsns = self._lsns[rows]
        self.min_row_lsn = int(lsns.min()) if start == 0 else min(self.min_row_lsn, int(lsns.min()))
        self.max_lsn = max(self.max_lsn, int(lsns.max()))
        self._snapshot = None

    def mark_applied(self, lsn: int) -> None:
        """Note that every entry up to ``lsn`` has been applied (even if it changed nothing)."""
        self.max_lsn = max(self.max_lsn, lsn)

    def clear(self, lsn: int) -> None:
        """A delete-all at ``lsn``: drop every row and hide all older sources."""
        self.__init__(self._dim)  # type: ignore[misc]
        self.clear_lsn = lsn
        self.max_lsn = lsn

    def latest(self, record_id: str) -> RecordVersion | None:
        """The newest version of ``record_id`` here (read from the live arrays: no snapshot)."""
        row = self._latest.get(record_id)
        if row is None:
            return None
        return RecordVersion(
            id=record_id,
            lsn=int(self._lsns[row]),
            deleted=bool(self._deleted[row]),
            vector=None if self._vectors is None else self._vectors[row].copy(),
            metadata=self._metadata[row],
            sparse=self._sparse[row],
        )

    def snapshot(self) -> MemtableSnapshot:
        if self._snapshot is None:
            n = len(self._ids)
            self._snapshot = MemtableSnapshot(
                ids=self._ids[:n],
                lsns=self._lsns[:n].copy(),
                deleted=self._deleted[:n].copy(),
                superseded=self._superseded[:n].copy(),
                vectors=None if self._vectors is None else self._vectors[:n],
                norms=self._norms[:n],
                metadata=self._metadata[:n],
                sparse=self._sparse[:n],
                latest=dict(self._latest),
                cleared=self.cleared,
                max_lsn=self.max_lsn,
                segment_index=self._segment_index,
            )
        return self._snapshot

    def latest_versions(self) -> list[RecordVersion]:
        """The newest version of every id, oldest first (what a flush writes)."""
        snap = self.snapshot()
        rows = sorted(snap.latest.values())
        return [snap.version(r) for r in rows]

    def pruned(self, checkpoint_lsn: int) -> Memtable:
        """A copy without versions at or below ``checkpoint_lsn`` (they are in slabs)."""
        clear_lsn = (
            self.clear_lsn
            if self.clear_lsn is not None and self.clear_lsn > checkpoint_lsn
            else None
        )
        if not self._ids or self.min_row_lsn > checkpoint_lsn:
            if clear_lsn != self.clear_lsn:
                self.clear_lsn = clear_lsn
                self._snapshot = None
            self.max_lsn = max(self.max_lsn, checkpoint_lsn)
            return self
        out = Memtable(self._dim)
        out.put_many([rec for rec in self.latest_versions() if rec.lsn > checkpoint_lsn])
        out.clear_lsn = clear_lsn
        out.max_lsn = max(self.max_lsn, checkpoint_lsn)
        return out
