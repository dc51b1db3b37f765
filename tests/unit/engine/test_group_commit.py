import threading
import time

import pytest

from slabdb.engine.group_commit import GroupCommitter


def test_concurrent_writers_share_entries_and_each_gets_its_results():
    commits = []

    def commit(batches):
        commits.append(len(batches))
        time.sleep(0.02)
        return [[op * 10 for op in b] for b in batches]

    gc = GroupCommitter(commit)
    results = {}

    def writer(i):
        results[i] = gc.submit([i, i + 1])

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: [i * 10, (i + 1) * 10] for i in range(20)}
    assert sum(commits) == 20
    assert len(commits) < 20  # some writers were grouped


def test_a_failed_commit_fails_every_writer_in_it_and_the_next_commit_works():
    calls = []

    def commit(batches):
        calls.append(batches)
        if len(calls) == 1:
            raise OSError("store down")
        return [b for b in batches]

    gc = GroupCommitter(commit)
    with pytest.raises(OSError):
        gc.submit([1])
    assert gc.submit([2]) == [2]
