"""Templates, chunking, metadata conversion and checksums (the retry policy: test_sync_retry)."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from slabdb.core.errors import InvalidArgumentError
from slabdb.sync.config import SyncConfig
from slabdb.sync.text import TextTemplate, checksum, chunk_text, metadata_value, vector_id


def test_template_columns_and_render() -> None:
    t = TextTemplate("{name}: {description} ({price:.2f})")
    assert t.columns == ("name", "description", "price")
    assert (
        t.render({"name": "a", "description": None, "price": decimal.Decimal("2.5")})
        == "a:  (2.50)"
    )
    with pytest.raises(InvalidArgumentError):
        TextTemplate("no fields")
    with pytest.raises(InvalidArgumentError):
        TextTemplate("{}")


def test_chunking_bounds_and_coverage() -> None:
    text = " ".join(f"w{i}" for i in range(5000))
    chunks = chunk_text(text, 100)
    assert all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks) == text
    assert chunk_text("short", 100) == ["short"] and chunk_text("", 100) == [""]
    overlapped = chunk_text(text, 100, overlap_chars=20)
    assert len(overlapped) > len(chunks) and all(len(c) <= 100 for c in overlapped)
    assert chunk_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]  # no whitespace


def test_metadata_values_and_ids() -> None:
    assert metadata_value(decimal.Decimal("1.5")) == 1.5
    assert metadata_value(dt.date(2024, 1, 2)) == "2024-01-02"
    assert metadata_value(["a", None, 3]) == ["a", "3"]
    assert vector_id("k#1", 2) == "k#1#2"
    assert checksum("a", [1]) == checksum("a", [1]) != checksum("a", [2])


def test_config_round_trip_and_name_check() -> None:
    cfg = SyncConfig("s1", "public", "t", "id", "integer", "{a}", ("b",), "idx")
    assert SyncConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(InvalidArgumentError):
        SyncConfig("Bad-Name", "public", "t", "id", "integer", "{a}", (), "idx")
