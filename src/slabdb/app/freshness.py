"""When does an edit become searchable? Watch SlabDB until it holds what was saved.

After an edit is written to Postgres, :meth:`FreshnessTracker.watch` polls SlabDB's fetch
(every :data:`POLL_SECONDS`, in a background thread) for the product's chunk ids until
their metadata (text included) equals what the sync renders from the saved row. The
delay from the save to the first matching fetch is the measured time to searchable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slabdb.app.index import SearchIndex, SlabUnavailableError

POLL_SECONDS = 0.1
GIVE_UP_SECONDS = 300.0


class State(StrEnum):
    PENDING = "pending"
    SEARCHABLE = "searchable"
    TIMED_OUT = "timed out"


@dataclass
class Freshness:
    product_id: int
    saved_at: float
    """``time.monotonic()`` when Postgres committed the edit."""
    state: State = State.PENDING
    delay_seconds: float | None = None
    problem: str = ""
    """Why the last poll could not tell (SlabDB unreachable, ...); '' when fine."""

    def waited(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.saved_at


def matches(expected: dict[str, dict[str, Any]], stored: dict[str, dict[str, Any]]) -> bool:
    """Every expected chunk is stored with (at least) the expected metadata."""
    for vid, want in expected.items():
        have = stored.get(vid)
        if have is None or any(have.get(k) != v for k, v in want.items()):
            return False
    return True


class FreshnessTracker:
    """One background watch per edited product (a newer edit replaces the older watch)."""

    def __init__(
        self,
        index: SearchIndex,
        *,
        poll_seconds: float = POLL_SECONDS,
        give_up_seconds: float = GIVE_UP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.poll_seconds = poll_seconds
        self.give_up_seconds = give_up_seconds
        self._clock = clock
        self._watches: dict[int, Freshness] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def get(self, product_id: int) -> Freshness | None:
        with self._lock:
            return self._watches.get(product_id)

    def watch(
        self, product_id: int, saved_at: float, expected: dict[str, dict[str, Any]]
    ) -> Freshness:
        item = Freshness(product_id, saved_at)
        with self._lock:
            self._watches[product_id] = item
        thread = threading.Thread(
            target=self._poll, args=(item, expected), name=f"freshness-{product_id}", daemon=True
        )
        thread.start()
        return item

    def _current(self, item: Freshness) -> bool:
        with self._lock:
            return self._watches.get(item.product_id) is item

    def _poll(self, item: Freshness, expected: dict[str, dict[str, Any]]) -> None:
        while not self._stop.is_set() and self._current(item):
            try:
                stored = self.index.fetch_metadata(list(expected))
                item.problem = ""
            except SlabUnavailableError as exc:
                stored, item.problem = {}, str(exc)
            now = self._clock()
            if stored and matches(expected, stored):
                item.delay_seconds = now - item.saved_at
                item.state = State.SEARCHABLE
                return
            if now - item.saved_at > self.give_up_seconds:
                item.state = State.TIMED_OUT
                return
            self._stop.wait(self.poll_seconds)

    def close(self) -> None:
        self._stop.set()
