"""Fuzz the server's own OpenAPI document, then the data plane with the inputs issue 8
found (huge integers, extreme floats, long unicode names, deep filters): no generated
input may produce a 5xx. (The same cases over gRPC: ``test_hardening.py``.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pinecone import Pinecone, ServerlessSpec
from slabdb_server_process import ServerProcess

MAX_EXAMPLES = 12
HOSTILE_EXAMPLES = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that serves its OpenAPI document (``--docs``)."""
    data = Path(tmp_path_factory.mktemp("slabdb-fuzz"))
    with ServerProcess(data=data, extra_args=("--docs",)) as srv:
        yield srv


def test_no_5xx_on_generated_input(server: ServerProcess) -> None:
    pc = Pinecone(api_key=server.api_key, host=server.url)
    pc.create_index(
        name="fuzz",
        dimension=3,
        metric="cosine",
        spec=ServerlessSpec(cloud="aws", region="us-east-1"),
    )
    pc.create_index(
        name="keep",
        dimension=3,
        metric="cosine",
        spec=ServerlessSpec(cloud="aws", region="us-east-1"),
    )
    pc.Index("keep").upsert(vectors=[("keep", [1.0, 2.0, 3.0])])
    host = pc.describe_index("fuzz").host
    doc = httpx.get(server.url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    for base in (server.url, host):  # control plane, then the index's data plane
        for op_result in schema.get_all_operations():
            fuzz_operation(op_result.ok(), base, server.api_key, failures)
    assert not failures, "\n".join(failures[:10])
    assert "keep" in pc.Index("keep").fetch(ids=["keep"]).vectors  # other data undisturbed
    assert pc.Index("fuzz").describe_index_stats().dimension == 3  # the fuzzed index still works


def fuzz_operation(op: Any, base: str, api_key: str, failures: list[str]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=op.as_strategy())
    def run(case: schemathesis.Case) -> None:
        case.headers = {**(case.headers or {}), "Api-Key": api_key}
        if case.method == "DELETE" and "index_name" in (case.path_parameters or {}):
            # never let the fuzzer delete the index the test checks afterwards
            case.path_parameters["index_name"] = "x" + str(case.path_parameters["index_name"])[:20]
        response = case.call(base_url=base)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.path} -> {response.status_code}: {response.text[:200]}"
            )

    run()


# --- hostile inputs, generated ------------------------------------------------------------------
huge_ints = st.integers(min_value=2**63 - 2, max_value=2**80) | st.integers(
    min_value=-(2**80), max_value=-(2**63) + 2
)
extreme_floats = st.sampled_from(
    [1e308, -1e308, 3.4e38, 3e38, 1e39, 5e-324, 1e-45, 2.0**62, 2.0**61, 0.0, -0.0]
)
numbers = huge_ints | extreme_floats | st.floats(allow_nan=False, allow_infinity=False)
names = st.text(min_size=1, max_size=600) | st.text(
    st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF, exclude_categories=["Cs"]),
    min_size=100, max_size=520,
)  # fmt: skip
small = st.floats(min_value=-1, max_value=1, allow_nan=False).filter(lambda x: x != 0)
values = (
    st.lists(small, min_size=3, max_size=3)
    | st.lists(numbers, min_size=3, max_size=3)
    | st.sampled_from([[3e38] * 3, [2.0**62] * 3, [1e19, -1e19, 1e19]])  # scores past float32
)
known_names = st.sampled_from(["", "n1", "é" * 130, "a" * 200, "x/y"])
scalars = numbers | st.booleans() | st.text(max_size=20)


def _deep(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    for _ in range(depth):
        leaf = {"$and": [leaf]}
    return leaf


filters = st.builds(
    _deep, st.integers(min_value=0, max_value=60), st.builds(lambda v: {"m": {"$gte": v}}, numbers)
)
metadata = st.dictionaries(st.text(min_size=1, max_size=30), scalars, max_size=2)
sparse = st.fixed_dictionaries(
    {"indices": st.lists(st.integers(min_value=-1, max_value=2**70), min_size=1, max_size=3,
                         unique=True),
     "values": st.lists(numbers, min_size=1, max_size=1)}
)  # fmt: skip


KNOWN_HOSTILE: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/vectors/upsert", {"vectors": [{"id": "big", "values": [3e38] * 3}]}),
    ("POST", "/vectors/upsert", {"vectors": [{"id": "huge", "values": [1.0, 0.0, 0.0],
                                              "metadata": {"a": 2**70}}]}),
    ("POST", "/vectors/upsert", {"vectors": [{"id": "sp", "values": [1.0, 0.0, 0.0],
                                              "sparseValues": {"indices": [2**70],
                                                               "values": [1.0]}}]}),
    ("POST", "/vectors/upsert", {"vectors": [{"id": "u", "values": [1.0, 0.0, 0.0]}],
                                 "namespace": "é" * 130}),
    ("POST", "/query", {"vector": [1.0, 0.0, 0.0], "topK": 1, "filter": _deep(100, {"a": 1})}),
    ("POST", "/describe_index_stats", {"filter": _deep(25, {"a": 1})}),
    ("GET", "/vectors/list", {}),
]  # fmt: skip


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """(method, path, JSON body or query params) of one data-plane request."""
    kind = draw(st.sampled_from(["upsert", "upsert", "query", "stats", "namespace", "list", "fbm"]))
    ns = draw(known_names | names)
    if kind == "upsert":
        rid = draw(st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True))
        record = {"id": rid, "values": draw(values), "metadata": draw(metadata)}
        if draw(st.integers(0, 3)) == 0:
            record["sparseValues"] = draw(sparse)
        return "POST", "/vectors/upsert", {"vectors": [record], "namespace": ns}
    if kind == "query":
        body = {"vector": draw(values), "topK": 3, "filter": draw(filters), "namespace": ns,
                "includeMetadata": True}  # fmt: skip
        return "POST", "/query", body
    if kind == "stats":
        return "POST", "/describe_index_stats", {"filter": draw(filters)}
    if kind == "namespace":
        return "POST", "/namespaces", {"name": ns}
    if kind == "list":
        return "GET", "/vectors/list", {"namespace": ns, "paginationToken": draw(names)}
    return "POST", "/vectors/fetch_by_metadata", {"filter": draw(filters), "namespace": ns}


def test_no_5xx_on_hostile_data_plane_input(server: ServerProcess) -> None:
    pc = Pinecone(api_key=server.api_key, host=server.url)
    host = pc.create_index(name="hostile", dimension=3, metric="dotproduct",
                           spec=ServerlessSpec(cloud="aws", region="us-east-1")).host  # fmt: skip
    failures: list[str] = []
    headers = {"Api-Key": server.api_key, "Content-Type": "application/json"}

    @settings(max_examples=HOSTILE_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(request=hostile_requests())
    def run(request: tuple[str, str, dict[str, Any]]) -> None:
        method, path, payload = request
        if method == "GET":
            res = httpx.get(host + path, params=payload, headers=headers)
        else:
            body = json.dumps(payload, allow_nan=False)  # huge ints as JSON integers
            res = httpx.request(method, host + path, content=body, headers=headers)
        if res.status_code >= 500:
            failures.append(f"{method} {path} {body if method != 'GET' else payload!r:.300} "
                            f"-> {res.status_code}: {res.text[:200]}")  # fmt: skip

    deep = '{"vector":[1,0,0],"topK":1,"filter":' + '{"$and":[' * 1000 + '{"a":1}' + "]}" * 1000
    known = [(m, p, json.dumps(b)) for m, p, b in KNOWN_HOSTILE] + [("POST", "/query", deep + "}")]
    for method, path, text in known:  # each generator's worst case, surely
        res = httpx.request(method, host + path, content=text, headers=headers)
        if res.status_code >= 500:
            failures.append(f"{method} {path} -> {res.status_code}: {res.text[:200]}")
    run()
    assert not failures, "\n".join(failures[:10])
    _serves_back_everything(host, headers)


def _serves_back_everything(host: str, headers: dict[str, str]) -> None:
    """Every namespace lists, fetches and queries (with values and metadata) without a
    5xx, and every score is a number (NaN or infinity would be JSON null)."""
    stats = httpx.post(host + "/describe_index_stats", json={}, headers=headers)
    assert stats.status_code == 200, stats.text
    for name in stats.json()["namespaces"]:
        listed = httpx.get(host + "/vectors/list", params={"namespace": name}, headers=headers)
        assert listed.status_code == 200, listed.text
        ids = [v["id"] for v in listed.json()["vectors"]]
        if ids:
            fetched = httpx.get(
                host + "/vectors/fetch", params={"ids": ids, "namespace": name}, headers=headers
            )
            assert fetched.status_code == 200, fetched.text
        body = {"vector": [1.0, 0.5, 0.25], "topK": 10, "namespace": name,
                "includeMetadata": True, "includeValues": True}  # fmt: skip
        res = httpx.post(host + "/query", json=body, headers=headers)
        assert res.status_code == 200, res.text
        assert all(isinstance(m["score"], int | float) for m in res.json()["matches"]), res.text
