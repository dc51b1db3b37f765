"""A throwaway SQS server for tests: moto's ``ThreadedMotoServer`` on 127.0.0.1.

    with moto_sqs_server() as sqs:
        url = sqs.create_queue("events", visibility_timeout=1)
        client = sqs.client()

Unlike :mod:`slabdb.testing.s3`, requests are not serialized: a long-polling receive
must not block other clients. moto (test-only) is imported only when the server starts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slabdb.testing.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


@dataclass(frozen=True)
class MotoSqsServer:
    """A running moto server; make queues and clients with the methods."""

    endpoint: str
    env: dict[str, str] = field(default_factory=dict)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "sqs",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def create_queue(
        self, name: str | None = None, *, visibility_timeout: int = 30, fifo: bool = False
    ) -> str:
        """A new queue's URL (a random name unless given)."""
        name = name or f"q-{uuid.uuid4().hex[:12]}"
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if fifo:
            name += ".fifo"
            attributes["FifoQueue"] = "true"
        return str(self.client().create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


@contextmanager
def moto_sqs_server(*, quiet: bool = True) -> Iterator[MotoSqsServer]:
    """Start moto on a free local port; stop on exit."""
    from moto.server import ThreadedMotoServer

    werkzeug_log = logging.getLogger("werkzeug")
    old_level = werkzeug_log.level
    if quiet:
        werkzeug_log.setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=not quiet)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {
            "AWS_ENDPOINT_URL_SQS": endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
        yield MotoSqsServer(endpoint=endpoint, env=env)
    finally:
        server.stop()
        werkzeug_log.setLevel(old_level)
