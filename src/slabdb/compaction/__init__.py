"""Compaction: which slabs to merge and how.

* :mod:`slabdb.compaction.planner` - a pure planner over an immutable manifest: L0 -> L1 ->
  L2 when a level holds ``level_fanout`` slabs (at most ``compaction_max_inputs`` at once);
* :mod:`slabdb.compaction.runner` - builds slabs: a memtable's versions into an L0 slab
  (flush), or several slabs merged column-wise into one, keeping each id's newest version.

Publishing the result (manifest compare-and-swap) is the engine's job.
"""
