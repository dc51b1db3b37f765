"""The one visibility rule: the highest LSN of an id wins."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from slabdb.core.visibility import newest, newest_per_id, supersedes


def test_supersedes_is_strictly_newer() -> None:
    assert supersedes(5, None)
    assert supersedes(5, 4)
    assert not supersedes(5, 5)
    assert not supersedes(4, 5)


def test_newest_of_nothing_is_none() -> None:
    assert newest([]) is None


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 10_000)), unique_by=lambda v: v[1])
)
def test_newest_per_id_keeps_the_highest_lsn(versions: list[tuple[str, int]]) -> None:
    best = newest_per_id((rid, lsn, f"{rid}@{lsn}") for rid, lsn in versions)
    for rid in {r for r, _ in versions}:
        top = max(lsn for r, lsn in versions if r == rid)
        assert best[rid] == (top, f"{rid}@{top}")
        assert newest((lsn, lsn) for r, lsn in versions if r == rid) == top
    assert set(best) == {r for r, _ in versions}
