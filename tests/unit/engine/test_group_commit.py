"""Group commit: writers queued behind an in-flight commit share the next WAL entry.

Interleavings are forced, not timed: the first commit blocks on an Event until the other
writers are queued behind it (observed through the committer's queue).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from scenarios.waiting import wait_until
from slabdb.engine.group_commit import GroupCommitter

WRITERS = 20


def _queued(gc: GroupCommitter) -> int:
    return len(gc._queue)  # the only way to see that a writer is waiting behind the leader


class BlockingCommit:
    """The first commit blocks until ``release``; ``fail_on`` (1-based) commits raise."""

    def __init__(self, fail_on: frozenset[int] = frozenset()) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.batches_per_commit: list[int] = []
        self.fail_on = fail_on

    def __call__(self, batches: list[list[Any]]) -> list[Any]:
        self.batches_per_commit.append(len(batches))
        if len(self.batches_per_commit) == 1:
            self.entered.set()
            assert self.release.wait(10), "the test never released the first commit"
        if len(self.batches_per_commit) in self.fail_on:
            raise OSError("store down")
        return [[op * 10 for op in b] for b in batches]


def _run(fn: Callable[[], Any], out: dict[str, Any], key: str) -> threading.Thread:
    def target() -> None:
        try:
            out[key] = fn()
        except BaseException as exc:
            out[key] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _leader_then_followers(gc: GroupCommitter, commit: BlockingCommit, followers: int):
    """Writer 0 leads a blocked commit; ``followers`` writers queue behind it."""
    results: dict[str, Any] = {}
    threads = [_run(lambda: gc.submit([0, 1]), results, "0")]
    assert commit.entered.wait(10)
    for i in range(1, followers + 1):
        threads.append(_run(lambda i=i: gc.submit([i, i + 1]), results, str(i)))
    wait_until(lambda: _queued(gc) == followers, f"{followers} writers are queued")
    commit.release.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive(), "a writer never got its result"
    return results


def test_concurrent_writers_share_entries_and_each_gets_its_results():
    commit = BlockingCommit()
    gc = GroupCommitter(commit)
    results = _leader_then_followers(gc, commit, WRITERS - 1)
    assert results == {str(i): [i * 10, (i + 1) * 10] for i in range(WRITERS)}
    assert commit.batches_per_commit == [1, WRITERS - 1]  # every follower shared one entry
    assert (gc.entries_written, gc.batches_committed) == (2, WRITERS)


def test_a_failed_commit_fails_every_writer_in_it_and_the_next_commit_works():
    commit = BlockingCommit(fail_on=frozenset({2}))
    gc = GroupCommitter(commit)
    results = _leader_then_followers(gc, commit, 3)
    assert results["0"] == [0, 10]  # the first entry committed
    for i in ("1", "2", "3"):  # the three followers shared the failed one
        assert isinstance(results[i], OSError), results
    assert commit.batches_per_commit == [1, 3]
    after: dict[str, Any] = {}
    _run(lambda: gc.submit([7]), after, "next").join(10)  # a stuck leader flag would hang
    assert after == {"next": [70]}


def test_an_error_reaches_only_the_writers_of_its_entry():
    commit = BlockingCommit(fail_on=frozenset({1}))
    gc = GroupCommitter(commit)
    results = _leader_then_followers(gc, commit, 2)
    assert isinstance(results["0"], OSError)
    assert (results["1"], results["2"]) == ([10, 20], [20, 30])
