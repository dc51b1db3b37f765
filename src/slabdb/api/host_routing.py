"""Host-name routing for REST (``slabdb serve --base-domain``): the ``Host`` header picks
the index, so every index is served on one port behind one wildcard DNS name.

The outermost ASGI layer (before the request context, which takes the plane from it):

* ``Host: <index>-<project>.<base domain>`` -> that index's data plane (``state.slot``);
  a name under the base domain that names no index answers 404 (data-plane shape);
* any other ``Host`` on the control port -> the control plane (slot 0), so
  ``http://<control host>:<port>`` keeps working for the SDK's control-plane calls;
* any other ``Host`` on ``--data-port`` -> 404 saying which names it serves.

gRPC is routed by ``:authority`` in :mod:`slabdb.api.mux` (:mod:`slabdb.api.h2_authority`).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from slabdb.api.context import ServerContext
from slabdb.api.errors import error_response
from slabdb.core.errors import IndexNotFoundError


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


class HostRoutingMiddleware:
    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _host(scope)
        state = scope.setdefault("state", {})
        if self.ctx.is_index_host(host):
            slot = self.ctx.slot_for_host(host, reread=False)
            if slot is None:  # not in the cache: the lookup may read the catalog
                slot = await run_in_threadpool(self.ctx.slot_for_host, host)
            if slot is None:
                err = IndexNotFoundError(f"no index is served at host {host!r}")
                await error_response(err, True)(scope, receive, send)
                return
            state.update(slot=slot, data_plane=True)
        elif self._on_data_port(scope):
            err = IndexNotFoundError(
                f"this port serves index hosts only (<index>-<project>.{self.ctx.base_domain}), "
                f"not {host!r}: use the 'host' that describe_index returns"
            )
            await error_response(err, True)(scope, receive, send)
            return
        else:
            state.update(slot=0, data_plane=False)
        await self.app(scope, receive, send)

    def _on_data_port(self, scope: Scope) -> bool:
        server = scope.get("server")
        port = server[1] if isinstance(server, tuple | list) and len(server) > 1 else None
        return self.ctx.data_port is not None and port == self.ctx.data_port
