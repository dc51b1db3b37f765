"""What one process has seen of a namespace, for garbage collection."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GcState:
    """What one process has seen, so grace periods count from the right moment.

    A slab's grace period starts when this process first saw it unreferenced (not when
    it was written: a slab written long ago may have been in the manifest a reader has
    just loaded).  A WAL entry may go once it is at or below a checkpoint this process
    saw at least a grace period ago (a reader that loaded an older manifest is then
    long done reading the log above it).
    """

    unreferenced_since: dict[str, float] = field(default_factory=dict)
    checkpoints: list[tuple[float, int]] = field(default_factory=list)

    def note_checkpoint(self, now: float, checkpoint: int) -> None:
        if not self.checkpoints or self.checkpoints[-1][1] != checkpoint:
            self.checkpoints.append((now, checkpoint))

    def checkpoint_seen_before(self, moment: float) -> int:
        """The newest checkpoint seen at or before ``moment`` (0 if none); prunes older ones."""
        older = [i for i, (seen, _cp) in enumerate(self.checkpoints) if seen <= moment]
        if not older:
            return 0
        keep_from = older[-1]
        safe = self.checkpoints[keep_from][1]
        del self.checkpoints[:keep_from]
        return safe
