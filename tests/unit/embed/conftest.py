"""Shared fixtures for the embedder tests: one loaded model per session, a fake server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from slabdb.embed.local import MiniLMEmbedder
from slabdb.embed.retry import RetryPolicy


@pytest.fixture(scope="session")
def minilm() -> Iterator[MiniLMEmbedder]:
    embedder = MiniLMEmbedder()
    embedder.load()
    yield embedder
    embedder.close()


@dataclass
class SleepRecorder:
    """Stands in for time.sleep: records the pauses, waits for none."""

    pauses: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def fast_retry(sleeps: SleepRecorder) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, sleep=sleeps)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


Responder = Callable[[dict[str, Any]], Reply]


class FakeEmbeddingsServer:
    """An OpenAI-compatible embeddings server on 127.0.0.1 with scripted replies.

    Replies queued with :meth:`queue` are used first (in order); after that every
    request gets a 200 whose vectors are ``[len(text), index, 1.0, 0.0]`` per input, so
    tests can tell which text a row came from. Every request is recorded.
    """

    dimension = 4
    Reply = Reply

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: list[Reply | Responder] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                reply = server._next(self.path, dict(self.headers), body)
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host!s}:{port}/v1"

    def queue(self, *replies: Reply | Responder) -> None:
        with self._lock:
            self._script.extend(replies)

    def _next(self, path: str, headers: dict[str, str], body: Any) -> Reply:
        with self._lock:
            self.requests.append(Received(path, headers, body, time.monotonic()))
            scripted = self._script.pop(0) if self._script else None
        if scripted is None:
            return Reply(body=self.default_body(body))
        return scripted(body) if callable(scripted) else scripted

    @classmethod
    def default_body(cls, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), float(i), 1.0, 0.0]}
            for i, t in enumerate(inputs)
        ]
        data.reverse()  # servers may answer out of order; the client sorts by index
        return {"object": "list", "data": data, "model": body["model"]}

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def fake_server() -> Iterator[FakeEmbeddingsServer]:
    server = FakeEmbeddingsServer()
    yield server
    server.close()
