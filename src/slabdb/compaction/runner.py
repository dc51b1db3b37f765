"""Compaction execution: merge slabs, keeping the newest version of each id.

Also used by flushes, which turn memtable versions into an L0 slab.  Both take the
engine's :class:`~slabdb.core.config.AnnConfig`: a dense slab big enough gets an ANN
index built from its float32 vectors (so compaction always rebuilds indexes from the
source of truth, and an algorithm upgrade needs no re-ingest).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from slabdb.core.config import AnnConfig
from slabdb.core.values import IndexSpec, RecordVersion, SparseVector
from slabdb.core.visibility import newest_per_id
from slabdb.lsm.manifest import SlabEntry
from slabdb.slab import SlabBuilder, SlabReader
from slabdb.storage.keys import slab_key

_GATHER_ROWS = 65_536
"""Rows gathered from one input per step (bounds the temporary copy)."""


@dataclass(frozen=True)
class BuiltSlab:
    entry: SlabEntry
    data: bytes


@dataclass(frozen=True)
class SlabRows:
    """Column-wise contents of a slab to build (one version per id)."""

    ids: list[str]
    lsns: np.ndarray
    deleted: np.ndarray
    vectors: np.ndarray | None
    metadata: list[dict[str, Any] | None]
    sparse: list[SparseVector | None]


def _encode(
    prefix: str,
    spec: IndexSpec,
    level: int,
    rows: SlabRows,
    ann: AnnConfig | None,
    consume_vectors: bool = False,
) -> BuiltSlab | None:
    if not rows.ids:
        return None
    data, stats = SlabBuilder.build(
        ids=rows.ids,
        lsns=rows.lsns,
        deleted=rows.deleted,
        vectors=rows.vectors,
        sparse=rows.sparse if any(s is not None for s in rows.sparse) else None,
        metadata=rows.metadata,
        metric=spec.metric,
        vector_type=spec.vector_type,
        level=level,
        ann=ann,
        consume_vectors=consume_vectors,
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


def _dense(spec: IndexSpec) -> bool:
    return spec.dimension is not None and spec.vector_type == "dense"


def build_slab(
    prefix: str,
    spec: IndexSpec,
    level: int,
    versions: Sequence[RecordVersion],
    ann: AnnConfig | None = None,
) -> BuiltSlab | None:
    """An immutable slab holding ``versions`` (one per id), or None if there are none."""
    vectors = None
    if _dense(spec) and versions:
        assert spec.dimension is not None
        vectors = np.zeros((len(versions), spec.dimension), dtype=np.float32)
        for i, v in enumerate(versions):
            if v.vector is not None:
                vectors[i] = v.vector
    rows = SlabRows(
        ids=[v.id for v in versions],
        lsns=np.asarray([v.lsn for v in versions], dtype=np.uint64),
        deleted=np.asarray([v.deleted for v in versions], dtype=np.bool_),
        vectors=vectors,
        metadata=[v.metadata for v in versions],
        sparse=[v.sparse for v in versions],
    )
    return _encode(prefix, spec, level, rows, ann, consume_vectors=True)


def merge_slabs(
    prefix: str,
    spec: IndexSpec,
    level: int,
    readers: Sequence[SlabReader],
    drop_tombstones: bool,
    ann: AnnConfig | None = None,
) -> BuiltSlab | None:
    """Merge ``readers`` into one slab: the newest version of every id, in LSN order.

    Tombstones are kept unless ``drop_tombstones`` (nothing older than the inputs
    remains).  Vectors are gathered per input straight into the output's array (which
    the builder then uses in place), never row by row, and no per-record objects are
    built.  Inputs are memory-mapped or read by page, so the inputs' vectors are not
    resident together: each input's pages are let go once gathered, and the peak is
    about the output's vectors twice (the array and the encoded slab).
    """
    best = newest_per_id(
        (record_id, lsn, (pos, row))
        for pos, reader in enumerate(readers)
        for row, (record_id, lsn) in enumerate(zip(reader.ids, reader.lsns.tolist(), strict=True))
    )
    winners = sorted((lsn, pos, row) for lsn, (pos, row) in best.values())
    if drop_tombstones:
        winners = [w for w in winners if not readers[w[1]].deleted[w[2]]]
    if not winners:
        return None
    lsns = np.asarray([w[0] for w in winners], dtype=np.uint64)
    win_pos = np.asarray([w[1] for w in winners], dtype=np.int64)
    win_row = np.asarray([w[2] for w in winners], dtype=np.int64)
    deleted = np.zeros(len(winners), dtype=np.bool_)
    vectors = None
    if _dense(spec):
        assert spec.dimension is not None
        vectors = np.empty((len(winners), spec.dimension), dtype=np.float32)
    for p, reader in enumerate(readers):
        mine = np.flatnonzero(win_pos == p)
        if len(mine) == 0:
            continue
        deleted[mine] = reader.deleted[win_row[mine]]
        if vectors is not None and reader.vector_type == "dense":
            for start in range(0, len(mine), _GATHER_ROWS):
                part = mine[start : start + _GATHER_ROWS]
                vectors[part] = reader.vector_rows(win_row[part])
            reader.release_vectors()
    metadata: list[dict[str, Any] | None] = []
    sparse: list[SparseVector | None] = []
    ids: list[str] = []
    for (_lsn, p, r), dead in zip(winners, deleted.tolist(), strict=True):
        reader = readers[p]
        ids.append(reader.ids[r])
        metadata.append(None if dead else reader.metadata(r))
        sparse.append(None if dead or not reader.has_sparse else reader.sparse(r))
    rows = SlabRows(
        ids=ids, lsns=lsns, deleted=deleted, vectors=vectors, metadata=metadata, sparse=sparse
    )
    return _encode(prefix, spec, level, rows, ann, consume_vectors=True)
