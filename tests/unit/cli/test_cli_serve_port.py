"""``slabdb serve`` on a port in use fails in one line before it creates anything."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from slabdb.cli.listen import check_port_free
from slabdb.cli.main import app


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another process is listening on (a real bound socket)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr("slabdb.api.server.run", lambda options, engine: calls.append(options))
    return calls


def test_port_in_use_fails_in_one_line_before_the_data_directory_is_created(
    tmp_path: Path, busy_port: int, served: list[Any]
) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["serve", "--init", "--data", str(data), "--port", str(busy_port)]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1
    assert f"port {busy_port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr
    assert not data.exists() and served == []


def test_port_in_use_creates_no_key_in_an_existing_directory(
    tmp_path: Path, busy_port: int, served: list[Any]
) -> None:
    result = CliRunner().invoke(app, ["serve", "--data", str(tmp_path), "--port", str(busy_port)])
    assert result.exit_code == 1, result.output
    assert list(tmp_path.iterdir()) == [] and served == []


def test_a_free_port_passes_the_check(free_port: int) -> None:
    check_port_free("127.0.0.1", free_port)  # no error
