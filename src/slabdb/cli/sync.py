"""``slabdb sync …``: keep a Postgres table searchable (see docs/postgres-sync.md)."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from slabdb.sync import schema
from slabdb.sync.bootstrap import DEFAULT_BOOTSTRAP_BATCH, bootstrap, count_rows
from slabdb.sync.config import DEFAULT_CHUNK_CHARS, DEFAULT_EMBEDDER, SyncConfig
from slabdb.sync.metrics import SyncMetrics, read_status
from slabdb.sync.outbox import OutboxQueue
from slabdb.sync.remote import DEFAULT_API_KEY_ENV
from slabdb.sync.retry import (
    DEFAULT_INITIAL_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    OutboxRetryPolicy,
)
from slabdb.sync.setup import (
    init_sync,
    open_target,
    resolve_embedder,
    uninstall_sync,
)
from slabdb.sync.sqs import (
    DEFAULT_RESEND_AFTER_SECONDS,
    DEFAULT_WAIT_SECONDS,
    SqsConsumer,
    SqsRelay,
    SqsSettings,
    sqs_client,
)
from slabdb.sync.verify import verify_sync
from slabdb.sync.worker import (
    DEFAULT_BATCH_KEYS,
    DEFAULT_POLL_INTERVAL_SECONDS,
    OutboxLoop,
    SyncWorker,
    WorkerPool,
    WorkerSettings,
)

sync_app = typer.Typer(help="Keep a Postgres table searchable by meaning.", no_args_is_help=True)
console = Console()

DSN = typer.Option(..., "--dsn", envvar="SLABDB_SYNC_DSN", help="Postgres connection string.")
NAME = typer.Option(None, "--name", help="Sync name (default: the only one installed).")
QUEUE_URL = typer.Option(
    None, "--queue-url", envvar="SLABDB_SYNC_QUEUE_URL", help="SQS queue URL (--queue sqs)."
)
SQS_ENDPOINT = typer.Option(
    None, "--sqs-endpoint-url", envvar="AWS_ENDPOINT_URL_SQS", help="SQS endpoint override."
)


def _name(dsn: str, name: str | None) -> str:
    if name:
        return name
    with psycopg.connect(dsn) as conn:
        names = schema.list_syncs(conn)
    if len(names) != 1:
        raise typer.BadParameter(f"pass --name (installed syncs: {names or 'none'})")
    return names[0]


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _bootstrap(dsn: str, cfg: SyncConfig, batch: int, restart: bool) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        total = count_rows(conn, cfg)
        with Progress(
            TextColumn("bootstrap"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=False,
        ) as bar:  # fmt: skip
            task = bar.add_task("bootstrap", total=total or None)
            result = bootstrap(
                conn, cfg, batch=batch, restart=restart, progress=lambda n: bar.advance(task, n)
            )
    if result.already_done:
        console.print("bootstrap already done (pass --restart to enqueue every row again)")
    else:
        console.print(f"enqueued {result.enqueued:,} of {result.scanned:,} rows")


@sync_app.command()
def init(
    dsn: str = DSN,
    table: str = typer.Option(..., help="Table to sync, e.g. products or shop.products."),
    key: str = typer.Option(..., help="Primary-key column."),
    text: str = typer.Option(..., help='Text template over columns, e.g. "{name}: {description}".'),
    index: str = typer.Option(..., help="SlabDB index to write."),
    metadata: str = typer.Option("", help="Comma-separated columns stored as metadata."),
    data: str = typer.Option("./data", help="SlabDB directory or store URL."),
    target_url: str = typer.Option(
        "", help="Write through the Pinecone API instead: a `slabdb serve` (or Pinecone) URL."
    ),
    api_key_env: str = typer.Option(
        DEFAULT_API_KEY_ENV, help="Environment variable holding the --target-url API key."
    ),
    embedder: str = typer.Option(DEFAULT_EMBEDDER, help="Embedder name (or module:Factory)."),
    embedder_options: str = typer.Option("{}", help="Embedder options as JSON."),
    name: str | None = typer.Option(None, help="Sync name (default: the index name)."),
    chunk_chars: int = typer.Option(DEFAULT_CHUNK_CHARS, min=16, help="Longest chunk."),
    no_bootstrap: bool = typer.Option(
        False, "--no-bootstrap", help="Do not enqueue existing rows."
    ),
) -> None:
    """Install the outbox, triggers, errors table and status view; create the index."""
    cfg = init_sync(
        dsn, table=table, key=key, template=text, index=index, metadata=_split(metadata),
        data=data, target_url=target_url, api_key_env=api_key_env, name=name, embedder=embedder,
        embedder_options=json.loads(embedder_options), chunk_chars=chunk_chars,
    )  # fmt: skip
    console.print(
        f"sync [bold]{cfg.name}[/]: {cfg.qualified_table}.{cfg.key_column} → index "
        f"'{cfg.index}' at {cfg.location} ({cfg.embedder})"
    )
    if not no_bootstrap:
        _bootstrap(dsn, cfg, DEFAULT_BOOTSTRAP_BATCH, restart=False)


@sync_app.command("bootstrap")
def bootstrap_cmd(
    dsn: str = DSN,
    name: str | None = NAME,
    batch: int = typer.Option(DEFAULT_BOOTSTRAP_BATCH, min=1, help="Keys per transaction."),
    restart: bool = typer.Option(False, help="Start over (enqueue every row again)."),
    reembed: bool = typer.Option(False, help="Forget checksums so every row is re-embedded."),
) -> None:
    """Enqueue every existing row (resumable, idempotent)."""
    sync = _name(dsn, name)
    with psycopg.connect(dsn) as conn:
        cfg = schema.load_config(conn, sync)
        if reembed:
            from slabdb.sync.checksums import ChecksumStore

            with conn.transaction():
                ChecksumStore(cfg.name).clear(conn)
    _bootstrap(dsn, cfg, batch, restart or reembed)


@sync_app.command()
def run(
    dsn: str = DSN,
    name: str | None = NAME,
    data: str | None = typer.Option(None, help="Override the stored SlabDB location."),
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
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Process the outbox: embed and upsert changed rows, delete removed ones."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    sync = _name(dsn, name)
    with psycopg.connect(dsn) as conn:
        cfg = schema.load_config(conn, sync)
    settings = WorkerSettings(
        batch_keys=batch_keys,
        poll_interval_seconds=poll_interval,
        retry=OutboxRetryPolicy(max_attempts=max_attempts, initial_backoff_seconds=retry_backoff),
    )
    metrics = SyncMetrics(sync, dsn)
    if metrics_port is not None:
        metrics.serve(metrics_port)
        console.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    embedder = resolve_embedder(cfg.embedder, cfg.embedder_options)
    target = open_target(cfg, data)
    make: Callable[[], SyncWorker]
    if queue == "sqs":
        if not queue_url:
            raise typer.BadParameter("--queue sqs needs --queue-url")
        client = sqs_client(sqs_endpoint_url)
        sqs = SqsSettings(
            queue_url,
            wait_seconds=min(wait_seconds, 1) if once else wait_seconds,
            visibility_timeout=visibility_timeout,
        )

        def make() -> SyncWorker:
            return SqsConsumer(dsn, cfg, embedder, target, client, sqs, settings, metrics)
    elif queue == "outbox":

        def make() -> SyncWorker:
            return SyncWorker(dsn, cfg, embedder, target, settings, metrics)
    else:
        raise typer.BadParameter(f"--queue must be outbox or sqs, not {queue!r}")
    try:
        if once:
            worker = make()
            try:
                started = time.perf_counter()
                n = worker.drain()
                console.print(f"processed {n:,} keys in {time.perf_counter() - started:.1f}s")
            finally:
                worker.close()
            return
        _run_until_signal(WorkerPool(make, workers), f"sync {sync}: {workers} {queue} worker(s)")
    finally:
        target.close()


def _run_until_signal(pool: WorkerPool | OutboxLoop, what: str) -> None:
    stop = pool.stop_event if isinstance(pool, WorkerPool) else threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(f"{what} running; Ctrl-C stops")
    if isinstance(pool, WorkerPool):
        with pool:
            while not stop.wait(1.0):
                pass
    else:
        pool.run(stop)


@sync_app.command()
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
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Move outbox events into an SQS queue (then: sync run --queue sqs)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    sync = _name(dsn, name)
    with psycopg.connect(dsn) as conn:
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
    _run_until_signal(loop, f"sync {sync}: relay to {queue_url}")


@sync_app.command()
def status(
    dsn: str = DSN,
    name: str | None = typer.Option(None, help="One sync (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Pending events, lag, errors and throughput."""
    with psycopg.connect(dsn) as conn:
        statuses = read_status(conn, name)
    if as_json:
        console.print_json(json.dumps([s.__dict__ for s in statuses]))
        return
    table = Table(
        "sync",
        "pending",
        "retrying",
        "lag (s)",
        "errors",
        "events/s (5 min)",
        "processed",
        "embedded",
        "bootstrapped",
    )
    for s in statuses:
        table.add_row(
            s.sync, f"{s.pending:,}", f"{s.retrying:,}", f"{s.lag_seconds:.1f}", f"{s.errors:,}",
            f"{s.events_per_second:.1f}", f"{s.processed_total:,}", f"{s.embedded_total:,}",
            str(s.bootstrapped),
        )  # fmt: skip
    console.print(table)


@sync_app.command("retry-errors")
def retry_errors(dsn: str = DSN, name: str | None = NAME) -> None:
    """Move every failed key back to the outbox."""
    sync = _name(dsn, name)
    with psycopg.connect(dsn) as conn, conn.transaction():
        n = OutboxQueue(sync).retry_errors(conn)
        conn.execute("SELECT pg_notify(%s, '')", (schema.load_config(conn, sync).channel,))
    console.print(f"re-queued {n:,} key(s)")


@sync_app.command()
def verify(dsn: str = DSN, name: str | None = NAME, data: str | None = typer.Option(None)) -> None:
    """Compare every row with the index (ids, metadata, vectors)."""
    sync = _name(dsn, name)
    with psycopg.connect(dsn) as conn:
        cfg = schema.load_config(conn, sync)
        target = open_target(cfg, data)
        try:
            report = verify_sync(
                conn, cfg, target, resolve_embedder(cfg.embedder, cfg.embedder_options)
            )
        finally:
            target.close()
    console.print(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@sync_app.command()
def uninstall(dsn: str = DSN, name: str | None = NAME) -> None:
    """Remove the triggers, outbox rows and config of a sync (the index stays)."""
    sync = _name(dsn, name)
    uninstall_sync(dsn, sync)
    console.print(f"sync {sync} removed")
