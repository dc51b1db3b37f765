"""A data-plane REST request hands off to a worker thread twice, not once per dependency.

FastAPI runs each plain ``def`` dependency in a worker thread of its own; under load every
hand-off queues behind the other requests'.  Only the key and index lookup (which may
read the catalog) and the route itself block, so those two are the only hand-offs (see
``slabdb.api.rest.deps``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from api_wires import RestWire, served_index

from slabdb.api.rest import deps


@pytest.fixture
def rest(tmp_path: Path) -> Iterator[RestWire]:
    with served_index(tmp_path, insecure_dev=False) as wires:
        wire = wires["rest"]
        assert isinstance(wire, RestWire)
        assert wire.upsert([{"id": "a", "values": [1.0, 0.0]}]).status == "OK"
        yield wire


@pytest.fixture
def handoffs(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """The functions sent to a worker thread from now on (innermost of any partial)."""
    sent: list[Callable[..., Any]] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        inner = func
        while hasattr(inner, "func"):
            inner = inner.func
        sent.append(inner)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return sent


def test_query_takes_two_thread_handoffs(
    rest: RestWire, handoffs: list[Callable[..., Any]]
) -> None:
    answer = rest.query([1.0, 0.0], top_k=1)
    assert answer.status == "OK", answer.message
    assert [m["id"] for m in answer.body["matches"]] == ["a"]
    assert len(handoffs) == 2
    assert deps.data_index in handoffs  # the key and the index are looked up off the loop


def test_a_wrong_key_is_refused_by_the_one_blocking_dependency(
    rest: RestWire, handoffs: list[Callable[..., Any]]
) -> None:
    answer = rest.send("POST", "/query", headers={"Api-Key": "sdb-0-wrong"}, json={"topK": 1})
    assert answer.status in {"401", "403"}
    assert handoffs == [deps.data_index]  # refused before the body is used or the route runs
