"""Typed settings, read once at the edge and passed down by constructor.

``Settings()`` reads ``SLABDB_*`` environment variables (pydantic-settings) where a
process starts: ``slabdb.connect`` without a config, and the CLI.  The engine only ever
sees the frozen :class:`EngineConfig` it is handed (``Settings().engine_config()``).
Defaults are named constants with units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic_settings import BaseSettings, SettingsConfigDict

# --- defaults (units in the names) ---------------------------------------------------
DEFAULT_FLUSH_RECORDS = 10_000
"""Memtable records that trigger a flush to an L0 slab."""
DEFAULT_MAX_FROZEN_MEMTABLES = 2
"""Back-pressure: a writer flushes the waiting memtables itself once this many wait (a
frozen memtable is searched exactly until its flush; docs/design/write-path.md)."""
DEFAULT_LEVEL_FANOUT = 10
"""Slabs waiting at one level that trigger a merge into the next (10 x 10k = L1 of ~100k)."""
DEFAULT_MAX_LEVEL = 2
DEFAULT_COMPACTION_MAX_INPUTS = 10
"""At most this many slabs merge in one compaction task (partial compaction)."""
DEFAULT_L0_MERGE_ROWS = 0
"""L0 slabs each below this many rows merge into L1 once they hold this many together,
without waiting for ``level_fanout`` of them; 0 = off (the default: measured in
docs/design/ann.md, "The post-ingest state", it leaves a 100k namespace in several
smaller graph slabs instead of one)."""
DEFAULT_GC_GRACE_SECONDS = 300.0
"""Unreferenced slabs and checkpointed WAL objects live this long before deletion."""
DEFAULT_REFRESH_INTERVAL_SECONDS = 1.0
"""How often an open namespace looks for other writers' WAL entries and manifests."""
DEFAULT_BACKGROUND_INTERVAL_SECONDS = 0.2
"""How often the background worker looks for flush, compaction and GC work."""
DEFAULT_QUERY_THREADS = 0
"""Threads that search slabs in parallel; 0 = one per CPU core (the thread budget: the
query pool times BLAS threads never exceeds the cores, see ``slabdb.client.client``)."""
DEFAULT_SWITCH_INTERVAL_SECONDS = 0.0005
"""The interpreter's GIL switch interval while a client is open (``sys.setswitchinterval``;
Python's default is 5 ms, which a query thread may wait for each time the background
worker runs a pure-Python stretch of a flush or compaction): in the first second after a
100k ingest, query p50 1.94 ms against 2.47 ms (docs/design/read-path.md, "The GIL switch
interval"); 0 = leave it alone."""
DEFAULT_ANN_ENABLED = True
"""Build a per-slab ANN index for dense slabs of at least ``ann_min_rows`` live rows."""
DEFAULT_ANN_MIN_ROWS = 150_000
"""Live rows from which a dense slab gets an HNSW graph instead of flat fast-scan codes.
Below it the flat codes answer as fast or faster at higher recall and build ~10x
faster (100k MiniLM rows: 5,961 against 3,047 QPS, recall 0.997 against 0.992, 1 s
against 15 s to build; docs/design/ann.md, "Flat fast-scan codes")."""
DEFAULT_ANN_FLAT_MIN_ROWS = 5_000
"""Live rows from which a dense slab below ``ann_min_rows`` gets flat 4-bit PQ fast-scan
codes (``IVF1,PQ{dim/4}x4fs``, every code scanned), re-ranked exactly: ~0.2 s to build
for 10k rows, and a query over 10k MiniLM rows takes ~43 us against ~130-190 us for
the exact scan; smaller slabs are scanned exactly; 0 = off."""
DEFAULT_ANN_EXACT_FILTER_FRACTION = 0.05
"""A filter (or exclusion) leaving fewer than this fraction of an ANN slab's rows is
answered exactly over the allowed rows; a broader one searches the graph with the
allowed rows as an ID selector."""
DEFAULT_ANN_EXACT_ROWS_PER_EF = 50.0
"""Rows an exact scan covers for the cost of one unit of HNSW beam width (measured on
384-d MiniLM vectors: ~50 ns per scanned row, ~2.5 us per efSearch unit): a query whose
allowed rows are fewer than this times its (widened) beam is answered exactly."""
DEFAULT_ANN_HNSW_M = 32
"""HNSW graph degree (faiss ``M``)."""
DEFAULT_ANN_EF_CONSTRUCTION = 40
"""HNSW build beam width (faiss ``efConstruction``)."""
DEFAULT_ANN_TARGET_RECALL = 0.95
"""Recall@10 each slab's search width (``efSearch``) is tuned for at build time."""
DEFAULT_ANN_IVF_MIN_ROWS = 200_000
"""Live rows from which a dense slab gets an IVF index with 4-bit PQ fast-scan codes
instead of HNSW: ~0.13 KB per row in memory against HNSWFlat's second float32 copy
(1.8 KB per row at 384-d), so a 1M x 384 namespace fits 2 GiB (docs/design/ann.md)."""
DEFAULT_CACHE_MEMORY_BYTES = 256 * 2**20
"""Bytes of slab sections fetched from a remote store kept in memory (LRU)."""
DEFAULT_CACHE_DISK_BYTES = 8 * 2**30
"""Bytes of slab sections fetched from a remote store kept on local disk (LRU)."""
DEFAULT_MAX_OPEN_NAMESPACES = 64
"""Open namespace engines a client keeps; the least recently used idle one beyond this
is closed (its memtable is empty or flushed; it reopens on its next use)."""


@dataclass(frozen=True)
class AnnConfig:
    """When slabs get an ANN index and how it is built (read at flush/compaction time)."""

    enabled: bool = DEFAULT_ANN_ENABLED
    min_rows: int = DEFAULT_ANN_MIN_ROWS
    exact_filter_fraction: float = DEFAULT_ANN_EXACT_FILTER_FRACTION
    exact_rows_per_ef: float = DEFAULT_ANN_EXACT_ROWS_PER_EF
    hnsw_m: int = DEFAULT_ANN_HNSW_M
    ef_construction: int = DEFAULT_ANN_EF_CONSTRUCTION
    target_recall: float = DEFAULT_ANN_TARGET_RECALL

    ivf_min_rows: int = DEFAULT_ANN_IVF_MIN_ROWS
    flat_min_rows: int = DEFAULT_ANN_FLAT_MIN_ROWS
    """0 = off; from ``min_rows`` on a slab gets HNSW instead, so a value at or above it
    gives no slab flat codes."""

    def __post_init__(self) -> None:
        if self.flat_min_rows < 0:
            raise ValueError("ann flat_min_rows must be >= 0 (0 = off)")
        if self.ivf_min_rows < 1:
            raise ValueError("ann ivf_min_rows must be at least 1")
        if self.min_rows < 1:
            raise ValueError("ann min_rows must be at least 1")
        if not 0.0 <= self.exact_filter_fraction <= 1.0:
            raise ValueError("ann exact_filter_fraction must be within [0, 1]")
        if self.exact_rows_per_ef < 0:
            raise ValueError("ann exact_rows_per_ef must be >= 0")
        if self.hnsw_m < 4 or self.ef_construction < 8:
            raise ValueError("ann hnsw_m must be >= 4 and ef_construction >= 8")
        if not 0.0 < self.target_recall <= 1.0:
            raise ValueError("ann target_recall must be within (0, 1]")


@dataclass(frozen=True)
class CacheConfig:
    """Byte budgets of the slab cache for remote object stores (``storage/cache.py``).

    ``disk_dir`` None: a private directory under the system temp dir, per process.
    Local-directory stores are memory-mapped and bypass the cache."""

    memory_bytes: int = DEFAULT_CACHE_MEMORY_BYTES
    disk_bytes: int = DEFAULT_CACHE_DISK_BYTES
    disk_dir: str | None = None

    def __post_init__(self) -> None:
        if self.memory_bytes < 0 or self.disk_bytes < 0:
            raise ValueError("cache budgets must be >= 0 bytes")


@dataclass(frozen=True)
class EngineConfig:
    """Everything the storage engine is tuned by. Immutable; pass it down."""

    flush_records: int = DEFAULT_FLUSH_RECORDS
    max_frozen_memtables: int = DEFAULT_MAX_FROZEN_MEMTABLES
    level_fanout: int = DEFAULT_LEVEL_FANOUT
    max_level: int = DEFAULT_MAX_LEVEL
    compaction_max_inputs: int = DEFAULT_COMPACTION_MAX_INPUTS
    l0_merge_rows: int = DEFAULT_L0_MERGE_ROWS
    gc_grace_seconds: float = DEFAULT_GC_GRACE_SECONDS
    refresh_interval_seconds: float = DEFAULT_REFRESH_INTERVAL_SECONDS
    background_interval_seconds: float = DEFAULT_BACKGROUND_INTERVAL_SECONDS
    query_threads: int = DEFAULT_QUERY_THREADS
    switch_interval_seconds: float = DEFAULT_SWITCH_INTERVAL_SECONDS
    ann: AnnConfig = field(default_factory=AnnConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    max_open_namespaces: int = DEFAULT_MAX_OPEN_NAMESPACES
    background: bool = True
    """Run flush, compaction and GC in a background thread (tests may drive them by hand)."""
    builder_lease: bool = False
    """Flush and compact a namespace only while holding its builder lease in the store, so
    one node at a time builds its slabs (``engine/lease.py``; needs ``background``)."""
    builder_lease_seconds: float = 15.0
    """How long a builder lease lives unrenewed before another node may take it over."""

    def __post_init__(self) -> None:
        if self.flush_records < 1:
            raise ValueError("flush_records must be at least 1")
        if self.max_frozen_memtables < 1:
            raise ValueError("max_frozen_memtables must be at least 1")
        if self.level_fanout < 2:
            raise ValueError("level_fanout must be at least 2")
        if self.compaction_max_inputs < 2:
            raise ValueError("compaction_max_inputs must be at least 2")
        if self.max_level < 1:
            raise ValueError("max_level must be at least 1")
        if self.query_threads < 0:
            raise ValueError("query_threads must be >= 0 (0 = one per core)")
        if not 0 <= self.switch_interval_seconds <= 1:
            raise ValueError("switch_interval_seconds must be within [0, 1] (0 = leave it)")
        if self.max_open_namespaces < 1:
            raise ValueError("max_open_namespaces must be at least 1")
        if self.l0_merge_rows < 0:
            raise ValueError("l0_merge_rows must be >= 0 (0 = off)")


class Settings(BaseSettings):
    """Process-level settings from ``SLABDB_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SLABDB_", extra="ignore")

    data: str = "./data"
    flush_records: int = DEFAULT_FLUSH_RECORDS
    max_frozen_memtables: int = DEFAULT_MAX_FROZEN_MEMTABLES
    level_fanout: int = DEFAULT_LEVEL_FANOUT
    max_level: int = DEFAULT_MAX_LEVEL
    compaction_max_inputs: int = DEFAULT_COMPACTION_MAX_INPUTS
    l0_merge_rows: int = DEFAULT_L0_MERGE_ROWS
    gc_grace_seconds: float = DEFAULT_GC_GRACE_SECONDS
    refresh_interval_seconds: float = DEFAULT_REFRESH_INTERVAL_SECONDS
    query_threads: int = DEFAULT_QUERY_THREADS
    switch_interval_seconds: float = DEFAULT_SWITCH_INTERVAL_SECONDS
    ann_enabled: bool = DEFAULT_ANN_ENABLED
    ann_min_rows: int = DEFAULT_ANN_MIN_ROWS
    ann_exact_filter_fraction: float = DEFAULT_ANN_EXACT_FILTER_FRACTION
    ann_ivf_min_rows: int = DEFAULT_ANN_IVF_MIN_ROWS
    ann_flat_min_rows: int = DEFAULT_ANN_FLAT_MIN_ROWS
    cache_memory_bytes: int = DEFAULT_CACHE_MEMORY_BYTES
    cache_disk_bytes: int = DEFAULT_CACHE_DISK_BYTES
    cache_dir: str | None = None
    max_open_namespaces: int = DEFAULT_MAX_OPEN_NAMESPACES
    builder_lease: bool = False

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            flush_records=self.flush_records,
            max_frozen_memtables=self.max_frozen_memtables,
            level_fanout=self.level_fanout,
            max_level=self.max_level,
            compaction_max_inputs=self.compaction_max_inputs,
            l0_merge_rows=self.l0_merge_rows,
            gc_grace_seconds=self.gc_grace_seconds,
            refresh_interval_seconds=self.refresh_interval_seconds,
            query_threads=self.query_threads,
            switch_interval_seconds=self.switch_interval_seconds,
            builder_lease=self.builder_lease,
            max_open_namespaces=self.max_open_namespaces,
            ann=AnnConfig(
                enabled=self.ann_enabled,
                min_rows=self.ann_min_rows,
                exact_filter_fraction=self.ann_exact_filter_fraction,
                ivf_min_rows=self.ann_ivf_min_rows,
                flat_min_rows=self.ann_flat_min_rows,
            ),
            cache=CacheConfig(
                memory_bytes=self.cache_memory_bytes,
                disk_bytes=self.cache_disk_bytes,
                disk_dir=self.cache_dir,
            ),
        )
