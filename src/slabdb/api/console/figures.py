"""What the console shows about a project: its indexes, their namespaces, and each
namespace's LSM tree, read from the engines of the server's own process.

Per namespace: slabs per level (count, records, live records, bytes, and each slab),
the active memtable (records, rows, an estimate of its vector bytes) and the frozen
ones waiting to flush, the WAL's applied LSN against the checkpoint the slabs cover,
and the compaction backlog (slabs at a level that reached its fan-out, as the
``slabdb_compaction_backlog_slabs`` metric counts them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slabdb.client import Client
from slabdb.core.naming import listed_name
from slabdb.engine.namespace import Namespace

FLOAT_BYTES = 4


@dataclass(frozen=True)
class SlabFigure:
    id: str
    records: int
    live_records: int
    size_bytes: int
    min_lsn: int
    max_lsn: int


@dataclass
class LevelFigure:
    level: int
    slabs: list[SlabFigure] = field(default_factory=list)
    waiting: bool = False
    """The level reached its fan-out: its slabs wait to be merged into the next."""

    @property
    def records(self) -> int:
        return sum(s.records for s in self.slabs)

    @property
    def live_records(self) -> int:
        return sum(s.live_records for s in self.slabs)

    @property
    def size_bytes(self) -> int:
        return sum(s.size_bytes for s in self.slabs)


@dataclass
class NamespaceShape:
    index: str
    namespace: str
    """As listings name it (``__default__`` for the default namespace)."""
    records: int
    levels: list[LevelFigure]
    memtable_records: int
    memtable_rows: int
    memtable_vector_bytes: int
    frozen_memtables: int
    applied_lsn: int
    checkpoint_lsn: int
    compaction_backlog: int
    fanout: int
    manifest_version: int

    @property
    def wal_tail(self) -> int:
        """WAL entries applied but not yet in slabs (replayed after a restart)."""
        return max(0, self.applied_lsn - self.checkpoint_lsn)

    @property
    def largest_slab_records(self) -> int:
        return max((s.records for lv in self.levels for s in lv.slabs), default=0)

    @property
    def slab_count(self) -> int:
        return sum(len(level.slabs) for level in self.levels)


@dataclass(frozen=True)
class NamespaceRow:
    name: str
    records: int


@dataclass
class IndexRow:
    name: str
    dimension: int | None
    metric: str
    vector_type: str
    records: int
    namespaces: list[NamespaceRow]
    embed_model: str | None
    host: str


def human_size(size: int) -> str:
    """``1536`` → ``1.5 KB`` (powers of 1024)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def index_rows(client: Client) -> list[IndexRow]:
    """Every index of the project with its namespaces and record counts."""
    rows = []
    for model in client.list_indexes():
        index = client.Index(model.name)
        stats = index.describe_index_stats()
        counts = {name: s.vector_count for name, s in stats.namespaces.items()}
        for name in index.namespace_names():
            counts.setdefault(listed_name(name), 0)
        namespaces = [NamespaceRow(n, c) for n, c in sorted(counts.items())]
        embed = model.embed or {}
        rows.append(
            IndexRow(
                name=model.name,
                dimension=model.dimension,
                metric=model.metric,
                vector_type=model.vector_type,
                records=stats.total_vector_count,
                namespaces=namespaces,
                embed_model=str(embed["model"]) if embed.get("model") else None,
                host=model.host,
            )
        )
    return rows


def _engine(client: Client, index: str, namespace: str) -> Namespace | None:
    client.Index(index).describe_index_stats()  # opens the engine of every namespace
    wanted = listed_name(namespace)
    for index_name, ns_name, engine in client.open_namespace_entries():
        if index_name == index and listed_name(ns_name) == wanted:
            return engine
    return None


def namespace_shape(client: Client, index: str, namespace: str) -> NamespaceShape | None:
    """The LSM figures of one namespace (None if it holds nothing or does not exist)."""
    engine = _engine(client, index, namespace)
    if engine is None:
        return None
    stats: dict[str, Any] = engine.stats()
    manifest = engine.manifest
    fanout, max_level = client.config.level_fanout, client.config.max_level
    by_level: dict[int, LevelFigure] = {}
    for entry in sorted(manifest.slabs, key=lambda s: (s.level, s.min_lsn)):
        level = by_level.setdefault(entry.level, LevelFigure(entry.level))
        level.slabs.append(
            SlabFigure(
                entry.id,
                entry.count,
                entry.live_count,
                entry.size_bytes,
                entry.min_lsn,
                entry.max_lsn,
            )
        )
    levels = [by_level[k] for k in sorted(by_level)]
    for level in levels:
        level.waiting = level.level < max_level and len(level.slabs) >= fanout
    dimension = client.Index(index).config.dimension or 0
    view = engine.view()
    return NamespaceShape(
        index=index,
        namespace=listed_name(namespace),
        records=view.count,
        levels=levels,
        memtable_records=int(stats["memtable_records"]),
        memtable_rows=int(stats["memtable_rows"]),
        memtable_vector_bytes=int(stats["memtable_rows"]) * dimension * FLOAT_BYTES,
        frozen_memtables=int(stats["frozen_memtables"]),
        applied_lsn=int(stats["applied_lsn"]),
        checkpoint_lsn=int(stats["checkpoint_lsn"]),
        compaction_backlog=sum(len(lv.slabs) for lv in levels if lv.waiting),
        fanout=fanout,
        manifest_version=manifest.version,
    )
