"""``slabdb sync run``'s progress: keys this process processed, the sync's pending events,
lag and errors.

On a terminal it is one Rich live line, refreshed every second. Otherwise (a service, a
pipe, a log file) it is a plain line every few seconds while the figures change, and once
a minute while they do not::

    2025-06-01 12:00:05 sync products: processed 1,234 keys (+40, 8.0/s); pending 42, lag 1.3 s, errors 0
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from rich.console import Console
from rich.live import Live
from rich.text import Text

from slabdb.cli.errors import one_line
from slabdb.sync.metrics import SyncMetrics, SyncStatus, read_status

if TYPE_CHECKING:
    from types import TracebackType

DEFAULT_LOG_EVERY_SECONDS = 5.0
"""Without a terminal: at most one progress line this often while the figures change."""
IDLE_LOG_EVERY_SECONDS = 60.0
"""Without a terminal: one line this often even when nothing changed (still alive)."""
REFRESH_EVERY_SECONDS = 1.0
"""On a terminal: how often the live line is refreshed."""
STATUS_CONNECT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class ProgressSnapshot:
    processed: int
    """Keys this process has processed (all its workers) since it started."""
    status: SyncStatus | None
    """The sync's figures from Postgres (all workers, all processes); None if unreadable."""
    status_error: str = ""


def processed_keys(metrics: SyncMetrics) -> int:
    """Keys processed (embedded, skipped, deleted or metadata-only, not failed) by this
    process, read from its Prometheus counter."""
    total = 0.0
    for family in metrics.events.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("result") != "failed":
                total += sample.value
    return int(total)


class StatusReader:
    """Reads one sync's status view over its own connection (re-opened after a failure)."""

    def __init__(self, dsn: str, sync: str) -> None:
        self.dsn = dsn
        self.sync = sync
        self._conn: psycopg.Connection | None = None

    def read(self) -> tuple[SyncStatus | None, str]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    self.dsn, autocommit=True, connect_timeout=STATUS_CONNECT_TIMEOUT_SECONDS
                )
            statuses = read_status(self._conn, self.sync)
        except psycopg.Error as exc:
            self.close()
            return None, one_line(str(exc))
        return (statuses[0] if statuses else None), ""

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None


def snapshot_reader(metrics: SyncMetrics, reader: StatusReader) -> Callable[[], ProgressSnapshot]:
    def read() -> ProgressSnapshot:
        status, error = reader.read()
        return ProgressSnapshot(processed_keys(metrics), status, error)

    return read


def progress_line(sync: str, snap: ProgressSnapshot, delta: int, seconds: float) -> str:
    rate = delta / seconds if seconds > 0 else 0.0
    head = f"sync {sync}: processed {snap.processed:,} keys (+{delta:,}, {rate:,.1f}/s)"
    s = snap.status
    if s is None:
        return f"{head}; status unavailable: {snap.status_error or 'sync not found'}"
    return f"{head}; pending {s.pending:,}, lag {s.lag_seconds:,.1f} s, errors {s.errors:,}"


class RunProgress:
    """A background thread that shows progress while the ``with`` block runs."""

    def __init__(
        self,
        sync: str,
        read: Callable[[], ProgressSnapshot],
        console: Console,
        *,
        log_every_seconds: float = DEFAULT_LOG_EVERY_SECONDS,
        idle_log_every_seconds: float = IDLE_LOG_EVERY_SECONDS,
        refresh_every_seconds: float = REFRESH_EVERY_SECONDS,
    ) -> None:
        self.sync = sync
        self.read = read
        self.console = console
        self.interactive = console.is_terminal
        self.every = refresh_every_seconds if self.interactive else log_every_seconds
        self.idle_every = idle_log_every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slabdb-sync-progress", daemon=True)
        self._live: Live | None = None

    def __enter__(self) -> RunProgress:
        if self.interactive:
            self._live = Live(Text(f"sync {self.sync}: starting"), console=self.console,
                              auto_refresh=False, transient=False)  # fmt: skip
            self._live.start()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * STATUS_CONNECT_TIMEOUT_SECONDS)
        if self._live is not None:
            self._live.stop()

    def _run(self) -> None:
        last = (0, time.monotonic())
        logged: tuple[int, int, int] | None = None
        logged_at = -float("inf")
        while not self._stop.wait(self.every):
            try:
                snap = self.read()
            except Exception as exc:  # progress must never stop the workers
                snap = ProgressSnapshot(last[0], None, one_line(str(exc)))
            now = time.monotonic()
            line = progress_line(self.sync, snap, snap.processed - last[0], now - last[1])
            last = (snap.processed, now)
            if self._live is not None:
                self._live.update(Text(line), refresh=True)
                continue
            figures = _figures(snap)
            if figures != logged or now - logged_at >= self.idle_every:
                stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
                self.console.print(f"{stamp} {line}", markup=False, highlight=False, soft_wrap=True)
                logged, logged_at = figures, now


def _figures(snap: ProgressSnapshot) -> tuple[int, int, int]:
    s = snap.status
    return (snap.processed, s.pending if s else -1, s.errors if s else -1)
