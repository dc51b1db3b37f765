"""A wrong or unreachable DSN ends every ``sync`` command with one line, never a
traceback and never the password; ``SLABDB_SYNC_DSN`` stands in for ``--dsn``."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from slabdb.cli.main import app
from slabdb.cli.postgres import connect_failure_reason, redact, server_address

PASSWORD = "s3cret-Pa55"
SYNC_COMMANDS = [
    ["init", "--table", "t", "--key", "id", "--text", "{a}", "--index", "i"],
    ["bootstrap"],
    ["run", "--once"],
    ["relay", "--queue-url", "http://127.0.0.1:1/q", "--once"],
    ["status"],
    ["retry-errors"],
    ["verify"],
    ["uninstall"],
]


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port that refuses connections: bound, never listening, held for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _assert_one_line_error(stderr: str, output: str) -> str:
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), output
    assert "Traceback" not in output and PASSWORD not in output
    return stderr.strip()


@pytest.mark.parametrize("command", SYNC_COMMANDS, ids=lambda c: c[0])
def test_unreachable_dsn_is_one_line_for_every_sync_command(
    command: list[str], refused_port: int
) -> None:
    dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{refused_port}/shop"
    result = CliRunner().invoke(app, ["sync", command[0], "--dsn", dsn, *command[1:]])
    assert result.exit_code == 1, result.output
    line = _assert_one_line_error(result.stderr, result.output)
    assert line == (
        f"error: cannot connect to PostgreSQL at 127.0.0.1:{refused_port}: Connection refused"
    )


@pytest.mark.parametrize("command", SYNC_COMMANDS, ids=lambda c: c[0])
def test_every_sync_command_reads_the_dsn_from_the_environment(
    command: list[str], refused_port: int
) -> None:
    env = {"SLABDB_SYNC_DSN": f"host=127.0.0.1 port={refused_port} password={PASSWORD}"}
    result = CliRunner().invoke(app, ["sync", *command], env=env)
    assert result.exit_code == 1, result.output
    line = _assert_one_line_error(result.stderr, result.output)
    assert f"127.0.0.1:{refused_port}" in line


def test_no_dsn_at_all_says_how_to_give_one() -> None:
    result = CliRunner().invoke(app, ["sync", "status"], env={"SLABDB_SYNC_DSN": ""})
    assert result.exit_code == 1
    line = _assert_one_line_error(result.stderr, result.output)
    assert "--dsn" in line and "SLABDB_SYNC_DSN" in line


def test_a_dsn_that_does_not_parse_is_one_line_without_the_password() -> None:
    result = CliRunner().invoke(app, ["sync", "status", "--dsn", f"{PASSWORD} password={PASSWORD}"])
    assert result.exit_code == 1
    line = _assert_one_line_error(result.stderr, result.output)
    assert line.startswith("error: invalid PostgreSQL DSN")


def test_unknown_host_is_one_line() -> None:
    result = CliRunner().invoke(
        app, ["sync", "status", "--dsn", f"postgresql://app:{PASSWORD}@no-such-host.invalid/db"]
    )
    assert result.exit_code == 1
    line = _assert_one_line_error(result.stderr, result.output)
    assert line.startswith("error: cannot connect to PostgreSQL at no-such-host.invalid:5432: ")


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://app:{PASSWORD}@db/shop",
        f"host=db password={PASSWORD} user=app",
        f"host=db password='{PASSWORD}'",
    ],
)
def test_redact_removes_the_password_in_both_dsn_forms(dsn: str) -> None:
    assert redact(f"failed for {dsn} ({PASSWORD})", dsn).count(PASSWORD) == 0


def test_server_address_fills_in_libpq_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("PGPORT", raising=False)
    assert server_address("postgresql://app@db.example/shop") == "db.example:5432"
    assert server_address("dbname=shop") == "localhost:5432"
    assert server_address("host=10.0.0.5 port=6543") == "10.0.0.5:6543"


def test_connect_failure_reason_drops_libpq_framing() -> None:
    message = (
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        'FATAL:  password authentication failed for user "app"\n\tsome hint'
    )
    reason = connect_failure_reason(Exception(message))
    assert reason == 'password authentication failed for user "app"'
