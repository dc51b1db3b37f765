"""Readiness: whether this node can serve, for ``GET /health?check=ready``.

Plain ``/health`` says the process answers (liveness). A node whose object store or
control catalog cannot be reached answers nothing useful, so a balancer or Kubernetes
should stop sending it traffic without restarting it: ``/health?check=ready`` probes
both and answers 503 while either fails.  Probes are cached for ``interval_seconds`` and
at most one runs at a time (callers meanwhile get the last answer), so a probe every
second from several balancers costs one HEAD and one catalog read per interval.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from slabdb.control.catalog_db import ControlCatalog
from slabdb.core.errors import ObjectNotFoundError
from slabdb.storage.base import ObjectStore

PROBE_KEY = "_control/ready-probe"
"""A key nobody writes: a HEAD answered "not found" proves the store is reachable."""
DEFAULT_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class ReadyState:
    ready: bool
    failing: tuple[str, ...] = ()
    """What could not be reached: ``"object store"``, ``"control catalog"``."""


class Readiness:
    def __init__(
        self,
        store: ObjectStore,
        catalog: ControlCatalog,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._state: ReadyState | None = None
        self._probed_at = float("-inf")

    def state(self) -> ReadyState:
        """The last probe's answer, probing first if it is older than the interval and no
        other probe is running (the first call always probes)."""
        fresh = time.monotonic() - self._probed_at < self._interval
        if self._state is not None and fresh:
            return self._state
        if not self._lock.acquire(blocking=self._state is None):
            assert self._state is not None
            return self._state
        try:
            self._state = self._probe()
            self._probed_at = time.monotonic()
            return self._state
        finally:
            self._lock.release()

    def _probe(self) -> ReadyState:
        failing = []
        try:
            self._store.head(PROBE_KEY)
        except ObjectNotFoundError:
            pass
        except Exception:
            failing.append("object store")
        try:
            self._catalog.list_projects()
        except Exception:
            failing.append("control catalog")
        return ReadyState(not failing, tuple(failing))
