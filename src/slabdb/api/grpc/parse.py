"""Protobuf requests -> the service's transport-neutral inputs.

proto3 has no ``null``: an unset string is ``""``, an unset list is empty, and only
``optional`` fields and messages can tell "absent" (``HasField``). Each is turned into
the ``None`` the service expects for an absent field. Requests arrive as
:class:`~.handlers.Parsed` (the message, and its ``filter`` already decoded by
:mod:`.wire`); Struct metadata is converted here, keeping NaN and infinities as floats
so that validation refuses them as it does on REST.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf.struct_pb2 import ListValue, Struct, Value

from slabdb.api.grpc import wire
from slabdb.api.grpc.handlers import Parsed
from slabdb.api.service.inputs import (
    CreateNamespaceInput,
    DeleteInput,
    FetchByMetadataInput,
    FetchInput,
    ListInput,
    ListNamespacesInput,
    QueryInput,
    StatsInput,
    UpdateInput,
    UpsertInput,
)
from slabdb.client.batch import RecordBatch


def _optional(msg: Any, field: str) -> Any:
    """An ``optional`` scalar field, or None when the request did not set it."""
    return getattr(msg, field) if msg.HasField(field) else None


def _struct(msg: Any, field: str) -> dict[str, Any] | None:
    """A Struct field as a dict, or None when the request did not set it."""
    if not msg.HasField(field):
        return None
    return struct_to_dict(getattr(msg, field))


def struct_to_dict(struct: Struct) -> dict[str, Any]:
    """A Struct as JSON values (``json_format`` refuses NaN, answering INTERNAL)."""
    return {key: _value(value) for key, value in struct.fields.items()}


def _value(value: Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return _list(value.list_value)
    return None if kind in (None, "null_value") else getattr(value, kind)


def _list(values: ListValue) -> list[Any]:
    return [_value(v) for v in values.values]


def _metadata(msg: Any, field: str) -> dict[str, Any] | None:
    """Metadata from a Struct; whole floats become ints (Struct carries only doubles)."""
    raw = _struct(msg, field)
    return None if raw is None else {k: _int_if_whole(v) for k, v in raw.items()}


def _int_if_whole(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _sparse(msg: Any, field: str) -> dict[str, Any] | None:
    if not msg.HasField(field):
        return None
    sv = getattr(msg, field)
    return {"indices": list(sv.indices), "values": list(sv.values)}


def upsert(parsed: Parsed) -> UpsertInput:
    """The records as a :class:`RecordBatch`: ids and values read from the request's
    bytes (:attr:`Parsed.columns`), the values straight into one float32 matrix
    (validated a batch at a time); metadata and sparse values from the decoded message,
    only for the records that set them."""
    cols = parsed.columns
    records = None if parsed.message is None else parsed.message.vectors
    if cols is None or (records is not None and len(cols.ids) != len(records)):
        cols = _decoded_columns(parsed.message)  # no columns: the message was decoded
    n = len(cols.ids)
    metadata: list[dict[str, Any] | None] = [None] * n
    sparse: list[dict[str, Any] | None] = [None] * n
    if records is not None:
        for i in cols.metadata_at:
            metadata[i] = _metadata(records[i], "metadata")
        for i in cols.sparse_at:
            sparse[i] = _sparse(records[i], "sparse_values")
    rows, matrix = _value_rows(cols.values)
    batch = RecordBatch(cols.ids, rows, metadata, sparse, matrix)
    return UpsertInput(vectors=batch, namespace=cols.namespace)


def _decoded_columns(req: Any) -> wire.UpsertColumns:
    """The columns of a decoded ``UpsertRequest`` (when its bytes were not read)."""
    records = req.vectors
    return wire.UpsertColumns(
        ids=[v.id for v in records],
        values=[np.asarray(v.values, dtype="<f4").tobytes() for v in records],
        metadata_at=[i for i, v in enumerate(records) if v.HasField("metadata")],
        sparse_at=[i for i, v in enumerate(records) if v.HasField("sparse_values")],
        namespace=req.namespace,
    )


def _value_rows(values: list[bytes | memoryview]) -> tuple[Any, np.ndarray | None]:
    """(each record's dense values, the matrix when they share one non-zero length;
    the matrix's rows are then the records' rows)."""
    sizes = set(map(len, values))
    if len(sizes) == 1 and 0 not in sizes:
        matrix = np.frombuffer(b"".join(values), dtype="<f4").reshape(len(values), -1)
        return matrix, matrix
    return [np.frombuffer(b, dtype="<f4").tolist() for b in values], None


def query(parsed: Parsed) -> QueryInput:
    req = parsed.message
    return QueryInput(
        top_k=req.top_k,
        namespace=req.namespace,
        filter=parsed.filter,
        include_values=req.include_values,
        include_metadata=req.include_metadata,
        vector=list(req.vector) or None,
        sparse_vector=_sparse(req, "sparse_vector"),
        id=req.id or None,
        queries_sent=len(req.queries) > 0,
        scan_factor=_optional(req, "scan_factor"),
        max_candidates=_optional(req, "max_candidates"),
    )


def fetch(parsed: Parsed) -> FetchInput:
    req = parsed.message
    return FetchInput(ids=list(req.ids), namespace=req.namespace)


def fetch_by_metadata(parsed: Parsed) -> FetchByMetadataInput:
    req = parsed.message
    return FetchByMetadataInput(
        filter=parsed.filter,
        namespace=req.namespace,
        limit=_optional(req, "limit"),
        pagination_token=_optional(req, "pagination_token"),
    )


def update(parsed: Parsed) -> UpdateInput:
    req = parsed.message
    return UpdateInput(
        id=req.id or None,
        values=list(req.values) or None,
        sparse_values=_sparse(req, "sparse_values"),
        set_metadata=_metadata(req, "set_metadata"),
        namespace=req.namespace,
        filter=parsed.filter,
        dry_run=req.dry_run,
    )


def delete(parsed: Parsed) -> DeleteInput:
    req = parsed.message
    return DeleteInput(
        ids=list(req.ids) or None,
        delete_all=req.delete_all,
        namespace=req.namespace,
        filter=parsed.filter,
    )


def list_vectors(parsed: Parsed) -> ListInput:
    req = parsed.message
    return ListInput(
        prefix=_optional(req, "prefix"),
        limit=_optional(req, "limit"),
        pagination_token=_optional(req, "pagination_token"),
        namespace=req.namespace,
    )


def describe_index_stats(parsed: Parsed) -> StatsInput:
    return StatsInput(filter=parsed.filter)


def list_namespaces(parsed: Parsed) -> ListNamespacesInput:
    req = parsed.message
    return ListNamespacesInput(
        limit=_optional(req, "limit"),
        pagination_token=_optional(req, "pagination_token"),
        prefix=_optional(req, "prefix"),
    )


def create_namespace(parsed: Parsed) -> CreateNamespaceInput:
    req = parsed.message
    schema = _struct(req, "schema")
    return CreateNamespaceInput(name=req.name, schema=schema)
