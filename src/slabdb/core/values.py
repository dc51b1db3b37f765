"""Value types every layer shares: index shape, record versions, sparse vectors.

These are below the engine so that the WAL, memtable, slabs, compaction and the read
path agree on one definition each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U32 = npt.NDArray[np.uint32]

METRICS: tuple[str, ...] = ("cosine", "euclidean", "dotproduct")
VECTOR_TYPES: tuple[str, ...] = ("dense", "sparse")


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
class IndexSpec:
    """What every slab of an index shares."""

    dimension: int | None
    metric: str
    vector_type: str


@dataclass(frozen=True)
class RecordVersion:
    """One version of one record; ``deleted`` versions are tombstones."""

    id: str
    lsn: int
    deleted: bool = False
    vector: F32 | None = None
    metadata: dict[str, Any] | None = None
    sparse: SparseVector | None = None
