"""Refuse a REST request that carries no API key before anything else looks at it.

The routes' ``project`` dependency checks keys, but FastAPI parses a JSON body before it
runs dependencies, so without this gate a malformed body would be answered (400) to a
caller with no key.  Only a *missing* key is refused here, which needs no catalog
lookup (so nothing blocks the event loop); a wrong key is still refused (401) by the
dependency.  ``/health``, the console's page and assets (its data calls carry the key)
and the docs, when served, stay open; ``--insecure-dev`` accepts requests without a
key, so the gate lets everything through then.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from slabdb.api.auth import Authenticator
from slabdb.api.docs import ASSETS_PATH, DOCS_PATH, OPENAPI_PATH
from slabdb.api.errors import error_response
from slabdb.core.errors import UnauthenticatedError

OPEN_PATHS = frozenset({"/health", "/console"})
CONSOLE_ASSETS_PREFIX = "/console/static/"
"""The console's page and assets hold no data (its /console/api/* calls carry the key)."""
DOCS_PATHS = frozenset({DOCS_PATH, OPENAPI_PATH})


class KeyGateMiddleware:
    def __init__(self, app: ASGIApp, auth: Authenticator, docs: bool = False) -> None:
        self.app = app
        self.auth = auth
        self.open_paths = OPEN_PATHS | DOCS_PATHS if docs else OPEN_PATHS
        self.docs = docs

    def _open(self, path: str) -> bool:
        if path in self.open_paths or path.startswith(CONSOLE_ASSETS_PREFIX):
            return True
        return self.docs and path.startswith(ASSETS_PATH + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.auth.insecure_dev or self._open(scope["path"]):
            await self.app(scope, receive, send)
            return
        if any(name == b"api-key" and value for name, value in scope.get("headers", ())):
            await self.app(scope, receive, send)
            return
        try:
            self.auth.project_for(None)  # raises the one "missing API key" error
        except UnauthenticatedError as exc:
            data_plane = bool(scope.get("state", {}).get("data_plane", False))
            await error_response(exc, data_plane)(scope, receive, send)
            return
        await self.app(scope, receive, send)
