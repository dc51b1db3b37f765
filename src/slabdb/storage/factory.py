"""Open an :class:`ObjectStore` from a URL.

* ``memory://`` - a fresh, empty in-memory store (every call makes a new one);
* ``/some/dir``, ``./dir`` or ``file:///abs/dir`` - a local directory, created (mode 0700)
  if missing; everything SlabDB writes in it is 0600 (directories 0700);
* ``s3://bucket`` or ``s3://bucket/some/prefix`` - S3 or an S3-compatible server.

For S3 the endpoint, credentials and region come from keyword arguments, else the
environment: ``SLABDB_S3_ENDPOINT`` or ``AWS_ENDPOINT_URL``; ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``); ``AWS_REGION`` or
``AWS_DEFAULT_REGION`` (default ``us-east-1``).  Without explicit credentials obstore
falls back to its usual AWS credential chain.  Plain ``http://`` endpoints (moto,
SeaweedFS, MinIO) are allowed.  Conditional puts use ``If-Match`` / ``If-None-Match``
(obstore's ``conditional_put="etag"``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from obstore.store import LocalStore, MemoryStore, S3Store

from slabdb.core.errors import InvalidArgumentError, StorageError
from slabdb.storage.base import ObjectStore
from slabdb.storage.local_writer import make_private_dir
from slabdb.storage.obstore_store import ObstoreObjectStore

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_KNOWN_SCHEMES = ("memory:", "file:", "s3:")  # without "//" they are typos, not paths
DEFAULT_REGION = "us-east-1"


def open_store(
    url: str,
    *,
    endpoint: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
) -> ObjectStore:
    """Open the object store at ``url`` (see the module docstring for the forms)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgumentError("object store URL must be a non-empty string")
    url = url.strip()
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme == "memory":
        return ObstoreObjectStore(MemoryStore(), url="memory://")
    if scheme == "file":
        return _open_local(_file_url_path(url))
    if scheme == "s3":
        return _open_s3(
            url,
            endpoint=endpoint,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            region=region,
        )
    if scheme or url.lower().startswith(_KNOWN_SCHEMES):
        raise InvalidArgumentError(
            f"unsupported object store URL {url!r} "
            "(use memory://, file:///path, a plain path or s3://bucket/prefix)"
        )
    return _open_local(Path(url))


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidArgumentError(
            f"file URL {url!r} must be absolute, like file:///abs/path (got host {parts.netloc!r})"
        )
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise InvalidArgumentError(f"file URL {url!r} must hold an absolute path")
    return Path(path)


def _open_local(path: Path) -> ObjectStore:
    root = path.expanduser().resolve()
    try:
        make_private_dir(root, parents=True)  # a new store is its owner's alone (0700)
    except OSError as exc:
        raise StorageError(f"cannot create store directory {root}: {exc}") from exc
    if not root.is_dir():
        raise StorageError(f"store path {root} is not a directory")
    return ObstoreObjectStore(LocalStore(root), url=root.as_uri())


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _open_s3(
    url: str,
    *,
    endpoint: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    region: str | None,
) -> ObjectStore:
    parts = urlsplit(url)
    bucket = parts.netloc
    if not bucket or "@" in bucket or ":" in bucket:
        raise InvalidArgumentError(f"S3 URL {url!r} must look like s3://bucket/optional/prefix")
    if parts.query or parts.fragment:
        raise InvalidArgumentError(f"S3 URL {url!r} must not have a query or fragment")
    prefix = unquote(parts.path).strip("/")
    if "//" in prefix:
        raise InvalidArgumentError(f"S3 URL {url!r} has an empty path segment")

    endpoint = endpoint or _env("SLABDB_S3_ENDPOINT", "AWS_ENDPOINT_URL")
    access_key_id = access_key_id or _env("AWS_ACCESS_KEY_ID")
    secret_access_key = secret_access_key or _env("AWS_SECRET_ACCESS_KEY")
    region = region or _env("AWS_REGION", "AWS_DEFAULT_REGION") or DEFAULT_REGION

    config: dict[str, Any] = {"region": region, "conditional_put": "etag"}
    if endpoint:
        config["endpoint"] = endpoint
    if access_key_id:
        config["access_key_id"] = access_key_id
    if secret_access_key:
        config["secret_access_key"] = secret_access_key
    client_options: dict[str, Any] = {}
    if endpoint and endpoint.lower().startswith("http://"):
        client_options["allow_http"] = True
    try:
        store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,  # type: ignore[arg-type]
            client_options=client_options or None,  # type: ignore[arg-type]
        )
    except Exception as exc:
        # Never echo the config: it may hold credentials.
        raise StorageError(f"cannot configure S3 store for s3://{bucket}: {exc}") from exc
    clean_url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return ObstoreObjectStore(store, url=clean_url)
