#!/usr/bin/env python3
"""Build the demo's product catalog from Debian's package lists.

    python scripts/build_demo_data.py            # the committed snapshot (15,000 rows)
    python scripts/build_demo_data.py --full     # every package, to data/ (not committed)
    python scripts/build_demo_data.py --update   # run `apt-get update` first (root)

Reads ``apt-cache dumpavail`` (name, version, section, installed size, one-line summary)
and the English translation indexes apt keeps beside it (the long descriptions: the
Packages files carry only ``Description-md5``). Those indexes exist after
``apt-get -o Acquire::Languages=en update``; ``--update`` runs it when they are missing.

Each output line is one JSON object: ``name, summary, description, section,
installed_size`` (KiB) and ``version``, sorted by name, gzip-compressed. The snapshot keeps
every package tagged ``role::program`` (applications and tools), the few of priority
required/important/standard, a list of names the tests search for, and fills up to
``--rows`` with a stable sample (by a hash of the name) of the rest, leaving out debug
symbols, documentation and translation packages.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "src" / "slabdb" / "app" / "data" / "debian-packages.jsonl.gz"
FULL = ROOT / "data" / "debian-packages-full.jsonl.gz"
DEFAULT_ROWS = 15_000
APT_EN = ["-o", "Acquire::Languages=en"]
APT_HELPER = "/usr/lib/apt/apt-helper"
ALWAYS = (
    "gimp", "krita", "darktable", "pinta", "shotwell", "rawtherapee", "inkscape",
    "imagemagick", "mypaint", "libpq5", "libpq-dev", "postgresql-15", "postgresql-client-15",
    "sqlite3", "vim", "emacs", "nginx", "curl", "git", "python3",
)  # fmt: skip
MAX_DESCRIPTION_CHARS = 4000
"""Longer descriptions (a few changelog-like ones reach 80,000) are cut at a space."""
NOISE_SUFFIXES = ("-dbg", "-dbgsym", "-doc", "-doc-html")
NOISE_PARTS = ("-l10n-", "-i18n-", "-locale-")


def stanzas(text: str) -> Iterator[dict[str, str]]:
    """Deb822 paragraphs as dicts (continuation lines kept, joined with newlines)."""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        last = ""
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and last:
                fields[last] += "\n" + line
            elif ":" in line:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        if "Package" in fields:
            yield fields


def long_description(body: str) -> str:
    """A Debian long description (lines after the first) as plain paragraphs."""
    lines = []
    for raw in body.splitlines():
        line = raw[1:] if raw.startswith(" ") else raw
        lines.append("" if line.strip() == "." else line.rstrip())
    paragraphs, current = [], []
    for line in lines:
        if line:
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    text = "\n\n".join(paragraphs)
    if len(text) > MAX_DESCRIPTION_CHARS:
        text = text[: text.rfind(" ", 0, MAX_DESCRIPTION_CHARS)] + " …"
    return text


def translation_files() -> list[str]:
    out = subprocess.run(
        ["apt-get", *APT_EN, "indextargets", "--format", "$(FILENAME)", "Identifier: Translations"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [line for line in out.splitlines() if line.strip() and Path(line.strip()).exists()]


def english_descriptions() -> dict[tuple[str, str], str]:
    """(package, description md5) -> long description, from apt's Translation-en files."""
    out: dict[tuple[str, str], str] = {}
    for path in translation_files():
        text = subprocess.run(
            [APT_HELPER, "cat-file", path], check=True, capture_output=True, text=True
        ).stdout
        for st in stanzas(text):
            body = st.get("Description-en", "")
            _, _, rest = body.partition("\n")
            out[(st["Package"], st.get("Description-md5", ""))] = long_description(rest)
    return out


def products() -> list[dict[str, object]]:
    dump = subprocess.run(
        ["apt-cache", *APT_EN, "dumpavail"], check=True, capture_output=True, text=True
    ).stdout
    descriptions = english_descriptions()
    if not descriptions:
        sys.exit("no English descriptions: run with --update (apt-get update as root) first")
    rows: dict[str, dict[str, object]] = {}
    for st in stanzas(dump):
        name = st["Package"]
        summary = st.get("Description", "").split("\n")[0].strip()
        description = descriptions.get((name, st.get("Description-md5", "")), "")
        rows[name] = {
            "name": name,
            "summary": summary,
            "description": description or summary,
            "section": st.get("Section", "misc").rsplit("/", 1)[-1],
            "installed_size": int(st.get("Installed-Size", "0") or 0),
            "version": st.get("Version", ""),
            "_tags": st.get("Tag", ""),
            "_priority": st.get("Priority", ""),
        }
    return [rows[n] for n in sorted(rows)]


def _noise(name: str) -> bool:
    return name.endswith(NOISE_SUFFIXES) or any(p in name for p in NOISE_PARTS)


def _stable_rank(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def select(rows: list[dict[str, object]], limit: int) -> list[dict[str, object]]:
    """The snapshot: programs, core packages, ALWAYS, then a stable sample of the rest."""
    keep = [
        r
        for r in rows
        if r["name"] in ALWAYS
        or "role::program" in str(r["_tags"])
        or r["_priority"] in ("required", "important", "standard")
    ]
    chosen = {str(r["name"]) for r in keep}
    rest = sorted(
        (r for r in rows if r["name"] not in chosen and not _noise(str(r["name"]))),
        key=lambda r: _stable_rank(str(r["name"])),
    )
    keep += rest[: max(0, limit - len(keep))]
    return sorted(keep[: max(limit, len(chosen))], key=lambda r: str(r["name"]))


def write(rows: list[dict[str, object]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # mtime=0: the same catalog gives the same bytes (no spurious diffs).
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for row in rows:
            public = {k: v for k, v in row.items() if not k.startswith("_")}
            gz.write(json.dumps(public, ensure_ascii=False, sort_keys=True).encode() + b"\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--full", action="store_true", help=f"every package (default out: {FULL.relative_to(ROOT)})"
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the snapshot")
    parser.add_argument(
        "--out", type=Path, help=f"output file (default {SNAPSHOT.relative_to(ROOT)})"
    )
    parser.add_argument("--update", action="store_true", help="apt-get update first (root)")
    args = parser.parse_args(argv)
    if args.update or not translation_files():
        subprocess.run(["apt-get", *APT_EN, "update", "-qq"], check=True)
    rows = products()
    chosen = rows if args.full else select(rows, args.rows)
    out = args.out or (FULL if args.full else SNAPSHOT)
    write(chosen, out)
    print(f"{len(chosen)} of {len(rows)} packages -> {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
