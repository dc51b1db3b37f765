"""``slabdb sync`` end to end, and one semantic check with the real default model."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from typer.testing import CliRunner

import slabdb
from slabdb.cli.main import app
from slabdb.embed import get_embedder

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
