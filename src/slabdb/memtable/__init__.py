"""The in-memory freshness layer."""

from slabdb.memtable.memtable import Memtable, MemtableSnapshot

__all__ = ["Memtable", "MemtableSnapshot"]
