"""The one visibility rule: of all versions of an id, the one with the highest LSN wins.

A tombstone that wins hides the id.  Every reader of several sources applies this rule
through the functions here: the read view (point reads, whole-namespace reads, query
shadowing), the namespace engine (resolving updates against the current version) and
compaction (keeping the newest version of each id).  LSNs are unique per namespace, so
there are no ties between two versions of one id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def supersedes(lsn: int, other: int | None) -> bool:
    """Whether a version at ``lsn`` is newer than one at ``other`` (None: no version)."""
    return other is None or lsn > other


def newest(candidates: Iterable[tuple[int, T]]) -> T | None:
    """The item of the highest-LSN ``(lsn, item)`` candidate, or None if there is none."""
    best: tuple[int, T] | None = None
    for lsn, item in candidates:
        if best is None or lsn > best[0]:
            best = (lsn, item)
    return None if best is None else best[1]


def newest_per_id(versions: Iterable[tuple[str, int, T]]) -> dict[str, tuple[int, T]]:
    """For each id of ``(id, lsn, item)`` versions, the ``(lsn, item)`` that wins."""
    best: dict[str, tuple[int, T]] = {}
    for record_id, lsn, item in versions:
        seen = best.get(record_id)
        if seen is None or lsn > seen[0]:
            best[record_id] = (lsn, item)
    return best
