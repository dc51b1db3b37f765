"""Two ``slabdb serve`` processes sharing one Postgres catalog and one S3 store (moto).

A key made with ``slabdb keys create --catalog postgresql://...`` works on both; an
index created through A is described by B (with B's host: its own base port + the
shared slot); vectors written through A are read through B; a delete through B is a
404 on A.  Also: the catalog survives a Postgres restart (reconnect), and the
password in the catalog URL shows up in no output; a call while Postgres is down gives up
after the shared retry policy's attempts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import NotFoundError as PineconeNotFound

from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.sql import CATALOG_RETRY
from slabdb.core.errors import StorageError
from slabdb.testing.cluster import Node
from slabdb.testing.postgres import TEST_ROLE, PostgresServer
from slabdb.testing.s3 import MotoS3Server

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
PASSWORD = "pw-never-logged-7f3a"
T = TypeVar("T")


def new_database(pg: PostgresServer, name: str) -> str:
    """A fresh database; its URL carries a password (trust auth ignores it)."""
    pg.psql(f"CREATE DATABASE {name} OWNER {TEST_ROLE}")
    return f"postgresql://{TEST_ROLE}:{PASSWORD}@127.0.0.1:{pg.port}/{name}"


def eventually(check: Callable[[], T], timeout: float = 10.0, every: float = 0.1) -> T:
    """``check()``'s first non-failing, truthy result within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last: {result!r})")
        time.sleep(every)


def info_node(data: str, catalog: str, env: dict[str, str]) -> Node:
    """A ``slabdb serve`` node at info level (its listening line is checked)."""
    return Node(data, catalog, env, log_level="info")


@pytest.fixture
def cluster(
    pg_server: PostgresServer, s3_server: MotoS3Server
) -> Iterator[tuple[str, dict[str, str], Node, Node]]:
    catalog = new_database(pg_server, f"two_servers_{os.getpid()}")
    env = {**os.environ, **s3_server.env, "PYTHONUNBUFFERED": "1"}
    env["SLABDB_REFRESH_INTERVAL_SECONDS"] = "0.2"
    for name in ("SLABDB_S3_ENDPOINT", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    data = s3_server.unique_url("two-servers")
    a, b = info_node(data, catalog, env), info_node(data, catalog, env)
    a.start()
    b.start()  # both at once on an empty catalog: schema and default project made once
    try:
        a.wait_ready()
        b.wait_ready()
        yield catalog, env, a, b
    finally:
        a.stop()
        b.stop()


def keys_create(catalog: str, env: dict[str, str], project: str) -> tuple[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "slabdb.cli", "keys", "create", "--project", project,
         "--catalog", catalog],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1], out.stdout + out.stderr


def test_two_servers_share_catalog_and_store(
    cluster: tuple[str, dict[str, str], Node, Node],
) -> None:
    catalog, env, a, b = cluster
    key, cli_output = keys_create(catalog, env, "p")
    assert key.startswith("sdb-")
    with Pinecone(api_key=key, host=a.url) as pa, Pinecone(api_key=key, host=b.url) as pb:
        assert pa.list_indexes().names() == [] and pb.list_indexes().names() == []

        made = pa.create_index(name="shared", dimension=4, metric="cosine", spec=SPEC)
        slot = int(made.host.rsplit(":", 1)[1]) - a.port
        assert made.host == f"http://127.0.0.1:{a.port + slot}"
        assert "shared" in pb.list_indexes().names()
        seen = pb.describe_index("shared")
        assert seen.host == f"http://127.0.0.1:{b.port + slot}"  # B's own port for the slot
        assert (seen.dimension, seen.metric) == (4, "cosine")

        ia, ib = pa.Index(host=made.host), pb.Index(host=seen.host)
        vectors = [(f"v{i}", [1.0, float(i), 0.5, 0.0], {"i": i}) for i in range(20)]
        assert ia.upsert(vectors=vectors, namespace="ns").upserted_count == 20
        fetched = eventually(lambda: ib.fetch(ids=["v0", "v19"], namespace="ns").vectors)
        assert set(fetched) == {"v0", "v19"}
        top = eventually(
            lambda: ib.query(vector=[1.0, 7.0, 0.5, 0.0], top_k=1, namespace="ns").matches
        )
        assert top[0].id == "v7"
        ib.upsert(vectors=[("from-b", [0.0, 0.0, 0.0, 1.0])], namespace="ns")
        assert eventually(lambda: ia.fetch(ids=["from-b"], namespace="ns").vectors)

        # Indexes created at once through both servers get distinct slots.
        def create(pc: Pinecone, name: str) -> str:
            return str(pc.create_index(name=name, dimension=2, metric="dotproduct", spec=SPEC).host)

        with contextlib.ExitStack():
            results: dict[str, str] = {}
            threads = [
                threading.Thread(target=lambda n=n, pc=pc: results.__setitem__(n, create(pc, n)))
                for n, pc in (("ca", pa), ("cb", pb))
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        slots = {int(results["ca"].rsplit(":", 1)[1]) - a.port,
                 int(results["cb"].rsplit(":", 1)[1]) - b.port}  # fmt: skip
        assert len(slots) == 2 and slot not in slots

        pb.delete_index("shared")
        with pytest.raises(PineconeNotFound):
            pb.describe_index("shared")
        eventually(lambda: _is_not_found(lambda: pa.describe_index("shared")))
        assert "shared" not in pa.list_indexes().names()

        def data_plane_gone() -> bool:  # 404 while the port is open; refused once closed
            try:
                ia.fetch(ids=["v0"], namespace="ns")
            except PineconeNotFound:
                return True
            except Exception as exc:
                return "onnect" in repr(exc)
            return False

        eventually(data_plane_gone, timeout=10)

    # Another key of another project sees none of p's indexes, on either server.
    other, _ = keys_create(catalog, env, "q")
    with Pinecone(api_key=other, host=b.url) as qb:
        assert qb.list_indexes().names() == []
    for text in (a.output, b.output, cli_output):
        assert PASSWORD not in text
    assert "***" in a.output  # the listening line shows the redacted catalog URL


def _is_not_found(call: Callable[[], Any]) -> bool:
    try:
        call()
    except PineconeNotFound:
        return True
    return False


def test_catalog_reconnects_after_postgres_restart(pg_server: PostgresServer) -> None:
    url = new_database(pg_server, f"restart_{os.getpid()}")
    cat = ControlCatalog(url)
    cat.create_project("p", "projects/p/")
    pg_server.restart()  # every connection is cut
    assert [p.name for p in cat.list_projects()] == ["p"]  # read retried on a new connection
    pg_server.restart()
    assert cat.claim_slot("p", "i", {}).slot == 1  # write retried: BEGIN never went out
    assert cat.all_slots()[0].name == "i"
    cat.close()


def test_catalog_gives_up_under_the_retry_policy_while_postgres_is_down(
    pg_server: PostgresServer,
) -> None:
    url = new_database(pg_server, f"down_{os.getpid()}")
    pauses: list[float] = []
    policy = dataclasses.replace(CATALOG_RETRY, sleep=pauses.append, random=lambda: 1.0)
    cat = ControlCatalog(url, retry=policy)
    cat.create_project("p", "projects/p/")
    pg_server.stop()
    try:
        with pytest.raises(StorageError) as info:
            cat.list_projects()
        # Three attempts, backing off 0.25 s then 1 s (full jitter drawn at its top here).
        assert pauses == [0.25, 1.0]
        assert PASSWORD not in str(info.value) and "***" in str(info.value)
    finally:
        pg_server.start()
    pauses.clear()
    assert [p.name for p in cat.list_projects()] == ["p"]  # reconnects once it is back
    assert pauses == []
    cat.close()
