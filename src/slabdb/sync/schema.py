"""The database side of a sync: outbox, triggers, errors, checksums, config, status view.

Installed idempotently by :func:`install` (every statement is ``IF NOT EXISTS`` or
``CREATE OR REPLACE``), removed by :func:`uninstall`. One schema, ``slabdb_sync``, is
shared by every sync in the database; rows carry the sync's name.

Capture: ``AFTER INSERT/DELETE`` row triggers and an ``AFTER UPDATE`` row trigger whose
``WHEN`` clause fires only if the key or a column feeding the text or the metadata
changed. Each writes ``(sync, key, op)`` to ``slabdb_sync.outbox`` *in the user's
transaction* and sends ``pg_notify('slabdb_sync_<name>', '')`` as a wake-up; the
payload is empty, so no row is ever too large to notify. A key change enqueues a
delete of the old key and an insert of the new one.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from slabdb.core.errors import InvalidArgumentError
from slabdb.sync.config import SCHEMA, SyncConfig, SyncNotFoundError

_SHARED_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.config (
    name        text PRIMARY KEY,
    config      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.outbox (
    id            bigserial PRIMARY KEY,
    sync          text NOT NULL,
    key           text NOT NULL,
    op            "char" NOT NULL,
    enqueued_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    available_at  timestamptz NOT NULL DEFAULT '-infinity',
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    relayed_at    timestamptz  -- sent to SQS (sqs.py); NULL with the outbox workers
);
ALTER TABLE {SCHEMA}.outbox ADD COLUMN IF NOT EXISTS relayed_at timestamptz;
CREATE INDEX IF NOT EXISTS outbox_claim ON {SCHEMA}.outbox (sync, id);
CREATE INDEX IF NOT EXISTS outbox_key ON {SCHEMA}.outbox (sync, key);
CREATE TABLE IF NOT EXISTS {SCHEMA}.errors (
    id           bigserial PRIMARY KEY,
    sync         text NOT NULL,
    key          text NOT NULL,
    op           "char" NOT NULL,
    attempts     integer NOT NULL,
    reason       text NOT NULL,
    enqueued_at  timestamptz NOT NULL,
    failed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS errors_key ON {SCHEMA}.errors (sync, key);
CREATE TABLE IF NOT EXISTS {SCHEMA}.checksums (
    sync           text NOT NULL,
    key            text NOT NULL,
    text_checksum  text,
    meta_checksum  text,
    chunks         integer NOT NULL DEFAULT 0,
    max_chunks     integer NOT NULL DEFAULT 0,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sync, key)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.bootstrap (
    sync         text PRIMARY KEY,
    last_key     text,
    done         boolean NOT NULL DEFAULT false,
    enqueued     bigint NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.throughput (
    sync       text NOT NULL,
    minute     timestamptz NOT NULL,
    processed  bigint NOT NULL DEFAULT 0,
    embedded   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (sync, minute)
);
CREATE OR REPLACE VIEW {SCHEMA}.status AS
SELECT c.name AS sync,
       (SELECT count(*) FROM {SCHEMA}.outbox o WHERE o.sync = c.name) AS pending,
       (SELECT count(*) FROM {SCHEMA}.outbox o WHERE o.sync = c.name
           AND o.attempts > 0) AS retrying,
       (SELECT coalesce(extract(epoch FROM now() - min(o.enqueued_at)), 0)::float8
          FROM {SCHEMA}.outbox o WHERE o.sync = c.name) AS lag_seconds,
       (SELECT count(*) FROM {SCHEMA}.errors e WHERE e.sync = c.name) AS errors,
       (SELECT coalesce(sum(t.processed), 0)::float8 / 300 FROM {SCHEMA}.throughput t
          WHERE t.sync = c.name AND t.minute >= date_trunc('minute', now()) - interval '4 minutes')
          AS events_per_second,
       (SELECT coalesce(sum(t.processed), 0) FROM {SCHEMA}.throughput t
          WHERE t.sync = c.name) AS processed_total,
       (SELECT coalesce(sum(t.embedded), 0) FROM {SCHEMA}.throughput t
          WHERE t.sync = c.name) AS embedded_total,
       (SELECT b.done FROM {SCHEMA}.bootstrap b WHERE b.sync = c.name) AS bootstrapped
  FROM {SCHEMA}.config c;
"""


def _function(cfg: SyncConfig) -> sql.Identifier:
    return sql.Identifier(SCHEMA, f"capture_{cfg.name}")


def _trigger(cfg: SyncConfig, what: str) -> sql.Identifier:
    return sql.Identifier(f"slabdb_sync_{cfg.name}_{what}")


def watched_columns(cfg: SyncConfig, template_columns: Sequence[str]) -> list[str]:
    """The key, then every column that feeds the text or the metadata, without repeats."""
    out: list[str] = []
    for column in (cfg.key_column, *template_columns, *cfg.metadata_columns):
        if column not in out:
            out.append(column)
    return out


def describe_table(
    conn: psycopg.Connection, table: str, key: str
) -> tuple[str, str, str, dict[str, str]]:
    """``(schema, name, key_type, {column: type})`` of an existing table."""
    row = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = to_regclass(%s)",
        (table,),
    ).fetchone()
    if row is None:
        raise InvalidArgumentError(f"table {table!r} does not exist")
    schema, name = row
    columns: dict[str, str] = dict(
        conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
            " WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            (f'"{schema}"."{name}"',),
        ).fetchall()
    )
    if key not in columns:
        raise InvalidArgumentError(f"table {schema}.{name} has no column {key!r}")
    return schema, name, columns[key], columns


def install_shared(conn: psycopg.Connection) -> None:
    """Create the schema and the shared tables (idempotent)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('slabdb_sync.install'))")
    conn.execute(_SHARED_DDL)


def install(conn: psycopg.Connection, cfg: SyncConfig, template_columns: Sequence[str]) -> None:
    """Install (or replace) the config row, capture function and triggers of one sync.

    Runs in the caller's transaction; call it inside ``conn.transaction()``.
    """
    install_shared(conn)
    conn.execute(
        f"INSERT INTO {SCHEMA}.config (name, config) VALUES (%s, %s::jsonb)"
        " ON CONFLICT (name) DO UPDATE SET config = EXCLUDED.config, updated_at = now()",
        (cfg.name, cfg.to_json()),
    )
    key = sql.Identifier(cfg.key_column)
    table = sql.Identifier(cfg.table_schema, cfg.table_name)
    name = sql.Literal(cfg.name)
    channel = sql.Literal(cfg.channel)
    body = sql.SQL(
        """CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $slabdb$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {schema}.outbox (sync, key, op) VALUES ({name}, NEW.{key}::text, 'I');
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO {schema}.outbox (sync, key, op) VALUES ({name}, OLD.{key}::text, 'D');
  ELSIF NEW.{key} IS DISTINCT FROM OLD.{key} THEN
    INSERT INTO {schema}.outbox (sync, key, op) VALUES
      ({name}, OLD.{key}::text, 'D'), ({name}, NEW.{key}::text, 'I');
  ELSE
    INSERT INTO {schema}.outbox (sync, key, op) VALUES ({name}, NEW.{key}::text, 'U');
  END IF;
  PERFORM pg_notify({channel}, '');
  RETURN NULL;
END
$slabdb$"""
    ).format(fn=_function(cfg), schema=sql.Identifier(SCHEMA), name=name, key=key, channel=channel)
    conn.execute(body)
    watched = watched_columns(cfg, template_columns)
    old = sql.SQL(", ").join(sql.SQL("OLD.{}::text").format(sql.Identifier(c)) for c in watched)
    new = sql.SQL(", ").join(sql.SQL("NEW.{}::text").format(sql.Identifier(c)) for c in watched)
    _drop_triggers(conn, cfg)
    for what, event, when in (
        ("ins", sql.SQL("INSERT"), sql.SQL("")),
        ("del", sql.SQL("DELETE"), sql.SQL("")),
        (
            "upd",
            sql.SQL("UPDATE"),
            sql.SQL("WHEN (ROW({}) IS DISTINCT FROM ROW({}))").format(old, new),
        ),
    ):
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER {trg} AFTER {event} ON {table} FOR EACH ROW {when}"
                " EXECUTE FUNCTION {fn}()"
            ).format(
                trg=_trigger(cfg, what), event=event, table=table, when=when, fn=_function(cfg)
            )
        )


def _drop_triggers(conn: psycopg.Connection, cfg: SyncConfig) -> None:
    exists = conn.execute("SELECT to_regclass(%s)", (f'"{cfg.table_schema}"."{cfg.table_name}"',))
    row = exists.fetchone()
    if row is None or row[0] is None:
        return
    table = sql.Identifier(cfg.table_schema, cfg.table_name)
    for what in ("ins", "del", "upd"):
        conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(_trigger(cfg, what), table))


def load_config(conn: psycopg.Connection, name: str) -> SyncConfig:
    """The stored config of sync ``name``."""
    try:
        row = conn.execute(
            f"SELECT config FROM {SCHEMA}.config WHERE name = %s", (name,)
        ).fetchone()
    except psycopg.errors.UndefinedTable as exc:
        raise SyncNotFoundError(f"no sync is installed in this database ({exc})") from exc
    if row is None:
        raise SyncNotFoundError(f"no sync named {name!r} is installed in this database")
    return SyncConfig.from_json(row[0])


def list_syncs(conn: psycopg.Connection) -> list[str]:
    row = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.config",)).fetchone()
    if row is None or row[0] is None:
        return []
    return [r[0] for r in conn.execute(f"SELECT name FROM {SCHEMA}.config ORDER BY name")]


def uninstall(conn: psycopg.Connection, cfg: SyncConfig) -> None:
    """Drop the triggers and function and forget the sync's rows; drop the schema when it
    was the last sync. The SlabDB index is left alone."""
    _drop_triggers(conn, cfg)
    conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(_function(cfg)))
    for table in ("outbox", "errors", "checksums", "bootstrap", "throughput", "config"):
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                sql.Identifier(SCHEMA, table),
                sql.Identifier("name" if table == "config" else "sync"),
            ),
            (cfg.name,),
        )
    if not list_syncs(conn):
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
