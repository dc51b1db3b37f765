"""The live panel's "Last compaction", from the embedded engine or the server's metrics."""

from __future__ import annotations

from slabdb.app.index import EngineFigures, _parse_figures

METRICS = """\
# TYPE slabdb_slabs gauge
slabdb_slabs{project="default",index="products",namespace="__default__",level="1"} 2.0
# TYPE slabdb_last_compaction_timestamp_seconds gauge
slabdb_last_compaction_timestamp_seconds{project="default",index="products",namespace="__default__"} 1000.0
slabdb_last_compaction_timestamp_seconds{project="default",index="other",namespace="__default__"} 5.0
"""


def test_the_server_metric_gives_the_time_of_the_last_compaction() -> None:
    figures = _parse_figures(METRICS, "products")
    assert figures["last_compaction_at"] == 1000.0 and figures["slabs_per_level"] == {1: 2}


def test_the_panel_says_how_long_ago_or_none_yet() -> None:
    assert EngineFigures(10).last_compaction_ago() is None
    assert EngineFigures(10, last_compaction_at=1000.0).last_compaction_ago(1042.0) == "42 s ago"
    assert EngineFigures(10, last_compaction_at=0.0).last_compaction_ago(600.0) == "10 min ago"
    assert EngineFigures(10, last_compaction_at=0.0).last_compaction_ago(9000.0) == "2.5 h ago"
