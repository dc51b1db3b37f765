"""``slabdb sync …``: keep a Postgres table searchable (see docs/postgres-sync.md).

Loaded only when a ``sync`` command runs (it imports psycopg and the whole pipeline).
Every command takes ``--dsn`` or reads ``SLABDB_SYNC_DSN`` (:mod:`slabdb.cli.postgres`).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from slabdb.cli.data import DEFAULT_DATA, require_existing
from slabdb.cli.errors import CommandError
from slabdb.cli.postgres import DSN, connect, sync_command
from slabdb.cli.sync_options import DATA_OVERRIDE, NAME, installed_sync, require_target_data
from slabdb.cli.sync_run import relay, run
from slabdb.cli.sync_status import render_status
from slabdb.sync import schema
from slabdb.sync.bootstrap import DEFAULT_BOOTSTRAP_BATCH, bootstrap, count_rows
from slabdb.sync.config import DEFAULT_CHUNK_CHARS, DEFAULT_EMBEDDER, SyncConfig
from slabdb.sync.metrics import read_status
from slabdb.sync.outbox import OutboxQueue
from slabdb.sync.remote import DEFAULT_API_KEY_ENV
from slabdb.sync.setup import (
    init_sync,
    open_target,
    resolve_embedder,
    uninstall_sync,
)
from slabdb.sync.verify import verify_sync

sync_app = typer.Typer(no_args_is_help=True)  # its help: slabdb.cli.main.SYNC_HELP
console = Console()


def _json_options(raw: str) -> dict[str, Any]:
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--embedder-options is not JSON: {exc}") from None
    if not isinstance(options, dict):
        raise CommandError("--embedder-options must be a JSON object, e.g. '{\"dimension\": 16}'")
    return options


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _bootstrap(dsn: str, cfg: SyncConfig, batch: int, restart: bool) -> None:
    with connect(dsn, autocommit=True) as conn:
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
@sync_command
def init(
    dsn: str = DSN,
    table: str = typer.Option(..., help="Table to sync, e.g. products or shop.products."),
    key: str = typer.Option(..., help="Primary-key column."),
    text: str = typer.Option(..., help='Text template over columns, e.g. "{name}: {description}".'),
    index: str = typer.Option(..., help="SlabDB index to write."),
    metadata: str = typer.Option("", help="Comma-separated columns stored as metadata."),
    data: str = typer.Option(
        DEFAULT_DATA,
        help="SlabDB directory (must exist; stored as an absolute path) or store URL.",
    ),
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
    """Set up a sync: triggers and outbox in Postgres, the index in SlabDB, rows queued.

    The config, with the data location made absolute, is stored in Postgres: later
    commands, from any directory or machine, need only the DSN.
    """
    if not target_url:
        require_existing(data)
    cfg = init_sync(
        dsn, table=table, key=key, template=text, index=index, metadata=_split(metadata),
        data=data, target_url=target_url, api_key_env=api_key_env, name=name, embedder=embedder,
        embedder_options=_json_options(embedder_options), chunk_chars=chunk_chars,
    )  # fmt: skip
    console.print(
        f"sync [bold]{cfg.name}[/]: {cfg.qualified_table}.{cfg.key_column} → index "
        f"'{cfg.index}' at {cfg.location} ({cfg.embedder})"
    )
    if not no_bootstrap:
        _bootstrap(dsn, cfg, DEFAULT_BOOTSTRAP_BATCH, restart=False)


@sync_app.command("bootstrap")
@sync_command
def bootstrap_cmd(
    dsn: str = DSN,
    name: str | None = NAME,
    batch: int = typer.Option(DEFAULT_BOOTSTRAP_BATCH, min=1, help="Keys per transaction."),
    restart: bool = typer.Option(False, help="Start over (enqueue every row again)."),
    reembed: bool = typer.Option(False, help="Forget checksums so every row is re-embedded."),
) -> None:
    """Enqueue every existing row (resumable, idempotent)."""
    sync = installed_sync(dsn, name)
    with connect(dsn) as conn:
        cfg = schema.load_config(conn, sync)
        if reembed:
            from slabdb.sync.checksums import ChecksumStore

            with conn.transaction():
                ChecksumStore(cfg.name).clear(conn)
    _bootstrap(dsn, cfg, batch, restart or reembed)


sync_app.command()(run)
sync_app.command()(relay)


@sync_app.command()
@sync_command
def status(
    dsn: str = DSN,
    name: str | None = typer.Option(None, help="One sync (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Pending events, lag, errors and throughput of each sync."""
    with connect(dsn) as conn:
        if not schema.list_syncs(conn):
            raise CommandError("no sync is installed in this database (run `slabdb sync init`)")
        statuses = read_status(conn, name)
    if name and not statuses:
        raise CommandError(f"no sync named {name!r} is installed in this database")
    if as_json:
        console.print_json(json.dumps([s.__dict__ for s in statuses]))
        return
    for i, s in enumerate(statuses):
        if i:
            console.print()
        console.print(render_status(s))


@sync_app.command("retry-errors")
@sync_command
def retry_errors(dsn: str = DSN, name: str | None = NAME) -> None:
    """Move every failed key back to the outbox."""
    sync = installed_sync(dsn, name)
    with connect(dsn) as conn, conn.transaction():
        n = OutboxQueue(sync).retry_errors(conn)
        conn.execute("SELECT pg_notify(%s, '')", (schema.load_config(conn, sync).channel,))
    console.print(f"re-queued {n:,} key(s)")


@sync_app.command()
@sync_command
def verify(dsn: str = DSN, name: str | None = NAME, data: str | None = DATA_OVERRIDE) -> None:
    """Compare every row with the index (ids, metadata, vectors); exit 1 on a mismatch."""
    sync = installed_sync(dsn, name)
    with connect(dsn) as conn:
        cfg = schema.load_config(conn, sync)
        require_target_data(cfg, data)
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
@sync_command
def uninstall(dsn: str = DSN, name: str | None = NAME) -> None:
    """Remove the triggers, outbox rows and config of a sync (the index stays)."""
    sync = installed_sync(dsn, name)
    uninstall_sync(dsn, sync)
    console.print(f"sync {sync} removed")
