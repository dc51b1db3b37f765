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


def _sized_manifest(levels_and_rows):
    slabs = tuple(
        SlabEntry(
            id=f"s{i}",
            key=f"k{i}",
            level=level,
            count=rows,
            live_count=rows,
            min_lsn=i * 10,
            max_lsn=i * 10 + 9,
            size_bytes=100,
        )
        for i, (level, rows) in enumerate(levels_and_rows)
    )
    return ManifestRecord(version=1, checkpoint_lsn=999, slabs=slabs)


def test_small_l0_slabs_merge_into_l1_once_they_hold_merge_rows():
    p = CompactionPlanner(fanout=10, max_inputs=10, max_level=2, merge_rows=20_000)
    assert p.plan(_sized_manifest([(1, 20_000), (0, 10_000)])) is None  # one slab: wait
    task = p.plan(_sized_manifest([(1, 20_000), (0, 10_000), (0, 10_000), (0, 10_000)]))
    assert task is not None
    assert task.inputs == ("s1", "s2")  # just enough rows for one graph-sized slab
    assert task.output_level == 1
    assert task.drop_tombstones is False


def test_small_l0_run_stops_at_a_slab_big_enough_on_its_own():
    p = CompactionPlanner(fanout=10, max_inputs=10, max_level=2, merge_rows=20_000)
    # the oldest L0 slab already has a graph's worth of rows: the fanout rule applies
    assert p.plan(_sized_manifest([(0, 50_000), (0, 10_000), (0, 10_000)])) is None
    # small slabs below the threshold together: keep waiting
    assert p.plan(_sized_manifest([(0, 5_000), (0, 5_000), (0, 5_000)])) is None
    task = p.plan(_sized_manifest([(0, 5_000), (0, 9_000), (0, 7_000), (0, 9_000)]))
    assert task is not None and task.inputs == ("s0", "s1", "s2")
    assert task.drop_tombstones is True


def test_merge_rows_zero_keeps_the_fanout_rule_alone():
    p = CompactionPlanner(fanout=10, max_inputs=10, max_level=2, merge_rows=0)
    assert p.plan(_sized_manifest([(0, 10_000)] * 9)) is None
    task = p.plan(_sized_manifest([(0, 10_000)] * 10))
    assert task is not None and len(task.inputs) == 10


def test_small_l0_merge_respects_max_inputs():
    p = CompactionPlanner(fanout=100, max_inputs=3, max_level=2, merge_rows=1_000)
    assert p.plan(_sized_manifest([(0, 100)] * 20)) is None  # 3 x 100 rows never reach 1,000
