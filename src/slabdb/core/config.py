"""Typed settings, read once at the edge and passed down by constructor.

``Settings()`` reads ``SLABDB_*`` environment variables (pydantic-settings) where a
process starts: ``slabdb.connect`` without a config, and the CLI.  The engine only ever
sees the frozen :class:`EngineConfig` it is handed (``Settings().engine_config()``).
Defaults are named constants with units.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_settings import BaseSettings, SettingsConfigDict

# --- defaults (units in the names) ---------------------------------------------------
DEFAULT_FLUSH_RECORDS = 10_000
"""Memtable records that trigger a flush to an L0 slab."""
DEFAULT_LEVEL_FANOUT = 10
"""Slabs waiting at one level that trigger a merge into the next (10 x 10k = L1 of ~100k)."""
DEFAULT_MAX_LEVEL = 2
DEFAULT_COMPACTION_MAX_INPUTS = 10
"""At most this many slabs merge in one compaction task (partial compaction)."""
DEFAULT_GC_GRACE_SECONDS = 300.0
"""Unreferenced slabs and checkpointed WAL objects live this long before deletion."""
DEFAULT_REFRESH_INTERVAL_SECONDS = 1.0
"""How often an open namespace looks for other writers' WAL entries and manifests."""
DEFAULT_BACKGROUND_INTERVAL_SECONDS = 0.2
"""How often the background worker looks for flush, compaction and GC work."""
DEFAULT_QUERY_THREADS = 4
"""Threads that search slabs in parallel (numpy releases the GIL)."""


@dataclass(frozen=True)
class EngineConfig:
    """Everything the storage engine is tuned by. Immutable; pass it down."""

    flush_records: int = DEFAULT_FLUSH_RECORDS
    level_fanout: int = DEFAULT_LEVEL_FANOUT
    max_level: int = DEFAULT_MAX_LEVEL
    compaction_max_inputs: int = DEFAULT_COMPACTION_MAX_INPUTS
    gc_grace_seconds: float = DEFAULT_GC_GRACE_SECONDS
    refresh_interval_seconds: float = DEFAULT_REFRESH_INTERVAL_SECONDS
    background_interval_seconds: float = DEFAULT_BACKGROUND_INTERVAL_SECONDS
    query_threads: int = DEFAULT_QUERY_THREADS
    background: bool = True
    """Run flush, compaction and GC in a background thread (tests may drive them by hand)."""

    def __post_init__(self) -> None:
        if self.flush_records < 1:
            raise ValueError("flush_records must be at least 1")
        if self.level_fanout < 2:
            raise ValueError("level_fanout must be at least 2")
        if self.compaction_max_inputs < 2:
            raise ValueError("compaction_max_inputs must be at least 2")
        if self.max_level < 1:
            raise ValueError("max_level must be at least 1")


class Settings(BaseSettings):
    """Process-level settings from ``SLABDB_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SLABDB_", extra="ignore")

    data: str = "./data"
    flush_records: int = DEFAULT_FLUSH_RECORDS
    level_fanout: int = DEFAULT_LEVEL_FANOUT
    max_level: int = DEFAULT_MAX_LEVEL
    compaction_max_inputs: int = DEFAULT_COMPACTION_MAX_INPUTS
    gc_grace_seconds: float = DEFAULT_GC_GRACE_SECONDS
    refresh_interval_seconds: float = DEFAULT_REFRESH_INTERVAL_SECONDS
    query_threads: int = DEFAULT_QUERY_THREADS

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            flush_records=self.flush_records,
            level_fanout=self.level_fanout,
            max_level=self.max_level,
            compaction_max_inputs=self.compaction_max_inputs,
            gc_grace_seconds=self.gc_grace_seconds,
            refresh_interval_seconds=self.refresh_interval_seconds,
            query_threads=self.query_threads,
        )
