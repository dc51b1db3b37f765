""":class:`ObjectStore` over ``obstore``: in-memory, local directory and S3-compatible.

Memory and S3 use obstore's own conditional puts (``mode="create"`` sends
``If-None-Match: *``, an :class:`UpdateVersion` sends ``If-Match``).

obstore's ``LocalStore`` cannot do a conditional update (``PutMode::Update`` raises
``NotImplementedError``) and does not fsync, so on a local directory every write and
delete is done here, under an exclusive ``flock`` on a lock file picked by hashing the
key (256 stripes), which makes ``put_if_match`` / ``put_if_absent`` safe across threads
and processes on one machine.  A write goes to a temp file that is fsynced, then
renamed (``put``, ``put_if_match``) or hard-linked (``put_if_absent``, atomic
create-if-absent) into place, and the directory is fsynced.  Reads and listings still
go through obstore.

Local ETags are obstore's ``inode-mtime(µs)-size``.  Inodes are reused quickly and
file timestamps can be coarse, so under the key's lock each write stamps the new file
with an mtime strictly later (in µs) than the file it replaces and than any mtime the
process stamped before: an ETag never comes back for a key, so a stale ETag cannot match
again (across processes a delete + re-create relies on the clock not stepping back).

Local housekeeping lives in ``<root>/.slabdb-sys/`` (locks and temp files); keys whose
first segment is ``.slabdb-sys`` are reserved on every backend, and ``list`` never shows
them.  A local directory cannot hold both ``a`` and ``a/b`` (file vs. directory).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from obstore import exceptions as obs_exc
from obstore.store import LocalStore, MemoryStore, S3Store

from slabdb.core.errors import (
    InvalidArgumentError,
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    SlabDBError,
    StorageError,
    WriteOutcomeUnknownError,
)
from slabdb.storage.base import GetResult, ObjectMeta, ObjectStore
from slabdb.storage.local_writer import SYS_DIR, LocalWriter

log = logging.getLogger("slabdb.storage")
_LIST_CHUNK = 1000
_URL = re.compile(r"\(?\b[a-z][a-z0-9+.-]*://[^\s)]*\)?", re.I)
_WRITES = ("put", "put_if_absent", "put_if_match")
_UNCONFIRMED = ("timed out", "timeout", "error sending request", "connection reset",
                "connection closed", "broken pipe", "incomplete message")  # fmt: skip
"""Failures after which a write may have landed: the request went out, no answer came."""
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_HIDDEN_SUFFIX = re.compile(r"#\d+$")  # obstore's LocalStore rejects such file names
_OBS_NOT_FOUND: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    getattr(obs_exc, "NotFoundError", FileNotFoundError),
)


def _check_path(path: str, what: str, *, allow_dir: bool) -> None:
    body = path[:-1] if allow_dir and path.endswith("/") else path
    if not body or body.startswith("/") or body.endswith("/") or _BAD_CHARS.search(body):
        raise InvalidArgumentError(f"invalid object {what} {path!r}")
    segments = body.split("/")
    if any(s in ("", ".", "..") for s in segments) or segments[0] == SYS_DIR:
        raise InvalidArgumentError(f"invalid object {what} {path!r}")
    if not allow_dir and _HIDDEN_SUFFIX.search(segments[-1]):
        raise InvalidArgumentError(f"invalid object {what} {path!r} (ends in '#<digits>')")


def check_key(key: str) -> None:
    """Raise InvalidArgumentError unless ``key`` is a usable object key.

    A key is ``/``-separated, non-empty segments, none ``.`` or ``..``, no control
    characters, no leading or trailing ``/``, not under ``.slabdb-sys/`` and not ending
    in ``#<digits>`` (hidden by obstore's local store).
    """
    if not isinstance(key, str):
        raise InvalidArgumentError(f"object key must be a string, not {type(key).__name__}")
    _check_path(key, "key", allow_dir=False)


def _check_prefix(prefix: str) -> None:
    if not isinstance(prefix, str):
        raise InvalidArgumentError(f"list prefix must be a string, not {type(prefix).__name__}")
    if prefix:
        _check_path(prefix, "prefix", allow_dir=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unconfirmed(exc: BaseException) -> bool:
    """True when a write failed in a way that does not tell whether it landed (not a
    refused connection: then the request never went out)."""
    if isinstance(exc, ConnectionRefusedError):
        return False
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    text = str(exc).lower()
    if not isinstance(exc, obs_exc.GenericError) or "connection refused" in text:
        return False
    return any(s in text for s in _UNCONFIRMED)


class ObstoreObjectStore(ObjectStore):
    """SlabDB's :class:`ObjectStore` over an obstore ``LocalStore``, ``MemoryStore`` or
    ``S3Store`` (other obstore stores work if they support conditional puts)."""

    def __init__(self, store: Any, *, url: str | None = None) -> None:
        self._store = store
        self._local: LocalWriter | None = None
        self._root_text: str | None = None
        """The local root directory, scrubbed from error messages."""
        if isinstance(store, LocalStore):
            if store.prefix is None:
                raise InvalidArgumentError("a LocalStore needs a root directory (prefix)")
            root = Path(store.prefix).resolve()
            try:
                self._local = LocalWriter(root)
            except OSError as exc:
                raise StorageError(f"cannot use {root} as a store: {exc}") from exc
            default_url = root.as_uri()
            self._root_text = str(root)
        elif isinstance(store, MemoryStore):
            default_url = "memory://"
        elif isinstance(store, S3Store):
            bucket = store.config.get("bucket", "")
            default_url = f"s3://{bucket}/{store.prefix or ''}".rstrip("/")
        else:
            default_url = f"obstore:{type(store).__name__}"
        self._url = url or default_url
        # S3 and memory list in ascending key order; local directories do not.
        self._sorted_listing = isinstance(store, (MemoryStore, S3Store))

    @property
    def url(self) -> str:
        return self._url

    @property
    def inner(self) -> Any:
        """The wrapped obstore store."""
        return self._store

    def __repr__(self) -> str:
        return f"ObstoreObjectStore({self._url!r})"

    # -- errors -------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(
        self,
        op: str,
        key: str,
        *,
        missing: type[SlabDBError] = ObjectNotFoundError,
        conflict: type[SlabDBError] = PreconditionFailedError,
    ) -> Iterator[None]:
        """Translate obstore / OS failures of ``op`` on ``key`` into SlabDB errors.

        Messages never hold a server path: a local store's objects are named by key
        (relative to the store), and paths and URLs inside driver errors are scrubbed
        (the full error is logged). Remote stores are named by their URL. A write that
        failed without an answer (timeout, lost connection) may have landed:
        :class:`WriteOutcomeUnknownError` says so."""
        where = repr(key) if self._root_text else f"{self._url.rstrip('/')}/{key}"
        try:
            yield
        except SlabDBError:
            raise
        except _OBS_NOT_FOUND as exc:
            raise missing(f"{op}: no object at {where}") from exc
        except obs_exc.AlreadyExistsError as exc:
            raise ObjectExistsError(f"{op}: object already exists at {where}") from exc
        except obs_exc.PreconditionError as exc:
            raise conflict(f"{op}: precondition failed at {where}") from exc
        except (NotImplementedError, obs_exc.NotSupportedError) as exc:
            raise StorageError(
                f"{op} is not supported by this object store: {self._reason(exc)}"
            ) from exc
        except Exception as exc:
            local = self._local if op != "list" else None
            if isinstance(exc, obs_exc.GenericError) and local and not local.is_file(key):
                # e.g. "a/b" where "a" is a file: ENOTDIR, which obstore does not call NotFound
                raise missing(f"{op}: no object at {where}") from exc
            log.warning("object store %s of %s/%s failed: %r", op, self._url, key, exc)
            if op in _WRITES and _unconfirmed(exc):
                raise WriteOutcomeUnknownError(
                    f"the object store did not confirm the write at {where} "
                    f"({self._reason(exc)}): outcome unknown, safe to retry"
                ) from exc
            raise StorageError(f"object store {op} failed at {where}: {self._reason(exc)}") from exc

    def _reason(self, exc: BaseException) -> str:
        """Why ``exc`` happened, without server paths or URLs."""
        if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, TimeoutError):
            return exc.strerror  # the errno text; the filename is left out
        text = _first_line(exc)
        if self._root_text:
            text = text.replace(self._root_text, "<store>")
        text = _URL.sub("<url>", text)
        return f"{type(exc).__name__}: {text[:300]}"

    # -- writes -------------------------------------------------------------------

    def _head_etag(self, key: str) -> str | None:
        etag: str | None = self._store.head(key)["e_tag"]
        return etag

    def put(self, key: str, data: bytes) -> str | None:
        check_key(key)
        with self._errors("put", key):
            if self._local is not None:
                with self._local.lock(key):
                    prev = self._local.mtime_ns(key)
                    self._local.write(key, data, create=False, prev_mtime_ns=prev)
                    return self._head_etag(key)
            etag: str | None = self._store.put(key, data)["e_tag"]
            return etag

    def put_if_absent(self, key: str, data: bytes | memoryview) -> str | None:
        check_key(key)
        with self._errors("put_if_absent", key, conflict=ObjectExistsError):
            if self._local is not None:
                with self._local.lock(key):
                    self._local.write(key, data, create=True, prev_mtime_ns=None)
                    return self._head_etag(key)
            etag: str | None = self._store.put(key, data, mode="create")["e_tag"]
            return etag

    def put_if_match(self, key: str, data: bytes, etag: str) -> str | None:
        check_key(key)
        if not etag:
            raise InvalidArgumentError("put_if_match needs a non-empty etag")
        with self._errors("put_if_match", key, missing=PreconditionFailedError):
            if self._local is not None:
                with self._local.lock(key):
                    current = self._head_etag(key)
                    if current != etag:
                        raise PreconditionFailedError(
                            f"put_if_match: {key!r} has ETag {current}, not {etag}"
                        )
                    prev = self._local.mtime_ns(key)
                    self._local.write(key, data, create=False, prev_mtime_ns=prev)
                    new = self._head_etag(key)
                    if new == etag:  # cannot happen given the mtime bump; never allow it
                        raise StorageError(f"put_if_match: ETag of {key!r} did not change")
                    return new
            result: str | None = self._store.put(key, data, mode={"e_tag": etag})["e_tag"]
            return result

    def delete(self, key: str) -> None:
        check_key(key)
        with self._errors("delete", key):
            if self._local is not None:
                with self._local.lock(key):
                    self._local.delete(key)
                return
            try:
                self._store.delete(key)
            except _OBS_NOT_FOUND:
                return

    # -- reads --------------------------------------------------------------------

    def get(self, key: str) -> GetResult:
        check_key(key)
        with self._errors("get", key):
            result = self._store.get(key)
            data = bytes(result.bytes())
            return GetResult(data=data, etag=result.meta["e_tag"])

    def get_range(self, key: str, start: int, end: int) -> bytes:
        check_key(key)
        if start < 0 or end < start:
            raise InvalidArgumentError(f"invalid byte range [{start}, {end}) for {key!r}")
        if start == end:
            self.head(key)  # still report a missing object
            return b""
        with self._errors("get_range", key):
            try:
                return bytes(self._store.get_range(key, start=start, end=end))
            except _OBS_NOT_FOUND:
                raise
            except Exception:
                # obstore refuses a range that starts at or past the end of the object.
                if start >= self.head(key).size:
                    return b""
                raise

    def head(self, key: str) -> ObjectMeta:
        check_key(key)
        with self._errors("head", key):
            meta = self._store.head(key)
            return ObjectMeta(
                key=key, size=meta["size"], etag=meta["e_tag"], last_modified=meta["last_modified"]
            )

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectMeta]:
        """Objects whose key starts with ``prefix`` (a plain string prefix, as on S3,
        not only whole path segments), ascending, optionally only keys > ``start_after``."""
        _check_prefix(prefix)
        # obstore lists whole path segments: list the deepest complete directory and
        # filter by the string prefix here.
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        lower = prefix[:-1] if len(prefix) > 1 and not prefix.endswith("/") else None
        offset = max((b for b in (start_after, lower) if b is not None), default=None)
        return self._list(prefix, directory or None, offset, start_after)

    def _list(
        self, prefix: str, directory: str | None, offset: str | None, start_after: str | None
    ) -> Iterator[ObjectMeta]:
        def wanted(key: str) -> bool:
            return (
                key.startswith(prefix)
                and (start_after is None or key > start_after)
                and not key.startswith(SYS_DIR + "/")
            )

        found: list[ObjectMeta] = []
        last: str | None = None
        with self._errors("list", prefix):
            stream = self._store.list(directory, offset=offset, chunk_size=_LIST_CHUNK)
            for chunk in stream:
                for m in chunk:
                    key = m["path"]
                    if not wanted(key):
                        if self._sorted_listing and key > prefix and not key.startswith(prefix):
                            return  # sorted: nothing further can match
                        continue
                    meta = ObjectMeta(
                        key=key, size=m["size"], etag=m["e_tag"], last_modified=m["last_modified"]
                    )
                    if not self._sorted_listing:
                        found.append(meta)
                        continue
                    if last is not None and key <= last:
                        raise StorageError("the object store listed keys out of order")
                    last = key
                    yield meta
        yield from sorted(found, key=lambda m: m.key)

    def local_path(self, key: str) -> Path | None:
        """The object's file under the local root (None for memory/S3 or a missing key)."""
        check_key(key)
        if self._root_text is None:
            return None
        path = Path(self._root_text, *key.split("/"))
        return path if path.is_file() else None

    def close(self) -> None:
        """Nothing to release: obstore manages its own connection pool."""
