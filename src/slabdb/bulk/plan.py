"""An import's plan: which row groups of which files become which slab, fixed at start.

The plan is computed once from the Parquet footers and stored in the import's progress
object, so a resumed import cuts exactly the same chunks (even if files were added to
the directory meanwhile).  A chunk is an ordered run of *parts* (whole row groups of one
file) of one namespace, in file order, so it may span files: it is cut at the first
row-group boundary where its rows reach the size target (:class:`SlabSize`), before a
row group that would take it past the memory bound, and a namespace's last, short chunk
joins the one before if together they stay within the bound; if a chunk is still short
of the target, the rows are balanced over equal chunks when they all fit.  Each chunk becomes one
slab, so slabs reach the target (and with it the IVF threshold) whatever the file sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slabdb.bulk.source import RangeFile, SourceFile
from slabdb.core.config import AnnConfig
from slabdb.storage import ObjectStore

TARGET_SLAB_BYTES = 256 * 1024 * 1024
"""Dense values per import slab (a 384-dimension import makes slabs of ~175k rows)."""
MAX_SLAB_BYTES = 512 * 1024 * 1024
"""Dense values one chunk may hold: the memory bound of a chunk's read and build (the
reader fills one matrix of them, plus one part's Arrow columns at a time; the slab is
spooled to a temporary file as compaction's are)."""
MIN_ROWS_PER_SLAB = 1000


def rows_per_slab(dimension: int | None, target_bytes: int = TARGET_SLAB_BYTES) -> int:
    per_row = 4 * (dimension or 64)
    return max(MIN_ROWS_PER_SLAB, target_bytes // per_row)


@dataclass(frozen=True)
class SlabSize:
    """Rows a chunk is cut at (``target``) and may not exceed (``limit``), unless a single
    row group alone is larger."""

    target: int
    limit: int

    @classmethod
    def of(cls, dimension: int | None, dense: bool, ann: AnnConfig | None) -> SlabSize:
        """About 256 MB of vectors, raised to the IVF threshold when ANN is on (one IVF-PQ
        build is far cheaper than several HNSW graphs), all within :data:`MAX_SLAB_BYTES`
        (at 384-d: target 200,000 rows = 307 MB, limit 349,525 rows)."""
        limit = rows_per_slab(dimension, MAX_SLAB_BYTES)
        target = rows_per_slab(dimension)
        if dense and ann is not None and ann.enabled:
            target = max(target, ann.ivf_min_rows)
        return cls(min(target, limit), limit)

    @classmethod
    def fixed(cls, rows: int, dimension: int | None) -> SlabSize:
        """An explicit rows-per-slab (tests, ``slabdb import --rows-per-slab``)."""
        return cls(rows, max(rows, rows_per_slab(dimension, MAX_SLAB_BYTES)))


@dataclass(frozen=True)
class ChunkPart:
    """Whole row groups of one file."""

    key: str
    row_groups: tuple[int, ...]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "row_groups": list(self.row_groups), "rows": self.rows}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ChunkPart:
        return cls(str(raw["key"]), tuple(int(g) for g in raw["row_groups"]), int(raw["rows"]))


@dataclass(frozen=True)
class Chunk:
    """The parts one slab is built from, in file order (a later part's id wins)."""

    parts: tuple[ChunkPart, ...]

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"parts": [p.to_dict() for p in self.parts], "rows": self.rows}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Chunk:
        if "parts" not in raw:  # written before chunks spanned files: one key per chunk
            return cls((ChunkPart.from_dict(raw),))
        return cls(tuple(ChunkPart.from_dict(p) for p in raw["parts"]))


@dataclass(frozen=True)
class NamespacePlan:
    namespace: str
    chunks: tuple[Chunk, ...]

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "chunks": [c.to_dict() for c in self.chunks]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> NamespacePlan:
        return cls(str(raw["namespace"]), tuple(Chunk.from_dict(c) for c in raw["chunks"]))


RowGroup = tuple[str, int, int]
"""(file key, row group number, rows)."""


def file_row_groups(store: ObjectStore, key: str) -> list[RowGroup]:
    """The row groups of one file, from its footer (raises if it cannot be read)."""
    meta = pq.ParquetFile(RangeFile(store, key)).metadata
    return [(key, g, meta.row_group(g).num_rows) for g in range(meta.num_row_groups)]


def cut_chunks(groups: list[RowGroup], size: SlabSize) -> list[Chunk]:
    """Cut one namespace's row groups (in file order) into chunks of ``size``: greedily at
    the target, unless that leaves a chunk short of it and a balanced cut gives every
    chunk ``target..limit`` rows (1M rows at 384-d in 125k-row files: four of 250k, all
    over the IVF threshold, instead of 225k, 200k, 200k, 225k and an HNSW-sized 150k)."""
    spans = _greedy_spans(groups, size)
    if any(sum(g[2] for g in groups[lo:hi]) < size.target for lo, hi in spans):
        spans = _balanced_spans(groups, size) or spans
    return [_chunk(groups[lo:hi]) for lo, hi in spans]


BALANCE_SLACK = 0.9
"""Balanced chunks aim at most this share of the limit (row groups land off the mark)."""


def _balanced_spans(groups: list[RowGroup], size: SlabSize) -> list[tuple[int, int]] | None:
    """Spans of about equal rows, cut at the row-group boundary nearest each share; None
    if some span would fall outside ``target..limit``."""
    total = sum(g[2] for g in groups)
    count = -(-total // max(1, int(size.limit * BALANCE_SLACK)))
    if total < 2 * size.target or total / count < size.target:
        return None
    spans: list[tuple[int, int]] = []
    start = done = 0
    for i, (_key, _g, n) in enumerate(groups):
        goal = total * (len(spans) + 1) / count
        if done + n >= goal and len(spans) < count - 1:
            cut = i + 1 if done + n - goal <= goal - done or start == i else i
            spans.append((start, cut))
            start = cut
        done += n
    spans.append((start, len(groups)))
    sizes = [sum(g[2] for g in groups[lo:hi]) for lo, hi in spans]
    if any(not (size.target <= rows <= size.limit) for rows in sizes):
        return None
    return spans


def _greedy_spans(groups: list[RowGroup], size: SlabSize) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = rows = 0
    for i, (_key, _g, n) in enumerate(groups):
        if rows and rows + n > size.limit:
            spans.append((start, i))
            start, rows = i, 0
        rows += n
        if rows >= size.target:
            spans.append((start, i + 1))
            start, rows = i + 1, 0
    if start < len(groups):
        if spans and sum(g[2] for g in groups[spans[-1][0] :]) <= size.limit:
            start = spans.pop()[0]  # a short last chunk joins the one before
        spans.append((start, len(groups)))
    return spans


def _chunk(groups: list[RowGroup]) -> Chunk:
    parts: list[ChunkPart] = []
    for key, g, n in groups:
        if parts and parts[-1].key == key:
            last = parts[-1]
            parts[-1] = ChunkPart(key, (*last.row_groups, g), last.rows + n)
        else:
            parts.append(ChunkPart(key, (g,), n))
    return Chunk(tuple(parts))


def plan_import(
    store: ObjectStore, files: list[SourceFile], size: SlabSize
) -> tuple[tuple[NamespacePlan, ...], list[tuple[str, str]]]:
    """One plan per namespace (in the order their directories sort), and the files whose
    footer could not be read, with why."""
    by_ns: dict[str, list[RowGroup]] = {}
    bad: list[tuple[str, str]] = []
    for f in files:
        try:
            groups = file_row_groups(store, f.key)
        except (pa.ArrowException, OSError) as exc:
            bad.append((f.key, f"{type(exc).__name__}: {exc}"))
            continue
        by_ns.setdefault(f.namespace, []).extend(groups)
    plans = tuple(
        NamespacePlan(ns, tuple(cut_chunks(groups, size))) for ns, groups in by_ns.items()
    )
    return plans, bad
