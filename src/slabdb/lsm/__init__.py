"""LSM bookkeeping: the namespace manifest and its compare-and-swap publication."""

from slabdb.lsm.manifest import ManifestRecord, ManifestStore, SlabEntry

__all__ = ["ManifestRecord", "ManifestStore", "SlabEntry"]
