"""Walk a whole store (``slabdb check``): catalog, markers, namespaces, and orphans.

One LIST of the store, then a GET of every small object and of every slab a manifest
lists, and nothing written.  A server's store holds the ``default`` project at its root
and other projects under ``projects/<name>/``; each is checked as a database of its own.
Layout (see :mod:`slabdb.storage.keys`)::

    catalog/indexes/<name>.json                  -> IndexConfig (sealed)
    catalog/namespaces/<name>-<inc>/<ns key>     -> namespace marker (sealed)
    data/<name>-<inc>/<ns key>/<ns inc>/...      -> checked by check_namespace
"""

from __future__ import annotations

from collections import defaultdict

from slabdb.check.findings import Report
from slabdb.check.namespace_check import check_namespace
from slabdb.client.catalog import IndexConfig, read_index_entry, read_marker
from slabdb.control.prefixed_store import PrefixedStore
from slabdb.core.errors import CorruptionError, ObjectNotFoundError
from slabdb.storage import keys as layout
from slabdb.storage.base import ObjectStore

PROJECTS_PREFIX = "projects/"
IGNORED_PREFIXES = ("_control/",)
"""The server's control catalog (SQLite) lives in a local data directory, not in objects."""
_MARKERS_PREFIX = "catalog/namespaces/"
_DATA_PREFIX = "data/"
_IMPORTS = layout.imports_prefix("i", "0").rstrip("/").rsplit("/", 1)[-1]
"""The segment under an index's data prefix that holds bulk imports, not a namespace."""


def check_store(store: ObjectStore) -> Report:
    """Every problem of every database in ``store`` (read-only)."""
    report = Report()
    by_root: dict[str, list[str]] = defaultdict(list)
    for meta in store.list(""):
        key = meta.key
        if key.startswith(IGNORED_PREFIXES):
            continue
        root = _root_of(key)
        by_root[root].append(key[len(root) :])
    by_root.setdefault("", [])
    for root in sorted(by_root):
        view = store if root == "" else PrefixedStore(store, root)
        check_database(view, by_root[root], report, root)
    return report


def _root_of(key: str) -> str:
    if key.startswith(PROJECTS_PREFIX) and key.count("/") >= 2:
        return "/".join(key.split("/", 2)[:2]) + "/"
    return ""


def check_database(store: ObjectStore, keys: list[str], report: Report, root: str = "") -> None:
    """Check one database (one project): ``keys`` are all of its keys."""
    report.count("databases")
    index_keys, marker_keys, data_keys = [], [], []
    for key in keys:
        if key.startswith(layout.INDEXES_PREFIX) and key.endswith(".json"):
            index_keys.append(key)
        elif key.startswith(_MARKERS_PREFIX):
            marker_keys.append(key)
        elif key.startswith(_DATA_PREFIX) and key.count("/") >= 4:
            data_keys.append(key)
        else:
            report.warning(root + key, "unknown object (not part of SlabDB's layout)")
    configs = [c for c in (_read_index(store, k, report, root) for k in index_keys) if c]
    live = _check_markers(store, configs, marker_keys, report, root)
    _check_data(store, live, data_keys, report, root)


def _read_index(store: ObjectStore, key: str, report: Report, root: str) -> IndexConfig | None:
    report.count("indexes")
    try:
        cfg, sealed = read_index_entry(
            store.get(key).data, layout.index_name_of_key(key), where=root + key
        )
    except ObjectNotFoundError:
        return None
    except CorruptionError as exc:
        report.error(root + key, exc.message)
        return None
    if not sealed:
        report.warning(root + key, "written before catalog entries were sealed")
    return cfg


def _check_markers(
    store: ObjectStore,
    configs: list[IndexConfig],
    marker_keys: list[str],
    report: Report,
    root: str,
) -> dict[str, IndexConfig]:
    """Namespace prefix -> index config of every namespace a valid marker points to."""
    by_markers = {layout.namespace_markers_prefix(c.name, c.incarnation): c for c in configs}
    live: dict[str, IndexConfig] = {}
    for key in marker_keys:
        markers_prefix, ns_key = key.rsplit("/", 1)[0] + "/", key.rsplit("/", 1)[1]
        cfg = by_markers.get(markers_prefix)
        if cfg is None:
            report.warning(root + key, "marker of an index that does not exist (or is damaged)")
            continue
        report.count("namespace markers")
        try:
            marker = read_marker(store.get(key).data, cfg, ns_key, where=root + key)
        except ObjectNotFoundError:
            continue
        except CorruptionError as exc:
            report.error(root + key, exc.message)
            continue
        if not marker.sealed:
            report.warning(root + key, "written before markers were sealed (sealed on next write)")
        ns_data = f"{layout.index_data_prefix(cfg.name, cfg.incarnation)}{ns_key}/"
        live[f"{ns_data}{marker.incarnation}/"] = cfg
    return live


def _check_data(
    store: ObjectStore,
    live: dict[str, IndexConfig],
    data_keys: list[str],
    report: Report,
    root: str,
) -> None:
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for key in data_keys:
        if key.split("/")[2] == _IMPORTS:  # a bulk import's state (slabdb.bulk)
            continue
        by_prefix["/".join(key.split("/")[:4]) + "/"].append(key)
    for prefix in sorted(by_prefix):
        if prefix in live:
            check_namespace(store, prefix, by_prefix[prefix], report, root)
        else:
            report.warning(
                root + prefix,
                f"{len(by_prefix[prefix])} object(s) of no live namespace "
                "(a deleted namespace or index not yet removed, or its marker is damaged)",
            )
    report.count("namespaces", len(set(live) - set(by_prefix)))  # never written: nothing to check
