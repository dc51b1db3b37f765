"""One port, two protocols: HTTP/1.1 REST goes to uvicorn, HTTP/2 gRPC to grpcio; with
TLS on, TLS is terminated first.

A connection's first byte says whether it is TLS (a handshake record, 0x16) or
plaintext.  A port serves one or the other (``slabdb serve --tls-...`` or not); a client
speaking the wrong one is answered at once (a TLS alert, an HTTP 400, or an HTTP/2
GOAWAY naming the problem), closed, and logged with what to set on the client, instead
of waiting for a timeout.

After TLS (:class:`slabdb.api.tls.TlsTransport`, ALPN ``http/1.1``/``h2``) or on a
plaintext port, the first plaintext bytes pick the protocol: an HTTP/2 client (gRPC,
ALPN ``h2``) opens with the connection preface ``PRI * HTTP/2.0``, which no HTTP/1
method starts with.

* HTTP/1.x: an ordinary uvicorn protocol is created for the connection and every
  asyncio callback is forwarded to it (it never knows it was not accepted directly).
* HTTP/2: bytes are relayed, with back-pressure in both directions, to the grpcio
  server of that index, which listens on a private Unix socket.

gRPC thus works on the same ``host`` the SDK got from ``describe_index``.  Under
host-name routing (``--base-domain``) one port serves every index, and the backend is
chosen by the connection's ``:authority`` (:mod:`slabdb.api.h2_authority`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
import time
from collections.abc import Callable
from typing import cast

from slabdb.api.h2_authority import EMPTY_SETTINGS, ClientPreamble, PreambleError, not_found
from slabdb.api.tls import TLS_HANDSHAKE_BYTE, TlsTransport

log = logging.getLogger("slabdb.mux")
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DECIDE_BYTES = 3
TLS_ALERT_HANDSHAKE_FAILURE = b"\x15\x03\x03\x00\x02\x02\x28"
"""A fatal ``handshake_failure`` alert record: the TLS client fails at once."""
PLAINTEXT_SERVER_HINT = (
    "this server runs without TLS: use http:// hosts, and for gRPC tell the SDK "
    "(SDK 10: grpc_scheme='http' or PINECONE_GRPC_SCHEME=http; SDK 9: "
    "GrpcIndex(..., secure=False); SDK 7: PineconeGRPC(..., ssl_verify=False)), "
    "or start the server with --tls-cert/--tls-key or --tls-self-signed"
)
WARN_EVERY_SECONDS = 10.0
"""A client that keeps retrying with the wrong protocol is logged once per this time."""
_last_warned: dict[tuple[str, str, int], float] = {}


def _warn(kind: str, peer: str, port: int, message: str, *args: object) -> None:
    """Log a connection problem, at most once per ``kind``, client host and port per 10 s."""
    now = time.monotonic()
    key = (kind, peer.rsplit(":", 1)[0], port)
    if _last_warned.get(key, 0.0) > now:
        return
    if len(_last_warned) > 10_000:
        _last_warned.clear()
    _last_warned[key] = now + WARN_EVERY_SECONDS
    log.warning(message, *args)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"


def _port(transport: asyncio.BaseTransport) -> int:
    sockname = transport.get_extra_info("sockname")
    return int(sockname[1]) if isinstance(sockname, tuple) else 0


def _goaway(debug: str) -> bytes:
    """A GOAWAY frame (PROTOCOL_ERROR) carrying ``debug``.  It is sent instead of the
    server's SETTINGS, so the client never sees a usable connection: grpcio fails the
    call at once (after a SETTINGS frame, it would reconnect and retry forever)."""
    payload = struct.pack(">II", 0, 1) + debug.encode()
    return struct.pack(">I", len(payload))[1:] + b"\x07\x00" + struct.pack(">I", 0) + payload


def _http_400(text: str) -> bytes:
    body = (text + "\n").encode()
    head = (
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


GrpcSocketFor = Callable[[int], str | None]
"""The Unix socket of the gRPC backend for a connection to a local port (None: none)."""
GrpcSocketForAuthority = Callable[[str], str | None]
"""Host routing: the backend socket for an ``:authority`` (None: no such index).  It may
block (a catalog read): it is called in a worker thread, once per connection."""


class MuxProtocol(asyncio.Protocol):
    """Accepts a connection on a plaintext or TLS port and hands the plaintext to a
    :class:`_Router`, refusing a client that speaks the other one.  With
    ``grpc_socket_for_authority`` gRPC connections are routed by ``:authority`` instead
    of by port."""

    def __init__(
        self,
        http_factory: Callable[[], asyncio.Protocol],
        grpc_socket_for: GrpcSocketFor,
        tls: ssl.SSLContext | None = None,
        tls_hint: str = "",
        grpc_socket_for_authority: GrpcSocketForAuthority | None = None,
    ) -> None:
        self._router = _Router(http_factory, grpc_socket_for, grpc_socket_for_authority)
        self._tls = tls
        self._tls_hint = tls_hint
        self._raw: asyncio.Transport | None = None
        self._layer: TlsTransport | None = None
        self._started = False
        self._refused = False
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._layer is not None:
            self._layer.feed(data)
        elif self._started:
            self._router.data_received(data)
        elif not self._refused:
            self._first_bytes(data)

    def _first_bytes(self, data: bytes) -> None:
        assert self._raw is not None
        self._buffer += data
        first = self._buffer
        if first[0] == TLS_HANDSHAKE_BYTE and self._tls is not None:
            self._started, self._buffer = True, b""
            self._layer = TlsTransport(self._raw, self._tls, self._tls_ready, self._tls_failed)
            self._layer.feed(first)
        elif first[0] == TLS_HANDSHAKE_BYTE:
            self._refuse_tls()
        elif self._tls is not None:
            if len(first) >= _DECIDE_BYTES or not HTTP2_PREFACE.startswith(first):
                self._refuse_plaintext(first)
        else:
            self._started, self._buffer = True, b""
            self._router.connection_made(self._raw)
            self._router.data_received(first)

    def _tls_ready(self, layer: TlsTransport) -> None:
        layer.set_protocol(self._router)
        self._router.connection_made(layer)

    def _tls_failed(self, exc: ssl.SSLError) -> None:
        assert self._raw is not None
        peer = _peer(self._raw)
        port = _port(self._raw)
        _warn(
            "handshake", peer, port,
            "TLS handshake with %s on port %d failed: %s (a client that does not trust the "
            "server's certificate must be given its CA: %s)",
            peer, port, exc.reason or exc, self._tls_hint or "see docs/server.md",
        )  # fmt: skip

    def _refuse_tls(self) -> None:
        assert self._raw is not None
        self._refused = True
        peer = _peer(self._raw)
        port = _port(self._raw)
        _warn(
            "tls-on-plaintext", peer, port,
            "TLS handshake from %s on port %d, which serves plaintext; closed: %s",
            peer, port, PLAINTEXT_SERVER_HINT,
        )  # fmt: skip
        self._raw.write(TLS_ALERT_HANDSHAKE_FAILURE)
        self._raw.close()

    def _refuse_plaintext(self, first: bytes) -> None:
        assert self._raw is not None
        self._refused = True
        peer = _peer(self._raw)
        grpc = first.startswith(HTTP2_PREFACE[:_DECIDE_BYTES])
        what = "HTTP/2 (gRPC)" if grpc else "HTTP/1"
        advice = f"this port speaks TLS only: use https:// hosts and trust {self._tls_hint}"
        port = _port(self._raw)
        _warn(
            f"plaintext-{what}", peer, port, "plaintext %s from %s on port %d; closed: %s%s",
            what, peer, port, advice,
            " (SDK 10 gRPC: drop grpc_scheme='http' / PINECONE_GRPC_SCHEME=http; "
            "SDK 9: GrpcIndex(secure=True))" if grpc else "",
        )  # fmt: skip
        self._raw.write(_goaway(advice) if grpc else _http_400(advice))
        self._raw.close()

    def eof_received(self) -> bool | None:
        if self._layer is not None:
            return self._layer.eof_received()
        if self._started:
            return self._router.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._router.connected:
            self._router.connection_lost(exc)

    def pause_writing(self) -> None:
        self._router.pause_writing()

    def resume_writing(self) -> None:
        self._router.resume_writing()


class _Relay(asyncio.Protocol):
    """The backend side of a relayed gRPC connection."""

    def __init__(self, front: _Router) -> None:
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


class _Router(asyncio.Protocol):
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
        self._relay: _Relay | None = None
        self._relaying = False
        self._pending: list[bytes] = []
        self._preamble: ClientPreamble | None = None
        self._routing = False
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._transport is not None

    # --- front (client) side --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
            return
        if self._relaying:
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
        self._relaying = True
        if self._by_authority is not None:
            self._preamble = ClientPreamble()
            self._transport.write(EMPTY_SETTINGS)
            self._to_backend(first)
            return
        port = _port(self._transport)
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
        assert relay.transport is not None
        for chunk in self._pending:  # already past the preamble filter
            relay.transport.write(chunk)
        self._pending = []
        if self._transport is not None:
            self._transport.resume_reading()

    def _through_preamble(self, data: bytes) -> bytes | None:
        """Host routing: ``data`` minus what the backend must not see; starts routing
        once the first request's authority is known (None: the connection was closed)."""
        assert self._preamble is not None and self._transport is not None
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
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(not_found(self._preamble.stream_id, message))
                self._transport.close()
            return
        await self._connect(path)

    def _to_backend(self, data: bytes) -> None:
        if self._preamble is not None and not self._preamble.passthrough:
            kept = self._through_preamble(data)
            if not kept:
                return
            data = kept
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
