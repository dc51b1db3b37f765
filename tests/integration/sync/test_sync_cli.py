"""``slabdb sync`` end to end, and one semantic check with the real default model."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

import slabdb
from slabdb.cli.main import app
from slabdb.embed import get_embedder
from slabdb.sync.setup import load_sync

PRODUCTS = [
    (1, "Trail running shoes", "Lightweight sneakers with a grippy sole for muddy mountain paths."),
    (2, "Espresso machine", "Brews rich coffee with a 15-bar pump and a milk frother."),
    (
        3,
        "Noise-cancelling headphones",
        "Over-ear wireless headphones that block out airplane noise.",
    ),
    (4, "Cast iron skillet", "A heavy frying pan for searing steak and baking cornbread."),
    (5, "Children's picture book", "A bedtime story about a sleepy bear, for ages 3 to 6."),
]


def _table(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE items (sku integer PRIMARY KEY, name text, description text, category text)"
        )
        for sku, name, desc in PRODUCTS:
            conn.execute("INSERT INTO items VALUES (%s, %s, %s, 'shop')", (sku, name, desc))


def test_cli_init_run_status_verify_uninstall(pg_dsn: str, tmp_path: Path) -> None:
    _table(pg_dsn)
    runner = CliRunner()
    data = str(tmp_path / "data")
    os.mkdir(data)
    base = ["--dsn", pg_dsn]
    res = runner.invoke(app, [
        "sync", "init", *base, "--table", "items", "--key", "sku", "--text", "{name}: {description}",
        "--index", "items", "--metadata", "category", "--data", data, "--embedder", "fake",
        "--embedder-options", '{"dimension": 16}',
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "enqueued 5 of 5 rows" in res.output
    res = runner.invoke(app, ["sync", "status", *base, "--json"])
    assert json.loads(res.output)[0]["pending"] == 5
    res = runner.invoke(app, ["sync", "run", *base, "--once"])
    assert res.exit_code == 0 and "processed 5 keys" in res.output, res.output
    res = runner.invoke(app, ["sync", "verify", *base])
    assert res.exit_code == 0 and "missing 0" in res.output, res.output
    res = runner.invoke(app, ["sync", "retry-errors", *base])
    assert "re-queued 0" in res.output
    res = runner.invoke(app, ["sync", "uninstall", *base])
    assert res.exit_code == 0, res.output


def test_minilm_end_to_end_semantic_search(pg_dsn: str, tmp_path: Path) -> None:
    _table(pg_dsn)
    runner = CliRunner()
    data = str(tmp_path / "data")
    os.mkdir(data)
    base = ["--dsn", pg_dsn]
    res = runner.invoke(app, [
        "sync", "init", *base, "--table", "items", "--key", "sku", "--text", "{name}: {description}",
        "--index", "items", "--metadata", "category", "--data", data,
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["sync", "run", *base, "--once"]).exit_code == 0
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE items SET description = 'A board game about trading sheep.' WHERE sku = 4"
        )
    assert runner.invoke(app, ["sync", "run", *base, "--once"]).exit_code == 0
    model = get_embedder("minilm")
    with slabdb.connect(data) as db:
        index = db.Index("items")

        def top(q: str) -> int:
            res = index.query(vector=model.embed_query(q).tolist(), top_k=1, include_metadata=True)
            return int(res.matches[0].metadata["sku"])

        assert top("something to make my morning latte") == 2
        assert top("quiet flights") == 3
        assert top("a game for family night") == 4
        assert top("shoes for hiking") == 1


FAKE_INIT = [
    "--table", "items", "--key", "sku", "--text", "{name}: {description}", "--index", "items",
    "--embedder", "slabdb.testing.embedders:FakeEmbedder",
    "--embedder-options", '{"dimension": 16}',
]  # fmt: skip
"""A sync on ``items`` with the test embedder, by reference so subprocesses find it."""


def _init_fake_sync(dsn: str, tmp_path: Path) -> Path:
    """The ``items`` table and a ``sync init`` on it with the test embedder; its data dir."""
    _table(dsn)
    data = tmp_path / "data"
    data.mkdir()
    res = CliRunner().invoke(app, ["sync", "init", "--dsn", dsn, *FAKE_INIT, "--data", str(data)])
    assert res.exit_code == 0, res.output
    return data


def test_init_refuses_a_missing_data_directory(pg_dsn: str, tmp_path: Path) -> None:
    _table(pg_dsn)
    missing = tmp_path / "nope"
    res = CliRunner().invoke(
        app, ["sync", "init", "--dsn", pg_dsn, *FAKE_INIT, "--data", str(missing)]
    )
    assert res.exit_code == 1, res.output
    assert f"{missing} does not exist" in res.stderr and not missing.exists()
    with psycopg.connect(pg_dsn) as conn:  # nothing was installed either
        assert conn.execute("SELECT to_regclass('slabdb_sync.config')").fetchone() == (None,)


def test_relative_data_is_stored_absolute_so_workers_run_from_any_directory(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _table(pg_dsn)
    app_dir, elsewhere = tmp_path / "app", tmp_path / "elsewhere"
    (app_dir / "data").mkdir(parents=True)
    elsewhere.mkdir()
    monkeypatch.setenv("SLABDB_SYNC_DSN", pg_dsn)  # set once, used by every command
    runner = CliRunner()
    monkeypatch.chdir(app_dir)
    res = runner.invoke(app, ["sync", "init", *FAKE_INIT, "--data", "./data"])
    assert res.exit_code == 0, res.output
    stored = load_sync(pg_dsn, "items").data
    assert stored == str((app_dir / "data").resolve())

    monkeypatch.chdir(elsewhere)
    res = runner.invoke(app, ["sync", "run", "--once"])
    assert res.exit_code == 0 and "processed 5 keys" in res.output, res.output
    res = runner.invoke(app, ["sync", "verify"])
    assert res.exit_code == 0 and "missing 0" in res.output, res.output
    assert not (elsewhere / "data").exists()
    with slabdb.connect(str(app_dir / "data")) as db:
        assert db.Index("items").describe_index_stats().total_vector_count == 5


def test_run_refuses_a_stored_data_directory_that_is_gone(pg_dsn: str, tmp_path: Path) -> None:
    data = _init_fake_sync(pg_dsn, tmp_path)
    shutil.rmtree(data)
    res = CliRunner().invoke(app, ["sync", "run", "--dsn", pg_dsn, "--once"])
    assert res.exit_code == 1 and "stored by `sync init`" in res.stderr, res.output
    assert not data.exists()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "slabdb.cli", *args]


def test_status_is_readable_at_80_columns(pg_dsn: str, tmp_path: Path) -> None:
    _init_fake_sync(pg_dsn, tmp_path)
    env = {**os.environ, "COLUMNS": "80", "SLABDB_SYNC_DSN": pg_dsn}
    proc = subprocess.run(
        _cli("sync", "status"), capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, proc.stdout
    assert lines[0] == "sync items"
    for figure in ("pending      5 events", "lag ", "errors       0 keys", "events/s", "processed"):
        assert figure in proc.stdout


def test_run_logs_progress_lines_when_stdout_is_not_a_terminal(pg_dsn: str, tmp_path: Path) -> None:
    _init_fake_sync(pg_dsn, tmp_path)
    env = {**os.environ, "SLABDB_SYNC_DSN": pg_dsn, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cli("sync", "run", "--progress-every", "0.2", "--poll-interval", "0.2"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"sync run exited early: {seen}"
            seen.append(line)
            if re.search(r"processed 5 keys .*; pending 0, lag 0\.0 s, errors 0$", line):
                break
        else:
            raise AssertionError(f"no progress line: {seen}")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d sync items: ", seen[-1])
    assert not any("\x1b[" in line for line in seen)
