"""Real embeddings for the ANN benchmark, MiniLM, cached on disk: two sets of texts.

``debian`` (the default): the machine's apt lists (``/var/lib/apt/lists/*_Translation-en.lz4``,
read with ``lz4cat``): every package's one-line description, then the first sentence
of each paragraph of the long descriptions, de-duplicated, in file order.

``changelogs``: the entries of the installed packages' change logs
(``/usr/share/doc/*/changelog*.gz``, Debian's and upstream's): every bulleted line of
21-299 characters, de-duplicated, in file order (~275k here): terse developer prose,
file names and code, another distribution than the descriptions.

Each text carries its package's ``Section`` (from the ``Packages`` lists) as metadata.
The last ``queries`` texts are held out as queries (never indexed).

Vectors are SlabDB's default embedder (``slabdb.embed.local.MiniLMEmbedder``, 384-d,
unit norm).  They are cached under ``benchmarks/results/cache/`` (git-ignored): the
first run embeds (~1,000 texts/s on 2 cores), later runs load the ``.npy`` files.
"""

from __future__ import annotations

import glob
import gzip
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

CACHE_DIR = Path(__file__).resolve().parent / "results" / "cache"
APT_LISTS = "/var/lib/apt/lists"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


@dataclass
class RealSet:
    texts: list[str]
    sections: list[str]
    vectors: npt.NDArray[np.float32]
    query_texts: list[str]
    queries: npt.NDArray[np.float32]


def _lz4_lines(pattern: str) -> list[str]:
    out: list[str] = []
    for path in sorted(glob.glob(f"{APT_LISTS}/{pattern}")):
        raw = subprocess.run(["lz4cat", path], check=True, capture_output=True).stdout
        out += raw.decode("utf-8", "replace").splitlines()
    return out


def _sections() -> dict[str, str]:
    section: dict[str, str] = {}
    package = ""
    for line in _lz4_lines("*_binary-amd64_Packages.lz4"):
        if line.startswith("Package: "):
            package = line[9:].strip()
        elif line.startswith("Section: ") and package:
            section.setdefault(package, line[9:].strip().split("/")[-1])
    return section


def _descriptions() -> list[tuple[str, str]]:
    """(package, text): short descriptions first, then long-description sentences."""
    short: list[tuple[str, str]] = []
    long: list[tuple[str, str]] = []
    package, paragraph_start = "", False
    for line in _lz4_lines("*_Translation-en.lz4"):
        if line.startswith("Package: "):
            package = line[9:].strip()
        elif line.startswith("Description-en: "):
            short.append((package, line[16:].strip()))
            paragraph_start = True
        elif line.startswith(" ") and package:
            body = line.strip()
            if body == ".":
                paragraph_start = True
            elif paragraph_start and len(body) > 20:
                first = _SENTENCE_END.split(body)[0]
                long.append((package, first))
                paragraph_start = False
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for package, text in short + long:
        if text not in seen:
            seen.add(text)
            out.append((package, text))
    return out


_BULLET = re.compile(r"^\s{0,6}[*+-]\s+(\S.*)$")
DATASETS = ("debian", "changelogs")
DESCRIPTIONS = {
    "debian": "Debian package descriptions, MiniLM-L6 int8 (384-d)",
    "changelogs": "installed packages' change-log entries, MiniLM-L6 int8 (384-d)",
}


def _changelog_entries() -> list[tuple[str, str]]:
    """(package, text): every bulleted change-log line, de-duplicated."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for path in sorted(glob.glob("/usr/share/doc/*/changelog*.gz")):
        package = Path(path).parent.name
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                found = _BULLET.match(line.rstrip())
                text = found.group(1).strip() if found else ""
                if 20 < len(text) < 300 and text not in seen:
                    seen.add(text)
                    out.append((package, text))
    return out


def load_real_set(n: int, queries: int, name: str = "debian") -> RealSet:
    """``n`` indexed texts and ``queries`` held-out ones of set ``name``, embedded
    (cached on disk)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    (CACHE_DIR / ".gitignore").write_text("*\n")
    texts_path = CACHE_DIR / f"{name}-texts.json"
    vectors_path = CACHE_DIR / f"{name}-minilm.npy"
    if texts_path.exists():
        doc = json.loads(texts_path.read_text())
    else:
        sections = _sections()
        pairs = _descriptions() if name == "debian" else _changelog_entries()
        doc = {"texts": [t for _, t in pairs], "sections": [sections.get(p, "?") for p, _ in pairs]}
        texts_path.write_text(json.dumps(doc))
    texts, sections_all = doc["texts"], doc["sections"]
    total = min(len(texts), n + queries)
    cached = np.load(vectors_path) if vectors_path.exists() else np.empty((0, 384), np.float32)
    if len(cached) < total:
        from slabdb.embed.local import MiniLMEmbedder

        embedder = MiniLMEmbedder()
        fresh = embedder.embed_documents(texts[len(cached) : total]).astype(np.float32)
        cached = np.concatenate([cached, fresh])
        np.save(vectors_path, cached)
    n_indexed = total - queries
    return RealSet(
        texts=texts[:n_indexed],
        sections=sections_all[:n_indexed],
        vectors=np.ascontiguousarray(cached[:n_indexed]),
        query_texts=texts[n_indexed:total],
        queries=np.ascontiguousarray(cached[n_indexed:total]),
    )


if __name__ == "__main__":
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    real = load_real_set(size, 200)
    print(len(real.texts), real.vectors.shape, real.queries.shape)
