"""The namespace engine: where the WAL, memtables, slabs and manifest meet.

* :mod:`slabdb.engine.namespace` - one namespace: write path (group commit into the WAL,
  apply to the memtable), flush to L0 slabs, manifest adoption;
* :mod:`slabdb.engine.publish` - writing new slabs, publishing the manifest by
  compare-and-swap;
* :mod:`slabdb.engine.recovery` - catching up with the store (manifest, then WAL) and the
  damage checks (log holes, a lost manifest or checkpoint, missing slabs);
* :mod:`slabdb.engine.freshness` - read-your-writes: a read naming a minimum LSN catches
  up from the store first (bounded wait);
* :mod:`slabdb.engine.apply` - resolving a WAL entry's intents at its LSN;
* :mod:`slabdb.engine.view` and :mod:`slabdb.engine.sources` - immutable read views that
  scatter a query over memtables and slabs and merge exact results;
* :mod:`slabdb.engine.maintenance` - background flush, compaction and garbage collection.
"""
