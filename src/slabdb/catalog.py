"""The index catalog of an embedded database, kept in the object store itself.

::

    catalog/indexes/<name>.json             one per index (created by create-if-absent)
    catalog/namespaces/<name>/<ns key>      an empty marker per namespace ever written
    data/<name>-<incarnation>/<ns key>/     WAL, manifest and slabs of a namespace

The incarnation (random, per creation) keeps a re-created index from ever seeing
objects of a deleted one that were not removed yet.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import re
import time
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from slabdb.errors import (
    AlreadyExistsError,
    IndexNotFoundError,
    ObjectExistsError,
    ObjectNotFoundError,
)
from slabdb.storage.base import ObjectStore

_SAFE_NS = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


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
    """Integrated embedding (``create_index_for_model``): see :mod:`slabdb.records`."""

    @property
    def data_prefix(self) -> str:
        return f"data/{self.name}-{self.incarnation}/"


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


class IndexCatalog:
    """Create, read, list, configure and delete index configs."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @staticmethod
    def _key(name: str) -> str:
        return f"catalog/indexes/{name}.json"

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
            self._store.put_if_absent(self._key(name), json.dumps(asdict(cfg)).encode())
        except ObjectExistsError as exc:
            raise AlreadyExistsError(f"index {name!r} already exists") from exc
        return cfg

    def get(self, name: str) -> IndexConfig:
        try:
            raw: dict[str, Any] = json.loads(self._store.get(self._key(name)).data)
        except ObjectNotFoundError as exc:
            raise IndexNotFoundError(f"index {name!r} not found") from exc
        known = {f.name for f in fields(IndexConfig)}
        return IndexConfig(**{k: v for k, v in raw.items() if k in known})

    def list(self) -> builtins.list[IndexConfig]:
        out = []
        for meta in self._store.list("catalog/indexes/"):
            name = meta.key.rsplit("/", 1)[-1].removesuffix(".json")
            try:
                out.append(self.get(name))
            except IndexNotFoundError:
                continue
        return out

    def update(self, name: str, **changes: Any) -> IndexConfig:
        cfg = replace(self.get(name), **changes)
        self._store.put(self._key(name), json.dumps(asdict(cfg)).encode())
        return cfg

    def delete(self, name: str) -> IndexConfig:
        cfg = self.get(name)
        self._store.delete(self._key(name))
        return cfg

    # --- namespaces -------------------------------------------------------------------------
    def register_namespace(self, cfg: IndexConfig, ns: str) -> None:
        with contextlib.suppress(ObjectExistsError):
            self._store.put_if_absent(
                f"catalog/namespaces/{cfg.name}-{cfg.incarnation}/{namespace_key(ns)}", b""
            )

    def unregister_namespace(self, cfg: IndexConfig, ns: str) -> None:
        self._store.delete(f"catalog/namespaces/{cfg.name}-{cfg.incarnation}/{namespace_key(ns)}")

    def namespaces(self, cfg: IndexConfig) -> builtins.list[str]:
        prefix = f"catalog/namespaces/{cfg.name}-{cfg.incarnation}/"
        return sorted(namespace_from_key(m.key[len(prefix) :]) for m in self._store.list(prefix))

    def drop_index_data(self, cfg: IndexConfig) -> None:
        self._store.delete_prefix(f"catalog/namespaces/{cfg.name}-{cfg.incarnation}/")
        self._store.delete_prefix(cfg.data_prefix)
