"""``slabdb demo`` (what ``make demo`` runs), end to end as a user runs it: start, wait for
the ready line, search over HTTP, stop with SIGTERM and find nothing left running;
start again on the same data, faster, and stop again."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from demo_runner import DemoRun, demo_parent, running_under

from slabdb.app.catalog import default_snapshot
from slabdb.cli.demo_processes import STOP_GRACE_SECONDS
from slabdb.cli.demo_stack import DemoLayout
from slabdb.cli.local_postgres import PostgresServer, find_pg_bin
from slabdb.sync import read_status
from slabdb.testing.app import free_port

pytestmark = [pytest.mark.postgres]  # about 12 s on 2 cores
if find_pg_bin() is None:
    pytest.skip(
        "PostgreSQL binaries missing (bash scripts/system-deps.sh)", allow_module_level=True
    )

ROWS = 300


@pytest.fixture
def demo() -> Iterator[DemoRun]:
    parent = demo_parent()
    run = DemoRun(parent / "demo", free_port(), rows=ROWS)
    try:
        yield run
    finally:
        run.kill_leftovers()
        shutil.rmtree(parent, ignore_errors=True)


def _a_loaded_name(rows: int) -> str:
    """A package among the first ``rows`` of the snapshot (what ``--rows`` loads)."""
    with gzip.open(default_snapshot(), "rt", encoding="utf-8") as f:
        names = [json.loads(line)["name"] for _, line in zip(range(rows), f, strict=False)]
    return names[len(names) // 2]


def _keyword_search(url: str, query: str) -> str:
    params = urllib.parse.urlencode({"q": query, "mode": "keyword"})
    request = urllib.request.Request(
        f"{url}/?{params}", headers={"HX-Request": "true", "HX-Target": "results"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return str(response.read().decode())


def _pending(demo: DemoRun) -> int:
    port = json.loads((demo.data / "ports.json").read_text())["postgres"]
    dsn = f"host=127.0.0.1 port={port} dbname=slabdb_demo user=slabdb"
    with psycopg.connect(dsn, autocommit=True) as conn:
        status = read_status(conn, "products")
    return status[0].pending if status else -1


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {timeout:.0f} s"
        time.sleep(0.1)


def _assert_all_stopped(demo: DemoRun, code: int) -> None:
    assert code == 0, demo.output
    assert demo.descendants, "the demo started no processes?"
    alive = [p for p in demo.descendants if p.is_running() and p.status() != "zombie"]
    assert alive == [], f"still running: {[p.cmdline() for p in alive]}"
    assert running_under(demo.data) == [], "a process still names the demo's data directory"
    postgres = PostgresServer.at(demo.data / "postgres", demo.data / "run", 0)
    assert not (demo.data / "postgres" / "postmaster.pid").exists()
    assert not postgres.running()


def test_demo_runs_stops_cleanly_and_restarts_fast(demo: DemoRun) -> None:
    first = demo.start()
    assert "indexed" in demo.output, demo.output
    name = _a_loaded_name(ROWS)
    page = _keyword_search(demo.url, name)
    assert f">{name}<" in page, f"{name} not found by keyword search:\n{page[:2000]}"
    _assert_all_stopped(demo, demo.stop())

    second = demo.start()
    assert "set up:" not in demo.output and "embedding" not in demo.output, demo.output
    assert f">{name}<" in _keyword_search(demo.url, name)
    _assert_all_stopped(demo, demo.stop())
    print(
        f"\nslabdb demo --rows {ROWS}: first run ready in {first:.1f} s, second in {second:.1f} s"
    )
    assert second < first / 2, (
        f"second run {second:.1f} s is not well under the first {first:.1f} s"
    )


def test_demo_refuses_a_busy_port_before_starting_anything(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "slabdb.cli",
                "demo",
                "--port",
                str(port),
                "--data",
                str(tmp_path / "d"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "already in use" in done.stderr
    assert not (tmp_path / "d").exists()


def test_a_stop_during_the_first_runs_indexing_is_prompt_and_the_next_run_resumes(
    demo: DemoRun,
) -> None:
    demo.rows = 800
    demo.start(wait=False)
    demo.wait_for_line("embedding ")
    _wait_until(lambda: _pending(demo) < 800, "a first batch indexed")
    _assert_all_stopped(demo, demo.stop())
    workers = next(line for line in demo.lines if line.startswith("stopped sync-workers in"))
    seconds = float(workers.split(" in ")[1].removesuffix(" s"))
    assert seconds < STOP_GRACE_SECONDS, f"the workers were killed, not stopped: {workers}"
    assert "SlabDB demo ready" not in demo.output

    demo.start()  # the workers stopped mid-way (not after draining): the rest is left
    left = next(line for line in demo.lines if line.startswith("embedding "))
    assert 0 < int(left.split()[1].replace(",", "")) < 800, left
    assert "set up:" not in demo.output
    _assert_all_stopped(demo, demo.stop())


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="root only")
def test_demo_under_a_private_parent_keeps_its_cluster_where_postgres_can_reach_it(
    tmp_path: Path,
) -> None:
    """As root, ``make demo`` in a checkout under ``/root`` (0700): the ``postgres`` user
    cannot enter ``./demo-data``, so the cluster lives under ``SHARED_PG_BASE``."""
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    demo = DemoRun(private / "demo-data", free_port(), rows=40)
    layout = DemoLayout(demo.data.resolve()).shared()
    assert layout.pg_base is not None
    try:
        demo.start()
        assert f"cluster lives in {layout.pg_base}" in demo.output, demo.output
        assert (layout.postgres / "PG_VERSION").exists()
        assert not (demo.data / "postgres").exists()
        assert demo.stop() == 0, demo.output
        assert not PostgresServer.at(layout.postgres, layout.run, 0).running()
    finally:
        demo.kill_leftovers()
        if layout.pg_base is not None:
            pid = layout.postgres / "postmaster.pid"
            if pid.exists():
                subprocess.run(["pkill", "-QUIT", "-F", str(pid)], check=False)
            shutil.rmtree(layout.pg_base, ignore_errors=True)
