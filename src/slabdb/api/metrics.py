"""Prometheus metrics: requests and latency per route, plus engine figures per namespace.

They are served on a listener of their own (``slabdb serve --metrics-port``, loopback by
default), never on the API ports: the labels name projects, indexes and namespaces, and
the API ports answer nothing but ``/health`` without a key.

Engine figures are read at scrape time from every open namespace's ``stats()``:
applied LSN, memtable records, frozen memtables, slabs per level and the compaction
backlog (slabs sitting at a level that has reached its fan-out and so waits to merge).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from slabdb.client import Client
from slabdb.core.naming import listed_name

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS_SECONDS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class EngineCollector(Collector):
    """Per-namespace engine gauges, labelled by project, index and namespace."""

    def __init__(self, clients: Callable[[], Iterable[tuple[str, Client]]]) -> None:
        self._clients = clients

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["project", "index", "namespace"]
        lsn = GaugeMetricFamily("slabdb_applied_lsn", "Last WAL LSN applied", labels=labels)
        checkpoint = GaugeMetricFamily(
            "slabdb_checkpoint_lsn", "WAL LSN covered by slabs", labels=labels
        )
        memtable = GaugeMetricFamily(
            "slabdb_memtable_records", "Records in the active memtable", labels=labels
        )
        frozen = GaugeMetricFamily(
            "slabdb_frozen_memtables", "Memtables waiting to flush", labels=labels
        )
        slabs = GaugeMetricFamily("slabdb_slabs", "Slabs per LSM level", labels=[*labels, "level"])
        backlog = GaugeMetricFamily(
            "slabdb_compaction_backlog_slabs",
            "Slabs at levels that reached their fan-out (waiting to merge)",
            labels=labels,
        )
        compacted = GaugeMetricFamily(
            "slabdb_last_compaction_timestamp_seconds",
            "Unix time of the namespace's last published compaction",
            labels=labels,
        )
        for project, client in self._clients():
            fanout, max_level = client.config.level_fanout, client.config.max_level
            for index, ns_name, ns in client.open_namespace_entries():
                lv = [project, index, listed_name(ns_name)]
                st: dict[str, Any] = ns.stats()
                lsn.add_metric(lv, st["applied_lsn"])
                checkpoint.add_metric(lv, st["checkpoint_lsn"])
                memtable.add_metric(lv, st["memtable_records"])
                frozen.add_metric(lv, st["frozen_memtables"])
                per_level: dict[int, int] = st["slabs_per_level"]
                for level, count in sorted(per_level.items()):
                    slabs.add_metric([*lv, str(level)], count)
                backlog.add_metric(
                    lv,
                    sum(c for lvl, c in per_level.items() if lvl < max_level and c >= fanout),
                )
                if ns.manifest.last_compaction_at is not None:
                    compacted.add_metric(lv, ns.manifest.last_compaction_at)
        yield from (lsn, checkpoint, memtable, frozen, slabs, backlog, compacted)


class ApiMetrics:
    """The server's registry and request instruments."""

    def __init__(self, clients: Callable[[], Iterable[tuple[str, Client]]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "slabdb_requests",
            "API requests by route, method, status and transport",
            ["route", "method", "status", "transport"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "slabdb_request_seconds",
            "API request latency by route and transport",
            ["route", "method", "transport"],
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.registry.register(EngineCollector(clients))

    def observe(
        self, route: str, method: str, status: int | str, seconds: float, transport: str
    ) -> None:
        self.requests.labels(route, method, str(status), transport).inc()
        self.latency.labels(route, method, transport).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def serve_metrics(
    metrics: ApiMetrics,
    host: str,
    port: int,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> WSGIServer:
    """Serve ``metrics`` (any path) on ``host:port`` from a daemon thread, over TLS when
    ``certfile``/``keyfile`` are given; ``shutdown()`` the result to stop."""
    server, _ = start_http_server(
        port, addr=host, registry=metrics.registry, certfile=certfile, keyfile=keyfile
    )
    return server
