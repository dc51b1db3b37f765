"""Read-your-writes across nodes: a read that names a minimum LSN sees every write up to it.

A write is acknowledged once its WAL entry is in the object store, so a node that reads
the manifest and the log *after* the acknowledgment has that LSN: one catch-up normally
suffices, and the wait is only for a slow store or a catch-up already in progress.  Reads
without a minimum LSN see what the node's periodic refresh has applied
(``EngineConfig.refresh_interval_seconds``; docs/design/scale-out.md has the bound).

LSNs are per namespace: a minimum LSN from another namespace may never be reached, and
the read then fails after the bounded wait with :class:`LsnNotReachedError` (retryable).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from slabdb.core.errors import InvalidArgumentError, LsnNotReachedError
from slabdb.engine.namespace import Namespace

DEFAULT_MIN_LSN_WAIT_SECONDS = 5.0
"""How long a read waits for its namespace to reach the minimum LSN it asked for."""
_FIRST_RETRY_SECONDS = 0.01
_MAX_RETRY_SECONDS = 0.25


def caught_up(
    open_namespace: Callable[[], Namespace | None],
    min_lsn: int | None,
    timeout_seconds: float = DEFAULT_MIN_LSN_WAIT_SECONDS,
) -> Namespace | None:
    """The namespace ``open_namespace`` returns, once it has applied ``min_lsn``.

    None or 0 asks for nothing (no I/O); an LSN already applied costs no I/O either.
    Otherwise the namespace catches up from the store at once, and again with backoff
    until ``timeout_seconds`` have passed, then :class:`LsnNotReachedError`.  A namespace
    found deleted is reopened; one that no longer exists is None (its writes are gone).
    """
    if min_lsn is not None and (isinstance(min_lsn, bool) or min_lsn < 0):
        raise InvalidArgumentError(f"the minimum LSN must be an integer >= 0, not {min_lsn!r}")
    ns = open_namespace()
    if not min_lsn or ns is None or ns.applied_lsn >= min_lsn:
        return ns
    deadline = time.monotonic() + timeout_seconds
    delay = _FIRST_RETRY_SECONDS
    while not ns.catch_up_to(min_lsn):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LsnNotReachedError(
                f"this node has applied the namespace's log up to LSN {ns.applied_lsn}, not "
                f"the minimum LSN {min_lsn} the read asked for, after {timeout_seconds:g} s: "
                "retry (LSNs are per namespace: send one a write to this namespace returned)"
            )
        time.sleep(min(delay, remaining))
        delay = min(2 * delay, _MAX_RETRY_SECONDS)
        reopened = open_namespace()  # a deleted handle is dropped and reopened here
        if reopened is None:
            return None
        ns = reopened
    return ns
