"""Reading a gRPC connection's ``:authority`` before choosing its backend (host routing).

Under ``slabdb serve --base-domain`` every index shares one port, and the mux relays a
gRPC connection's raw HTTP/2 bytes to the grpcio backend of one index.  Which one is
named only in the first request's ``:authority`` pseudo-header, inside an HPACK block,
so the mux reads the client's frames up to the end of the first header block first:

1. It sends the client an empty SETTINGS frame at once (a legal server preface that
   changes nothing: clients such as grpc-core wait for the server's SETTINGS before
   they send a request), and buffers what the client sends.
2. :class:`ClientPreamble` parses the client's frames, decodes the first header block
   with a fresh HPACK decoder (the first block of a connection cannot refer to earlier
   ones) and finds ``:authority``.
3. The backend then gets every buffered byte, *except* the client's first SETTINGS
   ACK, which acknowledged the mux's SETTINGS, not the backend's: the backend sends its
   own SETTINGS (which the client acknowledges in turn) and must not see an ACK for
   SETTINGS it never sent.  After that frame the bytes pass through untouched.

A connection whose authority names no index is answered with a trailers-only NOT_FOUND
response and a GOAWAY (:func:`not_found`).
"""

from __future__ import annotations

import string
import struct
from urllib.parse import quote

import hpack

PREFACE_BYTES = 24
FRAME_HEADER_BYTES = 9
HEADERS, SETTINGS, GOAWAY, CONTINUATION = 0x1, 0x4, 0x7, 0x9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
MAX_PREAMBLE_BYTES = 1 << 20
"""A client that has not finished its first header block within this many bytes is
dropped (no real gRPC client comes close)."""
GRPC_NOT_FOUND = 5
_GRPC_MESSAGE_SAFE = "".join(c for c in string.printable[:95] if c != "%")
"""grpc-message is percent-encoded except printable ASCII (gRPC's HTTP/2 protocol spec)."""


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(
        ">I", stream & 0x7FFFFFFF
    ) + payload  # fmt: skip


EMPTY_SETTINGS = frame(SETTINGS, 0, 0)


class PreambleError(Exception):
    """The client's first frames are not HTTP/2 a gRPC client sends."""


class ClientPreamble:
    """The client-to-server bytes of one connection until routing is settled."""

    def __init__(self) -> None:
        self._buffer = b""
        self._preface_done = False
        self._ack_dropped = False
        self._block = b""
        self.authority: str | None = None
        """``:authority`` (or ``host``) of the first request; "" if it sent neither."""
        self.stream_id = 0
        """The stream of that first request."""

    @property
    def passthrough(self) -> bool:
        """Routing is settled and the ACK dropped: bytes now pass through as they are."""
        return self._ack_dropped and self.authority is not None

    def feed(self, data: bytes) -> bytes:
        """Take client bytes; return those to forward to the backend (in order)."""
        if self.passthrough:
            return data
        self._buffer += data
        if len(self._buffer) > MAX_PREAMBLE_BYTES:
            raise PreambleError("no request headers within the first megabyte")
        out: list[bytes] = []
        if not self._preface_done:
            if len(self._buffer) < PREFACE_BYTES:
                return b""
            out.append(self._buffer[:PREFACE_BYTES])
            self._buffer = self._buffer[PREFACE_BYTES:]
            self._preface_done = True
        while not self.passthrough and len(self._buffer) >= FRAME_HEADER_BYTES:
            length = int.from_bytes(self._buffer[:3], "big")
            end = FRAME_HEADER_BYTES + length
            if len(self._buffer) < end:
                break
            raw, self._buffer = self._buffer[:end], self._buffer[end:]
            kind, flags = raw[3], raw[4]
            stream = int.from_bytes(raw[5:9], "big") & 0x7FFFFFFF
            if kind == SETTINGS and flags & ACK and not self._ack_dropped:
                self._ack_dropped = True
                continue
            if self.authority is None and kind in (HEADERS, CONTINUATION):
                self._header_fragment(kind, flags, stream, raw[FRAME_HEADER_BYTES:])
            out.append(raw)
        if self.passthrough:
            out.append(self._buffer)
            self._buffer = b""
        return b"".join(out)

    def _header_fragment(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == HEADERS:
            if flags & PADDED:
                if not payload or payload[0] >= len(payload):
                    raise PreambleError("bad padding in HEADERS")
                payload = payload[1 : len(payload) - payload[0]]
            if flags & PRIORITY:
                payload = payload[5:]
            self.stream_id = stream
        elif not self._block and self.stream_id == 0:
            raise PreambleError("CONTINUATION without HEADERS")
        self._block += payload
        if flags & END_HEADERS:
            self.authority = _authority(self._block)


def _authority(block: bytes) -> str:
    try:
        headers = hpack.Decoder().decode(block)
    except hpack.HPACKError as exc:
        raise PreambleError(f"undecodable request headers: {exc}") from None
    found = {str(k): str(v) for k, v in headers if k in (":authority", "host")}
    return found.get(":authority") or found.get("host") or ""


def not_found(stream_id: int, message: str) -> bytes:
    """A trailers-only gRPC NOT_FOUND answer on ``stream_id``, then GOAWAY (NO_ERROR)."""
    block = hpack.Encoder().encode(
        [
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", str(GRPC_NOT_FOUND)),
            ("grpc-message", quote(message, safe=_GRPC_MESSAGE_SAFE)),
        ]
    )
    headers = frame(HEADERS, END_STREAM | END_HEADERS, stream_id, block)
    goaway = frame(GOAWAY, 0, 0, struct.pack(">II", stream_id, 0))
    return headers + goaway
