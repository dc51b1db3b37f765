"""Write operations: what a WAL entry carries and what the memtable applies.

Operations are validated before they are logged.  Updates by id or by filter and
deletes by filter are logged as intents and resolved when applied, in LSN order,
against the namespace state at that LSN: replay therefore reproduces the same
records every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class SparseVector:
    """Sorted, unique non-negative ``indices`` with their ``values``."""

    indices: U32
    values: F32

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", np.asarray(self.indices, dtype=np.uint32))
        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.float32))

    def to_lists(self) -> tuple[list[int], list[float]]:
        return [int(i) for i in self.indices], [float(v) for v in self.values]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseVector):
            return NotImplemented
        return bool(
            np.array_equal(self.indices, other.indices)
            and np.array_equal(self.values, other.values)
        )

    def __hash__(self) -> int:
        return hash((self.indices.tobytes(), self.values.tobytes()))


@dataclass(frozen=True)
class UpsertOp:
    """Insert or replace whole records. ``vectors`` is (n, d) float32, or None for sparse indexes."""

    ids: list[str]
    vectors: F32 | None
    metadata: list[dict[str, Any] | None]
    sparse: list[SparseVector | None] | None = None


@dataclass(frozen=True)
class UpdateOp:
    """Change part of one record; a no-op if the id does not exist when applied."""

    id: str
    values: F32 | None = None
    set_metadata: dict[str, Any] | None = None
    sparse: SparseVector | None = None


@dataclass(frozen=True)
class UpdateByFilterOp:
    """Merge ``set_metadata`` into every live record matching ``filter``."""

    filter: dict[str, Any]
    set_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeleteOp:
    ids: list[str]


@dataclass(frozen=True)
class DeleteByFilterOp:
    filter: dict[str, Any]


@dataclass(frozen=True)
class DeleteAllOp:
    """Hide every record written before this operation."""


Op = UpsertOp | UpdateOp | UpdateByFilterOp | DeleteOp | DeleteByFilterOp | DeleteAllOp


@dataclass(frozen=True)
class WalEntry:
    """One durable WAL object: a group of operations sharing one LSN."""

    lsn: int
    ops: list[Op]
