"""What sync workers hold in Postgres right now (for tests that kill one mid-batch)."""

from __future__ import annotations

import psycopg


def keys_being_processed(dsn: str) -> int:
    """Keys some worker holds right now.  Outbox workers and SQS consumers take a
    transaction-scoped advisory lock per key they claim and keep it while they embed and
    write those keys, until their commit; so a non-zero count means a batch is in flight."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0
