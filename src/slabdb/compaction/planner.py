"""Compaction planning: a pure function of a manifest snapshot.

Slabs are listed oldest first and, because every merge takes the oldest slabs of a
level, levels stay in runs: ``L2 ... L1 ... L0`` from old to new.  When a level holds
``fanout`` slabs or more, its oldest ``max_inputs`` (at most) merge into one slab of
the next level.  More waiting than one task takes is left for the next task
(partial compaction).  Tombstones can be dropped only when nothing older than the
inputs remains, i.e. the inputs start at the oldest slab.
"""

from __future__ import annotations

from dataclasses import dataclass

from slabdb.lsm.manifest import ManifestRecord


@dataclass(frozen=True)
class CompactionTask:
    """Merge ``inputs`` (a contiguous run of slab ids, oldest first) into one slab."""

    inputs: tuple[str, ...]
    output_level: int
    drop_tombstones: bool


@dataclass(frozen=True)
class CompactionPlanner:
    fanout: int
    max_inputs: int
    max_level: int

    def plan(self, manifest: ManifestRecord) -> CompactionTask | None:
        """The most urgent task for this manifest, lowest level first, or None."""
        slabs = manifest.slabs
        for level in range(self.max_level):
            positions = [i for i, s in enumerate(slabs) if s.level == level]
            if len(positions) < self.fanout:
                continue
            start = positions[0]
            run = [start]
            for pos in positions[1:]:
                if pos != run[-1] + 1 or len(run) == self.max_inputs:
                    break
                run.append(pos)
            if len(run) < 2:
                continue
            return CompactionTask(
                inputs=tuple(slabs[i].id for i in run),
                output_level=level + 1,
                drop_tombstones=run[0] == 0,
            )
        return None
