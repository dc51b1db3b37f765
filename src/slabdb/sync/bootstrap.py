"""Bootstrap: enqueue every existing key, in keyset batches, resumably and idempotently.

Each batch is one transaction that locks the sync's ``slabdb_sync.bootstrap`` row (so
two bootstraps never interleave), reads the next ``batch`` keys after ``last_key``,
enqueues those with no pending event, and saves the new ``last_key``. Killed half-way,
it resumes where it stopped; run again after it finished, it does nothing (``restart``
starts over). It never writes the user's table, so no trigger fires, and rows edited
meanwhile are captured by the triggers installed beforehand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from slabdb.sync.config import SCHEMA, SyncConfig

DEFAULT_BOOTSTRAP_BATCH = 5000


@dataclass
class BootstrapResult:
    enqueued: int
    scanned: int
    already_done: bool


def count_rows(conn: psycopg.Connection, cfg: SyncConfig) -> int:
    """A fast estimate for the progress bar (``reltuples``), exact for small tables."""
    row = conn.execute(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
        (f'"{cfg.table_schema}"."{cfg.table_name}"',),
    ).fetchone()
    estimate = int(row[0]) if row and row[0] and row[0] > 0 else -1
    if estimate < 0 or estimate < 100_000:
        query = sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(cfg.table_schema, cfg.table_name)
        )
        exact = conn.execute(query).fetchone()
        return int(exact[0]) if exact else 0
    return estimate


def _start(conn: psycopg.Connection, cfg: SyncConfig, restart: bool) -> None:
    """Make sure the sync's bootstrap row exists (anew with ``restart``)."""
    with conn.transaction():
        if restart:
            conn.execute(f"DELETE FROM {SCHEMA}.bootstrap WHERE sync = %s", (cfg.name,))
        conn.execute(
            f"INSERT INTO {SCHEMA}.bootstrap (sync) VALUES (%s) ON CONFLICT DO NOTHING",
            (cfg.name,),
        )


def _next_batch_query(cfg: SyncConfig) -> sql.Composed:
    return sql.SQL(
        "SELECT {key}::text AS __slabdb_key FROM {table} WHERE %s::text IS NULL OR {key} > %s::{ktype}"
        " ORDER BY {key} LIMIT %s"
    ).format(
        key=sql.Identifier(cfg.key_column),
        table=sql.Identifier(cfg.table_schema, cfg.table_name),
        ktype=sql.SQL(cfg.key_type),
    )


def _enqueue(conn: psycopg.Connection, cfg: SyncConfig, keys: list[str]) -> int:
    """Enqueue ``keys`` that have no pending event, advance ``last_key``; rows added."""
    cur = conn.execute(
        f"INSERT INTO {SCHEMA}.outbox (sync, key, op)"
        f" SELECT %s, k, 'B' FROM unnest(%s::text[]) AS k"
        f" WHERE NOT EXISTS (SELECT 1 FROM {SCHEMA}.outbox o"
        f"   WHERE o.sync = %s AND o.key = k)",
        (cfg.name, keys, cfg.name),
    )
    added = max(0, cur.rowcount)
    conn.execute(
        f"UPDATE {SCHEMA}.bootstrap SET last_key = %s, enqueued = enqueued + %s WHERE sync = %s",
        (keys[-1], added, cfg.name),
    )
    if cfg.channel:
        conn.execute("SELECT pg_notify(%s, '')", (cfg.channel,))
    return added


def bootstrap(
    conn: psycopg.Connection,
    cfg: SyncConfig,
    *,
    batch: int = DEFAULT_BOOTSTRAP_BATCH,
    restart: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BootstrapResult:
    """Enqueue all keys of the table (see the module docstring). ``conn`` must not be in
    a transaction; each batch commits on its own."""
    _start(conn, cfg, restart)
    next_batch = _next_batch_query(cfg)
    enqueued = scanned = 0
    first = True
    while True:
        with conn.transaction():
            state = conn.execute(
                f"SELECT last_key, done FROM {SCHEMA}.bootstrap WHERE sync = %s FOR UPDATE",
                (cfg.name,),
            ).fetchone()
            assert state is not None
            last_key, done = state
            first_batch, first = first, False
            if done:
                return BootstrapResult(enqueued, scanned, already_done=first_batch)
            keys = [r[0] for r in conn.execute(next_batch, (last_key, last_key, batch))]
            if not keys:
                conn.execute(
                    f"UPDATE {SCHEMA}.bootstrap SET done = true, finished_at = now()"
                    f" WHERE sync = %s",
                    (cfg.name,),
                )
                continue
            added = _enqueue(conn, cfg, keys)
        enqueued += added
        scanned += len(keys)
        if progress is not None:
            progress(len(keys))
