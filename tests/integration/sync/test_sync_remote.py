"""The sync writing through the ``pinecone`` SDK into a real ``slabdb serve`` subprocess."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pinecone import Pinecone
from typer.testing import CliRunner

from slabdb.cli.main import app
from slabdb.sync import load_sync, verify_sync
from slabdb.sync.remote import RemoteTarget
from slabdb.testing.embedders import FakeEmbedder
from slabdb.testing.server import ServerProcess

KEY_ENV = "SLABDB_TEST_REMOTE_KEY"
DIM = 16


def seed_products(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL,"
            " description text, category text, price numeric(10, 2))"
        )
        conn.execute(
            "INSERT INTO products (id, name, description, category, price)"
            " SELECT g, 'product ' || g, 'a fine thing number ' || g,"
            " (ARRAY['tools','toys','books'])[1 + g %% 3], g * 1.25 FROM generate_series(1, %s) g",
            (rows,),
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(data=Path(tmp_path_factory.mktemp("slabdb-serve"))) as srv:
        yield srv


def _verify(dsn: str, url: str) -> None:
    cfg = load_sync(dsn, "products")
    target = RemoteTarget(url, cfg.index, api_key_env=cfg.api_key_env)
    try:
        with psycopg.connect(dsn) as conn:
            report = verify_sync(conn, cfg, target, FakeEmbedder(DIM))
    finally:
        target.close()
    assert report.ok, report.summary()


def test_cli_sync_into_a_running_server(
    server: ServerProcess, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, server.api_key)
    seed_products(pg_dsn, 40)
    runner = CliRunner()
    base = ["--dsn", pg_dsn]
    res = runner.invoke(app, [
        "sync", "init", *base, "--table", "products", "--key", "id", "--index", "products",
        "--text", "{name}: {description}", "--metadata", "category,price",
        "--target-url", server.url, "--api-key-env", KEY_ENV, "--embedder", "fake",
        "--embedder-options", json.dumps({"dimension": DIM}), "--chunk-chars", "64",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "enqueued 40 of 40 rows" in res.output
    with psycopg.connect(pg_dsn) as conn:
        stored = conn.execute("SELECT config::text FROM slabdb_sync.config").fetchone()
    assert stored is not None
    assert server.api_key not in stored[0] and KEY_ENV in stored[0] and server.url in stored[0]

    res = runner.invoke(app, ["sync", "run", *base, "--once"])
    assert res.exit_code == 0 and "processed 40 keys" in res.output, res.output
    _verify(pg_dsn, server.url)

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE products SET description = %s WHERE id = 1", ("long words " * 40,))
        conn.execute("UPDATE products SET category = 'garden', price = 3.5 WHERE id = 2")
        conn.execute("DELETE FROM products WHERE id = 3")
        conn.execute("INSERT INTO products (id, name, description) VALUES (100, 'new', 'thing')")
    res = runner.invoke(app, ["sync", "run", *base, "--once"])
    assert res.exit_code == 0 and "processed 4 keys" in res.output, res.output
    _verify(pg_dsn, server.url)

    with Pinecone(api_key=server.api_key, host=server.url) as pc:
        index = pc.Index("products")
        ids = {item.id for page in index.list(prefix="1#") for item in page.vectors}
        assert len(ids) > 3  # the long text became several chunks
        got = index.fetch(ids=["2#0"]).vectors["2#0"].metadata
        assert got is not None and got["category"] == "garden" and got["price"] == 3.5
        assert not index.fetch(ids=["3#0"]).vectors

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE products SET description = 'short again' WHERE id = 1")
    res = runner.invoke(app, ["sync", "run", *base, "--once"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["sync", "verify", *base])
    assert res.exit_code == 0 and "missing 0, extra 0" in res.output, res.output
    _verify(pg_dsn, server.url)


def test_missing_api_key_is_a_clear_error(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(Exception, match=KEY_ENV):
        RemoteTarget(server.url, "products", api_key_env=KEY_ENV)


def test_an_unreachable_server_is_one_retryable_error_not_an_sdk_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from slabdb.core.errors import StorageError

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(KEY_ENV, "any-key")
    with pytest.raises(StorageError, match="unavailable") as caught:
        RemoteTarget(f"http://127.0.0.1:{port}", "products", api_key_env=KEY_ENV)
    assert "\n" not in caught.value.message
