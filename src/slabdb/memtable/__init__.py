"""The in-memory freshness layer."""

from slabdb.memtable.memtable import Memtable, MemtableSnapshot, RecordVersion

__all__ = ["Memtable", "MemtableSnapshot", "RecordVersion"]
