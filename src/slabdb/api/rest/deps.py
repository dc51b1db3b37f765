"""FastAPI dependencies: the server context, the caller's project, the index of a port
and the data-plane service over it.

FastAPI runs every plain ``def`` dependency in a worker thread of its own (one thread
hand-off each, queued behind every other request's under load), and ``async def`` ones
on the event loop.  So the dependencies that only read the request are ``async``, and
the one that may block (the key and index lookups, which can read the catalog) is a
single ``def``: a data-plane request costs two hand-offs, this one and its route's."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Depends, Request
from starlette.responses import Response

from slabdb.api import versions
from slabdb.api.context import ServerContext
from slabdb.api.service import MIN_LSN, IndexService, min_lsn
from slabdb.client.index import Index
from slabdb.core.errors import NotFoundError, UnauthenticatedError


class JSON(Response):
    """A JSON response rendered by orjson (fast for long float lists)."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


async def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServerContext, Depends(context)]


def project(request: Request, ctx: Ctx) -> str:
    """The project of the request's API key (401 if none or unknown)."""
    name = ctx.auth.project_for(request.headers.get("api-key"))
    request.state.project = name
    return name


ProjectName = Annotated[str, Depends(project)]


class DataPlaneOnlyError(NotFoundError):
    """A data-plane route was called on the control-plane port."""


async def api_version(request: Request) -> str:
    """The request's ``X-Pinecone-Api-Version`` (the newest when it sends none)."""
    return versions.api_version(request.headers.get("x-pinecone-api-version"))


ApiVersion = Annotated[str, Depends(api_version)]


def data_project(request: Request, ctx: ServerContext, version: str) -> str:
    """The caller's project on the data plane, where a wrong key answers as Pinecone's
    data plane does at the request's API version (403 / 401, see :mod:`..versions`).
    Called by :func:`data_index` (not a dependency itself: that would be a thread
    hand-off more)."""
    try:
        return project(request, ctx)
    except UnauthenticatedError as err:
        sent = bool(request.headers.get("api-key"))
        raise versions.data_plane_key_error(version, err, sent) from None


def data_index(request: Request, ctx: Ctx, version: ApiVersion) -> Index:
    """The index served on the port this request came in on, if the caller's key owns it."""
    project_name = data_project(request, ctx, version)
    slot = int(request.state.slot)
    if slot <= 0:
        raise DataPlaneOnlyError(
            "this is the control-plane port; send data-plane requests to the index's host "
            "(the 'host' that describe_index returns)"
        )
    return ctx.projects.index_for_slot(slot, project_name)


DataIndex = Annotated[Index, Depends(data_index)]


async def data_service(request: Request, index: DataIndex, version: ApiVersion) -> IndexService:
    """The data-plane operations of the index served on this port (reads wait for the
    request's ``x-slabdb-min-lsn``, if it sends one)."""
    return IndexService(index, version, min_lsn(request.headers.get(MIN_LSN)))


DataService = Annotated[IndexService, Depends(data_service)]
