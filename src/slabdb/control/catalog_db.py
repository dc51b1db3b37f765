"""The control catalog: projects, API keys and index slots, in SQLite or Postgres.

::

    projects    (name PK, store_prefix, created_at)
    api_keys    (key_id PK, project -> projects, key_hash, created_at, revoked)
    index_slots (project, name) PK, slot UNIQUE, meta (JSON), created_at

An index's records and its engine config live in the object store (see
:mod:`slabdb.catalog`); the SQL catalog holds what only the server needs: which
project owns it, its *slot* (the index's port is ``base port + slot``) and the API
metadata the engine does not keep (cloud, region, the 2026-07 schema as sent).

SQLite (a file, WAL mode) serves one server process; a ``postgresql://`` URL lets
several server processes share projects, keys and slots.  Statements are written with
``?`` placeholders and translated for psycopg.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slabdb.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError, StorageError

MAX_SLOT = 60_000
"""Slots are port offsets; the base port plus a slot must stay a valid port."""

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


class ControlCatalog:
    """Thread-safe access to the control tables (one connection behind a lock)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._pg = url.startswith(("postgres://", "postgresql://"))
        try:
            if self._pg:
                import psycopg

                self._conn: Any = psycopg.connect(url, autocommit=True)
                self._integrity: tuple[type[BaseException], ...] = (psycopg.errors.UniqueViolation,)
            else:
                path = Path(url.removeprefix("sqlite:///"))
                path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(
                    str(path), check_same_thread=False, isolation_level=None, timeout=30
                )
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._integrity = (sqlite3.IntegrityError,)
        except Exception as exc:
            raise StorageError(f"cannot open the control catalog: {exc}") from exc
        for statement in _SCHEMA:
            self._exec(statement)

    @property
    def kind(self) -> str:
        return "postgres" if self._pg else "sqlite"

    # --- plumbing -----------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._pg else sql

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                yield cur
            finally:
                cur.close()

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return int(cur.rowcount or 0)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- projects -------------------------------------------------------------------------
    def create_project(self, name: str, store_prefix: str) -> Project:
        now = time.time()
        try:
            self._exec(
                "INSERT INTO projects (name, store_prefix, created_at) VALUES (?, ?, ?)",
                (name, store_prefix, now),
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
        return Project(*rows[0])

    def list_projects(self) -> list[Project]:
        return [
            Project(*r)
            for r in self._rows("SELECT name, store_prefix, created_at FROM projects ORDER BY name")
        ]

    # --- API keys ---------------------------------------------------------------------------
    def add_key(self, key_id: str, project: str, key_hash: str) -> None:
        self.get_project(project)
        self._exec(
            "INSERT INTO api_keys (key_id, project, key_hash, created_at) VALUES (?, ?, ?, ?)",
            (key_id, project, key_hash, time.time()),
        )

    def get_key(self, key_id: str) -> ApiKeyRow | None:
        rows = self._rows(
            "SELECT key_id, project, key_hash, created_at, revoked FROM api_keys WHERE key_id = ?",
            (key_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return ApiKeyRow(r[0], r[1], r[2], float(r[3]), bool(r[4]))

    def list_keys(self, project: str | None = None) -> list[ApiKeyRow]:
        sql = "SELECT key_id, project, key_hash, created_at, revoked FROM api_keys"
        rows = (
            self._rows(sql + " WHERE project = ? ORDER BY created_at", (project,))
            if project
            else self._rows(sql + " ORDER BY created_at")
        )
        return [ApiKeyRow(r[0], r[1], r[2], float(r[3]), bool(r[4])) for r in rows]

    def revoke_key(self, key_id: str) -> None:
        if self._exec("UPDATE api_keys SET revoked = 1 WHERE key_id = ?", (key_id,)) == 0:
            raise NotFoundError(f"API key {key_id!r} not found")

    # --- index slots ------------------------------------------------------------------------
    def get_slot(self, project: str, name: str) -> IndexSlot | None:
        rows = self._rows(
            "SELECT project, name, slot, meta FROM index_slots WHERE project = ? AND name = ?",
            (project, name),
        )
        return None if not rows else _slot(rows[0])

    def slot_by_number(self, slot: int) -> IndexSlot | None:
        rows = self._rows(
            "SELECT project, name, slot, meta FROM index_slots WHERE slot = ?", (slot,)
        )
        return None if not rows else _slot(rows[0])

    def all_slots(self) -> list[IndexSlot]:
        rows = self._rows("SELECT project, name, slot, meta FROM index_slots ORDER BY slot")
        return [_slot(r) for r in rows]

    def claim_slot(self, project: str, name: str, meta: dict[str, Any]) -> IndexSlot:
        """Give (project, name) the lowest free slot; AlreadyExistsError if it has one."""
        for _ in range(50):
            taken = {r[0] for r in self._rows("SELECT slot FROM index_slots")}
            slot = next(i for i in range(1, MAX_SLOT + 2) if i not in taken)
            if slot > MAX_SLOT:
                raise InvalidArgumentError(f"no free index slot (at most {MAX_SLOT} indexes)")
            try:
                self._exec(
                    "INSERT INTO index_slots (project, name, slot, meta, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (project, name, slot, json.dumps(meta), time.time()),
                )
                return IndexSlot(project, name, slot, meta)
            except self._integrity as exc:
                if self.get_slot(project, name) is not None:
                    raise AlreadyExistsError(f"index {name!r} already exists") from exc
        raise StorageError("could not claim an index slot (too much contention)")

    def update_slot_meta(self, project: str, name: str, meta: dict[str, Any]) -> None:
        self._exec(
            "UPDATE index_slots SET meta = ? WHERE project = ? AND name = ?",
            (json.dumps(meta), project, name),
        )

    def release_slot(self, project: str, name: str) -> None:
        self._exec("DELETE FROM index_slots WHERE project = ? AND name = ?", (project, name))


def _slot(row: tuple[Any, ...]) -> IndexSlot:
    return IndexSlot(row[0], row[1], int(row[2]), json.loads(row[3]))
