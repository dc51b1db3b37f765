"""``slabdb demo`` as a subprocess for tests: start, wait for the ready line, stop.

    demo = DemoRun(data_dir, port, rows=300)
    seconds = demo.start()        # until "SlabDB demo ready: ..." (or it fails)
    ...
    demo.stop()                   # SIGTERM, as Ctrl-C would be

``data_dir``'s parent must be enterable by the ``postgres`` user when tests run as root
(:func:`demo_parent` makes one).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

READY_PREFIX = "SlabDB demo ready: "
FIRST_RUN_TIMEOUT_SECONDS = 900.0
STOP_TIMEOUT_SECONDS = 90.0


def demo_parent() -> Path:
    """A fresh directory others may enter (pytest's tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="slabdb-demo-test-"))
    path.chmod(0o755)
    return path


class DemoRun:
    def __init__(self, data: Path, port: int, rows: int = 300) -> None:
        self.data = data
        self.port = port
        self.rows = rows
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.descendants: list[psutil.Process] = []
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def slabdb_url(self) -> str:
        ports = json.loads((self.data / "ports.json").read_text())
        return f"http://127.0.0.1:{ports['slabdb']}"

    @property
    def api_key(self) -> str:
        return (self.data / "slabdb" / "_control" / "default-api-key").read_text().strip()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith(READY_PREFIX):
                self._ready.set()

    def start(self, timeout: float = FIRST_RUN_TIMEOUT_SECONDS, wait: bool = True) -> float:
        """Start the demo; seconds until its ready line (``wait=False``: return at once)."""
        argv = [
            sys.executable, "-m", "slabdb.cli", "demo", "--rows", str(self.rows),
            "--port", str(self.port), "--data", str(self.data),
        ]  # fmt: skip
        self.lines = []
        self._ready.clear()
        started = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "120"},
        )
        threading.Thread(target=self._read, name="demo-output", daemon=True).start()
        if not wait:
            return 0.0
        while not self._ready.wait(0.1):
            if self.process.poll() is not None:
                raise AssertionError(f"the demo exited ({self.process.returncode}):\n{self.output}")
            if time.monotonic() - started > timeout:
                self.stop()
                raise AssertionError(f"no ready line after {timeout:.0f} s:\n{self.output}")
        seconds = time.monotonic() - started
        assert self.lines[-1] == f"{READY_PREFIX}{self.url}/", self.output
        self.descendants = psutil.Process(self.process.pid).children(recursive=True)
        return seconds

    def wait_for_line(self, prefix: str, timeout: float = FIRST_RUN_TIMEOUT_SECONDS) -> str:
        """The first output line starting with ``prefix`` (waits for it)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if line.startswith(prefix):
                    self.descendants = psutil.Process(self.process.pid).children(recursive=True)
                    return line
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no line {prefix!r}:\n{self.output}")
            time.sleep(0.05)

    def stop(self) -> int:
        """SIGTERM the demo (as Ctrl-C would) and wait for it; its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT_SECONDS)

    def kill_leftovers(self) -> None:
        """After a failed test: nothing of this demo may keep running."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        for child in self.descendants:
            if child.is_running():
                child.kill()
        pid_file = self.data / "postgres" / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text().split("\n", 1)[0]), signal.SIGQUIT)


def running_under(path: Path) -> list[psutil.Process]:
    """Processes whose command line names ``path`` (the demo's data directory)."""
    needle = str(path)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(needle in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
