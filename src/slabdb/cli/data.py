"""``--data``: a local directory or a store URL, and which commands may create one.

Only ``serve --init`` and ``demo`` create a database directory (mode 0700). Every other
command refuses a directory that does not exist: opening it would silently start a new,
empty database with a fresh API key instead of the one the user meant. Store URLs
(``memory://``, ``s3://bucket/prefix``) are not directories and are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from slabdb.cli.errors import CommandError

DATA_DIR_MODE = 0o700
"""A new database directory is readable by its owner only (it holds the API key file)."""
DEFAULT_DATA = "./data"

DATA_HELP = (
    "The database: a directory, file:///abs/dir, memory:// or s3://bucket/prefix. "
    "A directory must exist (create one with `slabdb serve --init`)."
)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCHEMES_WITHOUT_SLASHES = ("memory:", "s3:", "file:")  # typos the store itself rejects


def local_directory(location: str) -> Path | None:
    """The directory ``location`` names (made absolute), or None for a store URL."""
    text = location.strip()
    if text.lower().startswith("file://"):
        return Path(unquote(urlsplit(text).path)).expanduser().absolute()
    if _URL.match(text) or text.lower().startswith(_SCHEMES_WITHOUT_SLASHES):
        return None
    return Path(text).expanduser().absolute()


def create_hint(location: str) -> str:
    return f"create a new database with `slabdb serve --init --data {location}`"


def require_existing(location: str, *, hint: str | None = None, what: str = "--data") -> None:
    """Refuse a local ``location`` that is not an existing directory."""
    path = local_directory(location)
    if path is None or path.is_dir():
        return
    if path.exists():
        raise CommandError(f"{what} {location}: {path} is not a directory")
    raise CommandError(
        f"{what} {location}: directory {path} does not exist "
        f"({hint or create_hint(location)}, or pass the right --data)"
    )


def create_directory(location: str) -> Path | None:
    """Create the database directory ``location`` (mode 0700) if it is a missing local
    directory; returns the directory created, else None."""
    path = local_directory(location)
    if path is None or path.is_dir():
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=DATA_DIR_MODE)
        path.chmod(DATA_DIR_MODE)  # mkdir's mode is masked by the umask
    except OSError as exc:
        raise CommandError(f"cannot create data directory {path}: {exc.strerror}") from exc
    return path
