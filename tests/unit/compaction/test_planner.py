from slabdb.compaction.planner import CompactionPlanner
from slabdb.lsm.manifest import ManifestRecord, SlabEntry


def _slab(i, level):
    return SlabEntry(
        id=f"s{i}",
        key=f"k{i}",
        level=level,
        count=10,
        live_count=10,
        min_lsn=i * 10,
        max_lsn=i * 10 + 9,
        size_bytes=100,
    )


def _manifest(levels):
    return ManifestRecord(
        version=1, checkpoint_lsn=999, slabs=tuple(_slab(i, lv) for i, lv in enumerate(levels))
    )


def test_nothing_to_do_below_fanout():
    assert CompactionPlanner(fanout=4, max_inputs=8, max_level=2).plan(_manifest([0, 0, 0])) is None


def test_oldest_l0_run_merges_into_l1_and_drops_tombstones_at_the_bottom():
    task = CompactionPlanner(fanout=3, max_inputs=8, max_level=2).plan(_manifest([0, 0, 0, 0]))
    assert task is not None
    assert task.inputs == ("s0", "s1", "s2", "s3")
    assert task.output_level == 1
    assert task.drop_tombstones is True


def test_partial_compaction_takes_at_most_max_inputs_oldest_first():
    task = CompactionPlanner(fanout=2, max_inputs=3, max_level=2).plan(
        _manifest([1, 0, 0, 0, 0, 0])
    )
    assert task is not None
    assert task.inputs == ("s1", "s2", "s3")
    assert task.drop_tombstones is False  # an older L1 slab remains below


def test_l1_merges_into_l2_when_l0_is_quiet():
    task = CompactionPlanner(fanout=2, max_inputs=8, max_level=2).plan(_manifest([2, 1, 1, 0]))
    assert task is not None
    assert task.inputs == ("s1", "s2")
    assert task.output_level == 2
    assert task.drop_tombstones is False


def test_top_level_is_never_merged():
    assert CompactionPlanner(fanout=2, max_inputs=8, max_level=2).plan(_manifest([2, 2, 2])) is None


def test_planning_is_pure():
    m = _manifest([0, 0, 0])
    p = CompactionPlanner(fanout=3, max_inputs=8, max_level=2)
    assert p.plan(m) == p.plan(m)
    assert m == _manifest([0, 0, 0])
