"""Leases in the object store: one holder at a time, taken over when the holder goes quiet.

A lease is one small JSON object (holder id, epoch, renewal counter, time to live).  It
is created with create-if-absent, renewed by its holder with compare-and-swap on its
ETag, and taken over with compare-and-swap once it has been *seen unchanged* for its
time to live.  Used for the index builder of a namespace (one node flushes and compacts
it, ``builder-lease.json`` under the namespace prefix) and for a running bulk import.

No wall clocks are compared across nodes, so clock skew does not matter:

* the holder counts its term from *before* it sent the write that renewed it, on its own
  monotonic clock, and stops building ``margin`` before ``ttl`` has passed;
* another node counts from when it *first read* that same ETag (which is after the write
  landed), on its own monotonic clock, and takes over only ``ttl`` later.

So the two terms cannot overlap unless the clocks *run* at rates more than
``margin / ttl`` apart (or a process stalls between checking the lease and publishing:
the lease is a guard against duplicate work, not a fence; the manifest's
compare-and-swap keeps every publish safe either way).  ``renewed_at`` (wall clock) is in
the object for people reading it, never for decisions.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from slabdb.core.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    SlabDBError,
)
from slabdb.storage.base import ObjectStore

log = logging.getLogger(__name__)

RENEWALS_PER_TERM = 3
"""The holder renews (and others look) this many times per time to live."""
MARGIN_FRACTION = 0.2
"""The holder stops this fraction of the time to live before its term ends."""


def new_holder_id() -> str:
    """``host:pid:random``: unique per process, readable in the lease object."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseRecord:
    """What the lease object holds."""

    holder: str
    epoch: int
    renewals: int
    ttl_seconds: float
    released: bool = False
    renewed_at: str = ""

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> LeaseRecord:
        raw = json.loads(data)
        return cls(
            holder=str(raw["holder"]),
            epoch=int(raw["epoch"]),
            renewals=int(raw["renewals"]),
            ttl_seconds=float(raw["ttl_seconds"]),
            released=bool(raw.get("released", False)),
            renewed_at=str(raw.get("renewed_at", "")),
        )


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Lease:
    """One process's view of one lease key; :meth:`tend` it regularly (thread-safe)."""

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        holder: str,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("a lease needs a positive time to live")
        self.store, self.key, self.holder, self.ttl = store, key, holder, ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._record: LeaseRecord | None = None
        self._etag: str | None = None
        """Set while this process believes it holds the lease."""
        self._valid_until = 0.0
        self._renew_due = 0.0
        self._next_look = 0.0
        self._seen: tuple[str | None, float] | None = None
        self.acquisitions = 0
        self.losses = 0

    # --- state ----------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        """True while this process holds the lease and its term has time left."""
        return self._etag is not None and self._clock() < self._valid_until

    @property
    def epoch(self) -> int:
        """The epoch of the term held (or last seen); it grows with every takeover."""
        record = self._record
        return 0 if record is None else record.epoch

    # --- tending --------------------------------------------------------------------------
    def tend(self) -> bool:
        """Renew if held and due, else look and take over if free; returns :attr:`held`."""
        with self._lock:
            try:
                if self._etag is not None:
                    self._renew_if_due()
                else:
                    self._look()
            except (SlabDBError, OSError) as exc:  # the store is unreachable: try again later
                log.warning("lease %s: %s", self.key, exc)
            return self.held

    def _renew_if_due(self) -> None:
        if self._clock() < self._renew_due:
            return
        assert self._record is not None and self._etag is not None
        record = LeaseRecord(
            self.holder, self._record.epoch, self._record.renewals + 1, self.ttl, False, _now_text()
        )
        started = self._clock()
        try:
            etag = self.store.put_if_match(self.key, record.to_bytes(), self._etag)
        except PreconditionFailedError:
            log.warning("lease %s was taken over (epoch %d lost)", self.key, record.epoch)
            self._lost()
            return
        self._won(record, etag, started)

    def _look(self) -> None:
        now = self._clock()
        if now < self._next_look:
            return
        self._next_look = now + self.ttl / RENEWALS_PER_TERM
        try:
            got = self.store.get(self.key)
        except ObjectNotFoundError:
            self._create()
            return
        try:
            current = LeaseRecord.from_bytes(got.data)
        except (ValueError, KeyError, TypeError):  # undecodable: nobody can hold it, take it
            current = LeaseRecord("", 0, 0, self.ttl, released=True)
        self._record = current
        if not current.released:
            if self._seen is None or self._seen[0] != got.etag:
                self._seen = (got.etag, now)  # changed since last look: its holder is alive
                return
            if now - self._seen[1] < current.ttl_seconds:
                return
        if got.etag is not None:
            self._take_over(current, got.etag)

    def _create(self) -> None:
        record = LeaseRecord(self.holder, 1, 0, self.ttl, False, _now_text())
        started = self._clock()
        try:
            etag = self.store.put_if_absent(self.key, record.to_bytes())
        except ObjectExistsError:
            return
        self._won(record, etag, started)

    def _take_over(self, current: LeaseRecord, etag: str) -> None:
        record = LeaseRecord(self.holder, current.epoch + 1, 0, self.ttl, False, _now_text())
        started = self._clock()
        try:
            new_etag = self.store.put_if_match(self.key, record.to_bytes(), etag)
        except PreconditionFailedError:
            self._seen = None  # someone renewed or took it meanwhile
            return
        log.info("lease %s taken over from %s (epoch %d)", self.key, current.holder, record.epoch)
        self._won(record, new_etag, started)

    def _won(self, record: LeaseRecord, etag: str | None, started: float) -> None:
        if etag is None:  # a store without ETags cannot hold leases
            raise PreconditionFailedError(f"{self.store.url} returned no ETag for {self.key}")
        if self._etag is None:
            self.acquisitions += 1
        self._record, self._etag = record, etag
        self._valid_until = started + self.ttl * (1.0 - MARGIN_FRACTION)
        self._renew_due = started + self.ttl / RENEWALS_PER_TERM

    def _lost(self) -> None:
        self._etag = None
        self._seen = None
        self.losses += 1

    def release(self) -> None:
        """Hand the lease over at once (marked released); a no-op if not held."""
        with self._lock:
            if self._etag is None or self._record is None:
                return
            record = LeaseRecord(
                self.holder, self._record.epoch, self._record.renewals + 1, self.ttl, True
            )
            try:
                self.store.put_if_match(self.key, record.to_bytes(), self._etag)
            except (SlabDBError, OSError) as exc:
                log.warning("lease %s not released: %s", self.key, exc)
            self._record, self._etag = record, None


class LeaseKeeper:
    """A daemon thread renewing leases, so a long compaction never lets its lease lapse."""

    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slabdb-leases", daemon=True)

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._leases[lease.key] = lease
            if not self._thread.is_alive() and not self._stop.is_set():
                self._thread.start()

    def get(self, key: str) -> Lease | None:
        with self._lock:
            return self._leases.get(key)

    def remove(self, key: str) -> Lease | None:
        with self._lock:
            return self._leases.pop(key, None)

    def leases(self) -> list[Lease]:
        with self._lock:
            return list(self._leases.values())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for lease in self.leases():
                if self._stop.is_set():
                    return
                lease.tend()
