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


def namespace(ns: Any, *, creating: bool = False) -> str:
    """The engine's name of a namespace a request named (see :mod:`slabdb.core.naming`).

    Names are at most 512 characters without NUL (as Pinecone's); ``creating`` (a write
    that makes the namespace if it does not exist) also refuses names of only spaces.
    """
    if ns is None:
        return ""
    if not isinstance(ns, str):
        raise InvalidArgumentError(f"namespace must be a string, got {type(ns).__name__}")
    ns = naming.engine_name(ns)
    if len(ns) > limits.MAX_NAMESPACE_LENGTH:
        raise LimitExceededError(
            f"namespace is {len(ns)} characters; the limit is {limits.MAX_NAMESPACE_LENGTH}"
        )
    if "\x00" in ns:
        raise InvalidArgumentError("namespace must not contain the NUL character")
    if creating and ns and not ns.strip():
        raise InvalidArgumentError("namespace name must not be blank (only whitespace)")
    return ns


def new_namespace_name(name: Any) -> str:
    """The engine name for ``create_namespace`` (``""``: the default namespace, which
    always exists); a name of only spaces is refused."""
    return namespace(name, creating=True)


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
    if "\x00" in rid:
        raise InvalidArgumentError(f"{where} must not contain the NUL character")
    return rid


def ids_list(ids: Any, limit: int, what: str) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InvalidArgumentError(f"{what} takes a list of ids")
    if len(ids) > limit:
        raise LimitExceededError(f"{what} takes at most {limit} ids, got {len(ids)}")
    return [record_id(r, f"ids[{i}]") for i, r in enumerate(ids)]


_REAL_TYPES = (int, float, np.integer, np.floating)
_NOT_NUMBERS = (bool, np.bool_)


def _real_numbers(values: Any, where: str) -> None:
    """Refuse anything but real numbers: numeric strings and booleans are not numbers."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iuf":
            raise InvalidArgumentError(f"{where} must be numbers, got an array of {values.dtype}")
        return
    if isinstance(values, str | bytes | Mapping) or values is None:
        raise InvalidArgumentError(f"{where} must be a list of numbers")
    try:
        kinds = set(map(type, values))
    except TypeError as exc:
        raise InvalidArgumentError(f"{where} must be a list of numbers") from exc
    for kind in kinds:
        if issubclass(kind, _NOT_NUMBERS) or not issubclass(kind, _REAL_TYPES):
            raise InvalidArgumentError(
                f"{where} must be a list of numbers, got a {kind.__name__} among them"
            )


def float32_values(values: Any, where: str) -> F32:
    """``values`` as a flat float32 array of finite real numbers."""
    _real_numbers(values, where)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgumentError(f"{where} must be a list of numbers") from exc
    if arr.ndim != 1:
        raise InvalidArgumentError(f"{where} must be a flat list of numbers")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(
            f"{where} contains NaN, infinity or a number outside float32's range (±3.4e38)"
        )
    return arr


def check_norm(arr: F32, where: str) -> None:
    """Refuse vectors whose scores could overflow float32 (see ``limits.MAX_VECTOR_NORM``)."""
    wide = arr.astype(np.float64)
    norm = float(np.sqrt(np.dot(wide, wide)))
    if norm >= limits.MAX_VECTOR_NORM:
        raise InvalidArgumentError(
            f"{where}: the vector's length (L2 norm) is {norm:.3g}; SlabDB takes vectors "
            "with a norm below 2^62 (about 4.6e18) so that every score stays finite"
        )


def check_row_norms(matrix: F32, where: str = "vectors") -> None:
    """``check_norm`` for every row of an (n, d) matrix, in float64 a block at a time."""
    for start in range(0, len(matrix), 4096):
        block = matrix[start : start + 4096].astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        bad = np.flatnonzero(norms >= limits.MAX_VECTOR_NORM)
        if len(bad):
            check_norm(matrix[start + int(bad[0])], f"{where}[{start + int(bad[0])}]")


_MAX_SQUARED_NORM = float(limits.MAX_VECTOR_NORM) ** 2


def _checked_array(values: np.ndarray, dimension: int, metric: str) -> F32 | None:
    """A float array of the right shape as float32 if it passes every check of
    :func:`dense` (one float64 dot product decides: NaN and infinity make it NaN or
    infinite), else None (the full checks then say what is wrong)."""
    if values.dtype.kind != "f" or values.shape != (dimension,):
        return None
    if values.dtype == np.float32:  # the usual case: nothing to cast
        arr = values
    else:  # a float64 beyond float32's range becomes infinite (and fails below)
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.asarray(values, dtype=np.float32)
    wide = arr.astype(np.float64)  # float32 squares cannot overflow float64
    squared = float(wide @ wide)
    if squared < _MAX_SQUARED_NORM and (squared > 0.0 or metric != "cosine"):
        return arr
    return None


def rows_pass(matrix: F32, metric: str) -> bool:
    """True if every row of a float32 matrix passes :func:`dense`'s checks: finite,
    a norm below ``limits.MAX_VECTOR_NORM``, and not all zero on a cosine index (one
    float64 pass a block at a time: NaN or infinity makes a row's squared norm NaN or
    infinite). On False, :func:`dense` on each row says which fails and why."""
    for start in range(0, len(matrix), 4096):
        block = matrix[start : start + 4096].astype(np.float64)
        squared = np.einsum("ij,ij->i", block, block)
        if not np.all(squared < _MAX_SQUARED_NORM):  # NaN compares False
            return False
        if metric == "cosine" and not np.all(squared > 0.0):
            return False
    return True


def dense(values: Any, dimension: int | None, metric: str, where: str = "values") -> F32:
    """A float32 vector of the index dimension, all finite (non-zero for cosine)."""
    if dimension is None:
        raise InvalidArgumentError(f"{where}: this is a sparse index; send sparse_values instead")
    if isinstance(values, np.ndarray):  # the embedded fast path
        checked = _checked_array(values, dimension, metric)
        if checked is not None:
            return checked
    arr = float32_values(values, where)
    if len(arr) != dimension:
        raise DimensionMismatchError(
            f"{where}: vector dimension {len(arr)} does not match the dimension of the index {dimension}"
        )
    if metric == "cosine" and not np.any(arr):
        raise InvalidArgumentError(f"{where}: a cosine index cannot take an all-zero vector")
    check_norm(arr, where)
    return arr


def _sparse_indices(indices: Any, where: str) -> np.ndarray:
    """Integer indices in 0..2^32-1 (what the wire and the slabs hold), as int64."""
    if isinstance(indices, np.ndarray):
        if indices.dtype.kind not in "iu":
            raise InvalidArgumentError(f"{where}.indices must be integers")
        items: Any = indices
    else:
        items = list(indices)
        if any(isinstance(i, bool) or not isinstance(i, int | np.integer) for i in items):
            raise InvalidArgumentError(f"{where}.indices must be integers")
    if len(items) and (min(items) < 0 or max(items) > limits.MAX_SPARSE_INDEX):
        raise InvalidArgumentError(
            f"{where}.indices must be between 0 and {limits.MAX_SPARSE_INDEX} (2^32-1)"
        )
    return np.asarray(items, dtype=np.int64)


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
    if isinstance(indices, str | bytes | Mapping) or not hasattr(indices, "__len__"):
        raise InvalidArgumentError(f"{where}.indices must be a list of integers")
    if isinstance(values, str | bytes | Mapping) or not hasattr(values, "__len__"):
        raise InvalidArgumentError(f"{where}.values must be a list of numbers")
    if len(indices) != len(values):
        raise InvalidArgumentError(f"{where}: {len(indices)} indices but {len(values)} values")
    if len(indices) > limits.MAX_SPARSE_NON_ZEROS:
        raise LimitExceededError(
            f"{where} has {len(indices)} non-zero values; the limit is {limits.MAX_SPARSE_NON_ZEROS}"
        )
    idx = _sparse_indices(indices, where)
    vals = float32_values(values, f"{where}.values")
    if len(np.unique(idx)) != len(idx):
        raise InvalidArgumentError(f"{where}.indices must be unique")
    check_norm(vals, where)
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


def sparse_column(column: list[Any]) -> list[SparseVector | None]:
    """:func:`sparse` of each record of a batch (a column of None is passed as is)."""
    if all(x is None for x in column):
        return [None] * len(column)
    return [sparse(sp, f"vectors[{i}].sparse_values") for i, sp in enumerate(column)]


def metadata_column(column: list[Any]) -> tuple[list[dict[str, Any] | None], int]:
    """:func:`metadata_sized` of each record of a batch, and their total JSON size."""
    if all(x is None for x in column):
        return [None] * len(column), 0
    out: list[dict[str, Any] | None] = []
    total = 0
    for i, md in enumerate(column):
        clean, size = metadata_sized(md, f"vectors[{i}].metadata")
        out.append(clean)
        total += size
    return out, total


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
