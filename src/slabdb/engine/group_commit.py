"""Group commit: writers that arrive while a WAL write is in flight share the next one.

The first waiting writer becomes the leader: it takes every queued batch, commits
them as one WAL entry, hands each writer its results (or the failure), and steps
down.  One WAL object, one round trip to the object store, for many writers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slabdb.core.ops import Op


@dataclass
class _Request:
    ops: list[Op]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class GroupCommitter:
    """Serializes commits and batches concurrent ones."""

    def __init__(self, commit: Callable[[list[list[Op]]], list[Any]]) -> None:
        self._commit = commit
        self._cv = threading.Condition()
        self._queue: list[_Request] = []
        self._leader = False
        self.entries_written = 0
        self.batches_committed = 0

    def submit(self, ops: list[Op]) -> Any:
        """Commit ``ops`` (maybe with other writers'); returns this batch's commit result."""
        req = _Request(ops)
        with self._cv:
            self._queue.append(req)
            while self._leader and not req.done:
                self._cv.wait()
            if req.done:
                return self._result(req)
            self._leader = True
            batch, self._queue = self._queue, []
        try:
            results = self._commit([r.ops for r in batch])
            for r, res in zip(batch, results, strict=True):
                r.result = res
        except BaseException as exc:
            for r in batch:
                r.error = exc
        finally:
            with self._cv:
                for r in batch:
                    r.done = True
                self.entries_written += 1
                self.batches_committed += len(batch)
                self._leader = False
                self._cv.notify_all()
        return self._result(req)

    @staticmethod
    def _result(req: _Request) -> Any:
        if req.error is not None:
            raise req.error
        return req.result
