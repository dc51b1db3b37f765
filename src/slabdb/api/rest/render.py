"""Service results -> Pinecone's data-plane JSON (camelCase; namespaces API snake_case).

Pure field mapping: names, usage and what is present were settled by
:mod:`slabdb.api.service`; a field that is ``None`` there is left out here.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from slabdb.api.rest.deps import JSON
from slabdb.api.service import Reply
from slabdb.client.records import SearchRecordsResponse
from slabdb.client.responses import (
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


def respond(reply: Reply[Any], body: dict[str, Any], status_code: int = 200) -> Response:
    """The JSON answer with the reply's LSN headers."""
    return JSON(body, status_code=status_code, headers=reply.lsn_headers or None)


def _sparse(sv: SparseValues) -> dict[str, Any]:
    return {"indices": sv.indices, "values": sv.values}


def _usage(u: Usage | None) -> dict[str, int]:
    return {"readUnits": 0 if u is None else u.read_units}


def _paginated(out: dict[str, Any], pagination: Pagination | None) -> dict[str, Any]:
    if pagination is not None:
        out["pagination"] = {"next": pagination.next}
    return out


def _with_extras(
    item: dict[str, Any], sparse: SparseValues | None, metadata: dict[str, Any] | None
) -> dict[str, Any]:
    """``item`` plus ``sparseValues`` and ``metadata`` when they are present."""
    if sparse is not None:
        item["sparseValues"] = _sparse(sparse)
    if metadata is not None:
        item["metadata"] = metadata
    return item


def _vector(v: Vector) -> dict[str, Any]:
    return _with_extras({"id": v.id, "values": v.values}, v.sparse_values, v.metadata)


def upsert(res: UpsertResponse) -> dict[str, Any]:
    return {"upsertedCount": res.upserted_count}


def update(res: UpdateResponse) -> dict[str, Any]:
    return {} if res.matched_records is None else {"matchedRecords": res.matched_records}


def query(res: QueryResponse) -> dict[str, Any]:
    matches = [
        _with_extras(
            {"id": m.id, "score": m.score, "values": m.values}, m.sparse_values, m.metadata
        )
        for m in res.matches
    ]
    return {
        "results": [],
        "matches": matches,
        "namespace": res.namespace,
        "usage": _usage(res.usage),
    }


def fetch(res: FetchResponse | FetchByMetadataResponse) -> dict[str, Any]:
    out = {
        "vectors": {rid: _vector(v) for rid, v in res.vectors.items()},
        "namespace": res.namespace,
        "usage": _usage(res.usage),
    }
    return _paginated(out, res.pagination) if isinstance(res, FetchByMetadataResponse) else out


def listing(res: ListResponse) -> dict[str, Any]:
    out = {
        "vectors": [{"id": v.id} for v in res.vectors],
        "namespace": res.namespace,
        "usage": _usage(res.usage),
    }
    return _paginated(out, res.pagination)


def stats(res: DescribeIndexStatsResponse) -> dict[str, Any]:
    out: dict[str, Any] = {
        "namespaces": {name: {"vectorCount": s.vector_count} for name, s in res.namespaces.items()},
        "indexFullness": res.index_fullness,
        "totalVectorCount": res.total_vector_count,
        "metric": res.metric,
        "vectorType": res.vector_type,
    }
    if res.dimension is not None:
        out["dimension"] = res.dimension
    return out


def namespace(desc: NamespaceDescription) -> dict[str, Any]:
    return {"name": desc.name, "record_count": desc.record_count}


def namespaces(res: ListNamespacesResponse) -> dict[str, Any]:
    out = {"namespaces": [namespace(n) for n in res.namespaces], "total_count": res.total_count}
    return _paginated(out, res.pagination)


def search_records(res: SearchRecordsResponse) -> dict[str, Any]:
    usage: dict[str, Any] = {"read_units": res.usage.read_units}
    if res.usage.embed_total_tokens is not None:
        usage["embed_total_tokens"] = res.usage.embed_total_tokens
    hits = [{"_id": h.id, "_score": h.score, "fields": h.fields} for h in res.result.hits]
    return {"result": {"hits": hits}, "usage": usage, "namespace": res.namespace}
