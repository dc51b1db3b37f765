"""The demo's child processes: start each with its own log, watch them, stop them all.

Children run in sessions of their own, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops them in reverse order of start (SIGTERM, then SIGKILL after
a grace period). Each child also gets ``PR_SET_PDEATHSIG``: if the supervisor itself is
killed, the kernel sends the child SIGTERM, so nothing outlives the demo.

    with stop_signals():           # SIGTERM behaves like Ctrl-C (KeyboardInterrupt)
        children = Children(log_dir)
        try:
            children.spawn("server", [...])
            ...
        finally:
            children.stop_all()
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_GRACE_SECONDS = 30.0
"""How long a child may take to stop after SIGTERM (a worker finishes its batch, the
server flushes) before it is killed."""
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1


class ChildFailedError(RuntimeError):
    """A child exited while it was needed (its log says why)."""


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt like SIGINT, so one ``finally`` cleans up."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (delivered on exit): a child is never started without
    being recorded, and cleanup is never cut short."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM (a second Ctrl-C must not cut the shutdown short)."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _prepare_child() -> None:  # pragma: no cover - runs in the child before exec
    """Unhold the stop signals (a child inherits the mask of :func:`signals_held`) and
    ask for SIGTERM when the supervisor dies."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def failed(self) -> ChildFailedError:
        code = self.process.poll()
        tail = self.log_tail()
        return ChildFailedError(
            f"{self.name} exited with code {code} (log: {self.log_path})"
            + (f"\n{tail}" if tail else "")
        )

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(10)


class Children:
    """The processes the demo started, in start order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Child] = []
        self._reported: set[int] = set()

    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        """Start ``argv`` with stdout and stderr appended to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with signals_held(), log_path.open("ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=_prepare_child,
            )
            child = Child(name, process, log_path)
            self.started.append(child)
        return child

    def forget(self, child: Child) -> None:
        """Stop watching a child that has done its job (a one-shot command)."""
        self.started = [c for c in self.started if c is not child]

    def newly_exited(self) -> list[Child]:
        """Children that exited since the last call (each reported once)."""
        out = [c for c in self.started if not c.alive() and c.pid not in self._reported]
        self._reported.update(c.pid for c in out)
        return out

    def stop_all(
        self, grace: float = STOP_GRACE_SECONDS, report: Callable[[str], None] | None = None
    ) -> None:
        """Stop every child, the last started first (``report``: a line per child)."""
        with signals_held():
            for child in reversed(self.started):
                started = time.monotonic()
                was_alive = child.alive()
                child.stop(grace)
                if report is not None and was_alive:
                    took = time.monotonic() - started
                    report(f"stopped {child.name} in {took:.1f} s")


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True if ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    timeout: float,
    watch: Sequence[Child] = (),
) -> float:
    """Poll ``condition`` until true; seconds taken. Fails if a watched child exits or
    ``timeout`` passes."""
    started = time.monotonic()
    while not condition():
        for child in watch:
            if not child.alive():
                raise child.failed()
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started
