"""The write-ahead log of one namespace: ``<prefix>wal/<lsn:020d>`` objects.

:class:`WalWriter` claims each LSN with create-if-absent, so two writers can never
both own one: the loser reads the entries it lost to (they must be applied before
its own), and tries the next LSN.  :func:`read_wal` replays entries after a
checkpoint in LSN order.

A writer claims LSN n + 1 only after LSN n exists (it wrote n itself, or its create of an
earlier LSN failed and it read the entries up to the first missing one, which it then
claims), and garbage collection removes only entries at or below a checkpoint.  So a
missing LSN above the checkpoint with a higher one present is damage, not the end of the
log: :func:`first_lsn_after` (one LIST, done only after a GET missed) lets the reader tell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from slabdb.core.errors import ObjectExistsError, ObjectNotFoundError
from slabdb.core.ops import WalEntry
from slabdb.storage.base import ObjectStore
from slabdb.storage.keys import lsn_of_key, wal_key, wal_prefix
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


def first_lsn_after(store: ObjectStore, prefix: str, lsn: int) -> int | None:
    """The lowest LSN above ``lsn`` present in the log (one LIST), or None."""
    for meta in store.list(wal_prefix(prefix), start_after=wal_key(prefix, lsn)):
        return lsn_of_key(meta.key)
    return None


def find_gap(
    store: ObjectStore,
    prefix: str,
    applied: Callable[[], int],
    catch_up: Callable[[], None],
    rounds: int = 3,
) -> tuple[int, int] | None:
    """(missing LSN, a higher LSN present) if the log has a hole right after ``applied()``.

    Call it after a catch-up's GET of ``applied() + 1`` missed.  One LIST per round: a
    higher LSN present is a hole unless the missing entry arrived since the GET (another
    writer appended it, and more), or a checkpoint now covers it (GC removed it), so
    ``catch_up()`` runs and the check repeats; after ``rounds`` of progress under busy
    writers it gives up (None), leaving the next check to find what this one could not.
    """
    for _ in range(rounds):
        hole = applied() + 1
        present = first_lsn_after(store, prefix, hole)
        if present is None:
            return None
        catch_up()
        if applied() < hole:
            return hole, present
    return None


def wal_gap_message(prefix: str, missing: int, present: int, checkpoint: int) -> str:
    """What a :class:`~slabdb.core.errors.CorruptionError` for a hole in the log says."""
    return (
        f"{wal_key(prefix, missing)} is missing but {wal_key(prefix, present)} exists: "
        f"the write-ahead log has a gap above checkpoint {checkpoint} "
        "(acknowledged writes would be lost; run `slabdb check`)"
    )


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
