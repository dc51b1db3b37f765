"""Compaction planning: a pure function of a manifest snapshot.

Slabs are listed oldest first and, because every merge takes the oldest slabs of a
level, levels stay in runs: ``L2 ... L1 ... L0`` from old to new.  When a level holds
``fanout`` slabs or more, its oldest ``max_inputs`` (at most) merge into one slab of
the next level.  More waiting than one task takes is left for the next task
(partial compaction).  Tombstones can be dropped only when nothing older than the
inputs remains, i.e. the inputs start at the oldest slab.

Small L0 slabs may merge sooner (``merge_rows``, ``EngineConfig.l0_merge_rows``; 0, the
default, is off): once the oldest run of L0 slabs that each hold fewer than
``merge_rows`` rows holds ``merge_rows`` rows together (two slabs at least), it merges
into L1 without waiting for ``fanout`` slabs, so exact flushes reach a slab big enough
for a graph sooner.  Off by default because it leaves a namespace in several smaller
slabs for good (docs/design/ann.md, "The post-ingest state").
"""

from __future__ import annotations

from dataclasses import dataclass

from slabdb.lsm.manifest import ManifestRecord, SlabEntry


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
    merge_rows: int = 0
    """Small L0 slabs (fewer rows each) merge into L1 once they hold this many together."""

    def plan(self, manifest: ManifestRecord) -> CompactionTask | None:
        """The most urgent task for this manifest, lowest level first, or None."""
        slabs = manifest.slabs
        for level in range(self.max_level):
            positions = [i for i, s in enumerate(slabs) if s.level == level]
            if len(positions) < self.fanout:
                if level == 0 and (early := self._small_l0_run(slabs, positions)):
                    return self._task(slabs, early, level + 1)
                continue
            start = positions[0]
            run = [start]
            for pos in positions[1:]:
                if pos != run[-1] + 1 or len(run) == self.max_inputs:
                    break
                run.append(pos)
            if len(run) < 2:
                continue
            return self._task(slabs, run, level + 1)
        return None

    def _small_l0_run(self, slabs: tuple[SlabEntry, ...], positions: list[int]) -> list[int]:
        """The oldest contiguous L0 slabs, each below ``merge_rows`` rows, up to the first
        that brings them to ``merge_rows`` together; [] when they are not there yet."""
        if self.merge_rows <= 0:
            return []
        run: list[int] = []
        rows = 0
        for pos in positions:
            small = slabs[pos].count < self.merge_rows
            if not small or (run and pos != run[-1] + 1) or len(run) == self.max_inputs:
                break
            run.append(pos)
            rows += slabs[pos].count
            if rows >= self.merge_rows:  # two slabs at least: each is below merge_rows
                return run
        return []

    @staticmethod
    def _task(slabs: tuple[SlabEntry, ...], run: list[int], output_level: int) -> CompactionTask:
        return CompactionTask(
            inputs=tuple(slabs[i].id for i in run),
            output_level=output_level,
            drop_tombstones=run[0] == 0,
        )
