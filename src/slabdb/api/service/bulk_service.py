"""Pinecone's import API (``/bulk/imports``) over one index, once for every transport.

The embedded :class:`~slabdb.client.index.Index` runs imports (:mod:`slabdb.bulk`); this
layer adds what a *server* must decide: which import URIs a client may name.  An import
reads with the server's own rights (its files, its AWS credentials), so a client must
not be able to point it at data that is not meant for importing:

* a **local path** (``/dir``, ``file:///dir``) is refused unless it lies inside one of
  the server's local ``--import-root`` directories (after resolving ``..`` and symlinks,
  and with no symlink under it that leads out of the roots);
  with no local root, local paths are refused over the API (the embedded API and
  ``slabdb import`` run with the caller's own rights and are not restricted);
* an **s3://** URI is allowed, unless ``--import-root`` lists ``s3://`` prefixes, then
  only under one of them;
* a URI inside the server's own data store (its slabs, WAL and catalog) is always
  refused, local or S3.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from slabdb.api.service.reply import Reply
from slabdb.client.index import Index
from slabdb.core.errors import InvalidArgumentError, PermissionDeniedError, SlabDBError

if TYPE_CHECKING:  # slabdb.bulk needs pyarrow (the ``bulk`` extra): imported on first use
    from slabdb.bulk import ImportList, ImportModel, StartImportResponse

MAX_URI_CHARS = 1500
MAX_ID_CHARS = 1000
"""Pinecone's 2026-07 limits on ``uri`` and import ids."""


class BulkUnavailableError(SlabDBError):
    """The server was installed without the ``bulk`` extra (pyarrow)."""

    http_status = 501


@contextmanager
def _bulk_installed() -> Iterator[None]:
    try:
        yield
    except ModuleNotFoundError as exc:
        raise BulkUnavailableError(
            f"bulk import needs the 'bulk' extra on the server ({exc.name} is missing)"
        ) from None


def _s3_prefix(uri: str) -> str:
    """``s3://bucket/dir/`` normalised: lower-case scheme, one trailing slash."""
    parts = urlsplit(uri)
    path = "/".join(p for p in parts.path.split("/") if p)
    return f"s3://{parts.netloc}/{path}/" if path else f"s3://{parts.netloc}/"


def _local_path(uri: str) -> Path:
    path = urlsplit(uri).path if uri.lower().startswith("file://") else uri
    return Path(os.path.realpath(Path(path).expanduser()))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _overlap(path: Path, own_store: str) -> bool:
    """``path`` is in the local store ``own_store`` or holds it."""
    own = _local_path(own_store)
    return _inside(path, own) or _inside(own, path)


def _overlap_s3(prefix: str, own_store: str) -> bool:
    own = _s3_prefix(own_store)
    return prefix.startswith(own) or own.startswith(prefix)


@dataclass(frozen=True)
class ImportPolicy:
    """Which import URIs a server accepts (``slabdb serve --import-root``)."""

    local_roots: tuple[Path, ...] = ()
    s3_prefixes: tuple[str, ...] = ()
    """Empty: any s3:// URI (outside the server's own store)."""
    own_store: str | None = None
    """The server's ``--data`` (a directory, file:// or s3:// URL): never importable."""

    @classmethod
    def of(cls, roots: tuple[str, ...], own_store: str | None) -> ImportPolicy:
        local = tuple(_local_path(r) for r in roots if not r.lower().startswith("s3://"))
        s3 = tuple(_s3_prefix(r) for r in roots if r.lower().startswith("s3://"))
        return cls(local_roots=local, s3_prefixes=s3, own_store=own_store)

    def check(self, uri: str) -> str:
        """``uri`` stripped, or PermissionDeniedError / InvalidArgumentError."""
        if not isinstance(uri, str) or not uri.strip():
            raise InvalidArgumentError("uri must name the import directory")
        uri = uri.strip()
        if len(uri) > MAX_URI_CHARS:
            raise InvalidArgumentError(f"uri must be at most {MAX_URI_CHARS} characters")
        scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
        if scheme == "s3":
            return self._check_s3(uri)
        if scheme in ("", "file"):
            return self._check_local(uri)
        raise InvalidArgumentError(
            f"import uri scheme {scheme!r} is not supported: use s3://bucket/dir"
            + (" or a directory under the server's --import-root" if self.local_roots else "")
        )

    def _check_s3(self, uri: str) -> str:
        prefix = _s3_prefix(uri)
        own = self.own_store
        if own is not None and own.lower().startswith("s3://") and _overlap_s3(prefix, own):
            raise PermissionDeniedError("import uri is inside this server's own data store")
        if self.s3_prefixes and not any(prefix.startswith(p) for p in self.s3_prefixes):
            raise PermissionDeniedError(
                "import uri is not under an s3:// prefix this server imports from "
                "(slabdb serve --import-root)"
            )
        return uri

    def _check_local(self, uri: str) -> str:
        if not self.local_roots:
            raise PermissionDeniedError(
                "this server does not import from local paths; start it with "
                "--import-root DIR to allow directories under DIR, or use s3://"
            )
        path = _local_path(uri)
        own = self.own_store
        if own is not None and "://" not in own.replace("file://", "") and _overlap(path, own):
            raise PermissionDeniedError("import uri is inside this server's own data store")
        if not any(_inside(path, root) for root in self.local_roots):
            raise PermissionDeniedError(
                "import uri is not under this server's --import-root directory"
            )
        self._check_links(path)
        return str(path)

    def _check_links(self, directory: Path) -> None:
        """No file or directory under ``directory`` may be a symlink out of the roots."""
        for top, dirs, files in os.walk(directory):
            for name in (*dirs, *files):
                entry = Path(top) / name
                if entry.is_symlink() and not any(
                    _inside(_local_path(str(entry)), root) for root in self.local_roots
                ):
                    raise PermissionDeniedError(
                        f"import directory holds a symlink out of --import-root: "
                        f"{entry.relative_to(directory)}"
                    )


def _import_id(import_id: str) -> str:
    if not 1 <= len(import_id) <= MAX_ID_CHARS:
        raise InvalidArgumentError(f"import id must be 1 to {MAX_ID_CHARS} characters")
    return import_id


class ImportService:
    """start / describe / list / cancel of ``index``'s imports, as ``policy`` allows."""

    def __init__(self, index: Index, policy: ImportPolicy) -> None:
        self.index = index
        self.policy = policy

    def start(self, uri: str, error_mode: str | None) -> Reply[StartImportResponse]:
        checked = self.policy.check(uri)
        with _bulk_installed():
            return Reply(self.index.start_import(checked, error_mode=error_mode))

    def describe(self, import_id: str) -> Reply[ImportModel]:
        with _bulk_installed():
            return Reply(self.index.describe_import(_import_id(import_id)))

    def list(self, limit: int | None, pagination_token: str | None) -> Reply[ImportList]:
        with _bulk_installed():
            return Reply(
                self.index.list_imports_paginated(limit=limit, pagination_token=pagination_token)
            )

    def cancel(self, import_id: str) -> Reply[None]:
        self.describe(import_id)  # an unknown id answers 404, as Pinecone does
        with _bulk_installed():
            self.index.cancel_import(_import_id(import_id))
        return Reply(None)
