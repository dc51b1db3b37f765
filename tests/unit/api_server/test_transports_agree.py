"""REST and gRPC answer alike: both go through :mod:`slabdb.api.service`.

Each test asks the same question of one in-process index over both transports and
compares the answers: listing limits, LSN reporting, default-namespace naming and the
query options SlabDB refuses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_wires import Wire, served_index

from slabdb.api.service import MAX_INDEXED_LSN, REQUEST_LSN
from slabdb.core import limits

FAILED = {"rest": "400", "grpc": "INVALID_ARGUMENT"}
"""How each transport reports an InvalidArgumentError."""


@pytest.fixture
def wires(tmp_path: Path) -> Iterator[dict[str, Wire]]:
    with served_index(tmp_path) as served:
        yield served


@pytest.mark.parametrize("limit", [0, limits.MAX_LIST_LIMIT + 1])
def test_namespace_listing_limit_is_refused_alike(wires: dict[str, Wire], limit: int) -> None:
    answers = {name: wire.list_namespaces(limit=limit) for name, wire in wires.items()}
    for name, answer in answers.items():
        assert answer.status == FAILED[name], (name, answer)
        assert answer.message == f"limit must be between 1 and {limits.MAX_LIST_LIMIT}"
    assert all(
        w.list_namespaces(limit=limits.MAX_LIST_LIMIT).status == "OK" for w in wires.values()
    )


def test_writes_report_their_lsn_and_queries_what_they_saw_on_both(
    wires: dict[str, Wire],
) -> None:
    seen: list[int] = []
    for name, wire in wires.items():
        writes = [
            wire.upsert([{"id": f"{name}-a", "values": [1.0, 0.0]}], namespace="n"),
            wire.update(f"{name}-a", {"by": name}, namespace="n"),
            wire.delete([f"{name}-a"], namespace="n"),
        ]
        for answer in writes:
            assert answer.status == "OK", (name, answer)
            assert set(answer.lsn_headers) == {REQUEST_LSN}, (name, answer.headers)
            seen.append(int(answer.lsn_headers[REQUEST_LSN]))
        query = wire.query([1.0, 0.0], top_k=1, namespace="n")
        assert set(query.lsn_headers) == {MAX_INDEXED_LSN}, (name, query.headers)
        assert int(query.lsn_headers[MAX_INDEXED_LSN]) >= seen[-1]
        assert "x-pinecone-request-id" in query.headers
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # one WAL, strictly rising


def test_reads_other_than_query_report_no_lsn(wires: dict[str, Wire]) -> None:
    wires["rest"].upsert([{"id": "a", "values": [1.0, 0.0]}])
    for name, wire in wires.items():
        for answer in (wire.fetch(["a"]), wire.describe_index_stats(), wire.list_namespaces()):
            assert answer.status == "OK" and answer.lsn_headers == {}, (name, answer)


def test_default_namespace_is_named_alike(wires: dict[str, Wire]) -> None:
    wires["grpc"].upsert([{"id": "g", "values": [1.0, 0.0]}])  # no namespace: the default
    wires["rest"].upsert([{"id": "r", "values": [0.0, 1.0]}], namespace="__default__")
    for name, wire in wires.items():
        listed = wire.list_namespaces().body["namespaces"]
        assert [(n["name"], int(n["record_count"])) for n in listed] == [("__default__", 2)], name
        assert list(wire.describe_index_stats().body["namespaces"]) == ["__default__"], name
        assert wire.describe_namespace("__default__").body["name"] == "__default__", name
        for namespace in (None, "__default__"):
            query = wire.query([1.0, 0.0], top_k=2, namespace=namespace)
            assert query.body["namespace"] == "", (name, namespace)
            assert len(query.body["matches"]) == 2, (name, namespace)
            assert set(wire.fetch(["g", "r"], namespace=namespace).body["vectors"]) == {"g", "r"}


def test_missing_namespace_is_reported_alike(wires: dict[str, Wire]) -> None:
    for name, wire in wires.items():
        for missing, shown in (("nope", "'nope'"), ("__default__", "'__default__'")):
            answer = wire.describe_namespace(missing)
            assert answer.status == {"rest": "404", "grpc": "NOT_FOUND"}[name], (name, answer)
            assert answer.message == f"namespace {shown} not found"


@pytest.mark.parametrize(
    ("option", "wire_name"), [("scan_factor", "scanFactor"), ("max_candidates", "maxCandidates")]
)
def test_drn_only_query_options_are_refused_alike(
    wires: dict[str, Wire], option: str, wire_name: str
) -> None:
    wires["rest"].upsert([{"id": "a", "values": [1.0, 0.0]}])
    value = 2.0 if option == "scan_factor" else 10
    for name, wire in wires.items():
        answer = wire.query([1.0, 0.0], top_k=1, **{option: value})  # type: ignore[arg-type]
        assert answer.status == FAILED[name], (name, answer)
        assert answer.message.startswith(f"{wire_name} is only supported on dedicated read node")
