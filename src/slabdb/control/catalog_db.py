"""The control catalog: projects, API keys and index slots, in SQLite or Postgres.

::

    projects    (name PK, store_prefix, created_at)
    api_keys    (key_id PK, project -> projects, key_hash, created_at, revoked)
    index_slots (project, name) PK, slot UNIQUE, meta (JSON), created_at

An index's records and its engine config live in the object store (see
:mod:`slabdb.client.catalog`); the SQL catalog holds what only the server needs: which
project owns it, its *slot* (the index's port is ``base port + slot``) and the API
metadata the engine does not keep (cloud, region, the 2026-07 schema as sent).

SQLite (a file, WAL mode) serves one server process (or several on one host); a
``postgresql://`` URL (psycopg 3) lets server processes on any number of hosts share
projects, keys and slots.  Statements are written once with ``?`` placeholders and
translated for psycopg.

Concurrency and failures:

* Every write is one explicit transaction (``BEGIN IMMEDIATE`` in SQLite).  On Postgres
  the schema is created and slots are claimed under a transaction-scoped advisory lock,
  so two processes starting at once, or creating indexes at once, are serialized: slot
  allocation (lowest free slot) is race-free across processes.
* Unique violations become :class:`~slabdb.core.errors.AlreadyExistsError`.
* One connection per process, behind a lock.  A lost Postgres connection (server
  restart, network cut) is reopened on the next call; a statement that failed because
  the connection was lost, or a connection that could not be opened, is retried under
  :data:`CATALOG_RETRY` (SlabDB's one retry policy, :mod:`slabdb.core.retry`) when that
  is safe: reads, and writes whose ``COMMIT`` was not yet sent.  If Postgres stays
  unreachable the call raises :class:`~slabdb.core.errors.StorageError` (HTTP 503).
* The URL's password never appears in messages: :func:`redact_url` is what gets shown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from slabdb.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    SlabDBError,
    StorageError,
)
from slabdb.core.retry import RetryPolicy
from slabdb.storage.local_writer import create_private_file, make_private_dir

log = logging.getLogger("slabdb.control")
T = TypeVar("T")

MAX_SLOT = 60_000
"""Slots are port offsets; the base port plus a slot must stay a valid port."""
PG_SCHEMA_LOCK = 0x5_1AB_D801
"""``pg_advisory_xact_lock`` key serializing schema creation across processes."""
PG_SLOT_LOCK = 0x5_1AB_D802
"""``pg_advisory_xact_lock`` key serializing slot claims across processes."""
PG_CONNECT_TIMEOUT_SECONDS = 10


class CatalogConnectionLostError(StorageError):
    """The catalog connection could not be opened, or broke before ``COMMIT`` was sent:
    running the call again on a new connection is safe."""


def _safe_to_rerun(error: BaseException) -> bool:
    return isinstance(error, CatalogConnectionLostError)


CATALOG_RETRY = RetryPolicy(
    max_attempts=3, initial_backoff_seconds=0.25, max_backoff_seconds=1.0, multiplier=4.0
)
"""Tries of one call when the Postgres connection is lost (reconnecting in between):
waits of up to 0.25 s, then up to 1 s (full jitter). Only a lost connection is retried
(whatever the policy's ``retry_if`` says): the catalog knows when a re-run is safe."""
SQLITE_WAL_RETRY = RetryPolicy(
    max_attempts=1000,
    initial_backoff_seconds=0.005,
    max_backoff_seconds=0.1,
    deadline_seconds=30.0,
    log_level=logging.DEBUG,
    retry_if=lambda error: isinstance(error, sqlite3.OperationalError),
)
"""Switching a SQLite file to WAL takes a lock that its busy timeout does not wait for."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS projects (
        name TEXT PRIMARY KEY, store_prefix TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS api_keys (
        key_id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(name),
        key_hash TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS index_slots (
        project TEXT NOT NULL, name TEXT NOT NULL, slot INTEGER NOT NULL UNIQUE,
        meta TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (project, name))""",
)
_LOWEST_FREE_SLOT = """
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM index_slots WHERE slot = 1) THEN 1
           ELSE (SELECT MIN(s.slot) + 1 FROM index_slots s
                 WHERE NOT EXISTS (SELECT 1 FROM index_slots t WHERE t.slot = s.slot + 1))
           END"""
_SLOT_COLUMNS = "project, name, slot, meta, created_at"
_KEY_COLUMNS = "key_id, project, key_hash, created_at, revoked"


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (URL or ``key=value`` form)."""
    if is_postgres_url(url):
        parts = urlsplit(url)
        if parts.password is not None:
            user = parts.username or ""
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{user}:***@{host}")
        query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
        return urlunsplit(parts._replace(query=query))
    return re.sub(r"(?i)(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)


def _password(url: str) -> str | None:
    if is_postgres_url(url):
        parts = urlsplit(url)
        if parts.password:
            return unquote(parts.password)
        m = re.search(r"(?i)password=([^&]*)", parts.query)
        return unquote(m.group(1)) if m else None
    m = re.search(r"(?i)password\s*=\s*('[^']*'|\S+)", url)
    return m.group(1).strip("'") if m else None


@dataclass(frozen=True)
class Project:
    name: str
    store_prefix: str
    created_at: float


@dataclass(frozen=True)
class ApiKeyRow:
    key_id: str
    project: str
    key_hash: str
    created_at: float
    revoked: bool


@dataclass(frozen=True)
class IndexSlot:
    project: str
    name: str
    slot: int
    meta: dict[str, Any]
    created_at: float = 0.0


class _Tx:
    """What a transaction body gets: placeholder translation and a cursor."""

    def __init__(self, cursor: Any, pg: bool) -> None:
        self.cursor = cursor
        self._pg = pg

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.cursor.execute(sql.replace("?", "%s") if self._pg else sql, tuple(params))
        return int(self.cursor.rowcount or 0)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.execute(sql, params)
        return list(self.cursor.fetchall())


class ControlCatalog:
    """Thread-safe access to the control tables (one connection behind a lock)."""

    def __init__(self, url: str, *, retry: RetryPolicy = CATALOG_RETRY) -> None:
        self.url = url
        self.display_url = redact_url(url)
        """The URL without its password: the only form that may be logged or shown."""
        self._secret = _password(url)
        self._lock = threading.RLock()
        self._pg = is_postgres_url(url)
        self._retry = replace(retry, retry_if=_safe_to_rerun)
        self._conn: Any = None
        self._lost: tuple[type[BaseException], ...]
        if self._pg:
            try:
                import psycopg
            except ImportError as exc:  # pragma: no cover - psycopg is a dependency
                raise StorageError("a postgresql:// catalog needs psycopg 3") from exc
            self._integrity: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)
            self._db_errors: tuple[type[BaseException], ...] = (psycopg.Error,)
            self._lost = (psycopg.OperationalError, psycopg.InterfaceError)
        else:
            self._integrity = (sqlite3.IntegrityError,)
            self._db_errors = (sqlite3.Error,)
            self._lost = ()
        with self._lock:
            self._connection()
        self._transaction(self._create_schema, pg_lock=PG_SCHEMA_LOCK)

    @property
    def kind(self) -> str:
        return "postgres" if self._pg else "sqlite"

    # --- plumbing -----------------------------------------------------------------------
    def _scrub(self, exc: BaseException) -> str:
        text = str(exc).strip().replace("\n", " ")
        if self._secret:
            text = text.replace(self._secret, "***")
        return redact_url(text.replace(self.url, self.display_url))

    def _connect(self) -> Any:
        if self._pg:
            import psycopg
            from psycopg.conninfo import conninfo_to_dict

            extra: dict[str, Any] = {"autocommit": True}
            params = conninfo_to_dict(self.url)
            if "connect_timeout" not in params:
                extra["connect_timeout"] = PG_CONNECT_TIMEOUT_SECONDS
            if "application_name" not in params:
                extra["application_name"] = "slabdb-server"
            return psycopg.connect(self.url, **extra)
        path = Path(self.url.removeprefix("sqlite:///"))
        if str(path) != ":memory:":
            make_private_dir(path.parent, parents=True)
            create_private_file(path)  # 0600: SQLite gives its -wal and -shm files this mode
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        try:
            SQLITE_WAL_RETRY.call(
                lambda: conn.execute("PRAGMA journal_mode=WAL"), what=f"WAL mode for {path}"
            )
        except sqlite3.OperationalError:
            conn.close()
            raise
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _connection(self) -> Any:
        """The open connection (call with the lock held); reconnects after a loss."""
        conn = self._conn
        if conn is not None and self._pg and (conn.closed or conn.broken):
            self._drop()
            conn = None
        if conn is None:
            try:
                conn = self._conn = self._connect()
            except Exception as exc:
                raise CatalogConnectionLostError(
                    f"cannot open the control catalog {self.display_url}: {self._scrub(exc)}"
                ) from None
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def _is_lost(self, conn: Any, exc: BaseException) -> bool:
        if not self._pg or not isinstance(exc, self._lost):
            return False
        return bool(conn.closed or conn.broken)

    def _fail(self, exc: BaseException) -> StorageError:
        return StorageError(f"control catalog {self.display_url}: {self._scrub(exc)}")

    def _run(self, body: Callable[[_Tx], T], *, transaction: bool, pg_lock: int | None) -> T:
        """``body`` on the connection, re-run on a new one while that is safe."""
        with self._lock:
            return self._retry.call(
                lambda: self._attempt(body, transaction=transaction, pg_lock=pg_lock),
                what=f"control catalog {self.display_url}",
            )

    def _attempt(self, body: Callable[[_Tx], T], *, transaction: bool, pg_lock: int | None) -> T:
        """One try (call with the lock held). A lost connection before ``COMMIT`` raises
        :class:`CatalogConnectionLostError`; every other failure is final."""
        conn = self._connection()
        cur = conn.cursor()
        committing = False
        try:
            tx = _Tx(cur, self._pg)
            if transaction:
                cur.execute("BEGIN" if self._pg else "BEGIN IMMEDIATE")
                if self._pg and pg_lock is not None:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (pg_lock,))
            result = body(tx)
            if transaction:
                committing = True
                cur.execute("COMMIT")
            return result
        except BaseException as exc:
            lost = self._is_lost(conn, exc)
            if lost:
                self._drop()
            elif transaction and not committing:
                self._rollback(cur)
            if lost and not committing:
                raise CatalogConnectionLostError(
                    f"control catalog {self.display_url}: connection lost: {self._scrub(exc)}"
                ) from None
            if isinstance(exc, (*self._integrity, SlabDBError)):
                raise
            if isinstance(exc, self._db_errors):
                raise self._fail(exc) from None
            raise
        finally:
            with contextlib.suppress(Exception):
                cur.close()

    def _rollback(self, cur: Any) -> None:
        with contextlib.suppress(Exception):  # the connection is checked on the next call
            cur.execute("ROLLBACK")

    def _transaction(self, body: Callable[[_Tx], T], pg_lock: int | None = None) -> T:
        """Run ``body`` in one transaction (retried from the start if the connection is
        lost before ``COMMIT`` is sent)."""
        return self._run(body, transaction=True, pg_lock=pg_lock)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(lambda tx: tx.rows(sql, params), transaction=False, pg_lock=None)

    def _create_schema(self, tx: _Tx) -> None:
        for statement in _SCHEMA:
            tx.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._drop()

    # --- projects -------------------------------------------------------------------------
    def create_project(self, name: str, store_prefix: str) -> Project:
        now = time.time()
        try:
            self._transaction(
                lambda tx: tx.execute(
                    "INSERT INTO projects (name, store_prefix, created_at) VALUES (?, ?, ?)",
                    (name, store_prefix, now),
                )
            )
        except self._integrity as exc:
            raise AlreadyExistsError(f"project {name!r} already exists") from exc
        return Project(name, store_prefix, now)

    def get_project(self, name: str) -> Project:
        rows = self._rows(
            "SELECT name, store_prefix, created_at FROM projects WHERE name = ?", (name,)
        )
        if not rows:
            raise NotFoundError(f"project {name!r} not found")
        r = rows[0]
        return Project(r[0], r[1], float(r[2]))

    def list_projects(self) -> list[Project]:
        rows = self._rows("SELECT name, store_prefix, created_at FROM projects ORDER BY name")
        return [Project(r[0], r[1], float(r[2])) for r in rows]

    # --- API keys ---------------------------------------------------------------------------
    def add_key(self, key_id: str, project: str, key_hash: str) -> None:
        def insert(tx: _Tx) -> None:
            if not tx.rows("SELECT 1 FROM projects WHERE name = ?", (project,)):
                raise NotFoundError(f"project {project!r} not found")
            tx.execute(
                "INSERT INTO api_keys (key_id, project, key_hash, created_at) VALUES (?, ?, ?, ?)",
                (key_id, project, key_hash, time.time()),
            )

        try:
            self._transaction(insert)
        except self._integrity as exc:
            raise AlreadyExistsError(f"API key {key_id!r} already exists") from exc

    def get_key(self, key_id: str) -> ApiKeyRow | None:
        rows = self._rows(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))
        return _key(rows[0]) if rows else None

    def list_keys(self, project: str | None = None) -> list[ApiKeyRow]:
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys"
        rows = (
            self._rows(sql + " WHERE project = ? ORDER BY created_at", (project,))
            if project
            else self._rows(sql + " ORDER BY created_at")
        )
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> None:
        n = self._transaction(
            lambda tx: tx.execute("UPDATE api_keys SET revoked = 1 WHERE key_id = ?", (key_id,))
        )
        if n == 0:
            raise NotFoundError(f"API key {key_id!r} not found")

    # --- index slots ------------------------------------------------------------------------
    def get_slot(self, project: str, name: str) -> IndexSlot | None:
        rows = self._rows(
            f"SELECT {_SLOT_COLUMNS} FROM index_slots WHERE project = ? AND name = ?",
            (project, name),
        )
        return None if not rows else _slot(rows[0])

    def slot_by_number(self, slot: int) -> IndexSlot | None:
        rows = self._rows(f"SELECT {_SLOT_COLUMNS} FROM index_slots WHERE slot = ?", (slot,))
        return None if not rows else _slot(rows[0])

    def all_slots(self) -> list[IndexSlot]:
        rows = self._rows(f"SELECT {_SLOT_COLUMNS} FROM index_slots ORDER BY slot")
        return [_slot(r) for r in rows]

    def claim_slot(self, project: str, name: str, meta: dict[str, Any]) -> IndexSlot:
        """Give (project, name) the lowest free slot; AlreadyExistsError if it has one.

        One transaction, serialized across processes (advisory lock on Postgres, the
        database write lock on SQLite), so concurrent claims never pick the same slot."""
        now = time.time()

        def claim(tx: _Tx) -> int:
            if tx.rows("SELECT 1 FROM index_slots WHERE project = ? AND name = ?", (project, name)):
                raise AlreadyExistsError(f"index {name!r} already exists")
            slot = int(tx.rows(_LOWEST_FREE_SLOT)[0][0])
            if slot > MAX_SLOT:
                raise InvalidArgumentError(f"no free index slot (at most {MAX_SLOT} indexes)")
            tx.execute(
                f"INSERT INTO index_slots ({_SLOT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (project, name, slot, json.dumps(meta), now),
            )
            return slot

        try:
            slot = self._transaction(claim, pg_lock=PG_SLOT_LOCK)
        except self._integrity as exc:
            raise AlreadyExistsError(f"index {name!r} already exists") from exc
        return IndexSlot(project, name, slot, meta, now)

    def update_slot_meta(self, project: str, name: str, meta: dict[str, Any]) -> None:
        self._transaction(
            lambda tx: tx.execute(
                "UPDATE index_slots SET meta = ? WHERE project = ? AND name = ?",
                (json.dumps(meta), project, name),
            )
        )

    def release_slot(self, project: str, name: str, older_than: float | None = None) -> bool:
        """Delete (project, name)'s slot (only if claimed before ``older_than``, a Unix
        time, when given); True if a row was deleted."""
        sql = "DELETE FROM index_slots WHERE project = ? AND name = ?"
        params: list[Any] = [project, name]
        if older_than is not None:
            sql += " AND created_at < ?"
            params.append(older_than)
        return self._transaction(lambda tx: tx.execute(sql, params)) > 0


def _slot(row: tuple[Any, ...]) -> IndexSlot:
    return IndexSlot(row[0], row[1], int(row[2]), json.loads(row[3]), float(row[4]))


def _key(r: tuple[Any, ...]) -> ApiKeyRow:
    return ApiKeyRow(r[0], r[1], r[2], float(r[3]), bool(r[4]))
