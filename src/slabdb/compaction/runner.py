"""Compaction execution: merge slabs, keeping the newest version of each id.

Also used by flushes, which turn memtable versions into an L0 slab.  Both take the
engine's :class:`~slabdb.core.config.AnnConfig`: a dense slab big enough gets an ANN
index built from its float32 vectors (so compaction always rebuilds indexes from the
source of truth, and an algorithm upgrade needs no re-ingest).

A new slab is written section by section to an unlinked temporary file (``TMPDIR``)
and handed on as a read-only mapping of it, so its bytes are never joined in memory
next to the arrays they were encoded from (docs/design/compaction.md, "Memory").
"""

from __future__ import annotations

import mmap
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from slabdb.core.config import AnnConfig
from slabdb.core.values import IndexSpec, RecordVersion, SparseVector
from slabdb.core.visibility import newest_per_id
from slabdb.lsm.manifest import SlabEntry
from slabdb.slab import SlabBuilder, SlabReader
from slabdb.slab.builder import SlabLayout
from slabdb.slab.format import SlabStats
from slabdb.storage.keys import slab_key

_GATHER_ROWS = 16_384
"""Rows gathered from one input per step (bounds the temporary copy: 24 MiB at 384-d)."""


@dataclass(frozen=True)
class BuiltSlab:
    entry: SlabEntry
    data: memoryview
    """The slab's bytes: a read-only mapping of its spool file (:func:`_spooled`)."""


@dataclass(frozen=True)
class SlabRows:
    """Column-wise contents of a slab to build (one version per id)."""

    ids: list[str]
    lsns: np.ndarray
    deleted: np.ndarray
    vectors: np.ndarray | None
    metadata: list[dict[str, Any] | None]
    sparse: list[SparseVector | None]


def slab_of_rows(
    prefix: str,
    spec: IndexSpec,
    level: int,
    rows: SlabRows,
    ann: AnnConfig | None,
    codebook: Any = None,
) -> BuiltSlab | None:
    """The slab of ``rows`` spooled (:func:`_spooled`); ``rows.vectors`` is scratch the
    builder uses in place; ``codebook``: trained flat-code quantizers to reuse."""
    if not rows.ids:
        return None
    layout = SlabBuilder.layout(
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
        consume_vectors=True,
        codebook=codebook,
    )
    data, stats = _spooled(layout)
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


def _spooled(layout: SlabLayout) -> tuple[memoryview, SlabStats]:
    """Write ``layout`` to an unlinked temporary file and map it read-only: the bytes live
    in the page cache, not in the process's heap, and go away with the mapping."""
    with tempfile.TemporaryFile(prefix="slabdb-slab-") as spool:
        stats = layout.write(spool)
        spool.flush()
        mapped = mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped), stats


def _dense(spec: IndexSpec) -> bool:
    return spec.dimension is not None and spec.vector_type == "dense"


def build_slab(
    prefix: str,
    spec: IndexSpec,
    level: int,
    versions: Sequence[RecordVersion],
    ann: AnnConfig | None = None,
    codebook: Any = None,
) -> BuiltSlab | None:
    """An immutable slab holding ``versions`` (one per id), or None if there are none;
    its flat codes, if it gets them, reuse ``codebook`` (an L0 flush passes the newest
    flat slab's, so a namespace's L0 slabs can be searched as one index)."""
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
    return slab_of_rows(prefix, spec, level, rows, ann, codebook)


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
    remains).  The winners are found as arrays (no per-row tuples outlive that step);
    vectors are gathered per input, a bounded chunk at a time, straight into the
    output's array (which the builder then uses in place), and each input's vector
    pages are let go once gathered.  The slab is then written to its spool file section
    by section: the peak is the output's vectors once plus the ANN build's working set.
    """
    winners = _winners(readers, drop_tombstones)
    if winners is None:
        return None
    lsns, win_pos, win_row = winners
    deleted = np.zeros(len(lsns), dtype=np.bool_)
    for p, reader in enumerate(readers):
        mine = win_pos == p
        deleted[mine] = reader.deleted[win_row[mine]]
    vectors = _gather_vectors(spec, readers, win_pos, win_row)
    metadata: list[dict[str, Any] | None] = []
    sparse: list[SparseVector | None] = []
    ids: list[str] = []
    for p, r, dead in zip(win_pos.tolist(), win_row.tolist(), deleted.tolist(), strict=True):
        reader = readers[p]
        ids.append(reader.ids[r])
        metadata.append(None if dead else reader.metadata(r))
        sparse.append(None if dead or not reader.has_sparse else reader.sparse(r))
    rows = SlabRows(
        ids=ids, lsns=lsns, deleted=deleted, vectors=vectors, metadata=metadata, sparse=sparse
    )
    return slab_of_rows(prefix, spec, level, rows, ann)


def _winners(
    readers: Sequence[SlabReader], drop_tombstones: bool
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """The winning versions' LSNs, inputs and rows, in LSN order (None if none is left).

    Rows are numbered across the inputs (``starts`` offsets) so the visibility rule runs
    on plain ints and its dict is dropped as soon as the winners are arrays."""
    starts = np.cumsum([0] + [r.n for r in readers], dtype=np.int64)
    best = newest_per_id(
        (record_id, lsn, start + row)
        for start, reader in zip(starts[:-1].tolist(), readers, strict=True)
        for row, (record_id, lsn) in enumerate(zip(reader.ids, reader.lsns.tolist(), strict=True))
    )
    won = np.fromiter((g for _lsn, g in best.values()), dtype=np.int64, count=len(best))
    del best
    all_lsns = np.concatenate([r.lsns for r in readers]).astype(np.uint64, copy=False)
    won = won[np.argsort(all_lsns[won], kind="stable")]  # LSNs are unique per namespace
    pos = np.searchsorted(starts, won, side="right") - 1
    row = won - starts[pos]
    if drop_tombstones:
        dead = np.concatenate([r.deleted for r in readers])[won]
        won, pos, row = won[~dead], pos[~dead], row[~dead]
    if len(won) == 0:
        return None
    return all_lsns[won], pos, row


def _gather_vectors(
    spec: IndexSpec,
    readers: Sequence[SlabReader],
    win_pos: npt.NDArray[np.int64],
    win_row: npt.NDArray[np.int64],
) -> npt.NDArray[np.float32] | None:
    """The winners' dense vectors in output order (None for a sparse index), read from
    each input in chunks of :data:`_GATHER_ROWS` rows; each input's vector pages are
    released once it is done."""
    if not _dense(spec):
        return None
    assert spec.dimension is not None
    vectors = np.empty((len(win_pos), spec.dimension), dtype=np.float32)
    for p, reader in enumerate(readers):
        mine = np.flatnonzero(win_pos == p)
        if len(mine) == 0 or reader.vector_type != "dense":
            continue
        for start in range(0, len(mine), _GATHER_ROWS):
            part = mine[start : start + _GATHER_ROWS]
            vectors[part] = reader.vector_rows(win_row[part])
        reader.release_vectors()
    return vectors
