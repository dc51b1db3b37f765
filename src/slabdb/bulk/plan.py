"""An import's plan: which row groups of which files become which slab, fixed at start.

The plan is computed once from the Parquet footers and stored in the import's progress
object, so a resumed import cuts exactly the same chunks (even if files were added to
the directory meanwhile).  A chunk is a run of whole row groups of one file, at least
``rows_per_slab`` rows unless the file ends first; each chunk becomes one slab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slabdb.bulk.source import RangeFile, SourceFile
from slabdb.storage import ObjectStore

TARGET_SLAB_BYTES = 256 * 1024 * 1024
"""Dense values per import slab (a 384-dimension import makes slabs of ~175k rows)."""
MIN_ROWS_PER_SLAB = 1000


def rows_per_slab(dimension: int | None, target_bytes: int = TARGET_SLAB_BYTES) -> int:
    per_row = 4 * (dimension or 64)
    return max(MIN_ROWS_PER_SLAB, target_bytes // per_row)


@dataclass(frozen=True)
class Chunk:
    key: str
    row_groups: tuple[int, ...]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "row_groups": list(self.row_groups), "rows": self.rows}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Chunk:
        return cls(str(raw["key"]), tuple(int(g) for g in raw["row_groups"]), int(raw["rows"]))


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


def file_chunks(store: ObjectStore, key: str, max_rows: int) -> list[Chunk]:
    """Runs of whole row groups of one file, each of at least ``max_rows`` rows (but the last)."""
    meta = pq.ParquetFile(RangeFile(store, key)).metadata
    out: list[Chunk] = []
    groups: list[int] = []
    rows = 0
    for g in range(meta.num_row_groups):
        groups.append(g)
        rows += meta.row_group(g).num_rows
        if rows >= max_rows:
            out.append(Chunk(key, tuple(groups), rows))
            groups, rows = [], 0
    if groups:
        out.append(Chunk(key, tuple(groups), rows))
    return out


def plan_import(
    store: ObjectStore, files: list[SourceFile], max_rows: int
) -> tuple[tuple[NamespacePlan, ...], list[tuple[str, str]]]:
    """One plan per namespace (in the order their directories sort), and the files whose
    footer could not be read, with why."""
    by_ns: dict[str, list[Chunk]] = {}
    bad: list[tuple[str, str]] = []
    for f in files:
        try:
            chunks = file_chunks(store, f.key, max_rows)
        except (pa.ArrowException, OSError) as exc:
            bad.append((f.key, f"{type(exc).__name__}: {exc}"))
            continue
        by_ns.setdefault(f.namespace, []).extend(chunks)
    plans = tuple(NamespacePlan(ns, tuple(chunks)) for ns, chunks in by_ns.items())
    return plans, bad
