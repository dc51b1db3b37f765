"""One index served in-process over both transports, behind one interface.

``RestWire`` drives the FastAPI app (Starlette's TestClient, on the index's port so the
request lands on the data plane); ``GrpcWire`` drives a grpcio server with the real
``VectorServicer`` over a loopback channel. Both answer :class:`Answer`, so a test can
ask the same question of each and compare.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
from google.protobuf import json_format
from starlette.testclient import TestClient

from slabdb.api.auth import Authenticator
from slabdb.api.context import ServerContext
from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.api.grpc.gen import db_data_pb2_grpc as pb_grpc
from slabdb.api.grpc.handlers import MAX_RECEIVE_BYTES, add_servicer
from slabdb.api.grpc.service import VectorServicer
from slabdb.api.metrics import ApiMetrics
from slabdb.api.rest.app import create_app
from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.projects import DEFAULT_PROJECT, Projects
from slabdb.core.config import EngineConfig
from slabdb.storage import open_store

BASE_PORT = 5080
API_KEY = "any-key"  # the server runs with insecure_dev: any key is the default project


@dataclass
class Answer:
    """What a transport answered: body (REST JSON, or the proto message as a dict with
    proto field names and unset scalars filled in), response headers / initial metadata,
    and for a failure the HTTP status or gRPC code name plus the message."""

    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    status: str = "OK"
    message: str = ""

    @property
    def lsn_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.endswith("-lsn")}


class Wire(Protocol):
    name: str

    def upsert(self, vectors: list[dict[str, Any]], namespace: str | None = None) -> Answer: ...
    def update(
        self, id: str, set_metadata: dict[str, Any], namespace: str | None = None
    ) -> Answer: ...
    def delete(self, ids: list[str], namespace: str | None = None) -> Answer: ...
    def query(
        self, vector: list[float], top_k: int, namespace: str | None = None,
        scan_factor: float | None = None, max_candidates: int | None = None,
    ) -> Answer: ...  # fmt: skip
    def fetch(self, ids: list[str], namespace: str | None = None) -> Answer: ...
    def list_namespaces(self, limit: int | None = None) -> Answer: ...
    def describe_namespace(self, name: str) -> Answer: ...
    def describe_index_stats(self) -> Answer: ...


def _ns(namespace: str | None) -> dict[str, str]:
    return {} if namespace is None else {"namespace": namespace}


class RestWire:
    name = "rest"

    def __init__(self, client: TestClient, api_key: str = API_KEY) -> None:
        self.client = client
        self.api_key = api_key

    def send(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Answer:
        """Any request; ``headers`` add to (or replace) the API key header."""
        res = self.client.request(
            method, path, headers={"Api-Key": self.api_key, **(headers or {})}, **kwargs
        )
        headers = {k.lower(): v for k, v in res.headers.items()}
        body = res.json() if res.content else {}
        if res.status_code >= 400:
            return Answer(body, headers, str(res.status_code), body.get("message", ""))
        return Answer(body, headers)

    _send = send

    def upsert(self, vectors: list[dict[str, Any]], namespace: str | None = None) -> Answer:
        rest = [
            {("sparseValues" if k == "sparse_values" else k): v for k, v in r.items()}
            for r in vectors
        ]
        return self._send("POST", "/vectors/upsert", json={"vectors": rest, **_ns(namespace)})

    def update(self, id: str, set_metadata: dict[str, Any], namespace: str | None = None) -> Answer:
        body = {"id": id, "setMetadata": set_metadata, **_ns(namespace)}
        return self._send("POST", "/vectors/update", json=body)

    def delete(self, ids: list[str], namespace: str | None = None) -> Answer:
        return self._send("POST", "/vectors/delete", json={"ids": ids, **_ns(namespace)})

    def query(
        self, vector: list[float], top_k: int, namespace: str | None = None,
        scan_factor: float | None = None, max_candidates: int | None = None,
    ) -> Answer:  # fmt: skip
        body: dict[str, Any] = {"vector": vector, "topK": top_k, **_ns(namespace)}
        if scan_factor is not None:
            body["scanFactor"] = scan_factor
        if max_candidates is not None:
            body["maxCandidates"] = max_candidates
        return self._send("POST", "/query", json=body)

    def fetch(self, ids: list[str], namespace: str | None = None) -> Answer:
        return self._send("GET", "/vectors/fetch", params={"ids": ids, **_ns(namespace)})

    def list_namespaces(self, limit: int | None = None) -> Answer:
        params = {} if limit is None else {"limit": limit}
        return self._send("GET", "/namespaces", params=params)

    def describe_namespace(self, name: str) -> Answer:
        return self._send("GET", f"/namespaces/{name}")

    def describe_index_stats(self) -> Answer:
        return self._send("POST", "/describe_index_stats", json={})


class GrpcWire:
    name = "grpc"

    def __init__(self, stub: pb_grpc.VectorServiceStub, api_key: str = API_KEY) -> None:
        self.stub = stub
        self.api_key = api_key

    def send(self, method: str, request: Any, metadata: dict[str, str] | None = None) -> Answer:
        """Any method; ``metadata`` adds to (or replaces) the API key."""
        md = {"api-key": self.api_key, **(metadata or {})}
        try:
            response, call = getattr(self.stub, method).with_call(
                request, metadata=tuple(md.items())
            )
        except grpc.RpcError as err:
            headers = {k: str(v) for k, v in err.initial_metadata() or ()}
            return Answer({}, headers, err.code().name, err.details() or "")
        body = json_format.MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        return Answer(body, {k: str(v) for k, v in call.initial_metadata()})

    _send = send

    def upsert(self, vectors: list[dict[str, Any]], namespace: str | None = None) -> Answer:
        request = json_format.ParseDict({"vectors": vectors, **_ns(namespace)}, pb.UpsertRequest())
        return self._send("Upsert", request)

    def update(self, id: str, set_metadata: dict[str, Any], namespace: str | None = None) -> Answer:
        body = {"id": id, "set_metadata": set_metadata, **_ns(namespace)}
        return self._send("Update", json_format.ParseDict(body, pb.UpdateRequest()))

    def delete(self, ids: list[str], namespace: str | None = None) -> Answer:
        return self._send("Delete", pb.DeleteRequest(ids=ids, namespace=namespace or ""))

    def query(
        self, vector: list[float], top_k: int, namespace: str | None = None,
        scan_factor: float | None = None, max_candidates: int | None = None,
    ) -> Answer:  # fmt: skip
        request = pb.QueryRequest(vector=vector, top_k=top_k, namespace=namespace or "")
        if scan_factor is not None:
            request.scan_factor = scan_factor
        if max_candidates is not None:
            request.max_candidates = max_candidates
        return self._send("Query", request)

    def fetch(self, ids: list[str], namespace: str | None = None) -> Answer:
        return self._send("Fetch", pb.FetchRequest(ids=ids, namespace=namespace or ""))

    def list_namespaces(self, limit: int | None = None) -> Answer:
        request = (
            pb.ListNamespacesRequest() if limit is None else pb.ListNamespacesRequest(limit=limit)
        )
        return self._send("ListNamespaces", request)

    def describe_namespace(self, name: str) -> Answer:
        return self._send("DescribeNamespace", pb.DescribeNamespaceRequest(namespace=name))

    def describe_index_stats(self) -> Answer:
        return self._send("DescribeIndexStats", pb.DescribeIndexStatsRequest())


@contextmanager
def served_index(
    data: Path, dimension: int = 2, metric: str = "cosine", insecure_dev: bool = True
) -> Iterator[dict[str, Wire]]:
    """A fresh index "t" served over REST and gRPC: ``{"rest": ..., "grpc": ...}``.
    Without ``insecure_dev`` the wires send the default project's real key."""
    store = open_store(str(data / "store"))
    catalog = ControlCatalog(str(data / "catalog.sqlite3"))
    projects = Projects(store, catalog, EngineConfig())
    new_key = projects.ensure_default()
    key = new_key.plaintext if new_key is not None and not insecure_dev else API_KEY
    auth = Authenticator(catalog, insecure_dev=insecure_dev)
    metrics = ApiMetrics(projects.open_clients)
    slot = projects.create_index(
        DEFAULT_PROJECT, {}, name="t", dimension=dimension, metric=metric
    ).slot
    ctx = ServerContext(projects=projects, auth=auth, metrics=metrics, base_port=BASE_PORT)
    server = grpc.server(
        ThreadPoolExecutor(2), options=[("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)]
    )
    add_servicer(VectorServicer(projects, auth, metrics, slot), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with (
            TestClient(create_app(ctx), base_url=f"http://127.0.0.1:{BASE_PORT + slot}") as rest,
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            yield {
                "rest": RestWire(rest, key),
                "grpc": GrpcWire(pb_grpc.VectorServiceStub(channel), key),
            }
    finally:
        server.stop(grace=None)
        projects.close()
        catalog.close()
        store.close()
