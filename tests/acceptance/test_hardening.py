"""Issue 8's inputs against a real ``slabdb serve``, through the official SDKs: gRPC
(SDK 10) for what used to answer INTERNAL or RESOURCE_EXHAUSTED, REST for what used to
answer a 5xx, plain text or 404, and SDK 7.3 / 9.0 / 10.2 for the stats keys. No 5xx."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import PineconeError
from slabdb_server_process import ServerProcess
from test_sdk_legacy import sdk_python

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
DEPTH_TEXT = "nest deeper than the limit of 20 levels"


@pytest.fixture(scope="module")
def pc(server: ServerProcess) -> Iterator[Pinecone]:
    with Pinecone(api_key=server.api_key, host=server.url, grpc_scheme="http") as client:
        yield client


@pytest.fixture(scope="module")
def host(pc: Pinecone) -> str:
    return pc.create_index(name="hard", dimension=4, metric="dotproduct", spec=SPEC).host


def _nested(depth: int) -> dict[str, Any]:
    f: dict[str, Any] = {"g": {"$eq": "a"}}
    for _ in range(depth):
        f = {"$and": [f]}
    return f


def test_grpc_refuses_bad_input_with_invalid_argument(pc: Pinecone, host: str) -> None:
    idx = pc.index(host=host, grpc=True)
    idx.upsert(vectors=[("a", [1.0, 0.0, 0.0, 0.0], {"g": "a", "big": float(2**70)})])
    assert idx.fetch(ids=["a"]).vectors["a"].metadata["g"] == "a"  # nothing poisoned
    for bad in (float("nan"), float("inf")):
        with pytest.raises(PineconeError, match="finite"):
            idx.upsert(vectors=[("n", [1.0, 0.0, 0.0, 0.0], {"x": bad})])
        with pytest.raises(PineconeError, match="finite"):
            idx.query(vector=[1.0, 0, 0, 0], top_k=1, filter={"x": {"$gt": bad}})
    hits = idx.query(vector=[1.0, 0, 0, 0], top_k=1, filter=_nested(20)).matches
    assert [m.id for m in hits] == ["a"]
    with pytest.raises(PineconeError, match=DEPTH_TEXT):
        idx.query(vector=[1.0, 0, 0, 0], top_k=1, filter=_nested(21))
    with pytest.raises(PineconeError):
        idx.upsert(vectors=[("big", [3e38] * 4)])  # its scores could not be finite


def test_grpc_oversized_upsert_is_refused_at_once_with_the_limit(pc: Pinecone) -> None:
    model = pc.create_index(name="hard-big", dimension=1000, metric="cosine", spec=SPEC)
    idx = pc.index(host=model.host, grpc=True)
    vectors = [(f"v{i}", [0.5] * 1000) for i in range(600)]  # about 2.4 MB of floats
    started = time.monotonic()
    with pytest.raises(PineconeError, match="2097152"):
        idx.upsert(vectors=vectors)
    assert time.monotonic() - started < 10  # answered, not retried as a "rate limit"
    assert idx.upsert(vectors=vectors[:400]).upserted_count == 400


@pytest.mark.parametrize("grpc", [False, True])
def test_long_unicode_and_slashed_namespaces_round_trip(
    pc: Pinecone, host: str, grpc: bool
) -> None:
    idx = pc.index(host=host, grpc=grpc)
    unicode_name = "é" * 130 + str(int(grpc))  # the SDK describes ASCII names only
    idx.upsert(vectors=[("r", [1.0, 0.0, 0.0, 0.0])], namespace=unicode_name)
    assert set(idx.fetch(ids=["r"], namespace=unicode_name).vectors) == {"r"}
    assert unicode_name in {n.name for page in idx.list_namespaces() for n in page.namespaces}
    for name in ("a" * 200, "team/a/b", "z" * 512):
        name = name[:511] + str(int(grpc))
        idx.upsert(vectors=[("r", [1.0, 0.0, 0.0, 0.0])], namespace=name)
        assert idx.describe_namespace(namespace=name).name == name
        idx.delete_namespace(namespace=name)
        with pytest.raises(PineconeError):
            idx.describe_namespace(namespace=name)


@pytest.mark.parametrize("grpc", [False, True])
def test_garbage_pagination_token_is_refused(pc: Pinecone, host: str, grpc: bool) -> None:
    idx = pc.index(host=host, grpc=grpc)
    with pytest.raises(PineconeError, match="invalid pagination token"):
        idx.list_paginated(pagination_token="not-a-token")
    with pytest.raises(PineconeError, match="invalid pagination token"):
        idx.list_namespaces_paginated(pagination_token="not-a-token")


def test_pinecones_checks_over_rest(pc: Pinecone, host: str) -> None:
    idx = pc.index(host=host)
    idx.create_namespace(name="made")
    with pytest.raises(PineconeError) as info:
        idx.create_namespace(name="made")
    assert "409" in str(info.value) or "already exists" in str(info.value)
    with pytest.raises(PineconeError):
        idx.describe_index_stats(filter={"g": "a"})  # SDK 10 sends 2026-07: refused
    with pytest.raises(PineconeError):
        idx.upsert(vectors=[])


def test_sparse_cosine_index_is_refused(server: ServerProcess) -> None:
    body = {
        "name": "sp-cos",
        "vector_type": "sparse",
        "metric": "cosine",
        "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
    }  # SDK 7's body
    headers = {"Api-Key": server.api_key, "X-Pinecone-Api-Version": "2025-04"}
    res = httpx.post(f"{server.url}/indexes", json=body, headers=headers)
    assert res.status_code == 400 and "dotproduct" in res.text, res.text


def test_malformed_content_length_gets_a_json_400(server: ServerProcess, host: str) -> None:
    port = int(host.rsplit(":", 1)[1])
    for target in (server.port, port):
        with socket.create_connection(("127.0.0.1", target), timeout=5) as conn:
            conn.sendall(b"POST /query HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n{}")
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400")
        assert "could not be parsed" in json.dumps(json.loads(body))


STATS_SCRIPT = """
import sys
from pinecone import Pinecone
pc = Pinecone(api_key=sys.argv[1], host=sys.argv[2])
idx = pc.Index(host=sys.argv[3])
print("KEYS", sorted(idx.describe_index_stats().namespaces))
"""


@pytest.mark.parametrize(("major", "expected"), [("7", ""), ("9", "__default__")])
def test_stats_key_of_the_default_namespace_per_sdk(
    server: ServerProcess, pc: Pinecone, host: str, major: str, expected: str
) -> None:
    pc.index(host=host).upsert(vectors=[("d", [1.0, 0.0, 0.0, 0.0])])  # default namespace
    assert "__default__" in pc.index(host=host).describe_index_stats().namespaces  # SDK 10
    proc = subprocess.run(
        [str(sdk_python(major)), "-c", STATS_SCRIPT, server.api_key, server.url, host],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    keys = json.loads(proc.stdout.split("KEYS", 1)[1].strip().replace("'", '"'))
    assert expected in keys, keys
