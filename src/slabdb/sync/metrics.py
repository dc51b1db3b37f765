"""Sync status: the figures ``sync status`` prints and Prometheus scrapes.

:func:`read_status` reads the ``slabdb_sync.status`` view (pending events, lag = age of
the oldest pending event, errors, throughput over the last five minutes).
:class:`SyncMetrics` exposes the same figures as gauges, refreshed on each scrape, plus
this process's counters and batch latency histogram, in its own registry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row

from slabdb.sync.config import SCHEMA

if TYPE_CHECKING:
    from slabdb.sync.processor import ProcessResult

logger = logging.getLogger(__name__)

METRICS_HOST = "127.0.0.1"


@dataclass(frozen=True)
class SyncStatus:
    sync: str
    pending: int
    retrying: int
    lag_seconds: float
    errors: int
    events_per_second: float
    processed_total: int
    embedded_total: int
    bootstrapped: bool | None


def read_status(conn: psycopg.Connection, name: str | None = None) -> list[SyncStatus]:
    """One :class:`SyncStatus` per sync (or just ``name``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        if name is None:
            cur.execute(f"SELECT * FROM {SCHEMA}.status ORDER BY sync")
        else:
            cur.execute(f"SELECT * FROM {SCHEMA}.status WHERE sync = %s", (name,))
        rows = cur.fetchall()
    return [
        SyncStatus(
            sync=r["sync"],
            pending=int(r["pending"]),
            retrying=int(r["retrying"]),
            lag_seconds=float(r["lag_seconds"]),
            errors=int(r["errors"]),
            events_per_second=float(r["events_per_second"]),
            processed_total=int(r["processed_total"]),
            embedded_total=int(r["embedded_total"]),
            bootstrapped=r["bootstrapped"],
        )
        for r in rows
    ]


class SyncMetrics:
    """Prometheus metrics of one sync, in a private registry."""

    def __init__(self, name: str, dsn: str | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.name = name
        self.dsn = dsn
        self.registry = CollectorRegistry()
        labels = ["sync"]
        self.events = Counter(
            "slabdb_sync_keys_processed",
            "Keys processed by this process, by result",
            [*labels, "result"],
            registry=self.registry,
        )
        self.texts = Counter(
            "slabdb_sync_texts_embedded", "Texts (chunks) sent to the embedder", labels,
            registry=self.registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "slabdb_sync_batch_seconds", "Wall time of one claimed batch", labels,
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )  # fmt: skip
        if dsn is not None:
            self.registry.register(_StatusCollector(name, dsn))

    def observe_batch(self, result: ProcessResult, seconds: float) -> None:
        n = self.name
        self.events.labels(n, "embedded").inc(
            len(result.succeeded) - result.skipped - result.deleted_keys - result.metadata_only
        )
        self.events.labels(n, "skipped").inc(result.skipped)
        self.events.labels(n, "deleted").inc(result.deleted_keys)
        self.events.labels(n, "metadata_only").inc(result.metadata_only)
        self.events.labels(n, "failed").inc(len(result.failed))
        self.texts.labels(n).inc(result.embedded_texts)
        self.batch_seconds.labels(n).observe(seconds)

    def serve(self, port: int, host: str = METRICS_HOST) -> Any:
        """Expose ``/metrics`` on ``host:port`` (a daemon thread); returns the server."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _StatusCollector:
    """Reads the status view on each scrape (gauges that are right even with many workers)."""

    def __init__(self, name: str, dsn: str) -> None:
        self.name = name
        self.dsn = dsn

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                statuses = read_status(conn, self.name)
        except psycopg.Error as exc:
            logger.warning("status not readable: %s", exc)
            return
        for help_, metric, attr in (
            ("Events waiting in the outbox", "slabdb_sync_pending_events", "pending"),
            ("Events waiting after a failure", "slabdb_sync_retrying_events", "retrying"),
            ("Age of the oldest pending event (lag)", "slabdb_sync_lag_seconds", "lag_seconds"),
            ("Keys in the errors table", "slabdb_sync_error_keys", "errors"),
            (
                "Events processed per second (5 min)",
                "slabdb_sync_events_per_second",
                "events_per_second",
            ),
        ):
            family = GaugeMetricFamily(metric, help_, labels=["sync"])
            for s in statuses:
                family.add_metric([s.sync], float(getattr(s, attr)))
            yield family
