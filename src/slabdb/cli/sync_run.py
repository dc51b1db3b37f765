"""``slabdb sync run`` (workers, with progress) and ``slabdb sync relay`` (outbox to SQS)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from slabdb.cli.postgres import DSN, connect, sync_command
from slabdb.cli.sync_options import (
    DATA_OVERRIDE,
    NAME,
    QUEUE_URL,
    SQS_ENDPOINT,
    installed_sync,
    require_target_data,
)
from slabdb.cli.sync_progress import (
    DEFAULT_LOG_EVERY_SECONDS,
    RunProgress,
    StatusReader,
    snapshot_reader,
)
from slabdb.sync import schema
from slabdb.sync.config import SyncConfig
from slabdb.sync.metrics import SyncMetrics
from slabdb.sync.retry import (
    DEFAULT_INITIAL_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    OutboxRetryPolicy,
)
from slabdb.sync.setup import open_target, resolve_embedder
from slabdb.sync.sqs import (
    DEFAULT_RESEND_AFTER_SECONDS,
    DEFAULT_WAIT_SECONDS,
    SqsConsumer,
    SqsRelay,
    SqsSettings,
    sqs_client,
)
from slabdb.sync.target import SyncTarget
from slabdb.sync.worker import (
    DEFAULT_BATCH_KEYS,
    DEFAULT_POLL_INTERVAL_SECONDS,
    OutboxLoop,
    SyncWorker,
    WorkerPool,
    WorkerSettings,
)

console = Console()


@sync_command
def run(  # long only by its Typer options: one per flag, the body is ~40 lines
    dsn: str = DSN,
    name: str | None = NAME,
    data: str | None = DATA_OVERRIDE,
    queue: str = typer.Option("outbox", help="Where workers take work from: outbox or sqs."),
    queue_url: str | None = QUEUE_URL,
    sqs_endpoint_url: str | None = SQS_ENDPOINT,
    wait_seconds: int = typer.Option(
        DEFAULT_WAIT_SECONDS, min=0, max=20, help="SQS long-poll seconds."
    ),
    visibility_timeout: int | None = typer.Option(
        None, min=0, help="SQS visibility timeout per receive (default: the queue's)."
    ),
    workers: int = typer.Option(1, min=1, help="Worker threads (run more processes at will)."),
    once: bool = typer.Option(False, help="Drain the outbox and exit."),
    batch_keys: int = typer.Option(DEFAULT_BATCH_KEYS, min=1, help="Keys per claim."),
    poll_interval: float = typer.Option(
        DEFAULT_POLL_INTERVAL_SECONDS, help="Seconds between polls."
    ),
    max_attempts: int = typer.Option(
        DEFAULT_MAX_ATTEMPTS, min=1, help="Attempts before errors table."
    ),
    retry_backoff: float = typer.Option(
        DEFAULT_INITIAL_BACKOFF_SECONDS, help="First retry delay (s)."
    ),
    metrics_port: int | None = typer.Option(None, help="Serve Prometheus /metrics on 127.0.0.1."),
    progress_every: float = typer.Option(
        DEFAULT_LOG_EVERY_SECONDS,
        min=0.1,
        help="Seconds between progress lines when stdout is not a terminal "
        "(a terminal gets one live line).",
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="More log output (INFO level)."),
) -> None:
    """Process the outbox: embed and upsert changed rows, delete removed ones.

    Shows progress (keys processed, pending events, lag, errors) as it goes.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if queue not in ("outbox", "sqs"):
        raise typer.BadParameter(f"must be outbox or sqs, not {queue!r}", param_hint="--queue")
    if queue == "sqs" and not queue_url:
        raise typer.BadParameter("--queue sqs needs --queue-url", param_hint="--queue-url")
    sync = installed_sync(dsn, name)
    with connect(dsn) as conn:
        cfg = schema.load_config(conn, sync)
    require_target_data(cfg, data)
    settings = WorkerSettings(
        batch_keys=batch_keys,
        poll_interval_seconds=poll_interval,
        retry=OutboxRetryPolicy(max_attempts=max_attempts, initial_backoff_seconds=retry_backoff),
    )
    metrics = SyncMetrics(sync, dsn)
    if metrics_port is not None:
        metrics.serve(metrics_port)
        console.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    sqs = None
    if queue == "sqs":
        assert queue_url is not None
        sqs = SqsSettings(
            queue_url,
            wait_seconds=min(wait_seconds, 1) if once else wait_seconds,
            visibility_timeout=visibility_timeout,
        )
    target = open_target(cfg, data)
    make = _worker_factory(dsn, cfg, target, settings, metrics, sqs, sqs_endpoint_url)
    reader = StatusReader(dsn, sync)
    progress = RunProgress(
        sync, snapshot_reader(metrics, reader), console, log_every_seconds=progress_every
    )
    try:
        if once:
            _drain_once(make, progress)
        else:
            running = f"sync {sync}: {workers} {queue} worker(s) running; Ctrl-C stops"
            console.print(running, highlight=False)
            with progress:
                _run_until_signal(WorkerPool(make, workers))
    finally:
        reader.close()
        target.close()


def _worker_factory(
    dsn: str,
    cfg: SyncConfig,
    target: SyncTarget,
    settings: WorkerSettings,
    metrics: SyncMetrics,
    sqs: SqsSettings | None,
    sqs_endpoint_url: str | None,
) -> Callable[[], SyncWorker]:
    """Makes one worker (per thread): an outbox worker, or an SQS consumer with ``sqs``."""
    embedder = resolve_embedder(cfg.embedder, cfg.embedder_options)
    if sqs is None:
        return lambda: SyncWorker(dsn, cfg, embedder, target, settings, metrics)
    client = sqs_client(sqs_endpoint_url)
    return lambda: SqsConsumer(dsn, cfg, embedder, target, client, sqs, settings, metrics)


def _drain_once(make: Callable[[], SyncWorker], progress: RunProgress) -> None:
    worker = make()
    try:
        started = time.perf_counter()
        with progress:
            n = worker.drain()
        console.print(f"processed {n:,} keys in {time.perf_counter() - started:.1f}s")
    finally:
        worker.close()


def _run_until_signal(pool: WorkerPool | OutboxLoop) -> None:
    """Run until SIGTERM or SIGINT (Ctrl-C)."""
    stop = pool.stop_event if isinstance(pool, WorkerPool) else threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if isinstance(pool, WorkerPool):
        with pool:
            while not stop.wait(1.0):
                pass
    else:
        pool.run(stop)


@sync_command
def relay(
    dsn: str = DSN,
    name: str | None = NAME,
    queue_url: str = typer.Option(..., "--queue-url", envvar="SLABDB_SYNC_QUEUE_URL"),
    sqs_endpoint_url: str | None = SQS_ENDPOINT,
    once: bool = typer.Option(False, help="Relay what is pending and exit."),
    poll_interval: float = typer.Option(
        DEFAULT_POLL_INTERVAL_SECONDS, help="Seconds between polls."
    ),
    resend_after: float = typer.Option(
        DEFAULT_RESEND_AFTER_SECONDS, help="Send again events relayed this long ago (s)."
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="More log output (INFO level)."),
) -> None:
    """Move outbox events into an SQS queue (then: sync run --queue sqs)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    sync = installed_sync(dsn, name)
    with connect(dsn) as conn:
        cfg = schema.load_config(conn, sync)
    loop = SqsRelay(
        dsn, cfg, sqs_client(sqs_endpoint_url), queue_url,
        WorkerSettings(poll_interval_seconds=poll_interval), resend_after_seconds=resend_after,
    )  # fmt: skip
    if once:
        try:
            console.print(f"relayed {loop.drain():,} events")
        finally:
            loop.close()
        return
    console.print(f"sync {sync}: relaying to {queue_url}; Ctrl-C stops", highlight=False)
    _run_until_signal(loop)
