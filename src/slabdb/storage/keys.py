"""Every object-store key SlabDB writes, in one place.

::

    catalog/indexes/<name>.json                     one per index (create-if-absent)
    catalog/namespaces/<name>-<inc>/<ns key>        a marker per namespace: its incarnation
    data/<name>-<inc>/<ns key>/<ns inc>/            a namespace's prefix, holding:
        wal/<lsn:020d>                              write-ahead log entries
        manifest.json                               the namespace's current slabs
        slabs/L<level>-<slab id>.slab               immutable slabs

Incarnations (random, per creation) keep a re-created index or namespace from ever
seeing objects of a deleted one that were not removed yet.  A namespace's name is
turned into a key-safe, reversible ``<ns key>`` by :func:`namespace_key`.
"""

from __future__ import annotations

import re

LSN_DIGITS = 20
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
    """A key-safe, reversible name for a namespace ('' is the default namespace)."""
    if ns == "":
        return "d"
    if _SAFE_NS.match(ns):
        return f"n-{ns}"
    return "x-" + ns.encode().hex()


def namespace_from_key(key: str) -> str:
    if key == "d":
        return ""
    if key.startswith("n-"):
        return key[2:]
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
