"""API key → project, with a short positive cache; missing or unknown keys are 401.

``insecure_dev`` accepts any key (or none), as users of Pinecone's local emulator
expect: a real key still selects its project; anything else is the default project.
"""

from __future__ import annotations

import threading
import time

from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.keys import hash_key, key_id_of, matches
from slabdb.control.projects import DEFAULT_PROJECT
from slabdb.core.errors import UnauthenticatedError

KEY_CACHE_SECONDS = 5.0
"""A revoked key keeps working at most this long on a server that saw it recently."""


class Authenticator:
    def __init__(self, catalog: ControlCatalog, insecure_dev: bool = False) -> None:
        self._catalog = catalog
        self.insecure_dev = insecure_dev
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str]] = {}

    def project_for(self, api_key: str | None) -> str:
        project = self._lookup(api_key) if api_key else None
        if project is not None:
            return project
        if self.insecure_dev:
            return DEFAULT_PROJECT
        if not api_key:
            raise UnauthenticatedError("missing API key: send it in the Api-Key header")
        raise UnauthenticatedError("invalid API key")

    def _lookup(self, api_key: str) -> str | None:
        digest = hash_key(api_key)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        key_id = key_id_of(api_key)
        if key_id is None:
            return None
        row = self._catalog.get_key(key_id)
        if row is None or row.revoked or not matches(api_key, row.key_hash):
            return None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + KEY_CACHE_SECONDS, row.project)
        return row.project
