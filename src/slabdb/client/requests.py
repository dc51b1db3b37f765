"""SDK-shaped write requests turned into validated WAL operations.

Everything here is pure: arguments in, :mod:`slabdb.core.ops` out, or an
:class:`~slabdb.core.errors.InvalidArgumentError` that names the offending field.  Nothing
is logged before its request passed, so a bad request changes nothing stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from slabdb.client import validation
from slabdb.client.batch import RecordBatch
from slabdb.client.catalog import IndexConfig
from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError, LimitExceededError, SlabDBError
from slabdb.core.ops import (
    DeleteAllOp,
    DeleteByFilterOp,
    DeleteOp,
    Op,
    UpdateByFilterOp,
    UpdateOp,
    UpsertOp,
)
from slabdb.core.values import SparseVector
from slabdb.filters import parse_filter


def check_upsert_count(n: int) -> None:
    """1 to 1000 records per upsert request (Pinecone refuses an empty upsert too)."""
    if n == 0:
        raise InvalidArgumentError("upsert needs at least one record: vectors is empty")
    if n > limits.MAX_UPSERT_RECORDS:
        raise LimitExceededError(
            f"upsert takes at most {limits.MAX_UPSERT_RECORDS} records per request, got {n}; "
            "pass batch_size= or use upsert_arrays"
        )


def _record_vectors(
    cfg: IndexConfig, i: int, values: Any, sv: SparseVector | None
) -> np.ndarray | None:
    """The dense row of record ``i`` (None on a sparse index), checked against the index.

    A dense index takes sparse values with any metric, as Pinecone does; they are stored
    and returned, and scored only by a dotproduct (hybrid) index."""
    if cfg.vector_type == "dense":
        return validation.dense(values, cfg.dimension, cfg.metric, f"vectors[{i}].values")
    if values:
        raise InvalidArgumentError(f"vectors[{i}]: a sparse index takes no dense values")
    if sv is None or len(sv.indices) == 0:
        raise InvalidArgumentError(f"vectors[{i}]: a sparse index needs sparse_values")
    return None


def upsert_op(cfg: IndexConfig, vectors: Sequence[Any]) -> UpsertOp:
    """One upsert of records given as dicts, tuples or Vector objects, or a
    :class:`RecordBatch` (validated a batch at a time; when anything in it is wrong, the
    records are checked one by one so the error names the first bad record, as always)."""
    if isinstance(vectors, RecordBatch):
        try:
            op = _batch_upsert_op(cfg, vectors)
        except SlabDBError:
            op = None
        if op is not None:
            return op
    return _records_upsert_op(cfg, vectors)


def _valid_ids(ids: list[Any]) -> bool:
    """True if every id passes :func:`validation.record_id` (checked all at once)."""
    if not all(type(r) is str for r in ids):
        return False
    lengths = list(map(len, ids))
    joined = "".join(ids)
    return (
        min(lengths, default=1) > 0
        and max(lengths, default=0) <= limits.MAX_ID_LENGTH
        and joined.isascii()
        and "\x00" not in joined
    )


def _batch_upsert_op(cfg: IndexConfig, batch: RecordBatch) -> UpsertOp | None:
    """The upsert of a dense batch with its matrix, or None when a check fails (or the
    batch is not that simple): the per-record path then says what is wrong."""
    matrix = batch.matrix
    if cfg.vector_type != "dense" or matrix is None or matrix.shape[1] != cfg.dimension:
        return None
    if not _valid_ids(batch.ids) or not validation.rows_pass(matrix, cfg.metric):
        return None
    sps = validation.sparse_column(batch.sparse)
    mds, md_bytes = validation.metadata_column(batch.metadata)
    nnz = sum(0 if s is None else len(s.indices) for s in sps)
    size = validation.estimate_bytes(matrix.size, batch.ids, md_bytes, nnz)
    validation.check_request_size(size)
    return UpsertOp(
        ids=list(batch.ids),
        vectors=np.ascontiguousarray(matrix, dtype=np.float32),
        metadata=mds,
        sparse=sps if any(s is not None for s in sps) else None,
    )


def _records_upsert_op(cfg: IndexConfig, vectors: Sequence[Any]) -> UpsertOp:
    """Records validated one at a time (the first bad one is named)."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    mds: list[dict[str, Any] | None] = []
    sps: list[SparseVector | None] = []
    md_bytes = 0
    for i, item in enumerate(vectors):
        rid, values, md, sp = validation.split_record(item, i)
        ids.append(validation.record_id(rid, f"vectors[{i}].id"))
        sv = validation.sparse(sp, f"vectors[{i}].sparse_values")
        row = _record_vectors(cfg, i, values, sv)
        if row is not None:
            rows.append(row)
        sps.append(sv)
        clean, size = validation.metadata_sized(md, f"vectors[{i}].metadata")
        mds.append(clean)
        md_bytes += size
    nnz = sum(0 if s is None else len(s.indices) for s in sps)
    n_values = 0 if not rows else len(rows) * len(rows[0])
    validation.check_request_size(validation.estimate_bytes(n_values, ids, md_bytes, nnz))
    return UpsertOp(
        ids=ids,
        vectors=np.stack(rows) if rows else None,
        metadata=mds,
        sparse=sps if any(s is not None for s in sps) else None,
    )


def array_upsert_ops(
    cfg: IndexConfig,
    ids: Sequence[str] | np.ndarray,
    vectors: np.ndarray,
    metadata: Sequence[dict[str, Any] | None] | None,
    batch_size: int,
) -> list[UpsertOp]:
    """The bulk path: ids and an (n, d) matrix, cut into upserts of ``batch_size`` rows."""
    if cfg.vector_type != "dense":
        raise InvalidArgumentError("upsert_arrays needs a dense index")
    if isinstance(vectors, np.ndarray) and vectors.dtype.kind not in "iuf":
        raise InvalidArgumentError(f"vectors must be numbers, got an array of {vectors.dtype}")
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != cfg.dimension:
        raise InvalidArgumentError(
            f"vectors must be an (n, {cfg.dimension}) array, got shape {matrix.shape}"
        )
    id_list = [
        validation.record_id(str(r) if isinstance(r, np.str_) else r, f"ids[{i}]")
        for i, r in enumerate(ids)
    ]
    if len(id_list) != len(matrix):
        raise InvalidArgumentError(f"{len(id_list)} ids but {len(matrix)} vectors")
    if metadata is not None and len(metadata) != len(id_list):
        raise InvalidArgumentError(f"{len(id_list)} ids but {len(metadata)} metadata entries")
    if not np.all(np.isfinite(matrix)):
        raise InvalidArgumentError("vectors contain NaN or infinity")
    if cfg.metric == "cosine" and not np.all(np.any(matrix, axis=1)):
        raise InvalidArgumentError("a cosine index cannot take an all-zero vector")
    validation.check_row_norms(matrix)
    mds = [
        validation.metadata(m, f"metadata[{i}]")
        for i, m in enumerate(metadata or [None] * len(id_list))
    ]
    size = max(1, min(batch_size, limits.MAX_UPSERT_RECORDS))
    return [
        UpsertOp(
            ids=id_list[s : s + size], vectors=matrix[s : s + size], metadata=mds[s : s + size]
        )
        for s in range(0, len(id_list), size)
    ]


def update_by_filter_op(
    filter: dict[str, Any], set_metadata: dict[str, Any] | None, values: Any, sparse_values: Any
) -> UpdateByFilterOp:
    if values is not None or sparse_values is not None:
        raise InvalidArgumentError("update by filter can only set metadata")
    parse_filter(filter)
    md = validation.metadata(set_metadata or {}, "set_metadata") or {}
    return UpdateByFilterOp(filter=filter, set_metadata=md)


def update_op(
    cfg: IndexConfig,
    id: Any,
    values: Sequence[float] | None,
    set_metadata: dict[str, Any] | None,
    sparse_values: Any,
) -> UpdateOp:
    if id is None:
        raise InvalidArgumentError("update needs an id or a filter")
    rid = validation.record_id(id)
    vec = None
    if values is not None and len(values) > 0:
        vec = validation.dense(values, cfg.dimension, cfg.metric)
    sv = validation.sparse(sparse_values)
    new_md = validation.metadata(set_metadata, "set_metadata") if set_metadata else None
    if vec is None and sv is None and new_md is None:
        raise InvalidArgumentError("update needs values, sparse_values or set_metadata")
    return UpdateOp(id=rid, values=vec, set_metadata=new_md, sparse=sv)


def delete_op(
    ids: Sequence[str] | None, delete_all: bool | None, filter: dict[str, Any] | None
) -> Op:
    chosen = sum(x is not None and x is not False for x in (ids, filter, delete_all or None))
    if chosen != 1:
        raise InvalidArgumentError("delete takes exactly one of ids, filter or delete_all=True")
    if ids is not None:
        return DeleteOp(ids=validation.ids_list(ids, limits.MAX_DELETE_IDS, "delete"))
    if filter is not None:
        parse_filter(filter)
        return DeleteByFilterOp(filter=filter)
    return DeleteAllOp()


def page_limit(limit: Any, maximum: int) -> int:
    """A page size: ``limits.DEFAULT_LIST_LIMIT`` when None, else an int in 1..maximum."""
    if limit is None:
        return min(limits.DEFAULT_LIST_LIMIT, maximum)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise InvalidArgumentError(f"limit must be between 1 and {maximum}")
    return limit
