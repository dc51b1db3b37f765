"""A batch of upsert records held as columns: ids, one float32 matrix, metadata, sparse.

Servers decode a request straight into a :class:`RecordBatch` (protobuf's packed floats
become the matrix without a Python float per value), and
:func:`slabdb.client.requests.upsert_op` validates it a batch at a time with numpy. It
is also a read-only sequence of the record dicts it stands for, so every path that takes
records (the per-record validation that names the bad record, slicing into batches)
takes it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


class RecordBatch(Sequence[dict[str, Any]]):
    """``ids[i]``, ``rows[i]`` (the dense values), ``metadata[i]`` and ``sparse[i]`` of
    record ``i``. ``matrix`` is the rows stacked when they all have one length (None
    otherwise, and always None when no record has values); ``rows`` may be that matrix."""

    def __init__(
        self,
        ids: list[Any],
        rows: Sequence[Any] | F32,
        metadata: list[dict[str, Any] | None] | None = None,
        sparse: list[dict[str, Any] | None] | None = None,
        matrix: F32 | None = None,
    ) -> None:
        n = len(ids)
        if len(rows) != n:
            raise ValueError("a record batch needs one row of values per id")
        self.ids = ids
        self.rows = rows
        self.metadata: list[dict[str, Any] | None] = metadata or [None] * n
        self.sparse: list[dict[str, Any] | None] = sparse or [None] * n
        self.matrix = matrix

    @classmethod
    def from_rows(
        cls,
        ids: list[Any],
        rows: Sequence[Any],
        metadata: list[dict[str, Any] | None] | None = None,
        sparse: list[dict[str, Any] | None] | None = None,
    ) -> RecordBatch:
        """A batch whose matrix is stacked from ``rows`` when they share one non-zero
        length (lists are converted by numpy in one call).

        ``rows`` come from a typed decoder (REST's JSON numbers, protobuf floats): numpy
        would also turn numeric strings into numbers, so anything but a float or int
        array leaves the matrix out and the per-record checks answer."""
        matrix = None
        lengths = {len(r) for r in rows}
        if len(lengths) == 1 and 0 not in lengths:
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    stacked = np.asarray(rows)
            except (TypeError, ValueError, OverflowError):
                stacked = None
            if stacked is not None and stacked.ndim == 2 and stacked.dtype.kind in "iuf":
                with np.errstate(over="ignore", invalid="ignore"):
                    matrix = stacked.astype(np.float32, copy=False)
        return cls(ids, rows, metadata, sparse, matrix)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> RecordBatch: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | RecordBatch:
        if isinstance(i, slice):
            matrix = None if self.matrix is None else self.matrix[i]
            return RecordBatch(self.ids[i], self.rows[i], self.metadata[i], self.sparse[i], matrix)
        return {
            "id": self.ids[i],
            "values": self.rows[i],
            "metadata": self.metadata[i],
            "sparse_values": self.sparse[i],
        }
