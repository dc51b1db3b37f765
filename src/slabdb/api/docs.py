"""API docs, served only with ``slabdb serve --docs``: ``/openapi.json`` and a Swagger UI
page at ``/docs``.

The page's script and style sheet are bundled in the package (``static/``: swagger-ui-dist
5.35.0 from npm, Apache-2.0, see ``static/LICENSE-swagger-ui``), so it loads nothing from
a CDN.  Like ``/health``, these answer without an API key.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, JSONResponse, Response

from slabdb.core.errors import NotFoundError

DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"
ASSETS_PATH = "/docs/static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
"""The bundled files the page loads, with their content types."""


@cache
def asset(name: str) -> bytes:
    """A bundled file (read once)."""
    return (files("slabdb.api") / "static" / name).read_bytes()


def install_docs(app: FastAPI) -> None:
    """Add ``/openapi.json``, ``/docs`` and the page's assets to ``app``."""

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_PATH,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to validator.swagger.io
        )

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFoundError(f"no docs asset {name!r}")
        return Response(
            asset(name), media_type=media_type, headers={"Cache-Control": "max-age=86400"}
        )
