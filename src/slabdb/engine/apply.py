"""Applying one WAL entry to the active memtable, resolving intents at its LSN.

Upserts become versions as they are; updates, update-by-filter and delete-by-filter were
logged as intents and are resolved here against the namespace's current state at the
entry's LSN (through ``current`` and ``matching_ids``), so replaying the log always
reproduces the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from slabdb.core.ops import (
    DeleteAllOp,
    DeleteByFilterOp,
    DeleteOp,
    Op,
    UpdateByFilterOp,
    UpdateOp,
    UpsertOp,
    WalEntry,
)
from slabdb.core.values import RecordVersion
from slabdb.core.visibility import newest
from slabdb.memtable import Memtable
from slabdb.slab import SlabReader

Current = Callable[[str], RecordVersion | None]
"""The current live version of an id (None if absent or deleted)."""
MatchingIds = Callable[[dict[str, Any]], list[str]]
"""Ids of current live records matching a filter dict."""


def apply_entry(
    entry: WalEntry,
    mem: Memtable,
    current: Current,
    matching_ids: MatchingIds,
    changed: Callable[[], None],
) -> list[Any]:
    """Apply ``entry`` to ``mem``; one result per op.  ``changed`` runs after each op, so
    the next op's ``current``/``matching_ids`` see its effect."""
    results = []
    for op in entry.ops:
        results.append(_apply_op(op, entry.lsn, mem, current, matching_ids))
        changed()
    mem.mark_applied(entry.lsn)
    return results


def _apply_op(op: Op, lsn: int, mem: Memtable, current: Current, matching: MatchingIds) -> Any:
    if isinstance(op, UpsertOp):
        vectors, sparse, md = op.vectors, op.sparse, op.metadata
        mem.put_many(
            [
                RecordVersion(
                    id=rid,
                    lsn=lsn,
                    vector=None if vectors is None else vectors[i],
                    metadata=md[i] if md else None,
                    sparse=None if sparse is None else sparse[i],
                )
                for i, rid in enumerate(op.ids)
            ]
        )
        return len(op.ids)
    if isinstance(op, UpdateOp):
        cur = current(op.id)
        if cur is not None:
            mem.put(updated(cur, lsn, op.values, op.set_metadata, op.sparse))
        return 0 if cur is None else 1
    if isinstance(op, UpdateByFilterOp):
        ids = matching(op.filter)
        for rid in ids:
            cur = current(rid)
            if cur is not None:
                mem.put(updated(cur, lsn, None, op.set_metadata, None))
        return len(ids)
    if isinstance(op, DeleteOp | DeleteByFilterOp):
        ids = op.ids if isinstance(op, DeleteOp) else matching(op.filter)
        gone = 0
        for rid in ids:
            if current(rid) is not None:
                mem.put(RecordVersion(id=rid, lsn=lsn, deleted=True))
                gone += 1
        return gone
    if isinstance(op, DeleteAllOp):
        mem.clear(lsn)
        return None
    raise TypeError(f"unknown operation {type(op).__name__}")


def updated(
    cur: RecordVersion,
    lsn: int,
    values: Any,
    set_metadata: dict[str, Any] | None,
    sparse: Any,
) -> RecordVersion:
    """``cur`` with new values, sparse values and/or merged metadata, at ``lsn``."""
    metadata = cur.metadata
    if set_metadata:
        metadata = {**(metadata or {}), **set_metadata}
    return RecordVersion(
        id=cur.id,
        lsn=lsn,
        vector=cur.vector if values is None else values,
        metadata=metadata,
        sparse=cur.sparse if sparse is None else sparse,
    )


def current_version(
    memtables: Sequence[Memtable], slabs: Iterable[SlabReader], record_id: str
) -> RecordVersion | None:
    """The live version of ``record_id`` (None if absent or deleted): the first memtable
    (newest first) that has it or was cleared decides, else the newest slab version."""
    for mem in memtables:
        version = mem.latest(record_id)
        if version is not None:
            return None if version.deleted else version
        if mem.cleared:
            return None
    located = ((r, r.row_of(record_id)) for r in slabs)
    best = newest((int(r.lsns[row]), (r, row)) for r, row in located if row is not None)
    if best is None:
        return None
    version = best[0].version(best[1])
    return None if version.deleted else version
