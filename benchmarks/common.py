"""Shared helpers for SlabDB benchmarks: data, timing, percentiles, memory, JSON, environment.

Everything here is deterministic for a given :class:`DatasetSpec` (fixed seed), so a
benchmark can regenerate the same data in several processes instead of shipping it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
REPO_ROOT = Path(__file__).resolve().parent.parent

# --- data -----------------------------------------------------------------------------------

GENRES = 100
"""Distinct values of the low-cardinality string field ``genre`` ("g00" .. "g99")."""
YEAR_MIN, YEAR_MAX = 1950, 2050
"""``year`` is uniform in [YEAR_MIN, YEAR_MAX): ``year >= 2000`` keeps about half."""
_GEN_CHUNK_ROWS = 8192
"""Rows generated at a time, so data generation never holds big float64 temporaries."""


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate: ``n`` vectors of ``dim`` float32 around ``clusters`` centres."""

    n: int
    dim: int
    queries: int
    seed: int = 42
    clusters: int = 100
    noise: float = 0.75
    """Per-coordinate noise around a centre whose coordinates are N(0, 1)."""


@dataclass
class Dataset:
    spec: DatasetSpec
    ids: list[str]
    vectors: F32
    """(n, dim) float32, not normalized (SlabDB normalizes for cosine; peers do it themselves)."""
    genre_code: npt.NDArray[np.int16]
    year: npt.NDArray[np.int32]
    active: npt.NDArray[np.bool_]
    queries: F32
    """(queries, dim) float32 drawn from the same clusters, not members of the data."""
    _metadata: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def genre(self) -> list[str]:
        return [f"g{int(c):02d}" for c in self.genre_code]

    @property
    def metadata(self) -> list[dict[str, Any]]:
        """One Pinecone-style metadata dict per record (string, number, boolean)."""
        if self._metadata is None:
            genres = self.genre
            self._metadata = [
                {"genre": g, "year": int(y), "active": bool(a)}
                for g, y, a in zip(genres, self.year.tolist(), self.active.tolist(), strict=True)
            ]
        return self._metadata


def record_id(i: int) -> str:
    return f"doc-{i:07d}"


def make_dataset(spec: DatasetSpec) -> Dataset:
    """Clustered synthetic vectors plus metadata, identical for identical specs."""
    rng = np.random.default_rng(spec.seed)
    centres = rng.standard_normal((spec.clusters, spec.dim), dtype=np.float32)
    labels = rng.integers(0, spec.clusters, size=spec.n)
    vectors = np.empty((spec.n, spec.dim), dtype=np.float32)
    for start in range(0, spec.n, _GEN_CHUNK_ROWS):
        end = min(start + _GEN_CHUNK_ROWS, spec.n)
        noise = rng.standard_normal((end - start, spec.dim), dtype=np.float32)
        vectors[start:end] = centres[labels[start:end]] + np.float32(spec.noise) * noise
    genre_code = rng.integers(0, GENRES, size=spec.n).astype(np.int16)
    year = rng.integers(YEAR_MIN, YEAR_MAX, size=spec.n).astype(np.int32)
    active = rng.random(spec.n) < 0.5
    q_labels = rng.integers(0, spec.clusters, size=spec.queries)
    q_noise = rng.standard_normal((spec.queries, spec.dim), dtype=np.float32)
    queries = (centres[q_labels] + np.float32(spec.noise) * q_noise).astype(np.float32)
    return Dataset(
        spec=spec,
        ids=[record_id(i) for i in range(spec.n)],
        vectors=vectors,
        genre_code=genre_code,
        year=year,
        active=active,
        queries=queries,
    )


def normalized(matrix: F32) -> F32:
    """Rows scaled to unit L2 norm (cosine becomes inner product)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True).astype(np.float32)
    return np.ascontiguousarray(matrix / np.maximum(norms, np.float32(1e-30)), dtype=np.float32)


# --- filters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterSpec:
    """One filter workload, written for each system's filter language."""

    name: str
    pinecone: dict[str, Any] | None
    """Pinecone / SlabDB / Chroma ``where`` syntax (None: unfiltered)."""
    sql: str | None
    """LanceDB SQL predicate."""
    description: str
    mask: Callable[[Dataset], npt.NDArray[np.bool_] | None]
    """Boolean mask of matching rows (None: all)."""


SELECTIVE_GENRE = 7

FILTERS: tuple[FilterSpec, ...] = (
    FilterSpec("none", None, None, "no filter", lambda ds: None),
    FilterSpec(
        "selective",
        {"genre": {"$eq": f"g{SELECTIVE_GENRE:02d}"}},
        f"genre = 'g{SELECTIVE_GENRE:02d}'",
        "genre == 'g07' (string equality, ~1% of records)",
        lambda ds: ds.genre_code == SELECTIVE_GENRE,
    ),
    FilterSpec(
        "broad",
        {"year": {"$gte": 2000}},
        "year >= 2000",
        "year >= 2000 (numeric range, ~50% of records)",
        lambda ds: ds.year >= 2000,
    ),
)
FILTER_BY_NAME = {f.name: f for f in FILTERS}


# --- exact ground truth -----------------------------------------------------------------------


def exact_top_k(ds: Dataset, k: int, mask: npt.NDArray[np.bool_] | None) -> list[list[str]]:
    """Exact cosine top-``k`` ids per query, scored in float64 (the recall reference)."""
    rows = np.arange(ds.n) if mask is None else np.flatnonzero(mask)
    xn = normalized(ds.vectors[rows]).astype(np.float64)
    qn = normalized(ds.queries).astype(np.float64)
    scores = xn @ qn.T  # (rows, queries)
    kk = min(k, len(rows))
    out: list[list[str]] = []
    for j in range(qn.shape[0]):
        col = scores[:, j]
        part = np.argpartition(-col, kk - 1)[:kk] if kk < len(rows) else np.arange(len(rows))
        best = part[np.lexsort((part, -col[part]))]
        out.append([ds.ids[int(rows[b])] for b in best])
    return out


def recall_at_k(found: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> float:
    """Mean fraction of each query's true top-k that was found."""
    if not truth:
        return 0.0
    total = 0.0
    for f, t in zip(found, truth, strict=True):
        total += len(set(f) & set(t)) / max(1, len(t))
    return total / len(truth)


# --- timing -----------------------------------------------------------------------------------


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._start


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / mean / max in milliseconds."""
    arr = np.asarray(seconds, dtype=np.float64) * 1e3
    if arr.size == 0:
        return {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "mean_ms": 0.0, "max_ms": 0.0}
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(arr.mean()),
        "max_ms": float(arr.max()),
    }


def time_queries(
    run: Callable[[int], list[str]], n_queries: int, warmup: int = 5
) -> tuple[dict[str, Any], list[list[str]]]:
    """Run ``run(i)`` for every query index, one at a time; latencies and returned ids."""
    for i in range(min(warmup, n_queries)):
        run(i)
    lat: list[float] = []
    ids: list[list[str]] = []
    for i in range(n_queries):
        t0 = time.perf_counter()
        found = run(i)
        lat.append(time.perf_counter() - t0)
        ids.append(found)
    summary: dict[str, Any] = latency_summary(lat)
    summary["queries"] = n_queries
    summary["qps_single_thread"] = n_queries / max(sum(lat), 1e-12)
    return summary, ids


# --- memory -----------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size so far.

    Linux's ``VmHWM`` first: ``getrusage``'s ``ru_maxrss`` survives ``execve``, so a
    subprocess would report its parent's peak if the parent was bigger.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)


def current_rss_mb() -> float:
    """This process's resident set size now (psutil if present, else /proc)."""
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / (1024.0 * 1024.0)
    except ImportError:
        pass
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def dir_size_mb(path: str | Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total / (1024.0 * 1024.0)


# --- environment ------------------------------------------------------------------------------


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _blas() -> dict[str, Any]:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return {"name": blas.get("name"), "version": blas.get("version")}
    except Exception:  # numpy's config layout is not a stable API
        return {}


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def environment() -> dict[str, Any]:
    """Facts that explain a number: machine, versions, commit, date, BLAS settings."""
    status = _git("status", "--porcelain")
    env_keys = (
        "OPENBLAS_CORETYPE",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
    )
    try:
        import faiss

        faiss_version = getattr(faiss, "__version__", None)
        faiss_threads = int(faiss.omp_get_max_threads())
    except ImportError:
        faiss_version, faiss_threads = None, None
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": _loadavg(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": _blas(),
        "faiss": faiss_version,
        "faiss_omp_threads": faiss_threads,
        "slabdb": package_version("slabdb"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "openblas_coretype_set": "OPENBLAS_CORETYPE" in os.environ,
        "env": {k: os.environ.get(k) for k in env_keys},
    }


# --- output -----------------------------------------------------------------------------------


def write_json(path: str | Path, doc: Any) -> Path:
    """Write ``doc`` as indented JSON, atomically (temp file + rename)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False, default=_json_default) + "\n")
    tmp.replace(out)
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
