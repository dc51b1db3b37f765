"""Locked, fsynced writes and deletes under a local directory (see :mod:`.obstore_store`).

obstore's ``LocalStore`` has no conditional update and does not fsync, so on a local
directory every write and delete goes through :class:`LocalWriter`: an exclusive
``flock`` on one of 256 lock files picked by hashing the key, a temp file that is
fsynced, then renamed or hard-linked into place, and the directory fsynced.  Each write
stamps an mtime strictly later than the file it replaces, so a local ETag never repeats.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from slabdb.core.errors import ObjectExistsError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
"""Modes of everything SlabDB creates in a local store, whatever the umask: the data is
the owner's alone (set with chmod after creation, as mkdir/open modes are umask-masked)."""
SYS_DIR = ".slabdb-sys"
"""Local housekeeping (locks, temp files); reserved as a key's first segment everywhere."""
_LOCK_STRIPES = 256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_mtime_lock = threading.Lock()
_last_mtime_us = 0


def _next_mtime_ns(prev_mtime_ns: int | None) -> int:
    """Now, but a later microsecond than ``prev_mtime_ns`` (the file being replaced)
    and than any mtime this process stamped before (so a re-created key never gets back
    the ETag it had before a delete, even if the inode is reused)."""
    global _last_mtime_us
    with _mtime_lock:
        us = max(time.time_ns() // 1000, _last_mtime_us + 1)
        if prev_mtime_ns is not None:
            us = max(us, prev_mtime_ns // 1000 + 1)
        _last_mtime_us = us
    return us * 1000


def make_private_dir(path: Path, *, parents: bool = False) -> bool:
    """Create directory ``path`` with mode 0700 (missing parents get the default mode);
    True if it was created, False if it existed."""
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        return False
    os.chmod(path, PRIVATE_DIR_MODE)
    return True


def create_private_file(path: Path) -> None:
    """Create an empty file at ``path`` with mode 0600 unless it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


class LocalWriter:
    """Locked, fsynced writes and deletes under a local root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / SYS_DIR / "tmp"
        self._locks = root / SYS_DIR / "locks"
        make_private_dir(root / SYS_DIR)
        make_private_dir(self._tmp)
        make_private_dir(self._locks)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        stripe = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
        path = self._locks / f"{stripe % _LOCK_STRIPES:03d}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by close, also if the process dies
            yield
        finally:
            os.close(fd)

    def is_file(self, key: str) -> bool:
        return bool(key) and os.path.isfile(self.root / key)

    def mtime_ns(self, key: str) -> int | None:
        try:
            return os.stat(self.root / key).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(
        self, key: str, data: bytes | memoryview, *, create: bool, prev_mtime_ns: int | None
    ) -> None:
        """Durably place ``data`` at ``key`` (caller holds the key's lock)."""
        path = self.root / key
        self._makedirs(path.parent)
        tmp = self._tmp / uuid.uuid4().hex
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
        try:
            try:
                os.fchmod(fd, PRIVATE_FILE_MODE)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                mtime = _next_mtime_ns(prev_mtime_ns)
                os.utime(fd, ns=(mtime, mtime))
                os.fsync(fd)
            finally:
                os.close(fd)
            if create:
                try:
                    os.link(tmp, path)  # atomic: fails if the name exists
                except FileExistsError:
                    raise ObjectExistsError(f"object {key!r} already exists") from None
            else:
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_dir(path.parent)

    def delete(self, key: str) -> None:
        path = self.root / key
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except PermissionError:
            if path.is_dir():  # macOS reports unlink(dir) as EPERM
                return
            raise
        _fsync_dir(path.parent)

    def _makedirs(self, directory: Path) -> None:
        """Create ``directory`` and its parents, fsyncing each parent that changed."""
        if directory.is_dir():
            return
        missing: list[Path] = []
        d = directory
        while not d.is_dir():
            missing.append(d)
            if d == self.root or d.parent == d:
                break
            d = d.parent
        for d in reversed(missing):
            try:
                make_private_dir(d)
            except FileExistsError:
                raise NotADirectoryError(
                    errno.ENOTDIR, "a key is in the way of this directory", str(d)
                ) from None
            _fsync_dir(d.parent)
