"""Several ``slabdb serve`` nodes on one object store and one control catalog.

    with temporary_postgres() as pg, moto_s3_server() as s3:
        catalog = new_catalog(pg, "rw")
        with node_cluster(s3.unique_url(), catalog, s3.env, [{}, {}]) as (key, nodes):
            httpx.post(nodes[0].url + "/indexes", headers={"Api-Key": key}, json=...)

Each node serves the control plane on its base port and index slot N on base + N; the
slot is in the shared catalog, so :meth:`Node.index_url` of one slot reaches the same
index on every node (tests/acceptance, tests/integration and benchmarks/scale_out.py).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import httpx

from slabdb.testing.net import follow
from slabdb.testing.postgres import TEST_ROLE, PostgresServer
from slabdb.testing.server import free_port_range


def new_catalog(pg: PostgresServer, name: str) -> str:
    """A fresh database on ``pg`` as a ``--catalog`` URL."""
    pg.psql(f"CREATE DATABASE {name} OWNER {TEST_ROLE}")
    return f"postgresql://{TEST_ROLE}@127.0.0.1:{pg.port}/{name}"


@dataclass
class Node:
    """One ``slabdb serve --data STORE_URL --catalog CATALOG`` subprocess."""

    data: str
    catalog: str
    env: dict[str, str]
    port: int = field(default_factory=free_port_range)
    log_level: str = "warning"
    proc: subprocess.Popen[str] | None = None
    output: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def index_url(self, slot: int) -> str:
        """The REST/gRPC address of index slot ``slot`` on this node."""
        return f"http://127.0.0.1:{self.port + slot}"

    def wait_index(self, slot: int, api_key: str, timeout: float = 30.0) -> str:
        """:meth:`index_url` once this node listens there (it opens index ports within
        about a second of the catalog row: the listener sync)."""
        url = self.index_url(slot)
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(url + "/describe_index_stats", headers={"Api-Key": api_key}, timeout=5)
                return url
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "slabdb.cli", "serve", "--data", self.data,
            "--catalog", self.catalog, "--port", str(self.port), "--log-level", self.log_level,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )
        follow(self.proc.stdout, self._append)

    def _append(self, line: str) -> None:
        self.output += line

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while "SlabDB serving on" not in self.output:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"node did not start:\n{self.output}")
            time.sleep(0.05)
        httpx.get(self.url + "/health", timeout=5).raise_for_status()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def node_env(store_env: dict[str, str], **settings: str) -> dict[str, str]:
    """This process's environment with the store's ``AWS_*`` variables and ``SLABDB_*``
    settings (``refresh_interval_seconds="0.5"`` -> ``SLABDB_REFRESH_INTERVAL_SECONDS``)."""
    env = {**os.environ, **store_env, "PYTHONUNBUFFERED": "1"}
    for name in ("SLABDB_S3_ENDPOINT", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    env.update({f"SLABDB_{k.upper()}": v for k, v in settings.items()})
    return env


def create_key(catalog: str, env: dict[str, str], project: str = "default") -> str:
    """A new API key of ``project`` (``slabdb keys create``)."""
    out = subprocess.run(
        [sys.executable, "-m", "slabdb.cli", "keys", "create", "--project", project,
         "--catalog", catalog],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def node_cluster(
    data: str, catalog: str, store_env: dict[str, str], settings: Sequence[dict[str, str]]
) -> Iterator[tuple[str, list[Node]]]:
    """One node per entry of ``settings`` (its ``SLABDB_*`` settings), all started at
    once, and an API key valid on all of them; stopped on exit."""
    nodes = [Node(data, catalog, node_env(store_env, **s)) for s in settings]
    for node in nodes:
        node.start()
    try:
        for node in nodes:
            node.wait_ready()
        yield create_key(catalog, nodes[0].env), nodes
    finally:
        for node in nodes:
            node.stop()
