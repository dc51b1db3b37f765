"""One SQL connection for the control catalog, SQLite or Postgres, that survives restarts.

Statements are written once with ``?`` placeholders and translated for psycopg.  One
connection per process, behind a lock.  A lost Postgres connection (server restart,
network cut) is reopened on the next call; a statement that failed because the
connection was lost, or a connection that could not be opened, is retried under
:data:`CATALOG_RETRY` (SlabDB's one retry policy, :mod:`slabdb.core.retry`) when that is
safe: reads, and writes whose ``COMMIT`` was not yet sent.  If Postgres stays unreachable
the call raises :class:`~slabdb.core.errors.StorageError` (HTTP 503).  The URL's
password never appears in messages: :func:`redact_url` is what gets shown.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from slabdb.core.errors import SlabDBError, StorageError
from slabdb.core.retry import RetryPolicy
from slabdb.storage.local_writer import create_private_file, make_private_dir

T = TypeVar("T")

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


class Tx:
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


class SqlConnection:
    """Thread-safe statements and transactions on one catalog database."""

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
            self.integrity_errors: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)
            self._db_errors: tuple[type[BaseException], ...] = (psycopg.Error,)
            self._lost = (psycopg.OperationalError, psycopg.InterfaceError)
        else:
            self.integrity_errors = (sqlite3.IntegrityError,)
            self._db_errors = (sqlite3.Error,)
            self._lost = ()
        with self._lock:
            self._connection()

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

    def _run(self, body: Callable[[Tx], T], *, transaction: bool, pg_lock: int | None) -> T:
        """``body`` on the connection, re-run on a new one while that is safe."""
        with self._lock:
            return self._retry.call(
                lambda: self._attempt(body, transaction=transaction, pg_lock=pg_lock),
                what=f"control catalog {self.display_url}",
            )

    def _attempt(self, body: Callable[[Tx], T], *, transaction: bool, pg_lock: int | None) -> T:
        """One try (call with the lock held). A lost connection before ``COMMIT`` raises
        :class:`CatalogConnectionLostError`; every other failure is final."""
        conn = self._connection()
        cur = conn.cursor()
        committing = False
        try:
            tx = Tx(cur, self._pg)
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
            if isinstance(exc, (*self.integrity_errors, SlabDBError)):
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

    def transaction(self, body: Callable[[Tx], T], pg_lock: int | None = None) -> T:
        """Run ``body`` in one transaction (retried from the start if the connection is
        lost before ``COMMIT`` is sent)."""
        return self._run(body, transaction=True, pg_lock=pg_lock)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(lambda tx: tx.rows(sql, params), transaction=False, pg_lock=None)

    def close(self) -> None:
        with self._lock:
            self._drop()
