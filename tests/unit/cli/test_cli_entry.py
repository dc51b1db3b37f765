"""``slabdb --version``, and ``slabdb --help`` loading no heavy module."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

import slabdb
from slabdb.cli.main import app

HEAVY = ("numpy", "faiss", "fastapi", "grpc", "psycopg", "onnxruntime", "pydantic_settings")
HEAVY_SLABDB = ("slabdb.client", "slabdb.engine", "slabdb.api", "slabdb.sync", "slabdb.embed")


def test_version_prints_the_package_version_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"slabdb {slabdb.__version__}\n"


def _imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` lines ``import time: self | cum | name``."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_help_imports_no_engine_server_or_postgres_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "slabdb.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for command in ("serve", "demo", "indexes", "compact", "keys", "sync"):
        assert command in proc.stdout
    modules = _imported_modules(proc.stderr)
    assert "slabdb.cli.main" in modules  # the parse works
    heavy = {m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY_SLABDB)}
    assert heavy == set()


def test_importing_the_cli_app_imports_no_heavy_module() -> None:
    code = (
        "import sys, slabdb.cli.main\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}"
        f" or m.startswith({HEAVY_SLABDB!r})]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_sync_group_loads_on_use_and_lists_its_commands() -> None:
    result = CliRunner().invoke(app, ["sync", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    for command in ("init", "bootstrap", "run", "relay", "status", "retry-errors", "verify"):
        assert command in result.stdout
    assert "SLABDB_SYNC_DSN" in result.stdout


def test_a_typo_of_a_lazy_group_gets_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["synk"])
    assert result.exit_code == 2
    assert "Did you mean 'sync'?" in result.output
