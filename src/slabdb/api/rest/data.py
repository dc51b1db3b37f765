"""Data-plane routes (served on each index's own port): parse, call the service, render.

Every rule (default namespace, limits, LSN headers) is in :mod:`slabdb.api.service`.
Namespace names in paths may hold ``/`` (the ``path`` converter), as they may in bodies.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from slabdb.api.rest import render
from slabdb.api.rest.deps import DataService
from slabdb.api.rest.models import (
    CreateNamespaceRequest,
    DeleteRequest,
    DescribeIndexStatsRequest,
    FetchByMetadataRequest,
    QueryRequest,
    UpdateRequest,
    UpsertRequest,
)
from slabdb.api.rest.upsert_body import OrjsonRoute
from slabdb.api.service.inputs import FetchInput, ListInput, ListNamespacesInput, StatsInput

router = APIRouter(tags=["data plane"])


def upsert(body: UpsertRequest, service: DataService) -> Response:
    reply = service.upsert(body.to_input())
    return render.respond(reply, render.upsert(reply.result))


router.add_api_route("/vectors/upsert", upsert, methods=["POST"], route_class_override=OrjsonRoute)


@router.post("/query")
def query(body: QueryRequest, service: DataService) -> Response:
    reply = service.query(body.to_input())
    return render.respond(reply, render.query(reply.result))


@router.get("/vectors/fetch")
def fetch(
    service: DataService,
    ids: Annotated[list[str], Query()],
    namespace: str | None = None,
) -> Response:
    reply = service.fetch(FetchInput(ids=ids, namespace=namespace))
    return render.respond(reply, render.fetch(reply.result))


@router.post("/vectors/fetch_by_metadata")
def fetch_by_metadata(body: FetchByMetadataRequest, service: DataService) -> Response:
    reply = service.fetch_by_metadata(body.to_input())
    return render.respond(reply, render.fetch(reply.result))


@router.post("/vectors/update")
def update(body: UpdateRequest, service: DataService) -> Response:
    reply = service.update(body.to_input())
    return render.respond(reply, render.update(reply.result))


@router.post("/vectors/delete")
def delete(body: DeleteRequest, service: DataService) -> Response:
    reply = service.delete(body.to_input())
    return render.respond(reply, {})


@router.get("/vectors/list")
def list_vectors(
    service: DataService,
    prefix: str | None = None,
    limit: int | None = None,
    paginationToken: str | None = None,
    namespace: str | None = None,
) -> Response:
    reply = service.list_vectors(
        ListInput(prefix=prefix, limit=limit, pagination_token=paginationToken, namespace=namespace)
    )
    return render.respond(reply, render.listing(reply.result))


@router.post("/describe_index_stats")
def describe_index_stats(body: DescribeIndexStatsRequest, service: DataService) -> Response:
    reply = service.describe_index_stats(body.to_input())
    return render.respond(reply, render.stats(reply.result))


@router.get("/describe_index_stats")
def describe_index_stats_get(service: DataService) -> Response:
    reply = service.describe_index_stats(StatsInput())
    return render.respond(reply, render.stats(reply.result))


@router.get("/namespaces")
def list_namespaces(
    service: DataService,
    limit: int | None = None,
    paginationToken: str | None = None,
    prefix: str | None = None,
) -> Response:
    reply = service.list_namespaces(
        ListNamespacesInput(limit=limit, pagination_token=paginationToken, prefix=prefix)
    )
    return render.respond(reply, render.namespaces(reply.result))


@router.post("/namespaces")
def create_namespace(body: CreateNamespaceRequest, service: DataService) -> Response:
    reply = service.create_namespace(body.to_input())
    return render.respond(reply, render.namespace(reply.result))


@router.get("/namespaces/{namespace:path}")
def describe_namespace(namespace: str, service: DataService) -> Response:
    reply = service.describe_namespace(namespace)
    return render.respond(reply, render.namespace(reply.result))


@router.delete("/namespaces/{namespace:path}", status_code=202)
def delete_namespace(namespace: str, service: DataService) -> Response:
    reply = service.delete_namespace(namespace)
    return render.respond(reply, {}, status_code=202)
