"""``slabdb check --data``: a table (or ``--json``), exit 1 on errors, 0 when clean."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import slabdb
from slabdb import EngineConfig
from slabdb.cli.main import app

MANUAL = EngineConfig(background=False, flush_records=100_000)


def _database(path: Path) -> Path:
    db = slabdb.connect(str(path), config=MANUAL)
    db.create_index(name="c", dimension=2, metric="euclidean")
    db.Index("c").upsert(vectors=[("a", [1.0, 1.0])])
    db.close(flush=False)
    return path


def test_clean_store_exits_0(tmp_path: Path) -> None:
    data = _database(tmp_path / "db")
    result = CliRunner().invoke(app, ["check", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "no damage found" in result.output


def test_damage_exits_1_and_names_the_object_in_json(tmp_path: Path) -> None:
    data = _database(tmp_path / "db")
    entry = data / "catalog" / "indexes" / "c.json"
    entry.write_bytes(entry.read_bytes().replace(b'"metric":"euclidean"', b'"metric":"dotproduct"'))
    result = CliRunner().invoke(app, ["check", "--data", str(data), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["errors"] == 1
    assert report["findings"][0]["key"] == "catalog/indexes/c.json"
    table = CliRunner().invoke(app, ["check", "--data", str(data)])
    assert table.exit_code == 1 and "catalog/indexes/c.json" in table.output


def test_missing_directory_is_refused_and_not_created(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert not (tmp_path / "nope").exists()
