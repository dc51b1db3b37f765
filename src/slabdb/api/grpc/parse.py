"""Protobuf requests -> the service's transport-neutral inputs.

proto3 has no ``null``: an unset string is ``""``, an unset list is empty, and only
``optional`` fields and messages can tell "absent" (``HasField``). Each is turned into
the ``None`` the service expects for an absent field.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from slabdb.api.grpc.gen import db_data_pb2 as pb
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


def _optional(msg: Any, field: str) -> Any:
    """An ``optional`` scalar field, or None when the request did not set it."""
    return getattr(msg, field) if msg.HasField(field) else None


def _struct(msg: Any, field: str) -> dict[str, Any] | None:
    """A Struct field as a dict, or None when the request did not set it."""
    if not msg.HasField(field):
        return None
    out: dict[str, Any] = json_format.MessageToDict(getattr(msg, field))
    return out


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


def upsert(req: pb.UpsertRequest) -> UpsertInput:
    vectors = [
        {
            "id": v.id,
            "values": list(v.values),
            "metadata": _metadata(v, "metadata"),
            "sparse_values": _sparse(v, "sparse_values"),
        }
        for v in req.vectors
    ]
    return UpsertInput(vectors=vectors, namespace=req.namespace)


def query(req: pb.QueryRequest) -> QueryInput:
    return QueryInput(
        top_k=req.top_k,
        namespace=req.namespace,
        filter=_struct(req, "filter"),
        include_values=req.include_values,
        include_metadata=req.include_metadata,
        vector=list(req.vector) or None,
        sparse_vector=_sparse(req, "sparse_vector"),
        id=req.id or None,
        queries_sent=len(req.queries) > 0,
        scan_factor=_optional(req, "scan_factor"),
        max_candidates=_optional(req, "max_candidates"),
    )


def fetch(req: pb.FetchRequest) -> FetchInput:
    return FetchInput(ids=list(req.ids), namespace=req.namespace)


def fetch_by_metadata(req: pb.FetchByMetadataRequest) -> FetchByMetadataInput:
    return FetchByMetadataInput(
        filter=_struct(req, "filter"),
        namespace=req.namespace,
        limit=_optional(req, "limit"),
        pagination_token=_optional(req, "pagination_token"),
    )


def update(req: pb.UpdateRequest) -> UpdateInput:
    return UpdateInput(
        id=req.id or None,
        values=list(req.values) or None,
        sparse_values=_sparse(req, "sparse_values"),
        set_metadata=_metadata(req, "set_metadata"),
        namespace=req.namespace,
        filter=_struct(req, "filter"),
        dry_run=req.dry_run,
    )


def delete(req: pb.DeleteRequest) -> DeleteInput:
    return DeleteInput(
        ids=list(req.ids) or None,
        delete_all=req.delete_all,
        namespace=req.namespace,
        filter=_struct(req, "filter"),
    )


def list_vectors(req: pb.ListRequest) -> ListInput:
    return ListInput(
        prefix=_optional(req, "prefix"),
        limit=_optional(req, "limit"),
        pagination_token=_optional(req, "pagination_token"),
        namespace=req.namespace,
    )


def describe_index_stats(req: pb.DescribeIndexStatsRequest) -> StatsInput:
    return StatsInput(filter=_struct(req, "filter"))


def list_namespaces(req: pb.ListNamespacesRequest) -> ListNamespacesInput:
    return ListNamespacesInput(
        limit=_optional(req, "limit"),
        pagination_token=_optional(req, "pagination_token"),
        prefix=_optional(req, "prefix"),
    )


def create_namespace(req: pb.CreateNamespaceRequest) -> CreateNamespaceInput:
    schema = json_format.MessageToDict(req.schema) if req.HasField("schema") else None
    return CreateNamespaceInput(name=req.name, schema=schema)
