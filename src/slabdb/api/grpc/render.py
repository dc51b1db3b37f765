"""Service results -> protobuf responses.

Pure field mapping: names, usage and what is present were settled by
:mod:`slabdb.api.service`; a field that is ``None`` there is left unset here.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.struct_pb2 import Struct

from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.client.responses import (
    DeleteResponse,
    DescribeIndexStatsResponse,
    FetchByMetadataResponse,
    FetchResponse,
    ListNamespacesResponse,
    ListResponse,
    NamespaceDescription,
    Pagination,
    QueryResponse,
    SparseValues,
    UpdateResponse,
    UpsertResponse,
    Usage,
    Vector,
)


def _struct(target: Struct, value: dict[str, Any] | None) -> None:
    if value:
        target.update(value)


def _sparse(target: pb.SparseValues, sv: SparseValues | None) -> None:
    if sv is not None:
        target.indices.extend(sv.indices)
        target.values.extend(sv.values)


def _usage(target: pb.Usage, usage: Usage | None) -> None:
    target.read_units = 0 if usage is None else usage.read_units


def _pagination(target: Any, pagination: Pagination | None) -> None:
    if pagination is not None:
        target.pagination.next = pagination.next


def _vectors(target: Any, vectors: dict[str, Vector]) -> None:
    """Fill a proto ``map<string, Vector>``."""
    for rid, v in vectors.items():
        vec = target[rid]
        vec.id = v.id
        vec.values.extend(v.values)
        _sparse(vec.sparse_values, v.sparse_values)
        _struct(vec.metadata, v.metadata)


def upsert(res: UpsertResponse) -> pb.UpsertResponse:
    return pb.UpsertResponse(upserted_count=res.upserted_count)


def update(res: UpdateResponse) -> pb.UpdateResponse:
    out = pb.UpdateResponse()
    if res.matched_records is not None:
        out.matched_records = res.matched_records
    return out


def delete(_: DeleteResponse | None) -> pb.DeleteResponse:
    return pb.DeleteResponse()


def query(res: QueryResponse) -> pb.QueryResponse:
    out = pb.QueryResponse(namespace=res.namespace)
    for m in res.matches:
        scored = out.matches.add(id=m.id, score=m.score, values=m.values)
        _sparse(scored.sparse_values, m.sparse_values)
        _struct(scored.metadata, m.metadata)
    _usage(out.usage, res.usage)
    return out


def fetch(res: FetchResponse) -> pb.FetchResponse:
    out = pb.FetchResponse(namespace=res.namespace)
    _vectors(out.vectors, res.vectors)
    _usage(out.usage, res.usage)
    return out


def fetch_by_metadata(res: FetchByMetadataResponse) -> pb.FetchByMetadataResponse:
    out = pb.FetchByMetadataResponse(namespace=res.namespace)
    _vectors(out.vectors, res.vectors)
    _pagination(out, res.pagination)
    _usage(out.usage, res.usage)
    return out


def listing(res: ListResponse) -> pb.ListResponse:
    out = pb.ListResponse(namespace=res.namespace)
    for v in res.vectors:
        out.vectors.add(id=v.id)
    _pagination(out, res.pagination)
    _usage(out.usage, res.usage)
    return out


def stats(res: DescribeIndexStatsResponse) -> pb.DescribeIndexStatsResponse:
    out = pb.DescribeIndexStatsResponse(
        index_fullness=res.index_fullness,
        total_vector_count=res.total_vector_count,
        metric=res.metric,
        vector_type=res.vector_type,
    )
    if res.dimension is not None:
        out.dimension = res.dimension
    for name, summary in res.namespaces.items():
        out.namespaces[name].vector_count = summary.vector_count
    return out


def namespace(desc: NamespaceDescription) -> pb.NamespaceDescription:
    return pb.NamespaceDescription(name=desc.name, record_count=desc.record_count)


def namespaces(res: ListNamespacesResponse) -> pb.ListNamespacesResponse:
    out = pb.ListNamespacesResponse(total_count=res.total_count or 0)
    for desc in res.namespaces:
        out.namespaces.add(name=desc.name, record_count=desc.record_count)
    _pagination(out, res.pagination)
    return out
