"""Integrated embedding over REST: ``POST /indexes/create-for-model`` (control plane) and
the records API on each index's port: ``POST /records/namespaces/{ns}/upsert`` (NDJSON)
and ``POST /records/namespaces/{ns}/search``. The records routes call
:mod:`slabdb.api.service` like every data-plane route; the embedding logic is
:mod:`slabdb.client.records`."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import Field, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from slabdb.api.rest import render
from slabdb.api.rest.control import _model
from slabdb.api.rest.deps import JSON, Ctx, DataService, ProjectName
from slabdb.api.rest.models import _Body
from slabdb.api.service.inputs import SearchRecordsInput, UpsertRecordsInput
from slabdb.api.versions import DEFAULT_CLOUD, DEFAULT_REGION, parse_tags
from slabdb.client.records import MAX_UPSERT_RECORDS
from slabdb.core.errors import InvalidArgumentError

router = APIRouter(tags=["integrated embedding"])


class EmbedIn(_Body):
    model: StrictStr
    field_map: dict[str, Any]
    metric: StrictStr | None = None
    dimension: int | None = None
    vector_type: StrictStr | None = None
    read_parameters: dict[str, Any] | None = None
    write_parameters: dict[str, Any] | None = None


class CreateIndexForModelRequest(_Body):
    name: StrictStr
    cloud: StrictStr = DEFAULT_CLOUD
    region: StrictStr = DEFAULT_REGION
    embed: EmbedIn
    deletion_protection: StrictStr | None = "disabled"
    tags: dict[str, Any] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    read_capacity: dict[str, Any] | None = None


class SearchRecordsRequest(_Body):
    query: dict[str, Any]
    fields: list[StrictStr] | None = None
    rerank: dict[str, Any] | None = None


@router.post("/indexes/create-for-model", status_code=201)
async def create_index_for_model(
    body: CreateIndexForModelRequest, request: Request, ctx: Ctx, project: ProjectName
) -> Response:
    meta: dict[str, Any] = {"cloud": body.cloud, "region": body.region}
    if body.schema_:
        meta["metadata_schema"] = body.schema_
    kwargs = {
        "name": body.name,
        "embed": body.embed.model_dump(exclude_none=True),
        "deletion_protection": body.deletion_protection or "disabled",
        "tags": parse_tags(body.tags),
    }
    info = await run_in_threadpool(
        ctx.projects.create_index, project, meta, for_model=True, **kwargs
    )
    if ctx.open_listener is not None:
        await ctx.open_listener(info.slot)
    return JSON(_model(ctx, info, request), status_code=201)


def parse_ndjson(raw: bytes) -> list[Any]:
    """Records from an NDJSON body (a JSON array is accepted too)."""
    text = raw.strip()
    if not text:
        raise InvalidArgumentError("the request body has no records (send NDJSON, one per line)")
    if text.startswith(b"["):
        try:
            records = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InvalidArgumentError(f"the request body is not valid JSON: {exc}") from None
        if not isinstance(records, list):
            raise InvalidArgumentError("the request body must be NDJSON records")
        return records
    out: list[Any] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(out) >= MAX_UPSERT_RECORDS:
            raise InvalidArgumentError(
                f"upsert takes at most {MAX_UPSERT_RECORDS} records per request with "
                "integrated embedding; send them in batches"
            )
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            raise InvalidArgumentError(f"line {n} of the NDJSON body is not valid JSON") from None
    return out


@router.post("/records/namespaces/{namespace:path}/upsert", status_code=201)
async def upsert_records(namespace: str, request: Request, service: DataService) -> Response:
    records = parse_ndjson(await request.body())
    reply = await run_in_threadpool(
        service.upsert_records, UpsertRecordsInput(namespace=namespace, records=records)
    )
    return Response(status_code=201, headers=reply.lsn_headers or None)


@router.post("/records/namespaces/{namespace:path}/search")
def search_records(namespace: str, body: SearchRecordsRequest, service: DataService) -> Response:
    reply = service.search_records(
        SearchRecordsInput(
            namespace=namespace, query=body.query, fields=body.fields, rerank=body.rerank
        )
    )
    return render.respond(reply, render.search_records(reply.result))
