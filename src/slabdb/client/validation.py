"""Turning user input into validated operations, with Pinecone's limits.

Everything here raises :class:`InvalidArgumentError` subclasses with a message that
says what was wrong and where; nothing reaches the WAL before it passes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from slabdb.core import limits, naming
from slabdb.core.errors import (
    DimensionMismatchError,
    InvalidArgumentError,
    InvalidMetadataError,
    LimitExceededError,
    PayloadTooLargeError,
)
from slabdb.core.values import METRICS, VECTOR_TYPES, SparseVector
from slabdb.filters import validate_metadata_sized

F32 = npt.NDArray[np.float32]
_INDEX_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def index_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("index name must be a non-empty string")
    if len(name) > limits.MAX_INDEX_NAME_LENGTH:
        raise InvalidArgumentError(
            f"index name {name!r} is {len(name)} characters; the limit is {limits.MAX_INDEX_NAME_LENGTH}"
        )
    if not _INDEX_NAME.match(name):
        raise InvalidArgumentError(
            f"index name {name!r} must consist of lower case alphanumeric characters or '-', "
            "and start and end with an alphanumeric character"
        )
    return name


def index_shape(dimension: Any, metric: Any, vector_type: Any) -> tuple[int | None, str, str]:
    if vector_type not in VECTOR_TYPES:
        raise InvalidArgumentError(
            f"vector_type must be one of {list(VECTOR_TYPES)}, got {vector_type!r}"
        )
    if metric not in METRICS:
        raise InvalidArgumentError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    if vector_type == "sparse":
        if dimension is not None:
            raise InvalidArgumentError("a sparse index takes no dimension")
        if metric != "dotproduct":
            raise InvalidArgumentError("a sparse index needs metric 'dotproduct'")
        return None, metric, vector_type
    if isinstance(dimension, bool) or not isinstance(dimension, int):
        raise InvalidArgumentError(f"dimension must be an integer, got {dimension!r}")
    if not 1 <= dimension <= limits.MAX_DIMENSION:
        raise InvalidArgumentError(
            f"dimension must be between 1 and {limits.MAX_DIMENSION}, got {dimension}"
        )
    return dimension, metric, vector_type


def namespace(ns: Any) -> str:
    if ns is None:
        return ""
    if not isinstance(ns, str):
        raise InvalidArgumentError(f"namespace must be a string, got {type(ns).__name__}")
    ns = naming.engine_name(ns)
    if len(ns) > limits.MAX_NAMESPACE_LENGTH:
        raise LimitExceededError(
            f"namespace is {len(ns)} characters; the limit is {limits.MAX_NAMESPACE_LENGTH}"
        )
    return ns


def record_id(rid: Any, where: str = "id") -> str:
    if not isinstance(rid, str):
        raise InvalidArgumentError(f"{where} must be a string, got {type(rid).__name__}")
    if not rid:
        raise InvalidArgumentError(f"{where} must not be empty")
    if len(rid) > limits.MAX_ID_LENGTH:
        raise LimitExceededError(
            f"{where} is {len(rid)} characters; the limit is {limits.MAX_ID_LENGTH}"
        )
    if not rid.isascii():
        raise InvalidArgumentError(f"{where} {rid!r} must be ASCII")
    return rid


def ids_list(ids: Any, limit: int, what: str) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InvalidArgumentError(f"{what} takes a list of ids")
    if len(ids) > limit:
        raise LimitExceededError(f"{what} takes at most {limit} ids, got {len(ids)}")
    return [record_id(r, f"ids[{i}]") for i, r in enumerate(ids)]


def dense(values: Any, dimension: int | None, metric: str, where: str = "values") -> F32:
    """A float32 vector of the index dimension, all finite (non-zero for cosine)."""
    if dimension is None:
        raise InvalidArgumentError(f"{where}: this is a sparse index; send sparse_values instead")
    if isinstance(values, str | bytes) or values is None:
        raise InvalidArgumentError(f"{where} must be a list of numbers")
    try:
        arr = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{where} must be a list of numbers") from exc
    if arr.ndim != 1:
        raise InvalidArgumentError(f"{where} must be a flat list of numbers")
    if len(arr) != dimension:
        raise DimensionMismatchError(
            f"{where}: vector dimension {len(arr)} does not match the dimension of the index {dimension}"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{where} contains NaN or infinity")
    if metric == "cosine" and not np.any(arr):
        raise InvalidArgumentError(f"{where}: a cosine index cannot take an all-zero vector")
    return arr


def sparse(raw: Any, where: str = "sparse_values") -> SparseVector | None:
    """A SparseVector from ``{"indices": [...], "values": [...]}`` or an object with both."""
    if raw is None:
        return None
    if isinstance(raw, SparseVector):
        return raw
    if isinstance(raw, Mapping):
        indices, values = raw.get("indices"), raw.get("values")
    else:
        indices, values = getattr(raw, "indices", None), getattr(raw, "values", None)
    if indices is None or values is None:
        raise InvalidArgumentError(f"{where} needs 'indices' and 'values'")
    if len(indices) != len(values):
        raise InvalidArgumentError(f"{where}: {len(indices)} indices but {len(values)} values")
    if len(indices) > limits.MAX_SPARSE_NON_ZEROS:
        raise LimitExceededError(
            f"{where} has {len(indices)} non-zero values; the limit is {limits.MAX_SPARSE_NON_ZEROS}"
        )
    if any(isinstance(i, bool) or not isinstance(i, int | np.integer) for i in indices):
        raise InvalidArgumentError(f"{where}.indices must be integers")
    idx = np.asarray(indices, dtype=np.int64)
    if len(idx) and (idx.min() < 0 or idx.max() >= 2**32):
        raise InvalidArgumentError(f"{where}.indices must be between 0 and 2^32-1")
    try:
        vals = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{where}.values must be numbers") from exc
    if not np.all(np.isfinite(vals)):
        raise InvalidArgumentError(f"{where}.values contains NaN or infinity")
    if len(np.unique(idx)) != len(idx):
        raise InvalidArgumentError(f"{where}.indices must be unique")
    order = np.argsort(idx, kind="stable")
    return SparseVector(idx[order].astype(np.uint32), vals[order])


def metadata(raw: Any, where: str = "metadata") -> dict[str, Any] | None:
    return metadata_sized(raw, where)[0]


def metadata_sized(raw: Any, where: str = "metadata") -> tuple[dict[str, Any] | None, int]:
    """Validated metadata (None if empty) and its JSON size, serialized once."""
    if raw is None:
        return None, 0
    if not isinstance(raw, Mapping):
        raise InvalidArgumentError(f"{where} must be an object")
    try:
        md, size = validate_metadata_sized(dict(raw))
    except InvalidMetadataError as exc:
        raise InvalidMetadataError(f"{where}: {exc.message}") from exc
    return md or None, size


def top_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidArgumentError(f"top_k must be an integer, got {k!r}")
    if not 1 <= k <= limits.MAX_TOP_K:
        raise LimitExceededError(f"top_k must be between 1 and {limits.MAX_TOP_K}, got {k}")
    return k


def split_record(item: Any, i: int) -> tuple[Any, Any, Any, Any]:
    """(id, values, metadata, sparse_values) from a dict, a tuple or a Vector-like object."""
    if isinstance(item, Mapping):
        unknown = set(item) - {"id", "values", "metadata", "sparse_values", "sparseValues"}
        if unknown:
            raise InvalidArgumentError(f"vectors[{i}] has unknown fields {sorted(unknown)}")
        if "id" not in item:
            raise InvalidArgumentError(f"vectors[{i}] has no 'id'")
        sp = item.get("sparse_values", item.get("sparseValues"))
        return item["id"], item.get("values"), item.get("metadata"), sp
    if isinstance(item, tuple):
        if len(item) == 2:
            return item[0], item[1], None, None
        if len(item) == 3:
            return item[0], item[1], item[2], None
        raise InvalidArgumentError(
            f"vectors[{i}]: a tuple must be (id, values) or (id, values, metadata)"
        )
    if hasattr(item, "id") and hasattr(item, "values"):
        return (
            item.id,
            item.values,
            getattr(item, "metadata", None),
            getattr(item, "sparse_values", None),
        )
    raise InvalidArgumentError(
        f"vectors[{i}] must be a dict, a tuple or a Vector, got {type(item).__name__}"
    )


def estimate_bytes(n_values: int, ids: Sequence[str], md_bytes: int, nnz: int) -> int:
    """Approximate request size: float32 values, ids, JSON metadata, sparse pairs."""
    return 4 * n_values + sum(len(r) for r in ids) + md_bytes + 8 * nnz


def check_request_size(size: int) -> None:
    if size > limits.MAX_REQUEST_BYTES:
        raise PayloadTooLargeError(
            f"request is about {size} bytes; the limit is {limits.MAX_REQUEST_BYTES} bytes (2 MB): "
            "send smaller batches"
        )
