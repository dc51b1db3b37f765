"""Compaction execution: merge slabs, keeping the newest version of each id.

Also used by flushes, which turn memtable versions into an L0 slab.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slabdb.lsm.manifest import SlabEntry
from slabdb.memtable import RecordVersion
from slabdb.slab import SlabBuilder, SlabReader


@dataclass(frozen=True)
class IndexSpec:
    """What every slab of an index shares."""

    dimension: int | None
    metric: str
    vector_type: str


@dataclass(frozen=True)
class BuiltSlab:
    entry: SlabEntry
    data: bytes


def slab_key(prefix: str, level: int, slab_id: str) -> str:
    return f"{prefix}slabs/L{level}-{slab_id}.slab"


def build_slab(
    prefix: str, spec: IndexSpec, level: int, versions: Sequence[RecordVersion]
) -> BuiltSlab | None:
    """An immutable slab holding ``versions`` (one per id), or None if there are none."""
    if not versions:
        return None
    n = len(versions)
    vectors = None
    if spec.dimension is not None and spec.vector_type == "dense":
        vectors = np.zeros((n, spec.dimension), dtype=np.float32)
        for i, v in enumerate(versions):
            if v.vector is not None:
                vectors[i] = v.vector
    sparse = [v.sparse for v in versions]
    data, stats = SlabBuilder.build(
        ids=[v.id for v in versions],
        lsns=np.asarray([v.lsn for v in versions], dtype=np.uint64),
        deleted=np.asarray([v.deleted for v in versions], dtype=np.bool_),
        vectors=vectors,
        sparse=sparse if any(s is not None for s in sparse) else None,
        metadata=[v.metadata for v in versions],
        metric=spec.metric,
        vector_type=spec.vector_type,
        level=level,
    )
    slab_id = uuid.uuid4().hex
    entry = SlabEntry(
        id=slab_id,
        key=slab_key(prefix, level, slab_id),
        level=level,
        count=stats.count,
        live_count=stats.live_count,
        min_lsn=stats.min_lsn,
        max_lsn=stats.max_lsn,
        size_bytes=len(data),
    )
    return BuiltSlab(entry=entry, data=data)


def slab_version(reader: SlabReader, row: int) -> RecordVersion:
    """The record version stored at ``row`` of a slab (tombstones carry no data)."""
    deleted = bool(reader.deleted[row])
    return RecordVersion(
        id=reader.ids[row],
        lsn=int(reader.lsns[row]),
        deleted=deleted,
        vector=None if deleted or reader.vectors is None else reader.vectors[row],
        metadata=None if deleted else reader.metadata(row),
        sparse=None if deleted else reader.sparse(row),
    )


def merge_versions(readers: Sequence[SlabReader], drop_tombstones: bool) -> list[RecordVersion]:
    """The newest version of every id across ``readers`` (tombstones dropped if asked)."""
    best: dict[str, tuple[int, int, int]] = {}
    for pos, reader in enumerate(readers):
        lsns = reader.lsns
        for row, record_id in enumerate(reader.ids):
            lsn = int(lsns[row])
            seen = best.get(record_id)
            if seen is None or lsn > seen[0]:
                best[record_id] = (lsn, pos, row)
    out: list[RecordVersion] = []
    for _lsn, pos, row in sorted(best.values()):
        reader = readers[pos]
        if drop_tombstones and bool(reader.deleted[row]):
            continue
        out.append(slab_version(reader, row))
    return out
