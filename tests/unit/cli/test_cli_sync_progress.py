"""``sync run`` progress: a live line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable

from rich.console import Console

from slabdb.cli.sync_progress import ProgressSnapshot, RunProgress, processed_keys
from slabdb.sync.metrics import SyncMetrics, SyncStatus
from slabdb.sync.processor import ProcessResult


def _status(pending: int, lag: float) -> SyncStatus:
    return SyncStatus("items", pending, 0, lag, 2, 1.0, 0, 0, True)


class FakeRun:
    """Figures a test moves forward; the progress thread reads them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.snap = ProgressSnapshot(0, _status(10, 3.5))
        self.reads = 0

    def set(self, processed: int, pending: int, lag: float) -> None:
        with self.lock:
            self.snap = ProgressSnapshot(processed, _status(pending, lag))

    def read(self) -> ProgressSnapshot:
        with self.lock:
            self.reads += 1
            return self.snap


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def test_without_a_terminal_progress_is_plain_log_lines() -> None:
    out, run = io.StringIO(), FakeRun()
    console = Console(file=out, force_terminal=False, width=200)
    with RunProgress("items", run.read, console, log_every_seconds=0.05):
        run.set(processed=40, pending=6, lag=1.25)
        _wait_for(lambda: "processed 40 keys" in out.getvalue())
    line = next(ln for ln in out.getvalue().splitlines() if "processed 40 keys" in ln)
    assert "sync items:" in line and "pending 6" in line and "lag 1.2 s" in line
    assert "errors 2" in line and "\x1b" not in out.getvalue()  # no terminal codes
    assert line[:4].isdigit()  # a timestamp first


def test_without_a_terminal_unchanged_figures_are_not_repeated() -> None:
    out, run = io.StringIO(), FakeRun()
    console = Console(file=out, force_terminal=False, width=200)
    with RunProgress(
        "items", run.read, console, log_every_seconds=0.02, idle_log_every_seconds=3600
    ):
        _wait_for(lambda: run.reads >= 10)
    assert len(out.getvalue().splitlines()) == 1


def test_on_a_terminal_progress_is_one_live_line() -> None:
    out, run = io.StringIO(), FakeRun()
    console = Console(file=out, force_terminal=True, width=120)
    with RunProgress("items", run.read, console, refresh_every_seconds=0.02):
        run.set(processed=7, pending=3, lag=0.5)
        _wait_for(lambda: "processed 7 keys" in out.getvalue())
    text = out.getvalue()
    assert "pending 3" in text and "lag 0.5 s" in text
    assert "\x1b[" in text  # redrawn in place with cursor movements
    assert not any(line[:4].isdigit() for line in text.splitlines())  # no log timestamps


def test_processed_keys_counts_every_result_but_failures() -> None:
    metrics = SyncMetrics("items")
    result = ProcessResult(
        succeeded=["a", "b", "c", "d"], failed={"e": ValueError()}, skipped=1, deleted_keys=1
    )
    metrics.observe_batch(result, 0.1)
    assert processed_keys(metrics) == 4
