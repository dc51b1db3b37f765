"""API keys: ``sdb-<key id>-<secret>``, stored as a SHA-256 hash, checked in constant time.

The key id (8 hex characters) is public and finds the row; the secret (32 random
bytes) never leaves the process that printed it.  A SHA-256 of a 256-bit random secret
needs no salt or slow hash: nobody can guess it, and the database never holds the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_ID_HEX_CHARS = 8
SECRET_BYTES = 32
_KEY = re.compile(r"^sdb-([0-9a-f]{8})-([A-Za-z0-9_-]{20,100})$")


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: ``plaintext`` is shown once, ``key_hash`` is stored."""

    key_id: str
    plaintext: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_key() -> NewKey:
    key_id = secrets.token_hex(KEY_ID_HEX_CHARS // 2)
    plaintext = f"sdb-{key_id}-{secrets.token_urlsafe(SECRET_BYTES)}"
    return NewKey(key_id=key_id, plaintext=plaintext, key_hash=hash_key(plaintext))


def key_id_of(plaintext: str) -> str | None:
    """The key id of a well-formed key, else None (the caller answers 401)."""
    m = _KEY.match(plaintext)
    return m.group(1) if m else None


def matches(plaintext: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(plaintext).encode(), stored_hash.encode())
