"""The index catalog of an embedded database, kept in the object store itself.

The key layout is in :mod:`slabdb.storage.keys`.  Incarnations (random, per creation)
keep a re-created index or namespace from ever seeing objects of a deleted one that were
not removed yet, and let a handle notice that the namespace it has open was deleted by
someone else.
"""

from __future__ import annotations

import builtins
import json
import time
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from slabdb.core.errors import (
    AlreadyExistsError,
    IndexNotFoundError,
    ObjectExistsError,
    ObjectNotFoundError,
)
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
            self._store.put_if_absent(keys.index_config_key(name), json.dumps(asdict(cfg)).encode())
        except ObjectExistsError as exc:
            raise AlreadyExistsError(f"index {name!r} already exists") from exc
        return cfg

    def get(self, name: str) -> IndexConfig:
        try:
            raw: dict[str, Any] = json.loads(self._store.get(keys.index_config_key(name)).data)
        except ObjectNotFoundError as exc:
            raise IndexNotFoundError(f"index {name!r} not found") from exc
        known = {f.name for f in fields(IndexConfig)}
        return IndexConfig(**{k: v for k, v in raw.items() if k in known})

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
        self._store.put(keys.index_config_key(name), json.dumps(asdict(cfg)).encode())
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
        fresh = uuid.uuid4().hex[:12]
        try:
            self._store.put_if_absent(self._marker(cfg, ns), fresh.encode())
            return fresh
        except ObjectExistsError:
            current = self.namespace_incarnation(cfg, ns)
            return current if current is not None else self.register_namespace(cfg, ns)

    def namespace_incarnation(self, cfg: IndexConfig, ns: str) -> str | None:
        """The current incarnation of a namespace, or None if it does not exist."""
        try:
            return self._store.get(self._marker(cfg, ns)).data.decode() or "0"
        except ObjectNotFoundError:
            return None

    def unregister_namespace(self, cfg: IndexConfig, ns: str) -> None:
        self._store.delete(self._marker(cfg, ns))

    def namespaces(self, cfg: IndexConfig) -> builtins.list[str]:
        prefix = keys.namespace_markers_prefix(cfg.name, cfg.incarnation)
        return sorted(
            keys.namespace_from_key(m.key[len(prefix) :]) for m in self._store.list(prefix)
        )

    def drop_index_data(self, cfg: IndexConfig) -> None:
        self._store.delete_prefix(keys.namespace_markers_prefix(cfg.name, cfg.incarnation))
        self._store.delete_prefix(cfg.data_prefix)
