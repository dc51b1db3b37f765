"""Build the FastAPI app: routes, error shapes, body limit, request context, docs (opt-in).

Prometheus metrics are not here: they have a listener of their own (api/metrics.py)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

import slabdb
from slabdb.api.console import install_console
from slabdb.api.context import ServerContext
from slabdb.api.docs import install_docs
from slabdb.api.errors import MethodNotAllowedError, error_response, validation_message
from slabdb.api.key_gate import KeyGateMiddleware
from slabdb.api.limits import BodyLimitMiddleware, too_large
from slabdb.api.observability import RequestContextMiddleware
from slabdb.api.readiness import ReadyState
from slabdb.api.rest import bulk, control, data, records
from slabdb.api.rest.deps import JSON
from slabdb.core.errors import InvalidArgumentError, NotFoundError, SlabDBError
from slabdb.filters.parse import DEPTH_MESSAGE


def _data_plane(request: Request) -> bool:
    return bool(getattr(request.state, "data_plane", False))


def create_app(ctx: ServerContext, *, docs: bool = False) -> FastAPI:
    """The REST app; ``docs`` adds /docs and /openapi.json (``slabdb serve --docs``)."""
    app = FastAPI(
        title="SlabDB",
        version=slabdb.__version__,
        description="Pinecone-compatible REST API (control plane and data plane).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.include_router(control.router)
    app.include_router(data.router)
    app.include_router(records.router)
    install_console(app)
    app.include_router(bulk.router)

    if docs:
        install_docs(app)

    _install_health(app, ctx)

    @app.exception_handler(SlabDBError)
    async def on_slabdb_error(request: Request, exc: SlabDBError) -> Response:
        return error_response(exc, _data_plane(request))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        err = InvalidArgumentError(validation_message(exc.errors()))
        return error_response(err, _data_plane(request))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if getattr(request.state, "body_too_large", False):
            err: SlabDBError = too_large(None)
        elif isinstance(exc.__cause__, RecursionError):  # JSON nested past the parser
            err = InvalidArgumentError(f"the request body nests too deeply: {DEPTH_MESSAGE}")
        elif exc.status_code == 404:
            err = NotFoundError(f"no route for {request.method} {request.url.path}")
        elif exc.status_code == 405:
            err = MethodNotAllowedError(f"{request.method} is not allowed on {request.url.path}")
        elif exc.status_code < 500:
            err = InvalidArgumentError(str(exc.detail))
        else:
            err = SlabDBError(str(exc.detail))
        return error_response(err, _data_plane(request))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return error_response(exc, _data_plane(request))

    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(KeyGateMiddleware, auth=ctx.auth, docs=docs)  # before any body parsing
    app.add_middleware(RequestContextMiddleware, metrics=ctx.metrics, base_port=ctx.base_port)
    return app


def _install_health(app: FastAPI, ctx: ServerContext) -> None:
    """``/health`` (liveness) and ``/health?check=ready`` (readiness), open without a key."""

    @app.get("/health", tags=["server"])
    def health(check: str | None = None) -> Response:
        """Liveness; ``?check=ready``: 503 while the object store or the control catalog
        cannot be reached (api/readiness.py)."""
        body: dict[str, object] = {"status": "ok", "version": slabdb.__version__}
        if check is None:
            return JSON(body)
        if check != "ready":
            raise InvalidArgumentError(f"check must be 'ready', not {check[:40]!r}")
        state = ReadyState(True) if ctx.readiness is None else ctx.readiness.state()
        if state.ready:
            return JSON(body)
        body.update(status="unavailable", unreachable=list(state.failing))
        return JSON(body, status_code=503)
