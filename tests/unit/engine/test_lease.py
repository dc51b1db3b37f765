"""The object-store lease: one holder, renewals keep it, silence for a whole term frees it."""

from __future__ import annotations

from slabdb.engine.lease import Lease, LeaseRecord
from slabdb.storage import open_store

TTL = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pair():
    store = open_store("memory://")
    clock = Clock()
    a = Lease(store, "ns/builder-lease.json", "a", TTL, clock)
    b = Lease(store, "ns/builder-lease.json", "b", TTL, clock)
    return store, clock, a, b


def test_first_comer_holds_and_the_other_does_not() -> None:
    store, _clock, a, b = _pair()
    assert a.tend() and a.epoch == 1
    assert not b.tend()
    assert LeaseRecord.from_bytes(store.get("ns/builder-lease.json").data).holder == "a"


def test_renewing_holder_keeps_the_lease_for_ever() -> None:
    _store, clock, a, b = _pair()
    a.tend()
    for _ in range(20):
        clock.now += TTL / 3
        assert a.tend(), "the holder lost a lease it renewed"
        assert not b.tend(), "a lease renewed every third of its term was taken over"


def test_silent_holder_is_taken_over_after_one_unchanged_term() -> None:
    _store, clock, a, b = _pair()
    a.tend()
    assert not b.tend()  # b sees the lease for the first time
    clock.now += TTL - 0.1
    assert not b.tend(), "taken over before a whole term passed unchanged"
    assert not a.held, "the holder must stop before a taker may start"
    clock.now += TTL / 3  # others look once per third of a term
    assert b.tend() and b.epoch == 2
    clock.now += TTL / 3
    assert not a.tend(), "the old holder's renewal must fail after a takeover"
    assert a.losses == 1


def test_released_lease_is_taken_at_once() -> None:
    _store, clock, a, b = _pair()
    a.tend()
    a.release()
    assert not a.held
    clock.now += TTL / 3
    assert b.tend() and b.epoch == 2


def test_holder_stops_before_its_term_ends_when_renewals_fail() -> None:
    _store, clock, a, _b = _pair()
    a.tend()
    clock.now += TTL * 0.79
    assert a.held
    clock.now += TTL * 0.02
    assert not a.held, "a holder that could not renew must stop within its margin"


def test_undecodable_lease_object_is_taken_over() -> None:
    store, _clock, a, _b = _pair()
    store.put("ns/builder-lease.json", b"not json")
    assert a.tend()
