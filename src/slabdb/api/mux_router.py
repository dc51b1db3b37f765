"""The plaintext of one mux connection (after TLS, or on a plaintext port) picks its
protocol by its first bytes: an HTTP/2 client (gRPC, ALPN ``h2``) opens with the
connection preface ``PRI * HTTP/2.0``, which no HTTP/1 method starts with.

* HTTP/1.x: an ordinary uvicorn protocol is created for the connection and every
  asyncio callback is forwarded to it (it never knows it was not accepted directly).
* HTTP/2: the connection becomes a :class:`~slabdb.api.grpc_relay.GrpcRelay`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from slabdb.api.grpc_relay import GrpcRelay, GrpcSocketFor, GrpcSocketForAuthority

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DECIDE_BYTES = 3
"""How many first bytes tell the HTTP/2 preface from an HTTP/1 method."""


def looks_like_http2(first: bytes) -> bool:
    """Whether a connection's first ``DECIDE_BYTES`` (or more) are the HTTP/2 preface's."""
    return first.startswith(HTTP2_PREFACE[:DECIDE_BYTES])


class PlaintextRouter(asyncio.Protocol):
    """Plaintext of one connection: becomes either the HTTP/1 protocol or a gRPC relay."""

    def __init__(
        self,
        http_factory: Callable[[], asyncio.Protocol],
        grpc_socket_for: GrpcSocketFor,
        grpc_socket_for_authority: GrpcSocketForAuthority | None = None,
    ) -> None:
        self._http_factory = http_factory
        self._grpc_socket_for = grpc_socket_for
        self._by_authority = grpc_socket_for_authority
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._inner: asyncio.Protocol | None = None
        self._relay: GrpcRelay | None = None

    @property
    def connected(self) -> bool:
        return self._transport is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
            return
        if self._relay is not None:
            self._relay.to_backend(data)
            return
        self._buffer += data
        if len(self._buffer) < DECIDE_BYTES and HTTP2_PREFACE.startswith(self._buffer):
            return
        first, self._buffer = self._buffer, b""
        if looks_like_http2(first):
            assert self._transport is not None
            self._relay = GrpcRelay(self._transport, self._grpc_socket_for, self._by_authority)
            self._relay.start(first)
        else:
            self._inner = self._http_factory()
            assert self._transport is not None
            self._inner.connection_made(self._transport)
            self._inner.data_received(first)

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return self._inner.eof_received()
        if self._relay is not None:
            self._relay.front_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)
        if self._relay is not None:
            self._relay.front_lost()

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()
        elif self._relay is not None:
            self._relay.pause_backend_reading()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()
        elif self._relay is not None:
            self._relay.resume_backend_reading()
