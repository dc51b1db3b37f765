"""Requests uvicorn cannot parse get Pinecone's JSON error shape, not its plain text."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from slabdb.api.http1 import MESSAGE, PineconeHttpProtocol


async def _app(scope: dict, receive: object, send: object) -> None:  # never reached
    raise AssertionError("an unparseable request reached the app")


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    """(control-plane port, index port) of a uvicorn server with the protocol."""
    control, index = _listening(), _listening()
    config = uvicorn.Config(
        _app, port=control.getsockname()[1], http=PineconeHttpProtocol, log_level="critical",
        lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [control, index]})
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield control.getsockname()[1], index.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def _send(port: int, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(raw)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status, headers, body


BAD_REQUESTS = [
    b"POST /query HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /query HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
    b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
]


@pytest.mark.parametrize("raw", BAD_REQUESTS)
def test_unparseable_requests_get_pinecones_error_shape(ports: tuple[int, int], raw: bytes) -> None:
    control, index = ports
    status, headers, body = _send(control, raw)
    assert status.startswith("HTTP/1.1 400") and headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": {"code": "INVALID_ARGUMENT", "message": MESSAGE},
        "status": 400,
    }
    status, _, body = _send(index, raw)
    assert status.startswith("HTTP/1.1 400")
    assert json.loads(body) == {"code": 3, "message": MESSAGE, "details": []}
