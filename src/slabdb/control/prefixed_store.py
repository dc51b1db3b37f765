"""An :class:`ObjectStore` that sees only the keys under one prefix of another store.

Each project's indexes live under ``projects/<name>/`` of the server's store; the
project's embedded :class:`~slabdb.Client` is handed this view and never notices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from slabdb.core.errors import InvalidArgumentError
from slabdb.storage.base import GetResult, ObjectMeta, ObjectStore


class PrefixedStore(ObjectStore):
    """Keys ``k`` of this store are keys ``prefix + k`` of ``base`` (``""``: the whole store,
    but closing the view leaves the base open)."""

    def __init__(self, base: ObjectStore, prefix: str) -> None:
        if prefix and (not prefix.endswith("/") or prefix.startswith("/")):
            raise InvalidArgumentError(f"store prefix {prefix!r} must be '' or look like 'a/b/'")
        self._base = base
        self._prefix = prefix

    @property
    def url(self) -> str:
        return self._base.url.rstrip("/") + "/" + self._prefix

    def _k(self, key: str) -> str:
        return self._prefix + key

    def put(self, key: str, data: bytes) -> str | None:
        return self._base.put(self._k(key), data)

    def put_if_absent(self, key: str, data: bytes | memoryview) -> str | None:
        return self._base.put_if_absent(self._k(key), data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> str | None:
        return self._base.put_if_match(self._k(key), data, etag)

    def get(self, key: str) -> GetResult:
        return self._base.get(self._k(key))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self._base.get_range(self._k(key), start, end)

    def head(self, key: str) -> ObjectMeta:
        meta = self._base.head(self._k(key))
        return replace(meta, key=key)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectMeta]:
        after = None if start_after is None else self._k(start_after)
        cut = len(self._prefix)
        for meta in self._base.list(self._k(prefix), after):
            yield replace(meta, key=meta.key[cut:])

    def delete(self, key: str) -> None:
        self._base.delete(self._k(key))

    def local_path(self, key: str) -> Path | None:
        """The base's file for the key: a server's project slabs on a local directory are
        memory-mapped as an embedded client's are, not read through the slab cache."""
        return self._base.local_path(self._k(key))

    def close(self) -> None:
        """The base store is shared; its owner closes it."""
