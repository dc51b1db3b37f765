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

from slabdb.core.values import SparseVector

F32 = npt.NDArray[np.float32]


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
