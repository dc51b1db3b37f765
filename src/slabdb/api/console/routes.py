"""The console's routes: one page and the HTML fragments htmx loads into it.

``/console`` and ``/console/static/*`` are open (the key gate lets them through: the
page holds no data). Every ``/console/api/*`` fragment needs the ``Api-Key`` header
(``console.js`` adds the key kept in ``sessionStorage`` to each htmx request) and shows
only that key's project; a missing or wrong key answers 401, and the page asks again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

import slabdb
from slabdb.api.console.figures import human_size, index_rows, namespace_shape
from slabdb.api.console.playground import browse, run_query
from slabdb.api.rest.deps import Ctx, ProjectName
from slabdb.core.errors import SlabDBError

CONSOLE_PATH = "/console"
STATIC_PATH = CONSOLE_PATH + "/static"
API_PATH = CONSOLE_PATH + "/api"
HERE = Path(__file__).parent
REFRESH_SECONDS = 2

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["size"] = human_size
router = APIRouter(include_in_schema=False)


def _fragment(request: Request, name: str, **ctx: Any) -> Response:
    return templates.TemplateResponse(request, name, {"refresh": REFRESH_SECONDS, **ctx})


def _error(request: Request, exc: SlabDBError) -> Response:
    return _fragment(request, "_error.html", message=str(exc), kind=type(exc).__name__)


@router.get(CONSOLE_PATH, response_class=HTMLResponse)
def console_page(request: Request) -> Response:
    return _fragment(request, "console.html", version=slabdb.__version__)


@router.get(API_PATH + "/overview", response_class=HTMLResponse)
def overview(request: Request, ctx: Ctx, project: ProjectName) -> Response:
    try:
        rows = index_rows(ctx.projects.client(project))
    except SlabDBError as exc:
        return _error(request, exc)
    return _fragment(request, "_overview.html", project=project, indexes=rows)


@router.get(API_PATH + "/namespace", response_class=HTMLResponse)
def namespace_panel(
    request: Request, ctx: Ctx, project: ProjectName, index: str, namespace: str
) -> Response:
    """The panel of one namespace: its LSM shape (refreshed), the playground, browsing."""
    return _shape_fragment(request, ctx, project, index, namespace, "_namespace.html")


@router.get(API_PATH + "/shape", response_class=HTMLResponse)
def shape(request: Request, ctx: Ctx, project: ProjectName, index: str, namespace: str) -> Response:
    return _shape_fragment(request, ctx, project, index, namespace, "_shape.html")


def _shape_fragment(
    request: Request, ctx: Ctx, project: str, index: str, namespace: str, template: str
) -> Response:
    try:
        figures = namespace_shape(ctx.projects.client(project), index, namespace)
    except SlabDBError as exc:
        return _error(request, exc)
    return _fragment(request, template, index=index, namespace=namespace, shape=figures)


@router.get(API_PATH + "/query", response_class=HTMLResponse)
def query(
    request: Request,
    ctx: Ctx,
    project: ProjectName,
    index: str,
    namespace: str,
    q: str = "",
    kind: str = "text",
    filter: str = "",
    top_k: int = 10,
) -> Response:
    client = ctx.projects.client(project)
    try:
        answer = run_query(
            client, ctx.projects.embed_models, index, namespace,
            kind=kind, query=q, filter_text=filter, top_k=top_k,
        )  # fmt: skip
    except SlabDBError as exc:
        return _error(request, exc)
    return _fragment(request, "_rows.html", answer=answer, scored=True, caption="Query results")


@router.get(API_PATH + "/records", response_class=HTMLResponse)
def records(
    request: Request,
    ctx: Ctx,
    project: ProjectName,
    index: str,
    namespace: str,
    prefix: str = "",
    token: str = "",
) -> Response:
    try:
        answer = browse(ctx.projects.client(project), index, namespace, prefix, token)
    except SlabDBError as exc:
        return _error(request, exc)
    more = {"index": index, "namespace": namespace, "prefix": prefix}
    return _fragment(
        request, "_rows.html", answer=answer, scored=False, caption="Records", more=more
    )


def install_console(app: FastAPI) -> None:
    """Serve the console at ``/console`` (its assets under ``/console/static``)."""
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="console-static")
