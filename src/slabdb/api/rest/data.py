"""Data-plane routes (served on each index's own port): vectors, query, stats, namespaces."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from slabdb.api.rest import convert
from slabdb.api.rest.deps import JSON, DataIndex
from slabdb.api.rest.models import (
    CreateNamespaceRequest,
    DeleteRequest,
    DescribeIndexStatsRequest,
    FetchByMetadataRequest,
    QueryRequest,
    UpdateRequest,
    UpsertRequest,
)
from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError

router = APIRouter(tags=["data plane"])


def _committed(lsn: int | None) -> dict[str, str] | None:
    """The header Pinecone puts on writes: the LSN the write landed at."""
    return None if lsn is None else {"x-pinecone-request-lsn": str(lsn)}


def _reconciled(lsn: int | None) -> dict[str, str] | None:
    """The header Pinecone puts on queries: every write up to this LSN is visible."""
    return None if lsn is None else {"x-pinecone-max-indexed-lsn": str(lsn)}


def _sparse(sv: object) -> dict[str, object] | None:
    return None if sv is None else sv.model_dump()  # type: ignore[attr-defined]


@router.post("/vectors/upsert")
def upsert(body: UpsertRequest, index: DataIndex) -> Response:
    records = [
        {
            "id": v.id,
            "values": v.values if v.values is not None else [],
            "metadata": v.metadata,
            "sparse_values": _sparse(v.sparse_values),
        }
        for v in body.vectors
    ]
    res = index.upsert(records, namespace=body.namespace)
    return JSON({"upsertedCount": res.upserted_count}, headers=_committed(res.lsn))


@router.post("/query")
def query(body: QueryRequest, index: DataIndex) -> Response:
    if body.queries:
        raise InvalidArgumentError(
            "'queries' is deprecated and not supported: send 'vector' or 'id'"
        )
    res = index.query(
        top_k=body.top_k,
        vector=body.vector,
        id=body.id,
        namespace=body.namespace,
        filter=body.filter,
        include_values=body.include_values,
        include_metadata=body.include_metadata,
        sparse_vector=_sparse(body.sparse_vector),
    )
    return JSON(convert.query(res), headers=_reconciled(res.lsn))


@router.get("/vectors/fetch")
def fetch(
    index: DataIndex,
    ids: Annotated[list[str], Query(max_length=limits.MAX_FETCH_IDS * 2)],
    namespace: str | None = None,
) -> Response:
    return JSON(convert.fetch(index.fetch(ids, namespace=namespace)))


@router.post("/vectors/fetch_by_metadata")
def fetch_by_metadata(body: FetchByMetadataRequest, index: DataIndex) -> Response:
    res = index.fetch_by_metadata(
        filter=body.filter or {},
        namespace=body.namespace,
        limit=body.limit,
        pagination_token=body.pagination_token,
    )
    out = convert.fetch(res)
    if res.pagination is not None:
        out["pagination"] = {"next": res.pagination.next}
    return JSON(out)


@router.post("/vectors/update")
def update(body: UpdateRequest, index: DataIndex) -> Response:
    res = index.update(
        id=body.id,
        values=body.values,
        set_metadata=body.set_metadata,
        namespace=body.namespace,
        sparse_values=_sparse(body.sparse_values),
        filter=body.filter,
        dry_run=bool(body.dry_run),
    )
    body_out = {} if res.matched_records is None else {"matchedRecords": res.matched_records}
    return JSON(body_out, headers=_committed(res.lsn))


@router.post("/vectors/delete")
def delete(body: DeleteRequest, index: DataIndex) -> Response:
    res = index.delete(
        ids=body.ids, delete_all=body.delete_all, namespace=body.namespace, filter=body.filter
    )
    return JSON({}, headers=_committed(res.lsn))


@router.get("/vectors/list")
def list_vectors(
    index: DataIndex,
    prefix: str | None = None,
    limit: int | None = None,
    paginationToken: str | None = None,
    namespace: str | None = None,
) -> Response:
    res = index.list_paginated(
        prefix=prefix, limit=limit, pagination_token=paginationToken, namespace=namespace
    )
    return JSON(convert.listing(res))


@router.post("/describe_index_stats")
def describe_index_stats(body: DescribeIndexStatsRequest, index: DataIndex) -> Response:
    return JSON(convert.stats(index.describe_index_stats(filter=body.filter)))


@router.get("/describe_index_stats")
def describe_index_stats_get(index: DataIndex) -> Response:
    return JSON(convert.stats(index.describe_index_stats()))


@router.get("/namespaces")
def list_namespaces(
    index: DataIndex,
    limit: int | None = None,
    paginationToken: str | None = None,
    prefix: str | None = None,
) -> Response:
    if limit is not None and not 1 <= limit <= limits.MAX_LIST_LIMIT:
        raise InvalidArgumentError(f"limit must be between 1 and {limits.MAX_LIST_LIMIT}")
    res = index.list_namespaces_paginated(
        limit=limit, pagination_token=paginationToken, prefix=prefix
    )
    return JSON(convert.namespaces(res, res.total_count or 0))


@router.post("/namespaces")
def create_namespace(body: CreateNamespaceRequest, index: DataIndex) -> Response:
    if body.schema_ is not None:
        raise InvalidArgumentError("namespace schemas are not supported")
    return JSON(convert.namespace(index.create_namespace(body.name)))


@router.get("/namespaces/{namespace}")
def describe_namespace(namespace: str, index: DataIndex) -> Response:
    return JSON(convert.namespace(index.describe_namespace(namespace)))


@router.delete("/namespaces/{namespace}", status_code=202)
def delete_namespace(namespace: str, index: DataIndex) -> Response:
    index.delete_namespace(namespace)
    return JSON({}, status_code=202)
