"""A throwaway S3 server for tests: moto's ``ThreadedMotoServer`` on 127.0.0.1.

moto (a test-only dependency) is imported only when :func:`moto_s3_server` runs.

    with moto_s3_server() as s3:
        store = open_store(s3.url, **s3.store_kwargs)   # or put s3.env in os.environ

moto checks ``If-None-Match: *`` and ``If-Match`` on PUT, but does the check and the
write without a lock.  Real S3 makes a conditional write atomic, so this server
runs moto's WSGI app behind one lock (connections stay concurrent; request
handling is serialized): two racing conditional writers see exactly one winner,
as on S3.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"


@dataclass(frozen=True)
class MotoS3Server:
    """A running moto S3 server with one bucket."""

    endpoint: str
    bucket: str
    prefix: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """``s3://bucket/prefix`` for :func:`slabdb.storage.open_store`."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def store_kwargs(self) -> dict[str, str]:
        """Keyword overrides for :func:`slabdb.storage.open_store` (no env needed)."""
        return {
            "endpoint": self.endpoint,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
            "region": REGION,
        }

    def unique_url(self, label: str = "t") -> str:
        """A fresh ``s3://bucket/<label>-<random>`` so tests never share keys."""
        return f"s3://{self.bucket}/{label}-{uuid.uuid4().hex[:12]}"


def _atomic_moto_server_class() -> type:
    """ThreadedMotoServer whose request handling is serialized (atomic conditional puts)."""
    import threading

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class AtomicMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def serialized(environ: Any, start_response: Any) -> Any:
                with lock:
                    # Read the whole response under the lock: moto may build it lazily.
                    return list(app(environ, start_response))

            self._server = make_server(
                self._ip_address, self._port, serialized, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return AtomicMotoServer


@contextmanager
def moto_s3_server(
    bucket: str = "slabdb-test", prefix: str = "slabdb", *, quiet: bool = True
) -> Iterator[MotoS3Server]:
    """Start moto's S3 server on a free local port, create ``bucket``, stop on exit."""
    import boto3

    werkzeug_log = logging.getLogger("werkzeug")
    old_level = werkzeug_log.level
    if quiet:
        werkzeug_log.setLevel(logging.ERROR)  # no line per request
    server = _atomic_moto_server_class()(ip_address="127.0.0.1", port=0, verbose=not quiet)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        ).create_bucket(Bucket=bucket)
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
        yield MotoS3Server(endpoint=endpoint, bucket=bucket, prefix=prefix, env=env)
    finally:
        server.stop()
        werkzeug_log.setLevel(old_level)
