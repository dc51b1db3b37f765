"""The index catalog of an embedded database, kept in the object store itself.

The key layout is in :mod:`slabdb.storage.keys`.  Incarnations (random, per creation)
keep a re-created index or namespace from ever seeing objects of a deleted one that were
not removed yet, and let a handle notice that the namespace it has open was deleted by
someone else.
"""

from __future__ import annotations

import builtins
import re
import time
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from slabdb.core.errors import (
    AlreadyExistsError,
    ConflictError,
    CorruptionError,
    IndexNotFoundError,
    ObjectExistsError,
    ObjectNotFoundError,
)
from slabdb.core.sealed import json_object, read_sealed, seal
from slabdb.storage import keys
from slabdb.storage.base import ObjectStore


@dataclass(frozen=True)
class IndexConfig:
    name: str
    dimension: int | None
    metric: str
    vector_type: str
    incarnation: str
    deletion_protection: str = "disabled"
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    embed: dict[str, Any] | None = None
    """Integrated embedding (``create_index_for_model``): see :mod:`slabdb.client.records`."""

    @property
    def data_prefix(self) -> str:
        return keys.index_data_prefix(self.name, self.incarnation)

    def namespace_prefix(self, ns: str, ns_incarnation: str) -> str:
        """Where one incarnation of a namespace keeps its WAL, manifest and slabs."""
        return keys.namespace_prefix(self.name, self.incarnation, ns, ns_incarnation)


INDEX_KIND = "index"
_INDEX_FIELDS = frozenset(f.name for f in fields(IndexConfig))


def _index_entry(cfg: IndexConfig) -> bytes:
    """The sealed catalog entry of an index: its config, checksummed, naming the index."""
    return seal(INDEX_KIND, {"name": cfg.name}, asdict(cfg))


def _legacy_index_entry(data: bytes) -> dict[str, Any] | None:
    """An entry from before sealing: a plain JSON config (never an envelope's keys)."""
    raw = json_object(data)
    if raw is None or not {"name", "incarnation", "metric"} <= set(raw) or "sha256" in raw:
        return None
    return raw


def read_index_entry(data: bytes, name: str, where: str) -> tuple[IndexConfig, bool]:
    """The config in the catalog entry of index ``name``, and whether it was sealed;
    CorruptionError naming ``where`` if it is damaged or belongs to another index."""
    got = read_sealed(data, INDEX_KIND, {"name": name}, where, legacy=_legacy_index_entry)
    if got.body.get("name") != name:
        raise CorruptionError(f"{where}: holds index {got.body.get('name')!r}, not {name!r}")
    try:
        return IndexConfig(**{k: v for k, v in got.body.items() if k in _INDEX_FIELDS}), got.sealed
    except TypeError as exc:
        raise CorruptionError(f"{where}: undecodable ({exc})") from exc


class IndexCatalog:
    """Create, read, list, configure and delete index configs."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def create(
        self,
        name: str,
        dimension: int | None,
        metric: str,
        vector_type: str,
        deletion_protection: str = "disabled",
        tags: dict[str, str] | None = None,
        embed: dict[str, Any] | None = None,
    ) -> IndexConfig:
        cfg = IndexConfig(
            name=name,
            dimension=dimension,
            metric=metric,
            vector_type=vector_type,
            incarnation=uuid.uuid4().hex[:12],
            deletion_protection=deletion_protection,
            tags=dict(tags or {}),
            created_at=time.time(),
            embed=embed,
        )
        try:
            self._store.put_if_absent(keys.index_config_key(name), _index_entry(cfg))
        except ObjectExistsError as exc:
            raise AlreadyExistsError(f"index {name!r} already exists") from exc
        return cfg

    def get(self, name: str) -> IndexConfig:
        key = keys.index_config_key(name)
        try:
            data = self._store.get(key).data
        except ObjectNotFoundError as exc:
            raise IndexNotFoundError(f"index {name!r} not found") from exc
        return read_index_entry(data, name, key)[0]

    def list(self) -> builtins.list[IndexConfig]:
        out = []
        for meta in self._store.list(keys.INDEXES_PREFIX):
            name = keys.index_name_of_key(meta.key)
            try:
                out.append(self.get(name))
            except IndexNotFoundError:
                continue
        return out

    def update(self, name: str, **changes: Any) -> IndexConfig:
        cfg = replace(self.get(name), **changes)
        self._store.put(keys.index_config_key(name), _index_entry(cfg))
        return cfg

    def delete(self, name: str) -> IndexConfig:
        cfg = self.get(name)
        self._store.delete(keys.index_config_key(name))
        return cfg

    # --- namespaces -------------------------------------------------------------------------
    @staticmethod
    def _marker(cfg: IndexConfig, ns: str) -> str:
        return keys.namespace_marker_key(cfg.name, cfg.incarnation, ns)

    def register_namespace(self, cfg: IndexConfig, ns: str) -> str:
        """The namespace's incarnation, creating the namespace if it does not exist.

        Each creation gets a fresh incarnation, part of the namespace's data prefix, so
        a namespace deleted and created again never shares objects with the old one.
        """
        try:
            return self.create_namespace(cfg, ns)
        except AlreadyExistsError:
            current = self._sealed_incarnation(cfg, ns)
            return current if current is not None else self.register_namespace(cfg, ns)

    def _sealed_incarnation(self, cfg: IndexConfig, ns: str) -> str | None:
        """Like :meth:`namespace_incarnation`, sealing a marker from before sealing (this
        is a write: the next write after an upgrade seals old markers)."""
        key = self._marker(cfg, ns)
        try:
            got = self._store.get(key)
        except ObjectNotFoundError:
            return None
        marker = read_marker(got.data, cfg, keys.namespace_key(ns), key)
        if not marker.sealed and got.etag is not None:
            try:
                self._store.put_if_match(key, _marker_body(cfg, marker.incarnation, ns), got.etag)
            except ConflictError:
                return self.namespace_incarnation(cfg, ns)  # changed meanwhile: re-read
        return marker.incarnation

    def create_namespace(self, cfg: IndexConfig, ns: str) -> str:
        """A new namespace's incarnation; AlreadyExistsError if it exists."""
        fresh = uuid.uuid4().hex[:12]
        try:
            self._store.put_if_absent(self._marker(cfg, ns), _marker_body(cfg, fresh, ns))
        except ObjectExistsError as exc:
            raise AlreadyExistsError(f"namespace {ns!r} already exists") from exc
        return fresh

    def namespace_incarnation(self, cfg: IndexConfig, ns: str) -> str | None:
        """The current incarnation of a namespace, or None if it does not exist."""
        key = self._marker(cfg, ns)
        try:
            data = self._store.get(key).data
        except ObjectNotFoundError:
            return None
        return read_marker(data, cfg, keys.namespace_key(ns), key).incarnation

    def unregister_namespace(self, cfg: IndexConfig, ns: str) -> None:
        self._store.delete(self._marker(cfg, ns))

    def namespaces(self, cfg: IndexConfig) -> builtins.list[str]:
        """Names of the index's namespaces; a hashed key's name is read from its marker."""
        prefix = keys.namespace_markers_prefix(cfg.name, cfg.incarnation)
        names = []
        for meta in self._store.list(prefix):
            key = meta.key[len(prefix) :]
            if not keys.is_hashed_namespace_key(key):
                names.append(keys.namespace_from_key(key))
                continue
            try:
                name = read_marker(self._store.get(meta.key).data, cfg, key, meta.key).name
            except ObjectNotFoundError:
                continue  # deleted since the listing
            if name is not None:
                names.append(name)
        return sorted(names)

    def drop_index_data(self, cfg: IndexConfig) -> None:
        self._store.delete_prefix(keys.namespace_markers_prefix(cfg.name, cfg.incarnation))
        self._store.delete_prefix(cfg.data_prefix)


MARKER_KIND = "namespace-marker"
_MARKER_KEYS = frozenset({"incarnation", "name"})
_OLD_MARKER = re.compile(r"^[0-9a-f]{0,32}$")


@dataclass(frozen=True)
class Marker:
    """What a namespace marker holds: the incarnation, and the name (None in markers
    from before names were kept; the key may be a hash of it)."""

    incarnation: str
    name: str | None
    sealed: bool


def _marker_identity(cfg: IndexConfig, ns_key: str) -> dict[str, str]:
    return {"index": cfg.name, "index_incarnation": cfg.incarnation, "namespace_key": ns_key}


def _marker_body(cfg: IndexConfig, incarnation: str, ns: str) -> bytes:
    """A sealed namespace marker: its incarnation and name, naming its index and key."""
    identity = _marker_identity(cfg, keys.namespace_key(ns))
    return seal(MARKER_KIND, identity, {"incarnation": incarnation, "name": ns})


def _legacy_marker(data: bytes) -> dict[str, Any] | None:
    """Markers from before sealing: the incarnation as plain hex text (empty meaning
    ``"0"``), or the JSON ``{"incarnation", "name"}`` without a seal."""
    raw = json_object(data)
    if raw is not None:
        return raw if set(raw) == _MARKER_KEYS else None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    return {"incarnation": text or "0", "name": None} if _OLD_MARKER.match(text) else None


def read_marker(data: bytes, cfg: IndexConfig, ns_key: str, where: str) -> Marker:
    """The marker under ``ns_key`` of index ``cfg``; CorruptionError naming ``where`` if
    it is damaged or belongs to another index or namespace."""
    identity = _marker_identity(cfg, ns_key)
    got = read_sealed(data, MARKER_KIND, identity, where, legacy=_legacy_marker)
    incarnation, name = got.body.get("incarnation"), got.body.get("name")
    if not isinstance(incarnation, str) or not (name is None or isinstance(name, str)):
        raise CorruptionError(f"{where}: undecodable namespace marker")
    if name is not None and keys.namespace_key(name) != ns_key:
        raise CorruptionError(f"{where}: holds namespace {name!r}, whose key is not {ns_key!r}")
    return Marker(incarnation, name, got.sealed)
