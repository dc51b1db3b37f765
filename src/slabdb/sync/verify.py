"""Compare the index with the table, row by row: ids, metadata and vectors.

``verify_sync`` is what ``slabdb sync verify`` prints and what the crash tests assert:
for every row, the chunks ``key#0..key#n-1`` exist with the expected metadata and a
vector equal to the embedder's vector of the chunk text; and no other ``#`` id exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from slabdb.embed.base import Embedder
from slabdb.sync.config import SyncConfig
from slabdb.sync.processor import KeyProcessor
from slabdb.sync.target import SyncTarget
from slabdb.sync.text import vector_id

VECTOR_TOLERANCE = 1e-4


@dataclass
class VerifyReport:
    rows: int = 0
    vectors: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    wrong_metadata: list[str] = field(default_factory=list)
    wrong_vector: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.wrong_metadata or self.wrong_vector)

    def summary(self) -> str:
        return (
            f"{self.rows} rows, {self.vectors} vectors; missing {len(self.missing)}, "
            f"extra {len(self.extra)}, wrong metadata {len(self.wrong_metadata)}, "
            f"wrong vector {len(self.wrong_vector)}"
            + (
                f" (e.g. {(self.missing + self.extra + self.wrong_metadata + self.wrong_vector)[:5]})"
                if not self.ok
                else ""
            )
        )


def verify_sync(
    conn: psycopg.Connection, cfg: SyncConfig, target: SyncTarget, embedder: Embedder
) -> VerifyReport:
    """Check every row of the table against the index (reads everything: test-sized data)."""
    processor = KeyProcessor(cfg, embedder, target)
    report = VerifyReport()
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("SELECT {}::text AS __k, * FROM {}").format(
                sql.Identifier(cfg.key_column), sql.Identifier(cfg.table_schema, cfg.table_name)
            )
        )
        rows = {r.pop("__k"): r for r in cur.fetchall()}
    report.rows = len(rows)
    expected_ids: set[str] = set()
    wanted: list[tuple[str, str, dict[str, object]]] = []
    for key, row in rows.items():
        chunks, metadata, _, _ = processor.render(row)
        for i, (text, meta) in enumerate(zip(chunks, metadata, strict=True)):
            vid = vector_id(key, i)
            expected_ids.add(vid)
            wanted.append((vid, text, meta))
    stored_ids = set(target.list_ids(""))
    report.vectors = len(stored_ids)
    report.extra = sorted(stored_ids - expected_ids)
    stored = target.fetch(sorted(expected_ids))
    vectors = embedder.embed_documents([text for _, text, _ in wanted]) if wanted else None
    for n, (vid, _text, meta) in enumerate(wanted):
        got = stored.get(vid)
        if got is None:
            report.missing.append(vid)
            continue
        values, got_meta = got
        if got_meta != meta:
            report.wrong_metadata.append(vid)
        assert vectors is not None
        if not np.allclose(values, vectors[n], atol=VECTOR_TOLERANCE):
            report.wrong_vector.append(vid)
    return report
