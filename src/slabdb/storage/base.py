"""The one interface every durable byte goes through.

Implementations: :mod:`slabdb.storage.obstore_store` (local directory, in-memory and
S3-compatible, all over ``obstore``).  Keys are ``/``-separated relative paths.

Contract (tested by ``tests/unit/storage/test_contract.py`` on every implementation):

* ``put`` overwrites unconditionally and returns the new ETag.
* ``put_if_absent`` creates the key or raises :class:`ObjectExistsError`; of two
  concurrent callers exactly one succeeds.
* ``put_if_match`` replaces the object only while its ETag is still ``etag``;
  otherwise (changed or deleted) raises :class:`PreconditionFailedError`.
* ``get`` / ``get_range`` / ``head`` raise :class:`ObjectNotFoundError` for a missing key.
* ``list`` yields every object whose key starts with ``prefix`` (a plain string prefix,
  as on S3: ``"b"`` matches ``"b/1"`` and ``"ba"``) in ascending key order, optionally
  only keys strictly greater than ``start_after``.
* ``get_range(key, start, end)`` returns ``data[start:end]`` (clamped like a slice;
  a negative ``start`` or ``end < start`` is an InvalidArgumentError).
* Keys are non-empty ``/``-separated segments (no ``.``/``..``/empty segment, no
  control characters, not ending in ``#<digits>``, not under ``.slabdb-sys/``); others
  raise InvalidArgumentError.  On a local directory ``a`` and ``a/b`` cannot coexist.
* ``delete`` is idempotent.
* A successful put is durable before it returns (local directory: file and
  directory fsynced).
* ``local_path(key)`` (optional capability) is the object's file when the store is a
  local directory, else None: readers may memory-map it instead of reading it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class ObjectMeta:
    key: str
    size: int
    etag: str | None
    last_modified: datetime


@dataclass(frozen=True)
class GetResult:
    data: bytes
    etag: str | None


class ObjectStore(ABC):
    """Durable key -> bytes storage with create-if-absent and compare-and-swap."""

    @property
    @abstractmethod
    def url(self) -> str:
        """Where this store points, for messages (no credentials)."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> str | None:
        """Write ``data`` under ``key`` unconditionally; return the new ETag."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes | memoryview) -> str | None:
        """Create ``key``; raise ObjectExistsError if it exists. Return the ETag."""

    @abstractmethod
    def put_if_match(self, key: str, data: bytes, etag: str) -> str | None:
        """Replace ``key`` only if its ETag is ``etag``; else PreconditionFailedError."""

    @abstractmethod
    def get(self, key: str) -> GetResult:
        """Whole object and its ETag; ObjectNotFoundError if absent."""

    @abstractmethod
    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object (short or empty past its end)."""

    @abstractmethod
    def head(self, key: str) -> ObjectMeta:
        """Size, ETag and modification time of one object."""

    @abstractmethod
    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectMeta]:
        """Objects whose key starts with ``prefix``, in ascending key order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is already gone."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``; return how many were removed."""
        keys = [m.key for m in self.list(prefix)]
        for key in keys:
            self.delete(key)
        return len(keys)

    def local_path(self, key: str) -> Path | None:
        """The file holding ``key`` if this store is a local directory (None otherwise,
        or if the object does not exist): a caller may memory-map it read-only.  Only
        immutable objects (slabs) should be read this way."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (optional)."""
