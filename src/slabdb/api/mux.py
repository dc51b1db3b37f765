"""One port, two protocols: HTTP/1.1 REST goes to uvicorn, HTTP/2 gRPC to grpcio.

Each connection's first bytes decide.  A gRPC client over plaintext opens with the
HTTP/2 connection preface (``PRI * HTTP/2.0``); no HTTP/1 request starts with ``PRI``.

* HTTP/1.x: an ordinary uvicorn protocol is created for the connection and every
  asyncio callback is forwarded to it (it never knows it was not accepted directly).
* HTTP/2: bytes are relayed, with back-pressure in both directions, to the grpcio
  server of that index, which listens on a private Unix socket.

gRPC thus works on the same ``host`` the SDK got from ``describe_index``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import cast

log = logging.getLogger("slabdb.mux")
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DECIDE_BYTES = 3


class _Relay(asyncio.Protocol):
    """The backend side of a relayed gRPC connection."""

    def __init__(self, front: MuxProtocol) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.front.write_front(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.close_front()

    def pause_writing(self) -> None:
        self.front.pause_front_reading()

    def resume_writing(self) -> None:
        self.front.resume_front_reading()


class MuxProtocol(asyncio.Protocol):
    """Accepts a connection and becomes either the HTTP/1 protocol or a gRPC relay."""

    def __init__(
        self,
        http_factory: Callable[[], asyncio.Protocol],
        grpc_socket_for: Callable[[int], str | None],
    ) -> None:
        self._http_factory = http_factory
        self._grpc_socket_for = grpc_socket_for
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._inner: asyncio.Protocol | None = None
        self._relay: _Relay | None = None
        self._pending: list[bytes] = []
        self._closed = False

    # --- front (client) side --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
            return
        if self._relay is not None or self._pending:
            self._to_backend(data)
            return
        self._buffer += data
        if len(self._buffer) < _DECIDE_BYTES and HTTP2_PREFACE.startswith(self._buffer):
            return
        first, self._buffer = self._buffer, b""
        if first.startswith(HTTP2_PREFACE[:_DECIDE_BYTES]):
            self._start_relay(first)
        else:
            self._inner = self._http_factory()
            assert self._transport is not None
            self._inner.connection_made(self._transport)
            self._inner.data_received(first)

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return self._inner.eof_received()
        if self._relay is not None and self._relay.transport is not None:
            with contextlib.suppress(Exception):
                self._relay.transport.write_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._inner is not None:
            self._inner.connection_lost(exc)
        if self._relay is not None and self._relay.transport is not None:
            self._relay.transport.close()

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()
        elif self._relay is not None and self._relay.transport is not None:
            self._relay.transport.pause_reading()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()
        elif self._relay is not None and self._relay.transport is not None:
            self._relay.transport.resume_reading()

    # --- relay ----------------------------------------------------------------------------
    def _start_relay(self, first: bytes) -> None:
        assert self._transport is not None
        port = int(self._transport.get_extra_info("sockname")[1])
        path = self._grpc_socket_for(port)
        if path is None:
            log.warning("gRPC connection on port %d, which serves no index", port)
            self._transport.close()
            return
        self._pending.append(first)
        self._transport.pause_reading()
        asyncio.get_running_loop().create_task(self._connect(path))

    async def _connect(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, relay = await loop.create_unix_connection(lambda: _Relay(self), path)
        except OSError as exc:
            log.error("cannot reach the gRPC backend at %s: %s", path, exc)
            if self._transport is not None:
                self._transport.close()
            return
        if self._closed:
            if relay.transport is not None:
                relay.transport.close()
            return
        self._relay = relay
        for chunk in self._pending:
            self._to_backend(chunk)
        self._pending = []
        if self._transport is not None:
            self._transport.resume_reading()

    def _to_backend(self, data: bytes) -> None:
        if self._relay is None or self._relay.transport is None:
            self._pending.append(data)
        else:
            self._relay.transport.write(data)

    def write_front(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close_front(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def pause_front_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_front_reading(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()
