"""ASGI middleware: request bodies over 2 MB answer 413 before anything parses them."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slabdb.api.errors import error_response
from slabdb.core import limits
from slabdb.core.errors import PayloadTooLargeError


def too_large(size: int | None) -> PayloadTooLargeError:
    got = "" if size is None else f" ({size} bytes)"
    return PayloadTooLargeError(
        f"request body is too large{got}; the limit is {limits.MAX_REQUEST_BYTES} bytes (2 MB): "
        "send smaller batches"
    )


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = limits.MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        data_plane = bool(scope.get("state", {}).get("data_plane"))
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = 0
                if size > self.max_bytes:
                    await error_response(too_large(size), data_plane)(scope, receive, send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    scope.setdefault("state", {})["body_too_large"] = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await error_response(too_large(None), data_plane)(scope, receive, send)
