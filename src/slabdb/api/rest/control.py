"""Control-plane routes: create, list, describe, configure and delete indexes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from slabdb.api import versions
from slabdb.api.context import ServerContext
from slabdb.api.rest.deps import JSON, Ctx, ProjectName
from slabdb.api.rest.models import ConfigureIndexRequest, CreateIndexRequest
from slabdb.control.projects import IndexInfo
from slabdb.core.errors import InvalidArgumentError

router = APIRouter(tags=["control plane"])


def _model(ctx: ServerContext, info: IndexInfo, request: Request) -> dict[str, Any]:
    version = versions.api_version(request.headers.get("x-pinecone-api-version"))
    return versions.index_model(info, ctx.index_host(info), version)


@router.post("/indexes", status_code=201)
async def create_index(
    body: CreateIndexRequest, request: Request, ctx: Ctx, project: ProjectName
) -> Response:
    raw = body.model_dump(by_alias=True, exclude_none=True)
    kwargs, meta = versions.parse_create(raw)
    info = await run_in_threadpool(ctx.projects.create_index, project, meta, **kwargs)
    if ctx.open_listener is not None:
        await ctx.open_listener(info.slot)
    return JSON(_model(ctx, info, request), status_code=201)


@router.get("/indexes")
async def list_indexes(request: Request, ctx: Ctx, project: ProjectName) -> Response:
    infos = await run_in_threadpool(ctx.projects.list_indexes, project)
    return JSON({"indexes": [_model(ctx, i, request) for i in infos]})


@router.get("/indexes/{index_name}")
async def describe_index(
    index_name: str, request: Request, ctx: Ctx, project: ProjectName
) -> Response:
    info = await run_in_threadpool(ctx.projects.describe_index, project, index_name)
    return JSON(_model(ctx, info, request))


@router.patch("/indexes/{index_name}")
async def configure_index(
    index_name: str, body: ConfigureIndexRequest, request: Request, ctx: Ctx, project: ProjectName
) -> Response:
    unsupported = [
        k for k in ("spec", "deployment", "schema", "read_capacity")
        if k in body.model_dump(by_alias=True, exclude_none=True)
    ]  # fmt: skip
    if unsupported:
        raise InvalidArgumentError(
            "SlabDB can only configure deletion_protection, tags and embed, not "
            f"{', '.join(unsupported)}"
        )
    version = versions.api_version(request.headers.get("x-pinecone-api-version"))
    if body.embed is not None and not versions.configure_embed_allowed(version):
        raise InvalidArgumentError(
            f"configure_index takes no 'embed' under API version {version} (dropped in "
            "2026-07): create an integrated index with create_index_for_model, or send "
            "X-Pinecone-Api-Version 2026-04 or older"
        )
    tags = None
    if body.tags is not None:
        tags = versions.parse_tags(body.tags)
    info = await run_in_threadpool(
        ctx.projects.configure_index,
        project,
        index_name,
        body.deletion_protection,
        tags,
        body.embed,
    )
    return JSON(_model(ctx, info, request))


@router.delete("/indexes/{index_name}", status_code=202)
async def delete_index(index_name: str, ctx: Ctx, project: ProjectName) -> Response:
    slot = await run_in_threadpool(ctx.projects.delete_index, project, index_name)
    if ctx.close_listener is not None:
        await ctx.close_listener(slot)
    return Response(status_code=202)
