"""The product table in Postgres: schema, loading the shipped snapshot, reads and edits.

The app reads pages and single products here and writes edits here only; the sync
carries edits to SlabDB. Every call opens a short connection (loopback, a few ms) with a
small connect timeout, so a stopped Postgres costs the page a message, not a hang, and
the next request after it returns simply works. Failures raise
:class:`PostgresUnavailableError`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

TABLE = "products"
CONNECT_TIMEOUT_SECONDS = 3
SNAPSHOT_NAME = "debian-packages.jsonl.gz"
COLUMNS = ("id", "name", "summary", "description", "section", "installed_size", "version")

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id             integer PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    summary        text NOT NULL DEFAULT '',
    description    text NOT NULL DEFAULT '',
    section        text NOT NULL DEFAULT 'misc',
    installed_size integer NOT NULL DEFAULT 0,
    version        text NOT NULL DEFAULT ''
)
"""


class PostgresUnavailableError(Exception):
    """Postgres could not be reached or refused the statement."""


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    summary: str
    description: str
    section: str
    installed_size: int
    version: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Product:
        return cls(**{c: row[c] for c in COLUMNS})

    def as_row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


@dataclass(frozen=True)
class Page:
    products: list[Product]
    total: int
    offset: int
    limit: int


def default_snapshot() -> Path:
    """The catalog shipped in the package (Debian packages, see scripts/build_demo_data.py)."""
    return Path(str(resources.files("slabdb.app") / "data" / SNAPSHOT_NAME))


def read_snapshot(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a gzip JSON-lines catalog, numbered from 1 in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if limit is not None and n > limit:
                return
            yield {"id": n, **json.loads(line)}


class ProductStore:
    """Reads and edits of the product table at ``dsn``."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            return psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                row_factory=dict_row,
            )
        except psycopg.Error as exc:
            raise PostgresUnavailableError(_first_line(exc)) from exc

    def _fetch(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        try:
            with self._connect() as conn:
                return conn.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise PostgresUnavailableError(_first_line(exc)) from exc

    # -- setup ---------------------------------------------------------------------------

    def create_and_load(self, snapshot: Path, limit: int | None = None) -> int:
        """Create the table and load ``snapshot`` into it when it is empty; returns rows."""
        try:
            with self._connect() as conn:
                conn.execute(DDL)
                row = conn.execute(f"SELECT count(*) AS n FROM {TABLE}").fetchone()
                if row and row["n"]:
                    return int(row["n"])
                with conn.transaction(), conn.cursor() as cur:
                    copy_sql = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
                    with cur.copy(copy_sql) as copy:
                        n = 0
                        for item in read_snapshot(snapshot, limit):
                            copy.write_row([item.get(c, "") for c in COLUMNS])
                            n += 1
                return n
        except psycopg.Error as exc:
            raise PostgresUnavailableError(_first_line(exc)) from exc

    # -- reads ---------------------------------------------------------------------------

    def page(self, offset: int, limit: int, section: str = "") -> Page:
        where, params = ("WHERE section = %s", (section,)) if section else ("", ())
        cols = ", ".join(COLUMNS)
        rows = self._fetch(
            f"SELECT {cols}, count(*) OVER () AS total FROM {TABLE} {where}"
            " ORDER BY name LIMIT %s OFFSET %s",
            (*params, limit, offset),
        )
        total = int(rows[0]["total"]) if rows else self.count(section)
        return Page([Product.from_row(r) for r in rows], total, offset, limit)

    def count(self, section: str = "") -> int:
        where, params = ("WHERE section = %s", (section,)) if section else ("", ())
        rows = self._fetch(f"SELECT count(*) AS n FROM {TABLE} {where}", params)
        return int(rows[0]["n"])

    def get(self, product_id: int) -> Product | None:
        rows = self._fetch(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE id = %s", (product_id,))
        return Product.from_row(rows[0]) if rows else None

    def sections(self) -> list[str]:
        rows = self._fetch(f"SELECT DISTINCT section FROM {TABLE} ORDER BY section")
        return [r["section"] for r in rows]

    def all_products(self) -> Iterator[Product]:
        """Every product (for fitting the keyword statistics), in id order."""
        for r in self._fetch(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY id"):
            yield Product.from_row(r)

    # -- edits -------------------------------------------------------------------------------

    def update(self, product_id: int, description: str, section: str) -> Product | None:
        """Write an edit (the sync's trigger queues it for the index)."""
        rows = self._fetch(
            f"UPDATE {TABLE} SET description = %s, section = %s WHERE id = %s"
            f" RETURNING {', '.join(COLUMNS)}",
            (description, section, product_id),
        )
        return Product.from_row(rows[0]) if rows else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
