"""The live panel's figures: the sync (from Postgres) and the index (from SlabDB).

Each part is read on its own and may fail on its own: a panel always renders, with a
plain message for whatever could not be read. A sync worker counts as running when a
session is LISTENing on the sync's channel (every worker keeps one open).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from slabdb.app.catalog import CONNECT_TIMEOUT_SECONDS
from slabdb.app.index import EngineFigures, SearchIndex, SlabUnavailableError
from slabdb.sync import SyncStatus, read_status
from slabdb.sync.config import NOTIFY_CHANNEL_PREFIX

LISTENERS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE query = %s AND pid <> pg_backend_pid()"
STALLED_AFTER_SECONDS = 10.0
"""Events older than this with no worker listening: say the sync is stopped."""


@dataclass
class PanelData:
    sync: SyncStatus | None = None
    workers: int | None = None
    engine: EngineFigures | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def sync_stalled(self) -> bool:
        return (
            self.sync is not None
            and self.workers == 0
            and self.sync.pending > 0
            and self.sync.lag_seconds > STALLED_AFTER_SECONDS
        )


def read_sync(dsn: str, sync_name: str) -> tuple[SyncStatus | None, int]:
    """The sync's status row (None: not installed) and how many workers listen."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        statuses = read_status(conn, sync_name)
        listen = f'LISTEN "{NOTIFY_CHANNEL_PREFIX}{sync_name}"'
        row = conn.execute(LISTENERS_SQL, (listen,)).fetchone()
    return (statuses[0] if statuses else None), int(row[0] if row else 0)


def read_panel(dsn: str, sync_name: str, index: SearchIndex) -> PanelData:
    data = PanelData()
    try:
        data.sync, data.workers = read_sync(dsn, sync_name)
        if data.sync is None:
            data.problems.append(f"The sync {sync_name!r} is not installed in Postgres yet.")
        elif data.workers == 0:
            data.problems.append(
                "No sync worker is running: edits are saved but wait in the outbox."
            )
    except psycopg.Error as exc:
        data.problems.append(f"Postgres is unreachable ({_short(exc)}); sync figures unknown.")
    except Exception as exc:  # the status view missing or changed shape
        data.problems.append(f"Sync status unreadable: {_short(exc)}")
    try:
        data.engine = index.figures()
    except SlabUnavailableError as exc:
        data.problems.append(f"SlabDB is unreachable at {index.where} ({exc}).")
    return data


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
