"""The Postgres side of ``slabdb sync``: which DSN, can we connect, and one-line errors.

Every sync command takes ``--dsn`` or reads ``SLABDB_SYNC_DSN`` (set it once). A DSN that
does not parse or a server that cannot be reached ends the command with one line, such
as ``error: cannot connect to PostgreSQL at db:5432: Connection refused`` — never a
traceback, and never the password.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict

from slabdb.cli.errors import CommandError, one_line

DSN_ENV = "SLABDB_SYNC_DSN"
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10
"""How long the first connection may take when neither the DSN nor PGCONNECT_TIMEOUT says."""

DSN = typer.Option(
    None,
    "--dsn",
    envvar=DSN_ENV,
    show_envvar=True,
    help="PostgreSQL connection string, e.g. postgresql://user@host:5432/db.",
)

_URL_PASSWORD = re.compile(r"://[^/@:]*:([^/@]+)@")
_KEYWORD_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_LIBPQ_PREFIXES = ("connection failed: ", "connection is bad: ")
_SERVER_FAILED = re.compile(r'^connection to server (at|on socket) "[^"]*"(, port \d+)? failed: ')

F = TypeVar("F", bound=Callable[..., Any])


def secrets_in(dsn: str) -> list[str]:
    """The password(s) ``dsn`` holds, in every form it may be echoed back."""
    found = [m.group(1) for m in _URL_PASSWORD.finditer(dsn)]
    found += [m.group(1).strip("'") for m in _KEYWORD_PASSWORD.finditer(dsn)]
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        found.append(str(password))
    return [s for s in found if s]


def redact(text: str, dsn: str) -> str:
    for secret in sorted(set(secrets_in(dsn)), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def server_address(dsn: str) -> str:
    """``host:port`` the DSN points at (libpq's defaults filled in), for messages."""
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST", ""))
    port = str(params.get("port") or os.environ.get("PGPORT", "5432"))
    return f"{host or 'localhost'}:{port}"


def connect_failure_reason(exc: BaseException) -> str:
    """libpq's reason without its framing: ``Connection refused``,
    ``password authentication failed for user "app"``..."""
    reason = one_line(str(exc))
    for prefix in _LIBPQ_PREFIXES:
        reason = reason.removeprefix(prefix)
    reason = _SERVER_FAILED.sub("", reason)
    return re.sub(r"^(FATAL|ERROR):\s+", "", reason)


def resolve_dsn(dsn: str | None) -> str:
    """The ``--dsn`` value (Typer already fell back to ``SLABDB_SYNC_DSN``)."""
    if dsn and dsn.strip():
        return dsn.strip()
    raise CommandError(f"no PostgreSQL DSN: pass --dsn postgresql://user@host/db or set {DSN_ENV}")


def _connect_kwargs(dsn: str) -> dict[str, Any]:
    if "connect_timeout" in conninfo_to_dict(dsn) or os.environ.get("PGCONNECT_TIMEOUT"):
        return {}
    return {"connect_timeout": DEFAULT_CONNECT_TIMEOUT_SECONDS}


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection:
    """A connection, or :class:`CommandError` in one line if there is none to be had."""
    try:
        kwargs = {**_connect_kwargs(dsn), **kwargs}
    except psycopg.Error as exc:  # the DSN does not parse
        raise CommandError(f"invalid PostgreSQL DSN: {redact(one_line(str(exc)), dsn)}") from None
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.OperationalError as exc:
        where, reason = server_address(dsn), connect_failure_reason(exc)
        raise CommandError(
            redact(f"cannot connect to PostgreSQL at {where}: {reason}", dsn)
        ) from None


@contextmanager
def postgres_errors(dsn: str) -> Iterator[None]:
    """Any later Postgres failure (server gone, permission denied) as one line."""
    try:
        yield
    except psycopg.OperationalError as exc:
        reason = connect_failure_reason(exc)
        raise CommandError(redact(f"PostgreSQL at {server_address(dsn)}: {reason}", dsn)) from None
    except psycopg.Error as exc:
        raise CommandError(redact(f"PostgreSQL: {one_line(str(exc))}", dsn)) from None


def sync_command(func: F) -> F:
    """Give a sync command its DSN (``--dsn`` or ``SLABDB_SYNC_DSN``), check that the
    server answers before anything else happens, and report Postgres errors in one line."""

    @functools.wraps(func)
    def wrapper(*args: Any, dsn: str | None = None, **kwargs: Any) -> Any:
        resolved = resolve_dsn(dsn)
        connect(resolved).close()
        with postgres_errors(resolved):
            return func(*args, dsn=resolved, **kwargs)

    return wrapper  # type: ignore[return-value]
