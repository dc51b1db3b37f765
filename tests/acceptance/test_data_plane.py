"""One data-plane scenario (:mod:`scenarios.data_plane`), three ways in: the embedded
client, the official SDK 10 over REST, and over gRPC against a real ``slabdb serve``.
(SDK 7/9 run the same scenario from ``sdk_compat_script.py`` in their own venvs.)"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.grpc import PineconeGRPC

import slabdb
from scenarios import data_plane

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
_names = itertools.count()


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("embedded", marks=pytest.mark.embedded),
        pytest.param("rest"),
        pytest.param("grpc"),
    ],
)
def client(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """(kind, a client with ``create_index`` and ``Index``) of each kind."""
    if request.param == "embedded":
        db = slabdb.connect("memory://")
        yield "embedded", db
        db.close()
        return
    server = request.getfixturevalue("server")
    maker = Pinecone if request.param == "rest" else PineconeGRPC
    kw = {} if request.param == "rest" else {"grpc_scheme": "http"}
    with maker(api_key=server.api_key, host=server.url, **kw) as pc:
        yield request.param, pc


@pytest.fixture
def index(client: tuple[str, Any]) -> Any:
    """A fresh index (of the scenario's dimension and metric) of that client."""
    kind, pc = client
    name = f"scenario-{kind}-{next(_names)}"
    if kind == "embedded":
        pc.create_index(name=name, dimension=data_plane.DIMENSION, metric=data_plane.METRIC)
        return pc.Index(name)
    model = pc.create_index(
        name=name, dimension=data_plane.DIMENSION, metric=data_plane.METRIC, spec=SPEC
    )
    return pc.Index(host=model.host)


def _features(index: Any) -> frozenset[str]:
    """SDK 10 sends API 2026-07, under which serverless stats refuse a filter."""
    if isinstance(index, slabdb.Index):
        return data_plane.ALL_FEATURES
    return data_plane.ALL_FEATURES - {data_plane.FILTERED_STATS}


def test_data_plane_scenario(index: Any) -> None:
    data_plane.run(index, "ns1", _features(index))


def test_default_namespace_scenario(index: Any) -> None:
    data_plane.run(index, "", _features(index))  # stats key it "__default__" (SDK 10, embedded)


def test_namespaces_scenario(index: Any) -> None:
    data_plane.run_namespaces(index, "team")
