"""The pages: server-rendered Jinja2, enhanced by htmx (vendored under ``static/``).

Every route answers a whole page to a plain request and just the changed fragment to an
htmx request (``HX-Request``), so the app also works without JavaScript. A part that is
down (Postgres, SlabDB, the sync) becomes a message in the page, never a stack trace.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from slabdb.app.catalog import Page, PostgresUnavailableError, Product
from slabdb.app.freshness import Freshness, State
from slabdb.app.index import SlabUnavailableError
from slabdb.app.search import Hit, KeywordStatsMissingError, Mode
from slabdb.app.settings import AppSettings, Services, build_services

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
STOP_POLLING = 286
"""htmx stops an ``every`` trigger when the answer has this status."""
FRESHNESS_POLL = "every 500ms"

templates = Jinja2Templates(directory=str(HERE / "templates"))


def human_size(kib: int) -> str:
    if kib >= 1024 * 1024:
        return f"{kib / 1024 / 1024:.1f} GiB"
    if kib >= 1024:
        return f"{kib / 1024:.1f} MiB"
    return f"{kib} KiB"


templates.env.filters["size"] = human_size


def create_app(settings: AppSettings, services: Services | None = None) -> FastAPI:
    """The web app; ``services`` (fakes in tests) default to ones built from ``settings``."""
    svc = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        svc.close()

    app = FastAPI(
        title="SlabDB demo", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.services = svc
    app.state.settings = settings
    app.state.sections = []
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error on %s", request.url.path)
        return HTMLResponse(
            f'<p class="problem" role="alert">Something went wrong ({type(exc).__name__}). '
            "The app is still running: try again.</p>",
            status_code=500,
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _pages(app, svc, settings)
    _edits(app, svc)
    return app


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _sections(app: FastAPI, svc: Services) -> list[str]:
    """The categories, remembered so the select still fills while Postgres is away."""
    with contextlib.suppress(PostgresUnavailableError):
        app.state.sections = svc.store.sections()
    return list(app.state.sections)


def _pages(app: FastAPI, svc: Services, settings: AppSettings) -> None:
    @app.get("/", response_class=HTMLResponse)
    def index(
        request: Request, q: str = "", category: str = "", mode: str = "", page: int = 1
    ) -> Response:
        chosen = Mode.parse(mode)
        ctx: dict[str, Any] = {
            "q": q.strip(),
            "category": category,
            "mode": chosen,
            "modes": list(Mode),
            "page_number": max(1, page),
            "freshness": svc.tracker.get,
        }
        ctx.update(_run_search(svc, ctx) if ctx["q"] else _browse(svc, settings, ctx))
        if _is_htmx(request) and request.headers.get("HX-Target") == "results":
            return templates.TemplateResponse(request, "_results.html", ctx)
        ctx["sections"] = _sections(app, svc)
        return templates.TemplateResponse(request, "index.html", ctx)

    @app.get("/panel", response_class=HTMLResponse)
    def panel(request: Request) -> Response:
        return templates.TemplateResponse(request, "_panel.html", {"data": svc.panel()})


def _run_search(svc: Services, ctx: dict[str, Any]) -> dict[str, Any]:
    hits: list[Hit] = []
    error = ""
    try:
        hits = svc.searcher.search(ctx["q"], ctx["mode"], ctx["category"])
    except SlabUnavailableError as exc:
        error = f"SlabDB is unreachable ({exc}): search is unavailable; browsing still works."
    except KeywordStatsMissingError:
        error = "Keyword statistics are not built yet (run setup): use Semantic mode meanwhile."
    rows = [
        (Product(h.product_id, h.name, h.summary, "", h.section, h.installed_size, ""), h.score)
        for h in hits
    ]
    return {"rows": rows, "scored": True, "error": error, "page": None}


def _browse(svc: Services, settings: AppSettings, ctx: dict[str, Any]) -> dict[str, Any]:
    size = settings.page_size
    try:
        page = svc.store.page((ctx["page_number"] - 1) * size, size, ctx["category"])
    except PostgresUnavailableError as exc:
        return {
            "rows": [],
            "scored": False,
            "page": None,
            "error": f"Postgres is unreachable ({exc}): the product table is unavailable; "
            "search still works.",
        }
    rows: list[tuple[Product, float | None]] = [(p, None) for p in page.products]
    return {"rows": rows, "scored": False, "error": "", "page": _pager(page, ctx)}


def _pager(page: Page, ctx: dict[str, Any]) -> dict[str, Any]:
    number = ctx["page_number"]
    last = max(1, -(-page.total // page.limit))

    def link(n: int) -> str:
        params = {"page": n, **({"category": ctx["category"]} if ctx["category"] else {})}
        return "/?" + urlencode(params)

    return {
        "number": number,
        "last": last,
        "total": page.total,
        "prev": link(number - 1) if number > 1 else "",
        "next": link(number + 1) if number < last else "",
    }


def _score_qs(score: float | None) -> str:
    return "" if score is None else "?" + urlencode({"score": f"{score:.4f}"})


def _row(request: Request, svc: Services, product: Product, score: float | None) -> Response:
    return templates.TemplateResponse(
        request,
        "_row.html",
        {"p": product, "score": score, "scored": score is not None, "freshness": svc.tracker.get},
    )


def _problem(message: str, status: int = 503) -> HTMLResponse:
    return HTMLResponse(f'<p class="problem" role="alert">{message}</p>', status_code=status)


def _edits(app: FastAPI, svc: Services) -> None:
    @app.get("/products/{product_id}/edit", response_class=HTMLResponse)
    def edit(request: Request, product_id: int, score: float | None = None) -> Response:
        try:
            product = svc.store.get(product_id)
        except PostgresUnavailableError as exc:
            return _problem(f"Postgres is unreachable ({exc}): editing is unavailable.")
        if product is None:
            return _problem("That product no longer exists.", 404)
        ctx = {
            "p": product,
            "score": score,
            "qs": _score_qs(score),
            "sections": _sections(app, svc) or [product.section],
            "columns": 6 if score is not None else 5,
        }
        return templates.TemplateResponse(request, "_editor.html", ctx)

    @app.get("/products/{product_id}/row", response_class=HTMLResponse)
    def row(request: Request, product_id: int, score: float | None = None) -> Response:
        try:
            product = svc.store.get(product_id)
        except PostgresUnavailableError as exc:
            return _problem(f"Postgres is unreachable ({exc}).")
        if product is None:
            return _problem("That product no longer exists.", 404)
        return _row(request, svc, product, score)

    @app.post("/products/{product_id}", response_class=HTMLResponse)
    def save(
        request: Request,
        product_id: int,
        description: str = Form(...),
        section: str = Form(...),
        score: float | None = None,
    ) -> Response:
        try:
            product = svc.store.update(product_id, description.strip(), section.strip())
        except PostgresUnavailableError as exc:
            return _problem(f"Not saved: Postgres is unreachable ({exc}). Try again later.")
        if product is None:
            return _problem("That product no longer exists.", 404)
        svc.tracker.watch(product.id, time.monotonic(), svc.shape.expected(product))
        if not _is_htmx(request):
            return RedirectResponse("/", status_code=303)
        return _row(request, svc, product, score)

    @app.get("/products/{product_id}/freshness", response_class=HTMLResponse)
    def freshness(request: Request, product_id: int) -> Response:
        item: Freshness | None = svc.tracker.get(product_id)
        response = templates.TemplateResponse(request, "_freshness.html", {"f": item})
        if item is None or item.state is not State.PENDING:
            response.status_code = STOP_POLLING
        return response
