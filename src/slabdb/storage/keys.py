"""Every object-store key SlabDB writes, in one place.

::

    catalog/indexes/<name>.json                     one per index (create-if-absent)
    catalog/namespaces/<name>-<inc>/<ns key>        a marker per namespace: its incarnation
    data/<name>-<inc>/<ns key>/<ns inc>/            a namespace's prefix, holding:
        wal/<lsn:020d>                              write-ahead log entries
        manifest.json                               the namespace's current slabs
        slabs/L<level>-<slab id>.slab               immutable slabs
        builder-lease.json                          who flushes and compacts (engine/lease.py)
        imports/<import id>.json                    a bulk import's unpublished slabs
    data/<name>-<inc>/imports/<id>/{progress,cancel,lease}.json   one bulk import

Incarnations (random, per creation) keep a re-created index or namespace from ever
seeing objects of a deleted one that were not removed yet.  A namespace's name is
turned into a key-safe ``<ns key>`` by :func:`namespace_key`: reversible for names
whose key fits :data:`MAX_NAMESPACE_KEY_BYTES`, a SHA-256 for longer ones (whose
marker object then holds the real name: see :mod:`slabdb.client.catalog`).
"""

from __future__ import annotations

import hashlib
import re

LSN_DIGITS = 20
MAX_NAMESPACE_KEY_BYTES = 255
"""Longest ``<ns key>`` segment: a file name on common filesystems (ext4, APFS, NTFS)
is at most 255 bytes. Every name the API accepts (up to 512 characters of any script)
must be storable on every backend, so longer keys are hashed. Keys that fit keep the
reversible form they always had, so existing namespaces keep their objects."""
HASHED_PREFIX = "h-"
INDEXES_PREFIX = "catalog/indexes/"
_SAFE_NS = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


# --- catalog ----------------------------------------------------------------------------
def index_config_key(name: str) -> str:
    return f"{INDEXES_PREFIX}{name}.json"


def index_name_of_key(key: str) -> str:
    return key.rsplit("/", 1)[-1].removesuffix(".json")


def namespace_markers_prefix(index: str, incarnation: str) -> str:
    return f"catalog/namespaces/{index}-{incarnation}/"


def namespace_marker_key(index: str, incarnation: str, ns: str) -> str:
    return namespace_markers_prefix(index, incarnation) + namespace_key(ns)


def index_data_prefix(index: str, incarnation: str) -> str:
    return f"data/{index}-{incarnation}/"


def namespace_prefix(index: str, incarnation: str, ns: str, ns_incarnation: str) -> str:
    """Where one incarnation of a namespace keeps its WAL, manifest and slabs."""
    return f"{index_data_prefix(index, incarnation)}{namespace_key(ns)}/{ns_incarnation}/"


def namespace_key(ns: str) -> str:
    """A key-safe name for a namespace ('' is the default namespace), at most
    :data:`MAX_NAMESPACE_KEY_BYTES`: ``d``, ``n-<name>``, ``x-<utf-8 hex>`` or, when
    that would be too long, ``h-<sha256 hex of the name>`` (not reversible)."""
    if ns == "":
        return "d"
    if _SAFE_NS.match(ns):
        return f"n-{ns}"
    encoded = "x-" + ns.encode().hex()
    if len(encoded) <= MAX_NAMESPACE_KEY_BYTES:
        return encoded
    return HASHED_PREFIX + hashlib.sha256(ns.encode()).hexdigest()


def is_hashed_namespace_key(key: str) -> bool:
    """True for keys :func:`namespace_from_key` cannot reverse (read the marker's name)."""
    return key.startswith(HASHED_PREFIX)


def namespace_from_key(key: str) -> str:
    """The name behind a reversible namespace key (ValueError for a hashed one)."""
    if key == "d":
        return ""
    if key.startswith("n-"):
        return key[2:]
    if is_hashed_namespace_key(key):
        raise ValueError(f"namespace key {key!r} is hashed: its name is in its marker")
    return bytes.fromhex(key[2:]).decode()


# --- inside a namespace's prefix ---------------------------------------------------------
def wal_prefix(prefix: str) -> str:
    return f"{prefix}wal/"


def wal_key(prefix: str, lsn: int) -> str:
    return f"{wal_prefix(prefix)}{lsn:0{LSN_DIGITS}d}"


def lsn_of_key(key: str) -> int:
    return int(key.rsplit("/", 1)[-1])


def manifest_key(prefix: str) -> str:
    return f"{prefix}manifest.json"


def slabs_prefix(prefix: str) -> str:
    return f"{prefix}slabs/"


def slab_key(prefix: str, level: int, slab_id: str) -> str:
    return f"{slabs_prefix(prefix)}L{level}-{slab_id}.slab"


def builder_lease_key(prefix: str) -> str:
    """The namespace's index-builder lease (:mod:`slabdb.engine.lease`)."""
    return f"{prefix}builder-lease.json"


def import_pending_prefix(prefix: str) -> str:
    return f"{prefix}imports/"


def import_pending_key(prefix: str, import_id: str) -> str:
    """Slabs a running bulk import wrote here and has not published yet (GC keeps them)."""
    return f"{import_pending_prefix(prefix)}{import_id}.json"


def imports_prefix(index: str, incarnation: str) -> str:
    return f"{index_data_prefix(index, incarnation)}imports/"


def import_key(index: str, incarnation: str, import_id: str, what: str) -> str:
    """One bulk import's ``progress``, ``cancel`` or ``lease`` object (:mod:`slabdb.bulk`)."""
    return f"{imports_prefix(index, incarnation)}{import_id}/{what}.json"
