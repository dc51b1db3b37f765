"""Sync workers: claim a batch from the outbox, process it, commit only after SlabDB
acknowledged. Wake on NOTIFY, poll as a fallback, reconnect when Postgres goes away.

Any number of workers may run, as threads (:class:`WorkerPool`) or processes on any
machines: claims are per key (see :mod:`slabdb.sync.outbox`), so no two workers ever
process one key at once and every worker reads the current row.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from slabdb.core.retry import RetryPolicy
from slabdb.embed.base import Embedder
from slabdb.sync.config import SyncConfig
from slabdb.sync.metrics import SyncMetrics
from slabdb.sync.outbox import KeyClaim, OutboxQueue
from slabdb.sync.processor import KeyProcessor, ProcessResult
from slabdb.sync.retry import OutboxRetryPolicy
from slabdb.sync.target import SyncTarget

logger = logging.getLogger(__name__)

DEFAULT_BATCH_KEYS = 64
"""Keys claimed per batch (each may be several chunks)."""
DEFAULT_POLL_INTERVAL_SECONDS = 5.0
"""Look at the outbox this often even without a NOTIFY (lost wake-ups, retries)."""
RECONNECT = RetryPolicy(initial_backoff_seconds=0.5, max_backoff_seconds=10.0)
"""Backoff between reconnects after Postgres went away (attempts are not capped)."""
_WAIT_SLICE_SECONDS = 0.5


@dataclass(frozen=True)
class WorkerSettings:
    batch_keys: int = DEFAULT_BATCH_KEYS
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    reconnect: RetryPolicy = RECONNECT
    retry: OutboxRetryPolicy = field(default_factory=OutboxRetryPolicy)


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=autocommit)
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    return conn


class OutboxLoop:
    """What every outbox reader shares: connections, ``drain`` over ``run_batch``, and a
    loop that waits for NOTIFY (or the poll interval) and survives Postgres restarts.

    Subclasses: :class:`SyncWorker` (process events) and the SQS relay (forward them).
    """

    transient_errors: tuple[type[BaseException], ...] = (psycopg.OperationalError,)
    """Errors after which :meth:`run` reconnects and carries on."""

    def __init__(self, dsn: str, cfg: SyncConfig, settings: WorkerSettings | None = None) -> None:
        self.dsn = dsn
        self.cfg = cfg
        self.settings = settings or WorkerSettings()
        self.queue = OutboxQueue(cfg.name)
        self._conn: psycopg.Connection | None = None
        self._aux: psycopg.Connection | None = None
        self._listen: psycopg.Connection | None = None

    def run_batch(self) -> int:
        raise NotImplementedError

    # -- connections ---------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.dsn)
        return self._conn

    def _aux_connection(self) -> psycopg.Connection:
        if self._aux is None or self._aux.closed:
            self._aux = connect(self.dsn, autocommit=True)
        return self._aux

    def close(self) -> None:
        for conn in (self._conn, self._aux, self._listen):
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
        self._conn = self._aux = self._listen = None

    def drain(
        self,
        *,
        until_empty: bool = False,
        timeout_seconds: float | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Process batches until none is ready (or ``stop`` is set); returns keys processed.

        With ``until_empty``, also wait out retry backoffs and other workers' claims until
        the sync's outbox is empty (events that failed for good leave it for the errors
        table).
        """
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        total = 0
        while stop is None or not stop.is_set():
            n = self.run_batch()
            total += n
            if n:
                continue
            if not until_empty:
                return total
            with self._connection().transaction():
                if self.queue.pending(self._connection()) == 0:
                    return total
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"sync {self.cfg.name}: outbox not empty after {timeout_seconds}s"
                )
            time.sleep(0.05)
        return total

    # -- the loop --------------------------------------------------------------------------

    def _wait(self, stop: threading.Event) -> None:
        """Sleep until a NOTIFY, ``stop`` or the poll interval, whichever comes first."""
        if self._listen is None or self._listen.closed:
            self._listen = connect(self.dsn, autocommit=True)
            self._listen.execute(f'LISTEN "{self.cfg.channel}"')
            return  # changes may have arrived before LISTEN: look at the outbox again
        waited = 0.0
        while not stop.is_set() and waited < self.settings.poll_interval_seconds:
            slice_ = min(_WAIT_SLICE_SECONDS, self.settings.poll_interval_seconds - waited)
            got = False
            for _ in self._listen.notifies(timeout=slice_, stop_after=1):
                got = True
            if got:
                # Drain other queued wake-ups without waiting.
                for _ in self._listen.notifies(timeout=0.0):
                    pass
                return
            waited += slice_

    def run(
        self, stop: threading.Event, on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        """Work until ``stop`` is set, surviving Postgres restarts."""
        failures = 0
        while not stop.is_set():
            try:
                self.drain(stop=stop)  # a stop waits for the batch in hand only
                failures = 0
                self._wait(stop)
            except self.transient_errors as exc:
                failures += 1
                delay = self.settings.reconnect.backoff_seconds(failures)
                logger.warning("sync %s: %s; reconnecting in %.1f s", self.cfg.name, exc, delay)
                if on_error is not None:
                    on_error(exc)
                self.close()
                stop.wait(delay)
        self.close()


class SyncWorker(OutboxLoop):
    """One worker: its own Postgres connections, a shared embedder and target."""

    def __init__(
        self,
        dsn: str,
        cfg: SyncConfig,
        embedder: Embedder,
        target: SyncTarget,
        settings: WorkerSettings | None = None,
        metrics: SyncMetrics | None = None,
    ) -> None:
        super().__init__(dsn, cfg, settings)
        self.metrics = metrics
        self.processor = KeyProcessor(cfg, embedder, target, before_write=self._raise_bounds)

    def _raise_bounds(self, bounds: dict[str, int]) -> None:
        self.processor.checksums.raise_bounds(self._aux_connection(), bounds)

    # -- one batch -------------------------------------------------------------------------

    def run_batch(self) -> int:
        """Claim, process and commit one batch; returns how many keys were claimed."""
        conn = self._connection()
        started = time.perf_counter()
        with conn.transaction():
            claims = self.queue.claim(conn, self.settings.batch_keys)
            if not claims:
                return 0
            result = self._process(conn, [c.key for c in claims])
            self._settle(conn, claims, result)
        self._record(result, len(claims), time.perf_counter() - started)
        return len(claims)

    def _process(self, conn: psycopg.Connection, keys: list[str]) -> ProcessResult:
        try:
            return self.processor.process(conn, keys)
        except psycopg.Error:
            raise  # the transaction is gone; the claim rolls back
        except Exception as exc:  # the target failed: the whole batch waits
            logger.warning("sync %s: batch of %d keys failed: %s", self.cfg.name, len(keys), exc)
            return ProcessResult(failed={k: exc for k in keys})

    def _settle(
        self, conn: psycopg.Connection, claims: list[KeyClaim], result: ProcessResult
    ) -> None:
        done = [c for c in claims if c.key not in result.failed]
        self.queue.ack(conn, done)
        for claim in claims:
            error = result.failed.get(claim.key)
            if error is None:
                continue
            decision = self.settings.retry.decide(error, claim.attempts + 1)
            if decision.give_up:
                logger.warning(
                    "sync %s: key %s failed for good: %s", self.cfg.name, claim.key, decision.reason
                )
                self.queue.give_up(conn, claim, decision.reason)
            else:
                self.queue.reschedule(conn, claim, decision.delay_seconds, decision.reason)

    def _record(self, result: ProcessResult, claimed: int, seconds: float) -> None:
        processed = claimed - len(result.failed)
        try:
            self.queue.record_throughput(self._aux_connection(), processed, result.embedded_texts)
        except psycopg.Error as exc:  # statistics only; never fail a committed batch
            logger.debug("throughput not recorded: %s", exc)
        if self.metrics is not None:
            self.metrics.observe_batch(result, seconds)


class WorkerPool:
    """``n`` worker threads, each with its own connections."""

    def __init__(self, make_worker: Callable[[], SyncWorker], threads: int) -> None:
        self.workers = [make_worker() for _ in range(max(1, threads))]
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i, worker in enumerate(self.workers):
            t = threading.Thread(
                target=worker.run, args=(self.stop_event,), name=f"slabdb-sync-{i}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout)

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
