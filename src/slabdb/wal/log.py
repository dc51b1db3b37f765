"""The write-ahead log of one namespace: ``<prefix>wal/<lsn:020d>`` objects.

:class:`WalWriter` claims each LSN with create-if-absent, so two writers can never
both own one: the loser reads the entries it lost to (they must be applied before
its own), and tries the next LSN.  :func:`read_wal` replays entries after a
checkpoint in LSN order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from slabdb.core.errors import ObjectExistsError, ObjectNotFoundError
from slabdb.core.ops import WalEntry
from slabdb.storage.base import ObjectStore
from slabdb.storage.keys import wal_key
from slabdb.wal.codec import decode_ops


def read_wal(store: ObjectStore, prefix: str, after_lsn: int = 0) -> Iterator[WalEntry]:
    """Entries with LSN greater than ``after_lsn``, in LSN order.

    LSNs are claimed one after another, so the log has no holes above the manifest's
    checkpoint (garbage collection only removes entries at or below it): read
    ``after_lsn + 1``, ``+ 2``, ... until one is missing.  That costs one GET per new
    entry and a single GET when there is nothing new, never a LIST of the log, which
    keeps frequent refreshes cheap however many checkpointed entries await GC.
    """
    lsn = after_lsn + 1
    while True:
        key = wal_key(prefix, lsn)
        try:
            data = store.get(key).data
        except ObjectNotFoundError:
            return
        yield WalEntry(lsn=lsn, ops=decode_ops(data, where=key))
        lsn += 1


class WalWriter:
    """Appends encoded entries at the next free LSN of one namespace's log."""

    def __init__(self, store: ObjectStore, prefix: str, next_lsn: int) -> None:
        self._store = store
        self._prefix = prefix
        self.next_lsn = next_lsn
        self.conflicts = 0
        """LSNs this writer lost to another writer (for stats and tests)."""

    def append(self, data: bytes, on_foreign: Callable[[list[WalEntry]], None]) -> int:
        """Write ``data`` as the next entry and return its LSN.

        If another writer holds the LSN we tried, its entries (and any after it)
        are passed to ``on_foreign`` to be applied first, then we try again.
        """
        while True:
            lsn = self.next_lsn
            try:
                self._store.put_if_absent(wal_key(self._prefix, lsn), data)
            except ObjectExistsError:
                self.conflicts += 1
                foreign = list(read_wal(self._store, self._prefix, after_lsn=lsn - 1))
                if foreign:
                    on_foreign(foreign)
                    self.next_lsn = max(self.next_lsn, foreign[-1].lsn + 1)
                else:  # vanished between the create and the read (GC): skip it
                    self.next_lsn = lsn + 1
                continue
            self.next_lsn = lsn + 1
            return lsn
