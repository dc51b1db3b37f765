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
* The URL's password never appears in messages: :func:`~slabdb.control.sql.redact_url` is what gets shown.

The connection, its retries and placeholder translation are :mod:`slabdb.control.sql`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from slabdb.control.sql import CATALOG_RETRY, SqlConnection, Tx
from slabdb.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
)
from slabdb.core.retry import RetryPolicy

MAX_SLOT = 60_000
"""Slots are port offsets; the base port plus a slot must stay a valid port."""
PG_SCHEMA_LOCK = 0x5_1AB_D801
"""``pg_advisory_xact_lock`` key serializing schema creation across processes."""
PG_SLOT_LOCK = 0x5_1AB_D802
"""``pg_advisory_xact_lock`` key serializing slot claims across processes."""
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


class ControlCatalog:
    """Projects, API keys and index slots (see the module docstring)."""

    def __init__(self, url: str, *, retry: RetryPolicy = CATALOG_RETRY) -> None:
        self._db = SqlConnection(url, retry=retry)
        self.url = url
        self.display_url = self._db.display_url
        """The URL without its password: the only form that may be logged or shown."""
        self._integrity = self._db.integrity_errors
        self._transaction = self._db.transaction
        self._rows = self._db.rows
        self._transaction(self._create_schema, pg_lock=PG_SCHEMA_LOCK)

    @property
    def kind(self) -> str:
        return self._db.kind

    @staticmethod
    def _create_schema(tx: Tx) -> None:
        for statement in _SCHEMA:
            tx.execute(statement)

    def close(self) -> None:
        self._db.close()

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
        def insert(tx: Tx) -> None:
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

        def claim(tx: Tx) -> int:
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
