"""What the server shows without a key (only /health, and the docs when asked for),
metrics on their own loopback listener, bundled docs assets, and file modes."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import grpc
import httpx
import psutil
import pytest
from pinecone import Pinecone, ServerlessSpec
from slabdb_server_process import ServerProcess, free_port_range

import slabdb
from slabdb.api.context import ServerContext
from slabdb.api.grpc.gen import db_data_pb2 as pb
from slabdb.api.grpc.gen import db_data_pb2_grpc as pb_grpc
from slabdb.api.rest.app import create_app

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
OPEN_WITH_DOCS = {"/health", "/docs", "/openapi.json", "/docs/static/{name}"}
CONSOLE_SHELL = {"/console"}
"""The console's page holds no data: the browser cannot send a key on navigation, so the
page asks for one and every /console/api/* call it makes carries it (checked below)."""


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port_range(1)


@pytest.fixture(scope="module")
def docs_server(
    tmp_path_factory: pytest.TempPathFactory, metrics_port: int
) -> Iterator[ServerProcess]:
    data = Path(tmp_path_factory.mktemp("slabdb-docs"))
    args = ("--docs", "--metrics-port", str(metrics_port))
    with ServerProcess(data=data, extra_args=args) as srv:
        yield srv


@pytest.fixture(scope="module")
def index_url(docs_server: ServerProcess) -> str:
    pc = Pinecone(api_key=docs_server.api_key, host=docs_server.url)
    pc.create_index(name="sec", dimension=2, metric="cosine", spec=SPEC)
    pc.Index("sec").upsert(vectors=[("a", [1.0, 0.0])], namespace="secret-ns")
    return str(pc.describe_index("sec").host)


def app_routes(docs: bool) -> list[tuple[str, str]]:
    """(method, path template) of every route of the REST app, routers included."""
    ctx = cast(ServerContext, SimpleNamespace(metrics=None, base_port=0, auth=None))
    found: set[tuple[str, str]] = set()

    def walk(routes: Iterable[Any]) -> None:
        for route in routes:
            if hasattr(route, "effective_candidates"):  # FastAPI 0.165: an included router
                walk(route.effective_candidates())
            elif isinstance(getattr(route, "methods", None), set):
                found.update((method, route.path) for method in route.methods)

    walk(create_app(ctx, docs=docs).routes)
    return sorted(found)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "swagger-ui.css" if m[0] == "{name}" else "x", path)


def test_only_health_and_docs_answer_without_a_key(
    docs_server: ServerProcess, index_url: str
) -> None:
    routes = app_routes(docs=True)
    assert {path for _, path in routes} >= OPEN_WITH_DOCS | {"/indexes", "/query"}
    assert any(path.startswith("/console/api/") for _, path in routes)  # refused below
    answered: list[str] = []
    json_type = {"Content-Type": "application/json"}
    for base in (docs_server.url, index_url):  # control plane and an index's data plane
        for method, path in routes:
            url = base + concrete(path)
            if path in OPEN_WITH_DOCS | CONSOLE_SHELL:
                assert httpx.request(method, url).status_code == 200, (method, path)
                if path in CONSOLE_SHELL:
                    assert "Api-Key" in httpx.get(url).text  # the page asks, holds nothing
                continue
            for body in (None, b"{}", b"{not json", b"x" * 3_000_000):
                r = httpx.request(method, url, content=body, headers=json_type, timeout=10)
                if r.status_code not in (401, 403):
                    answered.append(f"{method} {url} {body!r:.12} -> {r.status_code} {r.text:.80}")
    assert not answered, "\n".join(answered)


def test_grpc_needs_a_key(index_url: str) -> None:
    with grpc.insecure_channel(index_url.removeprefix("http://")) as channel:
        stub = pb_grpc.VectorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.DescribeIndexStats(pb.DescribeIndexStatsRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_docs_page_loads_only_bundled_assets(docs_server: ServerProcess) -> None:
    html = httpx.get(docs_server.url + "/docs").text
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
    assert set(urls) == {
        "/docs/static/swagger-ui-bundle.js",
        "/docs/static/swagger-ui.css",
        "/docs/static/favicon-32x32.png",
        "/openapi.json",
    }, urls
    assert "//" not in re.sub(r"<!--.*?-->", "", html).replace("://", "")  # no external URL
    static = files("slabdb.api") / "static"
    for url in urls:
        r = httpx.get(docs_server.url + url)
        assert r.status_code == 200, url
        if url.startswith("/docs/static/"):
            assert r.content == (static / url.rsplit("/", 1)[1]).read_bytes()
    assert "/indexes" in httpx.get(docs_server.url + "/openapi.json").json()["paths"]


def test_docs_and_metrics_are_off_by_default(server: ServerProcess) -> None:
    pc = Pinecone(api_key=server.api_key, host=server.url)
    pc.create_index(name="quiet", dimension=2, metric="cosine", spec=SPEC)
    index = str(pc.describe_index("quiet").host)
    key = {"Api-Key": server.api_key}
    for base in (server.url, index):
        for path in ("/docs", "/openapi.json", "/redoc", "/metrics", "/docs/static/swagger-ui.css"):
            assert httpx.get(base + path, headers=key).status_code == 404, (base, path)
    assert "Prometheus metrics" not in server.output


def test_metrics_only_on_their_own_loopback_listener(
    docs_server: ServerProcess, index_url: str, metrics_port: int
) -> None:
    key = {"Api-Key": docs_server.api_key}
    for base in (docs_server.url, index_url):
        assert httpx.get(base + "/metrics", headers=key).status_code == 404
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert 'slabdb_requests_total{method="POST",route="/vectors/upsert"' in text
    assert "slabdb_request_seconds_bucket" in text
    assert 'slabdb_applied_lsn{index="sec",namespace="secret-ns",project="default"}' in text
    assert "slabdb_memtable_records" in text
    assert f"Prometheus metrics on http://127.0.0.1:{metrics_port}/metrics" in docs_server.output
    listening = [
        c.laddr
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == metrics_port
    ]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening


def assert_private_tree(root: Path) -> int:
    """Every directory under ``root`` (and root) is 0700, every file 0600; the file count."""
    assert stat.S_IMODE(root.stat().st_mode) == 0o700, root
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            assert stat.S_IMODE((Path(dirpath) / d).stat().st_mode) == 0o700, Path(dirpath) / d
        for f in filenames:
            assert stat.S_IMODE((Path(dirpath) / f).stat().st_mode) == 0o600, Path(dirpath) / f
            count += 1
    return count


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000 while the test runs (and for processes it starts): modes must not rely
    on the usual 022 / 077."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_server_files_are_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    data = tmp_path / "db"
    srv = ServerProcess(data=data, extra_args=("--tls-self-signed",)).start()
    try:
        pc = Pinecone(api_key=srv.api_key, host=srv.url, ssl_ca_certs=srv.ca_cert)
        pc.create_index(name="modes", dimension=2, metric="cosine", spec=SPEC)
        pc.Index("modes").upsert(vectors=[(str(i), [1.0, float(i)]) for i in range(50)])
    finally:
        assert srv.stop() == 0
    catalog = data / "_control" / "catalog.sqlite3"
    assert catalog.exists() and (data / "_control" / "default-api-key").exists()
    assert assert_private_tree(data) > 10


@pytest.mark.embedded
def test_embedded_store_files_are_private_whatever_the_umask(
    tmp_path: Path, open_umask: None
) -> None:
    root = tmp_path / "embedded"
    with slabdb.connect(str(root)) as client:
        client.create_index("modes", dimension=2, metric="cosine")
        client.Index("modes").upsert(vectors=[(str(i), [1.0, float(i)]) for i in range(50)])
    assert assert_private_tree(root) > 3
