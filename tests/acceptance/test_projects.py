"""Two projects: neither key can read, write or list the other's indexes."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import NotFoundError, PineconeError
from slabdb_server_process import ServerProcess

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def test_projects_are_isolated(server: ServerProcess) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "slabdb.cli",
            "keys",
            "create",
            "--project",
            "team-b",
            "--data",
            str(server.data),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key_b = out.strip().splitlines()[-1]
    assert key_b.startswith("sdb-")
    a = Pinecone(api_key=server.api_key, host=server.url, grpc_scheme="http")
    b = Pinecone(api_key=key_b, host=server.url, grpc_scheme="http")
    a.create_index(name="only-a", dimension=2, metric="cosine", spec=SPEC)
    b.create_index(name="only-b", dimension=2, metric="cosine", spec=SPEC)
    a.Index("only-a").upsert(vectors=[("x", [1.0, 0.0])])
    assert "only-a" not in b.list_indexes().names()
    assert "only-b" not in a.list_indexes().names()
    with pytest.raises(NotFoundError):
        b.describe_index("only-a")
    with pytest.raises(NotFoundError):
        b.delete_index("only-a")
    host_a = a.describe_index("only-a").host
    for method, path, body in (
        ("POST", "/query", {"topK": 1, "vector": [1.0, 0.0]}),
        ("POST", "/vectors/upsert", {"vectors": [{"id": "evil", "values": [1.0, 0.0]}]}),
        ("GET", "/vectors/fetch?ids=x", None),
        ("POST", "/describe_index_stats", {}),
    ):
        r = httpx.request(method, host_a + path, json=body, headers={"Api-Key": key_b})
        assert r.status_code == 404, (path, r.text)
    with pytest.raises(PineconeError):
        b.index(host=host_a, grpc=True).fetch(ids=["x"])
    # the same name may exist in both projects, with different data
    b.create_index(name="only-a", dimension=2, metric="cosine", spec=SPEC)
    assert b.Index("only-a").describe_index_stats().total_vector_count == 0
    assert a.Index("only-a").describe_index_stats().total_vector_count == 1
    r = httpx.get(server.url + "/indexes", headers={"Api-Key": key_b + "x"})
    assert r.status_code == 401
