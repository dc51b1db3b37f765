"""Inputs that used to be accepted and then break the server, over REST and gRPC alike.

Each test sends what issue 8 found to one in-process index on both transports
(:mod:`api_wires`) and checks the answer: a clear 400 / INVALID_ARGUMENT naming the
limit, never a 5xx, and what was accepted can be read back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_wires import Answer, GrpcWire, RestWire, Wire, served_index
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.core import limits
from slabdb.filters.parse import MAX_FILTER_DEPTH

FAILED = {"rest": "400", "grpc": "INVALID_ARGUMENT"}
DEPTH_TEXT = f"nest deeper than the limit of {MAX_FILTER_DEPTH} levels"


@pytest.fixture
def wires(tmp_path: Path) -> Iterator[dict[str, Wire]]:
    with served_index(tmp_path, dimension=4, metric="dotproduct") as served:
        yield served


def _rest(wires: dict[str, Wire]) -> RestWire:
    wire = wires["rest"]
    assert isinstance(wire, RestWire)
    return wire


def _grpc(wires: dict[str, Wire]) -> GrpcWire:
    wire = wires["grpc"]
    assert isinstance(wire, GrpcWire)
    return wire


def _nested(depth: int) -> dict[str, Any]:
    """A filter with ``depth`` levels of $and around one condition."""
    f: dict[str, Any] = {"g": {"$eq": "a"}}
    for _ in range(depth):
        f = {"$and": [f]}
    return f


def _struct(value: dict[str, Any]) -> Struct:
    """A Struct built field by field (``Struct.update`` recurses, too deep for 1000)."""
    out = Struct()
    for key, item in value.items():
        out[key] = item
    return out


def _deep_struct(depth: int) -> Struct:
    inner = _struct({"g": {"$eq": "a"}})
    for _ in range(depth):
        outer = Struct()
        outer.get_or_create_list("$and").add_struct().CopyFrom(inner)
        inner = outer
    return inner


def _nested_json(depth: int) -> str:
    """:func:`_nested` as JSON text (too deep for ``json.dumps`` at 1000)."""
    return '{"$and":[' * depth + '{"g":{"$eq":"a"}}' + "]}" * depth


def _query(
    wire: Wire, filter: dict[str, Any] | Struct | str | None = None, **fields: Any
) -> Answer:
    """A query with ``filter`` (REST may take it as JSON text)."""
    if isinstance(wire, RestWire):
        body = json.dumps({"vector": [1.0, 0.0, 0.0, 0.0], "topK": 3, **fields})
        text = filter if isinstance(filter, str) else json.dumps(filter)
        return wire.send(
            "POST",
            "/query",
            content=body[:-1] + f', "filter": {text}}}',
            headers={"content-type": "application/json"},
        )
    assert isinstance(wire, GrpcWire)
    request = pb.QueryRequest(vector=[1.0, 0.0, 0.0, 0.0], top_k=3, **fields)
    if filter is not None:
        request.filter.CopyFrom(filter if isinstance(filter, Struct) else _struct(filter))
    return wire.send("Query", request)


# --- numbers ----------------------------------------------------------------------------------
def test_integer_metadata_over_64_bits_is_refused_and_nothing_is_poisoned(
    wires: dict[str, Wire],
) -> None:
    rest = _rest(wires)
    huge = rest.send(
        "POST",
        "/vectors/upsert",
        content=b'{"vectors":[{"id":"p","values":[1,0,0,0],"metadata":{"a":1180591620717411303424}}]}',
        headers={"content-type": "application/json"},
    )
    assert huge.status == "400" and "integers must fit in 64 bits" in huge.message
    assert rest.fetch(["p"]).body["vectors"] == {}
    # gRPC's Struct has only doubles: 2^70 arrives as a finite float, stored and served
    md = _struct({"a": float(2**70)})
    grpc_wire = _grpc(wires)
    ok = grpc_wire.send(
        "Upsert", pb.UpsertRequest(vectors=[pb.Vector(id="g", values=[1, 0, 0, 0], metadata=md)])
    )
    assert ok.status == "OK", ok
    for wire in wires.values():
        assert wire.fetch(["g"]).status == "OK"
        assert _query(wire, include_metadata=True).status == "OK"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_grpc_nan_in_metadata_or_filter_is_invalid_argument(
    wires: dict[str, Wire], bad: float
) -> None:
    grpc_wire = _grpc(wires)
    vector = pb.Vector(id="n", values=[1, 0, 0, 0], metadata=_struct({"a": bad}))
    upsert = grpc_wire.send("Upsert", pb.UpsertRequest(vectors=[vector]))
    assert upsert.status == "INVALID_ARGUMENT" and "finite" in upsert.message, upsert
    update = grpc_wire.send("Update", pb.UpdateRequest(id="n", set_metadata=_struct({"a": bad})))
    assert update.status == "INVALID_ARGUMENT", update
    query = _query(grpc_wire, _struct({"a": {"$gt": bad}}))
    assert query.status == "INVALID_ARGUMENT" and "finite" in query.message, query
    literal = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[str(bad)]
    rest_query = _rest(wires).send(
        "POST",
        "/query",
        content=f'{{"vector":[1,0,0,0],"topK":3,"filter":{{"a":{{"$gt":{literal}}}}}}}',
        headers={"content-type": "application/json"},
    )
    assert rest_query.status == "400" and "finite" in rest_query.message, rest_query


def test_scores_are_always_finite(wires: dict[str, Wire]) -> None:
    for name, wire in wires.items():
        answer = wire.upsert([{"id": f"{name}-big", "values": [3e38] * 4}])
        assert answer.status == FAILED[name], answer
        assert "norm" in answer.message and "2^62" in answer.message
        near = 2.0**61  # the largest vectors allowed still score finitely against each other
        assert wire.upsert([{"id": f"{name}-ok", "values": [near, near, near, 0.0]}]).status == "OK"
    for wire in wires.values():
        res = wire.query([2.0**61, 2.0**61, 2.0**61, 0.0], top_k=5)
        scores = [m["score"] for m in res.body["matches"]]
        assert scores and all(isinstance(s, float) and abs(s) < 3.4e38 for s in scores), scores


def test_out_of_range_sparse_index_and_non_number_values_are_400(wires: dict[str, Wire]) -> None:
    rest = _rest(wires)
    bodies = [
        {"id": "s", "values": [1, 0, 0, 0], "sparseValues": {"indices": [2**70], "values": [1.0]}},
        {"id": "s", "values": [1, 0, 0, 0], "sparseValues": {"indices": [2**32], "values": [1.0]}},
        {"id": "s", "values": ["1", 0, 0, 0]},
        {"id": "s", "values": [True, 0, 0, 0]},
        {"id": "s", "values": [1, 0, 0, 0], "sparseValues": {"indices": [1], "values": ["1"]}},
    ]
    for body in bodies:
        answer = rest.send("POST", "/vectors/upsert", json={"vectors": [body]})
        assert answer.status == "400", (body, answer)
    query = rest.send(
        "POST", "/query", json={"topK": 1, "sparseVector": {"indices": [2**70], "values": [1.0]},
                                "vector": [1, 0, 0, 0]},
    )  # fmt: skip
    assert query.status == "400" and "2^32-1" in query.message, query
    assert rest.fetch(["s"]).body["vectors"] == {}


# --- filters ----------------------------------------------------------------------------------
def test_filter_depth_limit_is_the_same_on_both_transports(wires: dict[str, Wire]) -> None:
    wires["rest"].upsert([{"id": "a", "values": [1, 0, 0, 0], "metadata": {"g": "a"}}])
    for name, wire in wires.items():
        ok = _query(wire, _nested(MAX_FILTER_DEPTH))
        assert ok.status == "OK" and [m["id"] for m in ok.body["matches"]] == ["a"], (name, ok)
        for depth in (MAX_FILTER_DEPTH + 1, 1000):
            deep = _deep_struct(depth) if name == "grpc" else _nested_json(depth)
            answer = _query(wire, deep)
            assert answer.status == FAILED[name], (name, depth, answer)
            assert DEPTH_TEXT in answer.message, (name, depth, answer.message)


def test_grpc_upsert_over_the_size_limit_is_invalid_argument_with_the_limit(
    wires: dict[str, Wire],
) -> None:
    vectors = [pb.Vector(id=f"v{i}", values=[1.0, 0, 0, 0]) for i in range(80_000)]
    request = pb.UpsertRequest(vectors=vectors)
    assert request.ByteSize() > limits.MAX_REQUEST_BYTES
    answer = _grpc(wires).send("Upsert", request)
    assert answer.status == "INVALID_ARGUMENT", answer
    assert str(limits.MAX_REQUEST_BYTES) in answer.message


# --- pagination and names ---------------------------------------------------------------------
def test_garbage_pagination_tokens_are_refused(wires: dict[str, Wire]) -> None:
    for i in range(3):
        wires["rest"].upsert([{"id": f"r{i}", "values": [1, 0, 0, 0]}], namespace=f"n{i}")
    rest, grpc_wire = _rest(wires), _grpc(wires)
    for token in ("garbage", "r0", "eyJrIjoibGlzdCIsImEiOjF9"):
        answers = [
            rest.send("GET", "/vectors/list", params={"paginationToken": token, "namespace": "n0"}),
            rest.send("GET", "/namespaces", params={"paginationToken": token}),
            rest.send(
                "POST", "/vectors/fetch_by_metadata", json={"paginationToken": token, "filter": {}}
            ),
            grpc_wire.send("List", pb.ListRequest(namespace="n0", pagination_token=token)),
            grpc_wire.send("ListNamespaces", pb.ListNamespacesRequest(pagination_token=token)),
            grpc_wire.send("FetchByMetadata", pb.FetchByMetadataRequest(pagination_token=token)),
        ]
        for answer in answers:
            assert answer.status in ("400", "INVALID_ARGUMENT"), (token, answer)
            assert "invalid pagination token" in answer.message
    first = rest.send("GET", "/namespaces", params={"limit": 1}).body
    second = rest.send(
        "GET", "/namespaces", params={"limit": 1, "paginationToken": first["pagination"]["next"]}
    )
    assert [n["name"] for n in second.body["namespaces"]] == ["n1"]


@pytest.mark.parametrize("name", ["a" * 200, "é" * 130, "x/y" * 170, "ns/with/slashes"])
def test_every_accepted_namespace_name_is_stored_listed_and_removable(
    wires: dict[str, Wire], name: str, tmp_path: Path
) -> None:
    rest = _rest(wires)
    assert rest.upsert([{"id": "a", "values": [1, 0, 0, 0]}], namespace=name).status == "OK"
    assert set(rest.fetch(["a"], namespace=name).body["vectors"]) == {"a"}
    listed = [n["name"] for n in rest.list_namespaces().body["namespaces"]]
    assert listed == [name]
    stats = rest.describe_index_stats().body["namespaces"]
    assert stats == {name: {"vectorCount": 1}}
    for wire in wires.values():
        described = wire.describe_namespace(name)
        assert described.status == "OK" and described.body["name"] == name, described
    assert rest.send("DELETE", f"/namespaces/{name}").status == "OK"
    assert rest.list_namespaces().body["namespaces"] == []


def test_errors_never_show_the_server_path(wires: dict[str, Wire], tmp_path: Path) -> None:
    rest = _rest(wires)
    answers = [
        rest.upsert([{"id": "a", "values": [1, 0, 0, 0]}], namespace="x" * 513),
        rest.send("GET", "/namespaces/" + "é" * 300),
        rest.send("DELETE", "/namespaces/nope"),
    ]
    for answer in answers:
        assert str(tmp_path) not in json.dumps(answer.body), answer


# --- Pinecone's own checks --------------------------------------------------------------------
def test_namespace_creation_follows_pinecone(wires: dict[str, Wire]) -> None:
    rest, grpc_wire = _rest(wires), _grpc(wires)
    assert rest.send("POST", "/namespaces", json={"name": "n"}).status == "OK"
    again = [
        rest.send("POST", "/namespaces", json={"name": "n"}),
        grpc_wire.send("CreateNamespace", pb.CreateNamespaceRequest(name="n")),
        rest.send("POST", "/namespaces", json={"name": "__default__"}),
    ]
    assert [a.status for a in again] == ["409", "ALREADY_EXISTS", "409"], again
    for bad in ("", "   ", "a\x00b"):
        answers = [
            rest.send("POST", "/namespaces", json={"name": bad}),
            grpc_wire.send("CreateNamespace", pb.CreateNamespaceRequest(name=bad)),
        ]
        assert [a.status for a in answers] == ["400", "INVALID_ARGUMENT"], (bad, answers)
    assert [n["name"] for n in rest.list_namespaces().body["namespaces"]] == ["n"]


@pytest.mark.parametrize(
    ("version", "filtered_ok", "default_key"),
    [("2025-04", True, ""), ("2025-10", False, "__default__"), ("2026-07", False, "__default__")],
)
def test_stats_follow_the_api_version(
    wires: dict[str, Wire], version: str, filtered_ok: bool, default_key: str
) -> None:
    wires["rest"].upsert([{"id": "a", "values": [1, 0, 0, 0], "metadata": {"g": "a"}}])
    rest, grpc_wire = _rest(wires), _grpc(wires)
    header = {"X-Pinecone-Api-Version": version}
    plain = [
        rest.send("POST", "/describe_index_stats", json={}, headers=header),
        grpc_wire.send(
            "DescribeIndexStats",
            pb.DescribeIndexStatsRequest(),
            {"x-pinecone-api-version": version},
        ),
    ]
    for answer in plain:
        assert list(answer.body["namespaces"]) == [default_key], (version, answer)
    filtered = [
        rest.send("POST", "/describe_index_stats", json={"filter": {"g": "a"}}, headers=header),
        grpc_wire.send(
            "DescribeIndexStats",
            pb.DescribeIndexStatsRequest(filter=_struct({"g": "a"})),
            {"x-pinecone-api-version": version},
        ),
    ]
    for answer in filtered:
        if filtered_ok:
            assert answer.status == "OK", answer
            assert answer.body["namespaces"][default_key] in (
                {"vectorCount": 1}, {"vector_count": 1},
            )  # fmt: skip
        else:
            assert answer.status in ("400", "INVALID_ARGUMENT"), answer
            assert "do not support describe_index_stats with a metadata filter" in answer.message
    empty = rest.send("POST", "/describe_index_stats", json={"filter": {}}, headers=header)
    assert empty.status == "OK"  # an empty filter is no filter


def test_data_plane_requests_pinecone_refuses(wires: dict[str, Wire]) -> None:
    rest, grpc_wire = _rest(wires), _grpc(wires)
    for name, wire in wires.items():
        assert wire.upsert([]).status == FAILED[name]  # an empty upsert
        nul = wire.upsert([{"id": "a\x00b", "values": [1, 0, 0, 0]}])
        assert nul.status == FAILED[name] and "NUL" in nul.message
    by_id = [
        rest.send("POST", "/query", json={"topK": 1, "id": "a",
                                          "sparseVector": {"indices": [1], "values": [1.0]}}),
        grpc_wire.send("Query", pb.QueryRequest(top_k=1, id="a", sparse_vector=pb.SparseValues(
            indices=[1], values=[1.0]))),
    ]  # fmt: skip
    assert [a.status for a in by_id] == ["400", "INVALID_ARGUMENT"], by_id
    for count in (limits.MAX_FETCH_IDS + 1, 2 * limits.MAX_FETCH_IDS + 1):
        ids = [f"i{i}" for i in range(count)]
        for name, wire in wires.items():
            fetched = wire.fetch(ids)
            assert fetched.status == FAILED[name]
            assert f"at most {limits.MAX_FETCH_IDS} ids" in fetched.message, fetched


def test_fetch_by_metadata_limit_is_pinecones(wires: dict[str, Wire]) -> None:
    rest = _rest(wires)
    top = limits.MAX_FETCH_BY_METADATA_LIMIT
    ok = rest.send("POST", "/vectors/fetch_by_metadata", json={"filter": {}, "limit": top})
    assert ok.status == "OK", ok
    over = rest.send("POST", "/vectors/fetch_by_metadata", json={"filter": {}, "limit": top + 1})
    assert over.status == "400" and str(top) in over.message


def test_sparse_values_on_a_dense_cosine_index_are_accepted(tmp_path: Path) -> None:
    with served_index(tmp_path, dimension=2, metric="cosine") as wires:
        for name, wire in wires.items():
            record = {"id": name, "values": [1.0, 0.0],
                      "sparse_values": {"indices": [3], "values": [0.5]}}  # fmt: skip
            assert wire.upsert([record]).status == "OK", name
        fetched = wires["rest"].fetch(["rest", "grpc"]).body["vectors"]
        assert fetched["grpc"]["sparseValues"] == {"indices": [3], "values": [0.5]}


@pytest.mark.parametrize(
    ("version", "status", "message"),
    [("2025-04", "403", "Wrong API key"), ("2025-10", "403", "Wrong API key"),
     ("2026-07", "401", "Unauthorized")],
)  # fmt: skip
def test_wrong_api_key_on_the_data_plane_answers_as_pinecone(
    tmp_path: Path, version: str, status: str, message: str
) -> None:
    grpc_codes = {"403": "PERMISSION_DENIED", "401": "UNAUTHENTICATED"}
    with served_index(tmp_path, insecure_dev=False) as wires:
        rest, grpc_wire = _rest(wires), _grpc(wires)
        assert rest.describe_index_stats().status == "OK"  # the right key works
        bad = {"Api-Key": "sdb-00000000-wrong", "X-Pinecone-Api-Version": version}
        answer = rest.send("POST", "/describe_index_stats", json={}, headers=bad)
        assert (answer.status, answer.message) == (status, message)
        grpc_answer = grpc_wire.send(
            "DescribeIndexStats",
            pb.DescribeIndexStatsRequest(),
            {"api-key": "sdb-00000000-wrong", "x-pinecone-api-version": version},
        )
        assert (grpc_answer.status, grpc_answer.message) == (grpc_codes[status], message)
        missing = rest.client.post("/describe_index_stats", json={})
        assert missing.status_code == 401  # no key at all: 401 at every version
        control = rest.client.get("/indexes", headers=bad)  # the control plane: 401
        assert control.status_code == 401


def test_parse_keeps_grpc_struct_values() -> None:
    from slabdb.api.grpc.parse import struct_to_dict

    raw = {"s": "x", "n": 1.5, "b": True, "l": ["a"], "o": {"k": None}}
    assert struct_to_dict(json_format.ParseDict(raw, Struct())) == raw


@pytest.mark.parametrize("version", ["2025-04", "2026-07"])
def test_index_descriptions_leave_out_empty_tags(wires: dict[str, Wire], version: str) -> None:
    client = _rest(wires).client
    headers = {"Api-Key": _rest(wires).api_key, "X-Pinecone-Api-Version": version}
    assert "tags" not in client.get("/indexes/t", headers=headers).json()
    tagged = client.patch("/indexes/t", json={"tags": {"env": "dev"}}, headers=headers)
    assert tagged.json()["tags"] == {"env": "dev"}
