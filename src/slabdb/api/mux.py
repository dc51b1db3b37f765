"""One port, two protocols: HTTP/1.1 REST goes to uvicorn, HTTP/2 gRPC to grpcio; with
TLS on, TLS is terminated first.

A connection's first byte says whether it is TLS (a handshake record, 0x16) or
plaintext.  A port serves one or the other (``slabdb serve --tls-...`` or not); a client
speaking the wrong one is answered at once (a TLS alert, an HTTP 400, or an HTTP/2
GOAWAY naming the problem), closed, and logged with what to set on the client, instead
of waiting for a timeout.

After TLS (:class:`slabdb.api.tls.TlsTransport`, ALPN ``http/1.1``/``h2``) or on a
plaintext port, the plaintext goes to a :class:`slabdb.api.mux_router.PlaintextRouter`:
its first bytes pick HTTP/1.x (uvicorn) or HTTP/2 (gRPC, relayed to the index's grpcio
backend by :mod:`slabdb.api.grpc_relay`).

gRPC thus works on the same ``host`` the SDK got from ``describe_index``.  Under
host-name routing (``--base-domain``) one port serves every index, and the backend is
chosen by the connection's ``:authority`` (:mod:`slabdb.api.h2_authority`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from collections.abc import Callable
from typing import cast

from slabdb.api.grpc_relay import GrpcSocketFor, GrpcSocketForAuthority, local_port
from slabdb.api.mux_router import DECIDE_BYTES, HTTP2_PREFACE, PlaintextRouter, looks_like_http2
from slabdb.api.tls import TLS_HANDSHAKE_BYTE, TlsTransport

log = logging.getLogger("slabdb.mux")
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


class MuxProtocol(asyncio.Protocol):
    """Accepts a connection on a plaintext or TLS port and hands the plaintext to a
    :class:`~slabdb.api.mux_router.PlaintextRouter`, refusing a client that speaks the other one.  With
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
        self._router = PlaintextRouter(http_factory, grpc_socket_for, grpc_socket_for_authority)
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
            if len(first) >= DECIDE_BYTES or not HTTP2_PREFACE.startswith(first):
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
        port = local_port(self._raw)
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
        port = local_port(self._raw)
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
        grpc = looks_like_http2(first)
        what = "HTTP/2 (gRPC)" if grpc else "HTTP/1"
        advice = f"this port speaks TLS only: use https:// hosts and trust {self._tls_hint}"
        port = local_port(self._raw)
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
