"""``--data`` naming a missing directory is an error, except for ``serve --init`` and
``demo``, which create it (mode 0700); store URLs are not directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from slabdb.cli.data import local_directory
from slabdb.cli.main import app

NON_CREATING = [
    ["indexes"],
    ["compact", "demo"],
    ["keys", "list"],
    ["keys", "create"],
    ["keys", "revoke", "abcd1234"],
    ["serve"],
]


@pytest.mark.parametrize("command", NON_CREATING, ids=lambda c: " ".join(c))
def test_missing_data_directory_is_one_line_error_and_nothing_is_created(
    command: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "typo" / "data"
    result = CliRunner().invoke(app, [*command, "--data", str(missing)])
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert f"{missing} does not exist" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "typo").exists()


def test_serve_without_init_names_the_flag_that_creates(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data", str(tmp_path / "new")])
    assert result.exit_code == 1
    assert "pass --init" in result.stderr


def test_a_file_is_not_a_data_directory(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text("")
    result = CliRunner().invoke(app, ["indexes", "--data", str(path)])
    assert result.exit_code == 1
    assert "is not a directory" in result.stderr


def test_store_urls_are_not_checked_as_directories() -> None:
    result = CliRunner().invoke(app, ["indexes", "--data", "memory://"])
    assert result.exit_code == 0, result.output


def test_keys_with_an_explicit_catalog_do_not_need_the_data_directory(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.sqlite3"
    result = CliRunner().invoke(
        app, ["keys", "list", "--data", str(tmp_path / "missing"), "--catalog", str(catalog)]
    )
    assert result.exit_code == 0, result.output


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replace the server's run loop: record what ``serve`` would have served."""
    calls: list[Any] = []
    monkeypatch.setattr("slabdb.api.server.run", lambda options, engine: calls.append(options))
    return calls


def test_serve_init_creates_the_data_directory_mode_0700(
    tmp_path: Path, served: list[Any], free_port: int
) -> None:
    data = tmp_path / "new" / "data"
    result = CliRunner().invoke(
        app, ["serve", "--init", "--data", str(data), "--port", str(free_port)]
    )
    assert result.exit_code == 0, result.output
    assert data.is_dir() and data.stat().st_mode & 0o777 == 0o700
    assert [o.data for o in served] == [str(data)]


def test_serve_init_on_an_existing_directory_keeps_it(
    tmp_path: Path, served: list[Any], free_port: int
) -> None:
    (tmp_path / "marker").write_text("x")
    result = CliRunner().invoke(
        app, ["serve", "--init", "--data", str(tmp_path), "--port", str(free_port)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "marker").read_text() == "x" and len(served) == 1


def test_demo_creates_its_data_directory_mode_0700(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["demo", "--embedded", "--data", str(data), "--records", "1000", "--dimension", "4"]
    )
    assert result.exit_code == 0, result.output
    assert data.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("memory://", None),
        ("s3://bucket/prefix", None),
        ("S3://bucket", None),
        ("memory:", None),
        ("file:///srv/slabdb", Path("/srv/slabdb")),
        ("/srv/slabdb", Path("/srv/slabdb")),
    ],
)
def test_local_directory_tells_directories_from_store_urls(
    location: str, expected: Path | None
) -> None:
    assert local_directory(location) == expected


def test_local_directory_makes_relative_paths_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert local_directory("./data") == tmp_path / "data"
