"""Stateless nodes: a write through node A, read through other nodes on one S3 store
(moto) and one Postgres catalog.

* Node B refreshes only every 30 s, so its plain reads stay stale for the whole test:
  a read carrying ``x-slabdb-min-lsn`` (REST header or gRPC metadata) with the LSN A's
  write returned sees the write at once, and one without it does not.
* Node C refreshes every 0.5 s: its plain reads see a write within the documented bound
  (refresh interval + background interval + slack for one catch-up on a loaded machine).
* An LSN the log never reaches is a retryable 503 (code 14, UNAVAILABLE) after the 5 s wait; a
  malformed header is a 400.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from pinecone import Pinecone

from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.api.grpc.gen import db_data_pb2_grpc as pb_grpc
from slabdb.core.config import DEFAULT_BACKGROUND_INTERVAL_SECONDS
from slabdb.engine.freshness import DEFAULT_MIN_LSN_WAIT_SECONDS
from slabdb.testing.cluster import new_catalog, node_cluster
from slabdb.testing.postgres import PostgresServer
from slabdb.testing.s3 import MotoS3Server

pytestmark = [pytest.mark.s3, pytest.mark.slow]

MIN_LSN = "x-slabdb-min-lsn"
REFRESH_C_SECONDS = 0.5
CATCH_UP_SLACK_SECONDS = 1.0
"""A catch-up is a few GETs (ms on moto); the slack covers a loaded two-core machine."""
STALENESS_BOUND_SECONDS = (
    REFRESH_C_SECONDS + DEFAULT_BACKGROUND_INTERVAL_SECONDS + CATCH_UP_SLACK_SECONDS
)


@dataclass(frozen=True)
class Cluster:
    key: str
    a: str
    b: str
    c: str
    """Index URLs of one index on nodes A (writes), B (refresh 30 s) and C (0.5 s)."""

    def call(self, method: str, url: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Api-Key": self.key, **kw.pop("headers", {})}
        return httpx.request(method, url + path, headers=headers, timeout=30, **kw)

    def upsert(self, rid: str, ns: str, values: list[float]) -> int:
        body = {"vectors": [{"id": rid, "values": values}], "namespace": ns}
        r = self.call("POST", self.a, "/vectors/upsert", json=body)
        r.raise_for_status()
        return int(r.headers["x-pinecone-request-lsn"])

    def fetch(self, url: str, rid: str, ns: str, min_lsn: str | None = None) -> httpx.Response:
        headers = {} if min_lsn is None else {MIN_LSN: min_lsn}
        return self.call("GET", url, "/vectors/fetch", params={"ids": rid, "namespace": ns},
                         headers=headers)  # fmt: skip

    def has(self, url: str, rid: str, ns: str, min_lsn: int | None = None) -> bool:
        r = self.fetch(url, rid, ns, None if min_lsn is None else str(min_lsn))
        r.raise_for_status()
        return rid in r.json()["vectors"]


@pytest.fixture(scope="module")
def cluster(pg_server: PostgresServer, s3_server: MotoS3Server) -> Iterator[Cluster]:
    catalog = new_catalog(pg_server, f"read_your_writes_{os.getpid()}")
    settings = [{}, {"refresh_interval_seconds": "30"}, {"refresh_interval_seconds": "0.5"}]
    data = s3_server.unique_url("read-your-writes")
    with node_cluster(data, catalog, s3_server.env, settings) as (key, nodes):
        spec = {"serverless": {"cloud": "aws", "region": "us-east-1"}}
        created = httpx.post(
            nodes[0].url + "/indexes",
            headers={"Api-Key": key},
            json={"name": "ryw", "dimension": 2, "metric": "cosine", "spec": spec},
            timeout=30,
        )
        created.raise_for_status()
        slot = int(created.json()["host"].rsplit(":", 1)[1]) - nodes[0].port
        yield Cluster(key, *(n.wait_index(slot, key) for n in nodes))


def _opened_on(cluster: Cluster, url: str, ns: str) -> None:
    """Write a first record and read it through ``url``: that node has the namespace
    open from now on, so later writes reach it only by refresh or by catch-up."""
    lsn = cluster.upsert("seed", ns, [1.0, 0.0])
    assert cluster.has(url, "seed", ns, lsn)


def test_rest_read_with_the_write_lsn_sees_it_at_once_through_another_node(
    cluster: Cluster,
) -> None:
    _opened_on(cluster, cluster.b, "rest")
    lsn = cluster.upsert("new", "rest", [0.0, 1.0])
    assert not cluster.has(cluster.b, "new", "rest")  # B is stale without the LSN
    assert cluster.has(cluster.b, "new", "rest", lsn)
    body = {"vector": [0.0, 1.0], "topK": 1, "namespace": "rest"}
    r = cluster.call("POST", cluster.b, "/query", json=body, headers={MIN_LSN: str(lsn)})
    assert r.status_code == 200, r.text
    assert r.json()["matches"][0]["id"] == "new"
    assert int(r.headers["x-pinecone-max-indexed-lsn"]) >= lsn


def test_sdk_sends_the_header_as_an_additional_header(cluster: Cluster) -> None:
    _opened_on(cluster, cluster.b, "sdk")
    lsn = cluster.upsert("new", "sdk", [0.0, 1.0])
    assert not cluster.has(cluster.b, "new", "sdk")
    with Pinecone(api_key=cluster.key, additional_headers={MIN_LSN: str(lsn)}) as pc:
        index = pc.Index(host=cluster.b)
        assert "new" in index.fetch(ids=["new"], namespace="sdk").vectors


def test_grpc_read_with_the_write_lsn_in_metadata_sees_it_at_once(cluster: Cluster) -> None:
    _opened_on(cluster, cluster.b, "grpc")
    lsn = cluster.upsert("new", "grpc", [0.0, 1.0])
    with grpc.insecure_channel(cluster.b.removeprefix("http://")) as channel:
        stub = pb_grpc.VectorServiceStub(channel)
        fetch = pb.FetchRequest(ids=["new"], namespace="grpc")
        stale = stub.Fetch(fetch, metadata=(("api-key", cluster.key),), timeout=30)
        assert "new" not in stale.vectors
        md = (("api-key", cluster.key), (MIN_LSN, str(lsn)))
        assert "new" in stub.Fetch(fetch, metadata=md, timeout=30).vectors
        query = pb.QueryRequest(vector=[0.0, 1.0], top_k=1, namespace="grpc")
        res, call = stub.Query.with_call(query, metadata=md, timeout=30)
    assert res.matches[0].id == "new"
    assert int(dict(call.initial_metadata())["x-pinecone-max-indexed-lsn"]) >= lsn


def test_plain_reads_see_a_write_within_the_staleness_bound(cluster: Cluster) -> None:
    _opened_on(cluster, cluster.c, "plain")
    seen_after = []
    for i in range(5):
        rid = f"r{i}"
        cluster.upsert(rid, "plain", [1.0, float(i)])
        written = time.monotonic()
        deadline = written + 10 * STALENESS_BOUND_SECONDS
        while not cluster.has(cluster.c, rid, "plain"):
            assert time.monotonic() < deadline, f"{rid} never became visible through node C"
            time.sleep(0.02)
        seen_after.append(time.monotonic() - written)
    assert max(seen_after) <= STALENESS_BOUND_SECONDS, seen_after


def test_an_lsn_the_log_never_reaches_is_a_retryable_503(cluster: Cluster) -> None:
    lsn = cluster.upsert("only", "never", [1.0, 0.0])
    started = time.monotonic()
    r = cluster.fetch(cluster.b, "only", "never", str(lsn + 1000))
    assert time.monotonic() - started >= DEFAULT_MIN_LSN_WAIT_SECONDS
    assert r.status_code == 503, r.text
    assert r.json()["code"] == grpc.StatusCode.UNAVAILABLE.value[0]  # Pinecone's data plane
    assert f"minimum LSN {lsn + 1000}" in r.json()["message"]


def test_a_malformed_min_lsn_is_a_400(cluster: Cluster) -> None:
    r = cluster.fetch(cluster.b, "seed", "rest", "soon")
    assert r.status_code == 400, r.text
    assert MIN_LSN in r.json()["message"]
