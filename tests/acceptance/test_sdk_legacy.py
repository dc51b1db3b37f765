"""SDK 7.x and 9.x, each in its own virtualenv (``make sdk-venvs`` makes them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from slabdb_server_process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("sdk_compat_script.py")
SDKS = ("7", "9")  # pinned in requirements/sdk7.txt and sdk9.txt; 9.x has gRPC built in


def sdk_python(major: str) -> Path:
    """The venv's python, created (as ``make sdk-venvs`` would) if it is missing."""
    venv = ROOT / f".venv-sdk{major}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed-stamp"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "-r",
                str(ROOT / "requirements" / f"sdk{major}.txt"),
            ],
            check=True,
        )
        stamp.touch()
    return python


@pytest.mark.parametrize("major", SDKS)
def test_legacy_sdk(major: str, server: ServerProcess) -> None:
    python = sdk_python(major)
    proc = subprocess.run(
        [str(python), str(SCRIPT), server.url, server.api_key],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0 and "ALL OK" in proc.stdout, proc.stdout + proc.stderr
