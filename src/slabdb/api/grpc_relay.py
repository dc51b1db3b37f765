"""The gRPC side of the port mux: an HTTP/2 connection's bytes are relayed, with
back-pressure in both directions, to the grpcio server of its index, which listens on a
private Unix socket.

The backend is chosen by the local port the client connected to, or under host-name
routing (``--base-domain``) by the ``:authority`` of its first request: the relay then
answers the client's preface itself and holds the bytes until that header is read
(:mod:`slabdb.api.h2_authority`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import cast

from slabdb.api.h2_authority import EMPTY_SETTINGS, ClientPreamble, PreambleError, not_found

log = logging.getLogger("slabdb.mux")

GrpcSocketFor = Callable[[int], str | None]
"""The Unix socket of the gRPC backend for a connection to a local port (None: none)."""
GrpcSocketForAuthority = Callable[[str], str | None]
"""Host routing: the backend socket for an ``:authority`` (None: no such index).  It may
block (a catalog read): it is called in a worker thread, once per connection."""


def local_port(transport: asyncio.BaseTransport) -> int:
    """The local port a connection was accepted on (0 if unknown)."""
    sockname = transport.get_extra_info("sockname")
    return int(sockname[1]) if isinstance(sockname, tuple) else 0


class _Backend(asyncio.Protocol):
    """The backend side of a relayed gRPC connection."""

    def __init__(self, front: GrpcRelay) -> None:
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


class GrpcRelay:
    """The client (front) side of one relayed gRPC connection: what the client sends goes
    to the backend once it is connected (held until then), what the backend sends goes
    back to the client."""

    def __init__(
        self,
        front: asyncio.Transport,
        grpc_socket_for: GrpcSocketFor,
        grpc_socket_for_authority: GrpcSocketForAuthority | None = None,
    ) -> None:
        self._transport = front
        self._grpc_socket_for = grpc_socket_for
        self._by_authority = grpc_socket_for_authority
        self._backend: _Backend | None = None
        self._pending: list[bytes] = []
        self._preamble: ClientPreamble | None = None
        self._routing = False
        self._closed = False

    # --- front (client) side --------------------------------------------------------------
    def start(self, first: bytes) -> None:
        """The client's first bytes (they open with the HTTP/2 preface): pick the backend."""
        if self._by_authority is not None:
            self._preamble = ClientPreamble()
            self._transport.write(EMPTY_SETTINGS)
            self.to_backend(first)
            return
        port = local_port(self._transport)
        path = self._grpc_socket_for(port)
        if path is None:
            log.warning("gRPC connection on port %d, which serves no index", port)
            self._transport.close()
            return
        self._pending.append(first)
        self._transport.pause_reading()
        asyncio.get_running_loop().create_task(self._connect(path))

    def to_backend(self, data: bytes) -> None:
        if self._preamble is not None and not self._preamble.passthrough:
            kept = self._through_preamble(data)
            if not kept:
                return
            data = kept
        if self._backend is None or self._backend.transport is None:
            self._pending.append(data)
        else:
            self._backend.transport.write(data)

    def front_eof(self) -> None:
        if self._backend is not None and self._backend.transport is not None:
            with contextlib.suppress(Exception):
                self._backend.transport.write_eof()

    def front_lost(self) -> None:
        self._closed = True
        if self._backend is not None and self._backend.transport is not None:
            self._backend.transport.close()

    def pause_backend_reading(self) -> None:
        if self._backend is not None and self._backend.transport is not None:
            self._backend.transport.pause_reading()

    def resume_backend_reading(self) -> None:
        if self._backend is not None and self._backend.transport is not None:
            self._backend.transport.resume_reading()

    # --- backend side ---------------------------------------------------------------------
    async def _connect(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, backend = await loop.create_unix_connection(lambda: _Backend(self), path)
        except OSError as exc:
            log.error("cannot reach the gRPC backend at %s: %s", path, exc)
            self._transport.close()
            return
        if self._closed:
            if backend.transport is not None:
                backend.transport.close()
            return
        self._backend = backend
        assert backend.transport is not None
        for chunk in self._pending:  # already past the preamble filter
            backend.transport.write(chunk)
        self._pending = []
        self._transport.resume_reading()

    def _through_preamble(self, data: bytes) -> bytes | None:
        """Host routing: ``data`` minus what the backend must not see; starts routing
        once the first request's authority is known (None: the connection was closed)."""
        assert self._preamble is not None
        try:
            data = self._preamble.feed(data)
        except PreambleError as exc:
            log.warning("gRPC connection closed: %s", exc)
            self._transport.close()
            return None
        authority = self._preamble.authority
        if authority is not None and not self._routing:
            self._routing = True
            self._transport.pause_reading()
            asyncio.get_running_loop().create_task(self._route(authority))
        return data

    async def _route(self, authority: str) -> None:
        assert self._by_authority is not None and self._preamble is not None
        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(None, self._by_authority, authority)
        if path is None:
            log.info("gRPC connection for %r, which names no index here", authority)
            message = f"no index is served at host {authority!r}"
            if not self._transport.is_closing():
                self._transport.write(not_found(self._preamble.stream_id, message))
                self._transport.close()
            return
        await self._connect(path)

    def write_front(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def close_front(self) -> None:
        self._transport.close()

    def pause_front_reading(self) -> None:
        self._transport.pause_reading()

    def resume_front_reading(self) -> None:
        self._transport.resume_reading()
