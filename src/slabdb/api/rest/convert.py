"""Engine responses → Pinecone's data-plane JSON (camelCase)."""

from __future__ import annotations

from typing import Any

from slabdb.client.responses import (
    DescribeIndexStatsResponse,
    FetchByMetadataResponse,
    FetchResponse,
    ListNamespacesResponse,
    ListResponse,
    NamespaceDescription,
    QueryResponse,
    SparseValues,
    Usage,
)

DEFAULT_NAMESPACE = "__default__"


def _sparse(sv: SparseValues | None) -> dict[str, Any] | None:
    return None if sv is None else {"indices": sv.indices, "values": sv.values}


def _usage(u: Usage | None) -> dict[str, int]:
    return {"readUnits": 0 if u is None else u.read_units}


def query(res: QueryResponse) -> dict[str, Any]:
    matches = []
    for m in res.matches:
        item: dict[str, Any] = {"id": m.id, "score": m.score, "values": m.values}
        if m.sparse_values is not None:
            item["sparseValues"] = _sparse(m.sparse_values)
        if m.metadata is not None:
            item["metadata"] = m.metadata
        matches.append(item)
    return {
        "results": [],
        "matches": matches,
        "namespace": res.namespace,
        "usage": _usage(res.usage),
    }


def fetch(res: FetchResponse | FetchByMetadataResponse) -> dict[str, Any]:
    vectors: dict[str, Any] = {}
    for rid, v in res.vectors.items():
        item: dict[str, Any] = {"id": v.id, "values": v.values}
        if v.sparse_values is not None:
            item["sparseValues"] = _sparse(v.sparse_values)
        if v.metadata is not None:
            item["metadata"] = v.metadata
        vectors[rid] = item
    return {"vectors": vectors, "namespace": res.namespace, "usage": _usage(res.usage)}


def listing(res: ListResponse) -> dict[str, Any]:
    out: dict[str, Any] = {
        "vectors": [{"id": v.id} for v in res.vectors],
        "namespace": res.namespace,
        "usage": _usage(res.usage),
    }
    if res.pagination is not None:
        out["pagination"] = {"next": res.pagination.next}
    return out


def stats(res: DescribeIndexStatsResponse) -> dict[str, Any]:
    out: dict[str, Any] = {
        "namespaces": {
            (name or DEFAULT_NAMESPACE): {"vectorCount": s.vector_count}
            for name, s in res.namespaces.items()
        },
        "indexFullness": res.index_fullness,
        "totalVectorCount": res.total_vector_count,
        "metric": res.metric,
        "vectorType": res.vector_type,
    }
    if res.dimension is not None:
        out["dimension"] = res.dimension
    return out


def namespace(desc: NamespaceDescription) -> dict[str, Any]:
    return {"name": desc.name or DEFAULT_NAMESPACE, "record_count": desc.record_count}


def namespaces(res: ListNamespacesResponse, total: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "namespaces": [namespace(n) for n in res.namespaces],
        "total_count": total,
    }
    if res.pagination is not None:
        out["pagination"] = {"next": res.pagination.next}
    return out
