"""The SlabDB services of deploy/compose.yaml, started as local processes.

Every service whose image is ``slabdb:dev`` (two nodes, the sync worker, the app) runs
the argv Docker would run (the service's ``entrypoint``, else the Dockerfile's
``ENTRYPOINT``, then its ``command``) with its ``environment``, both read from the
file. What a laptop needs instead of the compose network is one mapping
(:func:`laptop_map`; every entry must be used): host names -> 127.0.0.1 endpoints
(``minio:9000`` -> moto, ``postgres:5432`` -> the test cluster, which has the file's
role and database, trust auth; ``proxy:5080`` -> a TCP balancer over both nodes, as
deploy/nginx.conf), container ports -> free ports, the store URL -> a fresh prefix
of moto's bucket, ``slabdb``/``python`` -> this venv, ``${SLABDB_API_KEY:-}`` -> a
key from ``slabdb keys create`` on the nodes' catalog, and ``*.localhost`` resolving
to 127.0.0.1 in the children (the compose network's aliases; nss-myhostname on most
laptops). Sync setup is the one-time ``slabdb sync init`` of docs/design/scale-out.md
(``slabdb sync run`` refuses to start without it), on a small products table.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from slabdb.cli.local_postgres import free_port
from slabdb.sync.text import vector_id
from slabdb.testing.compose import (
    ComposeService,
    LaptopMap,
    ServiceProcess,
    TcpBalancer,
    load_services,
    localhost_resolver,
)
from slabdb.testing.postgres import PostgresServer
from slabdb.testing.s3 import MotoS3Server

pytestmark = [pytest.mark.s3, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE, DOCKERFILE = ROOT / "deploy" / "compose.yaml", ROOT / "Dockerfile"
IMAGE = "slabdb:dev"
NODES = ("node-a", "node-b")
WORKERS = ("sync-worker", "app")
START_SECONDS = 90.0
"""Deadline for a process to answer (two loaded cores; typically a few seconds)."""
SYNC_SECONDS = 60.0
MIN_LSN = "x-slabdb-min-lsn"
SYNC_INIT = [
    "slabdb", "sync", "init", "--table=products", "--key=id",
    "--text={name}: {description}", "--index=products", "--target-url=http://proxy:5080",
]  # fmt: skip
"""The one-time setup of docs/design/scale-out.md, run with the sync worker's env."""
PRODUCTS_DDL = "CREATE TABLE products (id integer PRIMARY KEY, name text, description text)"
T = TypeVar("T")


@pytest.fixture(scope="module")
def compose_pg(pg_server: PostgresServer) -> PostgresServer:
    pg_server.psql("CREATE DATABASE slabdb OWNER slabdb")  # compose: POSTGRES_DB
    return pg_server


def laptop_map(pg: PostgresServer, s3: MotoS3Server, proxy_port: int, tmp: Path) -> LaptopMap:
    """The only differences between the compose network and this machine."""
    moto = s3.endpoint.removeprefix("http://")
    node = {
        "--port": free_port,
        "--metrics-port": free_port,
        "--advertise-port": lambda: proxy_port,
    }
    return LaptopMap(
        endpoints={
            "minio:9000": moto,
            "s3://slabdb/db": s3.unique_url("deploy"),
            "postgres:5432": f"127.0.0.1:{pg.port}",
            "proxy:5080": f"127.0.0.1:{proxy_port}",
        },
        options={
            **{n: {flag: str(port()) for flag, port in node.items()} for n in NODES},
            "sync-worker": {"--metrics-port": str(free_port())},
            "app": {"--port": str(free_port())},
        },
        programs={"slabdb": str(Path(sys.executable).parent / "slabdb"), "python": sys.executable},
        added_env={"PYTHONPATH": str(localhost_resolver(tmp / "resolver"))},
    )


def machine_env() -> dict[str, str]:
    """This machine's PATH, HOME...; no AWS_*/SLABDB_* of the test run leaks in."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLABDB_"))}
    return {**keep, "PYTHONUNBUFFERED": "1"}  # the Dockerfile's ENV sets it too


def eventually(check: Callable[[], T], timeout: float, context: Callable[[], str]) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not within {timeout}s:\n{context()}"
        time.sleep(0.2)
    return result


@dataclass
class Stack:
    laptop: LaptopMap
    balancer: TcpBalancer
    procs: dict[str, ServiceProcess]
    key: str
    dsn: str

    def port(self, service: str) -> int:
        return int(self.laptop.options[service]["--port"])

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.balancer.port}"

    def call(self, method: str, url: str, host: str = "", **kw: Any) -> httpx.Response:
        headers = {"Api-Key": self.key, **kw.pop("headers", {})}
        if host:
            headers["Host"] = host
        return httpx.request(method, url, headers=headers, timeout=30, **kw)


def _start(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> ServiceProcess:
    return ServiceProcess(name, argv, env, cwd).start()


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert done.returncode == 0, f"{argv[:3]}: {done.stdout}{done.stderr}"
    return done.stdout


def _nodes_up(stack: Stack, laptop: LaptopMap, cwd: Path) -> None:
    for name in NODES:
        argv, env = laptop.apply(stack_services({})[name], machine_env())
        stack.procs[name] = _start(name, argv, env, cwd)
    for name in NODES:
        stack.procs[name].wait_http(f"http://127.0.0.1:{stack.port(name)}/health", START_SECONDS)


def stack_services(variables: dict[str, str]) -> dict[str, ComposeService]:
    services = load_services(COMPOSE, DOCKERFILE, IMAGE, variables)
    assert set(services) == {*NODES, *WORKERS}, services
    return services


@pytest.fixture(scope="module")
def stack(
    compose_pg: PostgresServer, s3_server: MotoS3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    cwd = tmp_path_factory.mktemp("deploy")
    laptop = laptop_map(compose_pg, s3_server, free_port(), cwd)
    proxy_port = int(laptop.options[NODES[0]]["--advertise-port"])
    balancer = TcpBalancer([int(laptop.options[n]["--port"]) for n in NODES], proxy_port)
    stack = Stack(laptop, balancer, {}, "", "")
    try:
        _nodes_up(stack, laptop, cwd)
        catalog = next(a for a in stack.procs["node-a"].argv if a.startswith("--catalog="))
        keys = [laptop.programs["slabdb"], "keys", "create", catalog]
        stack.key = _run(keys, machine_env(), cwd).strip().splitlines()[-1]
        services = stack_services({"SLABDB_API_KEY": stack.key})
        worker_argv, worker_env = laptop.apply(services["sync-worker"], machine_env())
        stack.dsn = worker_env["SLABDB_SYNC_DSN"]
        _sync_setup(stack, laptop.args("sync-worker", SYNC_INIT), worker_env, cwd)
        stack.procs["sync-worker"] = _start("sync-worker", worker_argv, worker_env, cwd)
        stack.procs["app"] = _start("app", *laptop.apply(services["app"], machine_env()), cwd)
        yield stack
    finally:
        for proc in reversed(stack.procs.values()):
            proc.stop()
        balancer.close()


def _sync_setup(stack: Stack, init: list[str], env: dict[str, str], cwd: Path) -> None:
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        conn.execute(PRODUCTS_DDL)
        conn.execute("INSERT INTO products VALUES (1, 'gimp', 'an image editor')")
    _run(init, env, cwd)


def test_every_mapping_entry_is_used_and_nothing_else_changes(stack: Stack) -> None:
    assert stack.laptop.unused() == set()
    services = stack_services({"SLABDB_API_KEY": stack.key})
    for name, proc in stack.procs.items():
        original = services[name]
        assert proc.argv[0] == stack.laptop.programs[original.argv[0]]
        pairs = zip(original.argv[1:], proc.argv[1:], strict=True)
        changed = [(a, b) for a, b in pairs if a != b]
        assert all(a.split("=")[0] == b.split("=")[0] for a, b in changed), changed  # values only
        for var, value in original.environment.items():
            assert var in proc.env, f"{name} lost {var}"
            if not any(old in value for old in stack.laptop.endpoints):
                assert proc.env[var] == value, (name, var)


def test_both_nodes_are_ready_on_health(stack: Stack) -> None:
    for name in NODES:
        res = httpx.get(f"http://127.0.0.1:{stack.port(name)}/health", timeout=10)
        assert res.status_code == 200, (name, res.text)


def test_an_index_made_through_the_proxy_is_served_by_both_nodes_by_host_name(
    stack: Stack,
) -> None:
    spec = {"serverless": {"cloud": "aws", "region": "us-east-1"}}
    body = {"name": "deployed", "dimension": 2, "metric": "cosine", "spec": spec}
    created = stack.call("POST", stack.proxy + "/indexes", json=body)
    assert created.status_code == 201, created.text
    host = created.json()["host"].removeprefix("http://")
    assert host == f"deployed-default.slabdb.localhost:{stack.balancer.port}"
    node_a, node_b = (f"http://127.0.0.1:{stack.port(n)}" for n in NODES)
    upsert = {"vectors": [{"id": "v1", "values": [1.0, 0.0]}], "namespace": "ns"}
    wrote = stack.call("POST", node_a + "/vectors/upsert", host, json=upsert)
    assert wrote.status_code == 200, wrote.text
    lsn = wrote.headers["x-pinecone-request-lsn"]
    params = {"ids": "v1", "namespace": "ns"}
    read = stack.call("GET", node_b + "/vectors/fetch", host, params=params,
                      headers={MIN_LSN: lsn})  # fmt: skip
    assert read.status_code == 200, read.text
    assert "v1" in read.json()["vectors"]
    assert all(n > 0 for n in stack.balancer.connections.values()), stack.balancer.connections


def _searchable(stack: Stack, row_id: int) -> bool:
    """Row ``row_id``'s first chunk is fetched, and found by its own vector, via the proxy."""
    host = f"products-default.slabdb.localhost:{stack.balancer.port}"
    vid = vector_id(str(row_id), 0)
    fetched = stack.call("GET", stack.proxy + "/vectors/fetch", host, params={"ids": vid})
    vectors = fetched.json().get("vectors", {}) if fetched.status_code == 200 else {}
    if vid not in vectors:
        return False
    query = {"vector": vectors[vid]["values"], "topK": 1}
    found = stack.call("POST", stack.proxy + "/query", host, json=query)
    # the balancer may send the query to the node whose refresh has not seen it yet
    matches = found.json().get("matches", []) if found.status_code == 200 else []
    return bool(matches) and matches[0]["id"] == vid


def test_the_sync_worker_makes_postgres_rows_searchable_through_the_proxy(stack: Stack) -> None:
    worker = stack.procs["sync-worker"]
    eventually(lambda: _searchable(stack, 1), SYNC_SECONDS, lambda: worker.output)  # bootstrap
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO products VALUES (2, 'krita', 'a painting program')")
    eventually(lambda: _searchable(stack, 2), SYNC_SECONDS, lambda: worker.output)
    assert worker.running, worker.output


def test_the_app_answers_and_every_service_stays_up(stack: Stack) -> None:
    app = stack.procs["app"]
    app.wait_http(f"http://127.0.0.1:{stack.port('app')}/healthz", START_SECONDS)
    home = httpx.get(f"http://127.0.0.1:{stack.port('app')}/", timeout=30)
    assert home.status_code == 200, home.text
    for name, proc in stack.procs.items():
        assert proc.running, f"{name} exited:\n{proc.output}"


def test_every_service_stops_on_sigterm(stack: Stack) -> None:
    """Each ends within the stop timeout (no SIGKILL): SlabDB's commands with 0, the app
    by the SIGTERM uvicorn re-raises once it has shut down (``Server.capture_signals``)."""
    codes = {name: proc.stop() for name, proc in reversed(stack.procs.items())}
    tails = {name: proc.output[-2000:] for name, proc in stack.procs.items()}
    slabdb_codes = {name: code for name, code in codes.items() if name != "app"}
    assert slabdb_codes == dict.fromkeys(slabdb_codes, 0), tails
    assert codes["app"] in (0, -signal.SIGTERM), tails
