"""Read-your-writes: a read naming a minimum LSN catches up from the store before answering.

Two clients on one store, neither refreshing on its own (no background worker): what
client A wrote is invisible to client B's plain reads until B refreshes, and visible at
once to a read that names the LSN A's write returned.  An LSN the log never reaches fails
after the bounded wait with a retryable 503.
"""

from __future__ import annotations

import time

import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.core.errors import InvalidArgumentError, LsnNotReachedError
from slabdb.engine.freshness import caught_up
from slabdb.storage import open_store
from slabdb.testing.stores import HookStore

CONFIG = EngineConfig(background=False, flush_records=1000)


@pytest.fixture
def two_clients():
    store = HookStore(open_store("memory://"))
    a, b = slabdb.Client(store, CONFIG), slabdb.Client(store, CONFIG)
    a.create_index(name="r", dimension=2, metric="dotproduct")
    a.Index("r").upsert(vectors=[("first", [1.0, 0.0])])
    b.Index("r").fetch(ids=["first"])  # B opens the namespace now: later writes are news
    yield store, a.Index("r"), b.Index("r"), b
    a.close(flush=False)
    b.close(flush=False)


def test_read_with_the_write_lsn_sees_it_at_once(two_clients) -> None:
    _, a, b, _ = two_clients
    lsn = a.upsert(vectors=[("new", [0.0, 1.0])]).lsn
    assert lsn is not None
    assert b.fetch(ids=["new"]).vectors == {}  # B has not refreshed: stale without the LSN
    assert "new" in b.fetch(ids=["new"], min_lsn=lsn).vectors
    res = b.query(vector=[0.0, 1.0], top_k=1, min_lsn=lsn)
    assert res.matches[0].id == "new" and res.lsn is not None and res.lsn >= lsn


@pytest.mark.parametrize("read", ["query", "fetch_by_metadata", "list_paginated"])
def test_every_read_takes_the_minimum_lsn(two_clients, read: str) -> None:
    _, a, b, _ = two_clients
    lsn = a.upsert(vectors=[("new", [0.0, 1.0], {"k": 1})]).lsn
    calls = {
        "query": lambda: [m.id for m in b.query(vector=[0.0, 1.0], top_k=5, min_lsn=lsn).matches],
        "fetch_by_metadata": lambda: list(
            b.fetch_by_metadata(filter={"k": 1}, min_lsn=lsn).vectors
        ),
        "list_paginated": lambda: [v.id for v in b.list_paginated(min_lsn=lsn).vectors],
    }
    assert "new" in calls[read]()


def test_an_applied_lsn_costs_no_store_request(two_clients) -> None:
    store, a, b, _ = two_clients
    lsn = a.upsert(vectors=[("new", [0.0, 1.0])]).lsn
    b.fetch(ids=["new"], min_lsn=lsn)
    requests = dict(store.calls)
    assert "new" in b.fetch(ids=["new"], min_lsn=lsn).vectors
    assert "first" in b.fetch(ids=["first"], min_lsn=1).vectors
    assert store.calls == requests


def test_an_lsn_never_written_fails_after_the_wait(two_clients) -> None:
    _, a, _, client_b = two_clients
    applied = a.upsert(vectors=[("new", [0.0, 1.0])]).lsn
    assert applied is not None
    (ns,) = client_b.open_namespaces()
    started = time.monotonic()
    with pytest.raises(LsnNotReachedError) as err:
        caught_up(lambda: ns, applied + 5, timeout_seconds=0.3)
    assert 0.3 <= time.monotonic() - started < 2.0
    assert err.value.http_status == 503 and err.value.retryable
    assert f"up to LSN {applied}" in err.value.message  # it did catch up meanwhile


def test_a_negative_lsn_is_refused(two_clients) -> None:
    _, _, b, _ = two_clients
    with pytest.raises(InvalidArgumentError):
        b.fetch(ids=["first"], min_lsn=-1)
