"""The outbox queue: claim events per key, acknowledge, reschedule, give up, re-queue.

A claim runs inside the worker's transaction and holds until it commits or rolls back:

1. ``SELECT … FOR UPDATE SKIP LOCKED`` takes up to ``limit`` ready events, oldest first;
2. a transaction-scoped advisory lock is tried for each distinct key; keys another worker
   holds are left alone (that worker is processing them);
3. every other pending event of the locked keys is taken too, so one key's events are
   handled together, by one worker, and a stale state can never overwrite a newer one.

The worker then reads the *current* row (a later statement, so a later snapshot than
every claimed event's commit) and acknowledges by deleting exactly the claimed event
ids; events that arrive meanwhile stay queued. A crash rolls everything back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from slabdb.sync.config import SCHEMA


@dataclass
class KeyClaim:
    """The claimed events of one key."""

    key: str
    event_ids: list[int] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    attempts: int = 0


class OutboxQueue:
    """SQL for ``slabdb_sync.outbox`` of one sync."""

    def __init__(self, sync: str) -> None:
        self.sync = sync

    def claim(self, conn: psycopg.Connection, limit: int) -> list[KeyClaim]:
        """Claim up to ``limit`` keys' events (in the caller's transaction)."""
        rows = conn.execute(
            f"SELECT id, key FROM {SCHEMA}.outbox WHERE sync = %s AND available_at <= now()"
            f" ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (self.sync, limit * 4),
        ).fetchall()
        if not rows:
            return []
        candidates: list[str] = []
        for _, key in rows:
            if key not in candidates:
                candidates.append(key)
        candidates = candidates[:limit]
        locked = {
            r[0]
            for r in conn.execute(
                "SELECT k FROM unnest(%s::text[]) AS k"
                " WHERE pg_try_advisory_xact_lock(hashtextextended(%s || ':' || k, 0))",
                (candidates, self.sync),
            )
        }
        if not locked:
            return []
        events = conn.execute(
            f"SELECT id, key, op, attempts FROM {SCHEMA}.outbox"
            f" WHERE sync = %s AND key = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED",
            (self.sync, list(locked)),
        ).fetchall()
        claims: dict[str, KeyClaim] = {}
        for event_id, key, op, attempts in events:
            claim = claims.setdefault(key, KeyClaim(key))
            claim.event_ids.append(event_id)
            claim.ops.append(op)
            claim.attempts = max(claim.attempts, attempts)
        return [claims[k] for k in candidates if k in claims]

    def ack(self, conn: psycopg.Connection, claims: Sequence[KeyClaim]) -> None:
        ids = [i for c in claims for i in c.event_ids]
        if ids:
            conn.execute(f"DELETE FROM {SCHEMA}.outbox WHERE id = ANY(%s)", (ids,))
        keys = [c.key for c in claims]
        if keys:
            conn.execute(
                f"DELETE FROM {SCHEMA}.errors WHERE sync = %s AND key = ANY(%s)", (self.sync, keys)
            )

    def reschedule(
        self, conn: psycopg.Connection, claim: KeyClaim, delay_seconds: float, reason: str
    ) -> None:
        conn.execute(
            f"UPDATE {SCHEMA}.outbox SET attempts = %s, last_error = %s,"
            f" available_at = clock_timestamp() + make_interval(secs => %s) WHERE id = ANY(%s)",
            (claim.attempts + 1, reason, delay_seconds, claim.event_ids),
        )

    def give_up(self, conn: psycopg.Connection, claim: KeyClaim, reason: str) -> None:
        """Move the key's events to the errors table (one row per key)."""
        conn.execute(
            f"WITH gone AS (DELETE FROM {SCHEMA}.outbox WHERE id = ANY(%s)"
            f"   RETURNING key, op, enqueued_at)"
            f" INSERT INTO {SCHEMA}.errors (sync, key, op, attempts, reason, enqueued_at)"
            f" SELECT %s, key, (array_agg(op ORDER BY enqueued_at DESC))[1], %s, %s,"
            f"   min(enqueued_at) FROM gone GROUP BY key",
            (claim.event_ids, self.sync, claim.attempts + 1, reason),
        )

    def enqueue(self, conn: psycopg.Connection, keys: Sequence[str], op: str = "R") -> int:
        """Queue keys by hand (bootstrap, retry-errors, repairs)."""
        if not keys:
            return 0
        cur = conn.execute(
            f"INSERT INTO {SCHEMA}.outbox (sync, key, op) SELECT %s, k, %s FROM unnest(%s::text[]) k",
            (self.sync, op, list(keys)),
        )
        return cur.rowcount

    def retry_errors(self, conn: psycopg.Connection) -> int:
        """Move every error of this sync back to the outbox; returns how many keys."""
        cur = conn.execute(
            f"WITH gone AS (DELETE FROM {SCHEMA}.errors WHERE sync = %s RETURNING key)"
            f" INSERT INTO {SCHEMA}.outbox (sync, key, op) SELECT DISTINCT %s, key, 'R' FROM gone",
            (self.sync, self.sync),
        )
        return cur.rowcount

    def pending(self, conn: psycopg.Connection) -> int:
        row = conn.execute(
            f"SELECT count(*) FROM {SCHEMA}.outbox WHERE sync = %s", (self.sync,)
        ).fetchone()
        return int(row[0]) if row else 0

    def record_throughput(self, conn: psycopg.Connection, processed: int, embedded: int) -> None:
        if processed or embedded:
            conn.execute(
                f"INSERT INTO {SCHEMA}.throughput (sync, minute, processed, embedded)"
                f" VALUES (%s, date_trunc('minute', now()), %s, %s)"
                f" ON CONFLICT (sync, minute) DO UPDATE SET"
                f" processed = {SCHEMA}.throughput.processed + EXCLUDED.processed,"
                f" embedded = {SCHEMA}.throughput.embedded + EXCLUDED.embedded",
                (self.sync, processed, embedded),
            )
