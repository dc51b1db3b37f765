"""Outermost ASGI middleware: request id, plane, timing, metrics and one JSON log line;
and the server's JSON log format (:func:`configure_logging`).

Every response carries ``x-pinecone-request-id`` (the client's ``x-request-id`` if it
sent one, else a new id).  The connection's local port says which plane a request is
on: the server's base port is the control plane, ``base + slot`` an index's data plane.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slabdb.api.metrics import ApiMetrics

access_log = logging.getLogger("slabdb.access")
REQUEST_ID_HEADER = b"x-pinecone-request-id"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics, base_port: int) -> None:
        self.app = app
        self.metrics = metrics
        self.base_port = base_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope.get("headers", ()):
            if name in (b"x-request-id", b"request_id"):
                request_id = value.decode("latin-1")[:128]
        request_id = request_id or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        if "slot" in state:  # set by host-name routing (slabdb.api.host_routing)
            slot = int(state["slot"])
        else:
            server = scope.get("server") or ("", self.base_port)
            slot = int(server[1]) - self.base_port if server[1] else 0
        state.update(request_id=request_id, slot=slot, data_plane=slot > 0)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(template, scope["method"], status, seconds, "rest")
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "event": "request",
                            "request_id": request_id,
                            "transport": "rest",
                            "method": scope["method"],
                            "path": scope["path"],
                            "route": template,
                            "slot": slot,
                            "project": state.get("project"),
                            "status": status,
                            "ms": round(seconds * 1000, 3),
                        }
                    )
                )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("{"):
            body: dict[str, Any] = json.loads(msg)
        else:
            body = {"event": "log", "message": msg}
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        out.update(body)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("slabdb", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level.upper())
        lg.propagate = False
