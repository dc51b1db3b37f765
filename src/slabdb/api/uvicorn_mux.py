"""The port mux (:mod:`slabdb.api.mux`) as a uvicorn ``http`` protocol class: every
listener of ``slabdb serve``, uvicorn's own and the per-index ones, is built from it."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slabdb.api.grpc_relay import GrpcSocketFor, GrpcSocketForAuthority
from slabdb.api.http1 import PineconeHttpProtocol
from slabdb.api.mux import MuxProtocol


def mux_protocol_class(
    grpc_socket_for: GrpcSocketFor,
    tls: ssl.SSLContext | None,
    tls_hint: str,
    grpc_socket_for_authority: GrpcSocketForAuthority | None,
) -> Any:
    """A :class:`MuxProtocol` taking uvicorn's protocol arguments, whose HTTP/1 side is
    :class:`PineconeHttpProtocol`; with ``grpc_socket_for_authority`` gRPC goes by
    ``:authority``."""

    class Protocol(MuxProtocol):
        def __init__(
            self,
            config: uvicorn.Config,
            server_state: Any,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            def http() -> HttpToolsProtocol:
                return PineconeHttpProtocol(
                    config=config, server_state=server_state, app_state=app_state, _loop=_loop
                )

            super().__init__(http, grpc_socket_for, tls, tls_hint, grpc_socket_for_authority)

    return Protocol
