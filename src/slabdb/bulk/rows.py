"""One chunk of Parquet rows, checked and turned into slab columns (no per-record objects
for the dense values).

Columns, as Pinecone documents them: ``id`` (string, required), ``values`` (list of
float, required for dense indexes), ``sparse_values`` (struct of ``indices`` list of
uint32 and ``values`` list of float; required for sparse indexes), ``metadata`` (a JSON
object as a string, optional).  Other columns are ignored.  A row that breaks a rule is
*failed*: counted, and (with ``error_mode="abort"``) the end of the import.  A chunk
may span files (its parts, in file order): an id repeated inside it keeps its last row,
so a later file's row wins over an earlier file's, and within a file the later row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slabdb.bulk.plan import Chunk, ChunkPart
from slabdb.bulk.source import RangeFile
from slabdb.core import limits
from slabdb.core.errors import InvalidMetadataError
from slabdb.core.values import IndexSpec, SparseVector
from slabdb.filters.validate import validate_metadata_sized
from slabdb.storage import ObjectStore

F32 = npt.NDArray[np.float32]
COLUMNS = ("id", "values", "sparse_values", "metadata")


@dataclass
class ChunkRows:
    """The accepted rows of one chunk (one per id) and what was refused."""

    ids: list[str]
    vectors: F32 | None
    sparse: list[SparseVector | None]
    metadata: list[dict[str, Any] | None]
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """The first few refusals, for the import's error message."""


class _Refusals:
    def __init__(self, n: int, where: str) -> None:
        self.ok = np.ones(n, dtype=np.bool_)
        self.where = where
        self.messages: list[str] = []

    def refuse(self, rows: npt.NDArray[np.int64] | list[int], why: str) -> None:
        rows = [int(r) for r in rows if self.ok[r]]
        if not rows:
            return
        self.ok[rows] = False
        if len(self.messages) < 5:
            self.messages.append(f"{self.where} row {rows[0]}: {why}")


class UnreadableFile(Exception):
    """A part's file could not be read (pyarrow or OS error)."""

    def __init__(self, key: str, cause: Exception) -> None:
        super().__init__(f"cannot read {key}: {cause}")


@dataclass
class _PartRows:
    """One part's rows, checked, before ids repeated across the chunk are dropped (its
    dense values go straight into the chunk's matrix, :class:`_Matrix`)."""

    ids: list[Any]
    sparse: list[SparseVector | None]
    metadata: list[dict[str, Any] | None]
    refusals: _Refusals


class _Matrix:
    """A chunk's dense values, filled part by part into one array sized from the plan
    (one copy of the chunk's vectors, not one per part plus their concatenation)."""

    def __init__(self, rows: int, dim: int) -> None:
        self.values = np.empty((rows, dim), dtype=np.float32)
        self.filled = 0

    def add(self, block: F32) -> None:
        end = self.filled + len(block)
        if end > len(self.values):  # the file has more rows than its footer had at start
            self.values = np.concatenate([self.values[: self.filled], block])
        else:
            self.values[self.filled : end] = block
        self.filled = end

    def kept(self, keep: npt.NDArray[np.int64]) -> F32:
        """The rows ``keep`` (in order), without a copy when every row is kept."""
        filled = self.values[: self.filled]
        return filled if len(keep) == self.filled else filled[keep]


def read_chunk(
    store: ObjectStore, chunk: Chunk, spec: IndexSpec, skip_unreadable: bool = False
) -> ChunkRows:
    """Read and check ``chunk``'s parts in order; a file that cannot be read raises
    :class:`UnreadableFile`, or with ``skip_unreadable`` fails all of its part's rows."""
    dense = spec.vector_type == "dense"
    matrix = _Matrix(chunk.rows if dense else 0, spec.dimension or 0)
    parts: list[_PartRows] = []
    failed, errors = 0, []
    for part in chunk.parts:
        try:
            parts.append(_read_part(store, part, spec, matrix if dense else None))
        except (pa.ArrowException, OSError) as exc:
            if not skip_unreadable:
                raise UnreadableFile(part.key, exc) from exc
            failed += part.rows
            errors.append(f"cannot read {part.key}: {exc}")
    ids = [rid for p in parts for rid in p.ids]
    ok = np.concatenate([p.refusals.ok for p in parts] or [np.zeros(0, dtype=np.bool_)])
    keep = _last_per_id(ids, ok)
    sparse = [s for p in parts for s in p.sparse]
    metadata = [m for p in parts for m in p.metadata]
    return ChunkRows(
        ids=[ids[i] for i in keep],
        vectors=matrix.kept(keep) if dense else None,
        sparse=[sparse[i] for i in keep],
        metadata=[metadata[i] for i in keep],
        failed=failed + int(len(ok) - ok.sum()),
        errors=(errors + [m for p in parts for m in p.refusals.messages])[:5],
    )


def _read_part(
    store: ObjectStore, part: ChunkPart, spec: IndexSpec, matrix: _Matrix | None
) -> _PartRows:
    pf = pq.ParquetFile(RangeFile(store, part.key))
    present = [c for c in COLUMNS if c in pf.schema_arrow.names]
    table = pf.read_row_groups(list(part.row_groups), columns=present)
    n = table.num_rows
    refusals = _Refusals(n, part.key)
    if "id" not in present:
        refusals.refuse(list(range(n)), "the file has no 'id' column")
        ids: list[Any] = [None] * n
    else:
        ids = table.column("id").to_pylist()
        _check_ids(ids, refusals)
    sparse = _sparse(table, spec, refusals)
    metadata = _metadata(table, refusals)
    if matrix is not None:  # last: the matrix only grows once the part is read
        matrix.add(_dense(table, spec, refusals))
    return _PartRows(ids, sparse, metadata, refusals)


def _check_ids(ids: list[Any], refusals: _Refusals) -> None:
    for i, rid in enumerate(ids):
        if not isinstance(rid, str) or not rid:
            refusals.refuse([i], "id must be a non-empty string")
        elif len(rid) > limits.MAX_ID_LENGTH:
            refusals.refuse([i], f"id is longer than {limits.MAX_ID_LENGTH} characters")


def _last_per_id(ids: list[Any], ok: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    seen: set[str] = set()
    keep: list[int] = []
    for i in range(len(ids) - 1, -1, -1):
        if ok[i] and ids[i] not in seen:
            seen.add(ids[i])
            keep.append(i)
    return np.asarray(keep[::-1], dtype=np.int64)


def _dense(table: pa.Table, spec: IndexSpec, refusals: _Refusals) -> F32:
    assert spec.dimension is not None
    dim, n = spec.dimension, table.num_rows
    out = np.zeros((n, dim), dtype=np.float32)
    if "values" not in table.column_names:
        refusals.refuse(list(range(n)), "the file has no 'values' column (dense index)")
        return out
    column = table.column("values")
    lengths = pc.fill_null(pc.list_value_length(column), -1).to_numpy().astype(np.int64)
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float32)
    starts = np.concatenate([[0], np.cumsum(np.maximum(lengths, 0))[:-1]]).astype(np.int64)
    good = lengths == dim
    refusals.refuse(np.flatnonzero(~good), f"values must hold {dim} numbers")
    if good.all():
        out = flat.reshape(n, dim)
    else:
        rows = np.flatnonzero(good)
        out[rows] = flat[starts[rows, None] + np.arange(dim)]
    finite = np.isfinite(out).all(axis=1)
    refusals.refuse(np.flatnonzero(~finite), "values must be finite numbers")
    norms = np.linalg.norm(out.astype(np.float64), axis=1)
    refusals.refuse(np.flatnonzero(norms >= limits.MAX_VECTOR_NORM), "vector norm too large")
    if spec.metric == "cosine":
        refusals.refuse(np.flatnonzero(norms == 0), "a zero vector has no cosine similarity")
    return out


def _sparse(table: pa.Table, spec: IndexSpec, refusals: _Refusals) -> list[SparseVector | None]:
    n = table.num_rows
    if "sparse_values" not in table.column_names:
        if spec.vector_type == "sparse":
            refusals.refuse(list(range(n)), "the file has no 'sparse_values' column")
        return [None] * n
    out: list[SparseVector | None] = []
    for i, raw in enumerate(table.column("sparse_values").to_pylist()):
        try:
            out.append(_sparse_row(raw))
        except ValueError as exc:
            refusals.refuse([i], str(exc))
            out.append(None)
        if out[-1] is None and spec.vector_type == "sparse":
            refusals.refuse([i], "sparse_values are required in a sparse index")
    return out


def _sparse_row(raw: Any) -> SparseVector | None:
    if raw is None or not raw.get("indices"):
        return None
    indices = np.asarray(raw["indices"], dtype=np.int64)
    values = np.asarray(raw.get("values") or [], dtype=np.float64)
    if len(indices) != len(values):
        raise ValueError("sparse_values indices and values differ in length")
    if len(indices) > limits.MAX_SPARSE_NON_ZEROS:
        raise ValueError(f"more than {limits.MAX_SPARSE_NON_ZEROS} sparse values")
    if (indices < 0).any() or (indices > limits.MAX_SPARSE_INDEX).any():
        raise ValueError("sparse indices must be within [0, 2^32)")
    if not np.isfinite(values).all():
        raise ValueError("sparse values must be finite numbers")
    order = np.argsort(indices, kind="stable")
    indices, values = indices[order], values[order]
    if (np.diff(indices) == 0).any():
        raise ValueError("sparse indices must be unique")
    return SparseVector(indices=indices.astype(np.uint32), values=values.astype(np.float32))


def _metadata(table: pa.Table, refusals: _Refusals) -> list[dict[str, Any] | None]:
    n = table.num_rows
    if "metadata" not in table.column_names:
        return [None] * n
    out: list[dict[str, Any] | None] = []
    for i, raw in enumerate(table.column("metadata").to_pylist()):
        if raw is None:
            out.append(None)
            continue
        try:
            doc = json.loads(raw) if isinstance(raw, str | bytes) else raw
            out.append(validate_metadata_sized(doc)[0])
        except (ValueError, InvalidMetadataError) as exc:
            refusals.refuse([i], f"metadata: {exc}")
            out.append(None)
    return out
