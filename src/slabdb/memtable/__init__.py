"""The freshness layer: recent record versions in memory, searchable at once.

A :class:`Memtable` is append-only (a newer version supersedes an older one in place of
deleting it) and hands out immutable :class:`MemtableSnapshot` views; full 1,024-row
segments get bitmap metadata indexes on first filtered use.  Frozen memtables become L0
slabs.
"""

from slabdb.memtable.memtable import Memtable, MemtableSnapshot

__all__ = ["Memtable", "MemtableSnapshot"]
