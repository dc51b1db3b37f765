from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from slabdb.core.errors import InvalidArgumentError, InvalidMetadataError
from slabdb.filters import MAX_METADATA_BYTES, metadata_size, validate_metadata


def test_valid_metadata_is_copied_and_normalized() -> None:
    tags = ["a", "b"]
    source: dict[str, Any] = {
        "s": "x",
        "i": 3,
        "f": 2.5,
        "b": True,
        "tags": tags,
        "tup": ("c",),
        "np_f": np.float32(1.5),
        "np_i": np.int64(7),
        "np_b": np.bool_(False),
        "empty": [],
    }
    out = validate_metadata(source)
    assert out == {
        "s": "x",
        "i": 3,
        "f": 2.5,
        "b": True,
        "tags": ["a", "b"],
        "tup": ["c"],
        "np_f": 1.5,
        "np_i": 7,
        "np_b": False,
        "empty": [],
    }
    assert type(out["np_f"]) is float and type(out["np_i"]) is int and type(out["np_b"]) is bool
    tags.append("c")
    assert out["tags"] == ["a", "b"]
    assert validate_metadata({}) == {}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (None, "must be an object"),
        ([("a", 1)], "must be an object"),
        ({1: "a"}, "keys must be strings"),
        ({"": "a"}, "must not be empty"),
        ({"a": None}, "field 'a' is null"),
        ({"a": {"b": 1}}, "field 'a' is a nested object"),
        ({"a": [1, 2]}, "field 'a' is a list with a number at position 0"),
        ({"a": ["x", None]}, "null at position 1"),
        ({"a": ["x", ["y"]]}, "a list at position 1"),
        ({"a": float("nan")}, "must be finite"),
        ({"a": float("-inf")}, "must be finite"),
        ({"a": 10**400}, "integers must fit in 64 bits"),
        ({"a": 2**70}, "integers must fit in 64 bits"),
        ({"a": -(2**63) - 1}, "integers must fit in 64 bits"),
        ({"$a": 1}, "reserved for filter operators"),
        ({"a": np.float64("nan")}, "must be finite"),
        ({"a": b"bytes"}, "unsupported type bytes"),
        ({"a": {1, 2}}, "unsupported type set"),
        ({"a": "x" * MAX_METADATA_BYTES}, "more than the limit of 40960 bytes"),
    ],
)
def test_invalid_metadata(bad: Any, message: str) -> None:
    with pytest.raises(InvalidMetadataError, match=message) as info:
        validate_metadata(bad)
    assert isinstance(info.value, InvalidArgumentError)


def test_size_limit_is_inclusive_and_measures_utf8_json() -> None:
    overhead = metadata_size({"a": ""})
    exactly = {"a": "x" * (MAX_METADATA_BYTES - overhead)}
    assert metadata_size(exactly) == MAX_METADATA_BYTES
    assert validate_metadata(exactly) == exactly
    with pytest.raises(InvalidMetadataError):
        validate_metadata({"a": "x" * (MAX_METADATA_BYTES - overhead + 1)})
    # non-ASCII counts in UTF-8 bytes
    assert metadata_size({"a": "é"}) == len('{"a":"é"}'.encode())
