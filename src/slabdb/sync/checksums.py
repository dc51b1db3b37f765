"""What each key looks like in the index: content checksums and chunk counts.

``text_checksum`` covers the embedder's model, the chunking settings and the rendered
text: if it is unchanged the embedder is not called. ``meta_checksum`` covers the
metadata: if only it changed, the stored vectors are re-written with new metadata.

``max_chunks`` is an upper bound on the chunk ids that may exist for a key. A worker
raises it in its own committed statement *before* writing more chunks than the bound,
so a crash between the SlabDB write and the claim's commit cannot leave chunks that a
later shrink or delete would not know to remove.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg

from slabdb.sync.config import SCHEMA


@dataclass(frozen=True)
class KeyState:
    text_checksum: str | None
    meta_checksum: str | None
    chunks: int
    max_chunks: int


EMPTY_STATE = KeyState(None, None, 0, 0)


class ChecksumStore:
    """Reads and writes ``slabdb_sync.checksums`` for one sync."""

    def __init__(self, sync: str) -> None:
        self.sync = sync

    def get(self, conn: psycopg.Connection, keys: Sequence[str]) -> dict[str, KeyState]:
        rows = conn.execute(
            f"SELECT key, text_checksum, meta_checksum, chunks, max_chunks"
            f" FROM {SCHEMA}.checksums WHERE sync = %s AND key = ANY(%s)",
            (self.sync, list(keys)),
        ).fetchall()
        return {r[0]: KeyState(r[1], r[2], r[3], r[4]) for r in rows}

    def raise_bounds(self, conn: psycopg.Connection, bounds: dict[str, int]) -> None:
        """Raise ``max_chunks`` (commit this before writing the chunks)."""
        if not bounds:
            return
        keys = list(bounds)
        conn.execute(
            f"INSERT INTO {SCHEMA}.checksums (sync, key, max_chunks)"
            f" SELECT %s, k, n FROM unnest(%s::text[], %s::int[]) AS u(k, n)"
            f" ON CONFLICT (sync, key) DO UPDATE"
            f" SET max_chunks = GREATEST({SCHEMA}.checksums.max_chunks, EXCLUDED.max_chunks)",
            (self.sync, keys, [bounds[k] for k in keys]),
        )

    def put(self, conn: psycopg.Connection, states: Iterable[tuple[str, str, str, int]]) -> None:
        """Record ``(key, text_checksum, meta_checksum, chunks)`` after a write."""
        items = list(states)
        if not items:
            return
        conn.execute(
            f"INSERT INTO {SCHEMA}.checksums"
            f" (sync, key, text_checksum, meta_checksum, chunks, max_chunks)"
            f" SELECT %s, k, t, m, n, n FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[])"
            f" AS u(k, t, m, n)"
            f" ON CONFLICT (sync, key) DO UPDATE SET text_checksum = EXCLUDED.text_checksum,"
            f" meta_checksum = EXCLUDED.meta_checksum, chunks = EXCLUDED.chunks,"
            f" max_chunks = EXCLUDED.chunks, synced_at = now()",
            (
                self.sync,
                [i[0] for i in items],
                [i[1] for i in items],
                [i[2] for i in items],
                [i[3] for i in items],
            ),
        )

    def forget(self, conn: psycopg.Connection, keys: Sequence[str]) -> None:
        if keys:
            conn.execute(
                f"DELETE FROM {SCHEMA}.checksums WHERE sync = %s AND key = ANY(%s)",
                (self.sync, list(keys)),
            )

    def clear(self, conn: psycopg.Connection) -> None:
        """Forget everything (the next pass re-embeds every row)."""
        conn.execute(f"DELETE FROM {SCHEMA}.checksums WHERE sync = %s", (self.sync,))
