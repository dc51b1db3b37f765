"""Where an import reads from: Parquet files in Pinecone's layout, on S3 or a local path.

::

    <uri>/
        <namespace>/          one directory per namespace (``__default__``: the default one)
            0.parquet         every ``*.parquet`` file under it is imported, in key order
            1.parquet
            .log              anything else is ignored

Files are read through the object store's ranged GETs (:class:`RangeFile`), so a row
group is fetched without the rest of its file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from slabdb.core.errors import InvalidArgumentError
from slabdb.storage import ObjectStore, open_store

DEFAULT_NAMESPACE_DIR = "__default__"
"""The directory name Pinecone uses for the default namespace ('')."""
PARQUET_SUFFIX = ".parquet"


@dataclass(frozen=True)
class SourceFile:
    namespace: str
    key: str
    """The file's key in the source store (relative to the URI)."""


def open_source(uri: str, **store_options: str) -> ObjectStore:
    """The store rooted at the import directory ``uri`` (``s3://bucket/dir``, a path or
    ``file:///dir``); a local directory must exist."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidArgumentError("uri must name the import directory")
    uri = uri.strip()
    lowered = uri.lower()
    if lowered.startswith(("gs://", "https://", "http://", "az://")):
        raise InvalidArgumentError(
            f"import uri {uri!r}: only s3:// and local directories are supported here"
        )
    if not lowered.startswith(("s3://", "file://")) and not Path(uri).expanduser().is_dir():
        raise InvalidArgumentError(f"import uri {uri!r} is not a directory")
    return open_store(uri, **store_options)


def namespace_of_dir(name: str) -> str:
    return "" if name == DEFAULT_NAMESPACE_DIR else name


def list_source_files(store: ObjectStore) -> list[SourceFile]:
    """Every ``<namespace>/…/*.parquet`` file, namespaces and files in key order."""
    out: list[SourceFile] = []
    for meta in store.list(""):
        if "/" not in meta.key or not meta.key.endswith(PARQUET_SUFFIX):
            continue
        directory = meta.key.split("/", 1)[0]
        out.append(SourceFile(namespace=namespace_of_dir(directory), key=meta.key))
    if not out:
        raise InvalidArgumentError(
            f"no <namespace>/*.parquet files under {store.url} (one directory per namespace)"
        )
    return out


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over one object, read with ranged GETs."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        super().__init__()
        self._store, self._key = store, key
        self._size = store.head(key).size
        self._pos = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def size(self) -> int:
        return self._size

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        end = min(self._size, self._pos + len(buffer))
        if end <= self._pos:
            return 0
        data = self._store.get_range(self._key, self._pos, end)
        self.requests += 1
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)
