"""Validate record metadata before it is written.

Pinecone's rules: metadata is a flat JSON object whose values are strings, finite
numbers, booleans or lists of strings; no nulls, no nested objects; keys non-empty and
not starting with ``$``; integers within 64 bits (what slabs and the WAL store); at most
:data:`MAX_METADATA_BYTES` when JSON-encoded.  Breaking a rule raises
:class:`~slabdb.core.errors.InvalidMetadataError` with a message that names the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from slabdb.core import limits
from slabdb.core.errors import InvalidMetadataError

MAX_METADATA_BYTES = limits.MAX_METADATA_BYTES
"""Largest JSON-encoded metadata of one record, in bytes (Pinecone: 40 KB)."""


def metadata_size(metadata: Mapping[str, Any]) -> int:
    """Bytes of ``metadata`` as compact UTF-8 JSON (what the 40 KB limit measures)."""
    return len(
        json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    )


def validate_metadata(metadata: Any) -> dict[str, Any]:
    """Check one record's metadata and return a normalized copy (see :func:`validate_metadata_sized`)."""
    return validate_metadata_sized(metadata)[0]


def validate_metadata_sized(metadata: Any) -> tuple[dict[str, Any], int]:
    """Check one record's metadata; return a normalized copy and its JSON size in bytes.

    The copy holds only plain Python values (``str``, ``int``, ``float``, ``bool``,
    ``list[str]``): numpy scalars become Python numbers and tuples become lists, so
    later changes to the caller's objects cannot leak into stored records.
    """
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be an object, got {_kind(metadata)}")
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InvalidMetadataError(f"metadata keys must be strings, got {_kind(key)}")
        if key == "":
            raise InvalidMetadataError("metadata keys must not be empty")
        if key.startswith("$"):
            raise InvalidMetadataError(
                f"metadata field {key!r} starts with '$', which is reserved for filter operators"
            )
        out[key] = _value(key, value)
    size = metadata_size(out)
    if size > MAX_METADATA_BYTES:
        raise InvalidMetadataError(
            f"metadata is {size} bytes, more than the limit of {MAX_METADATA_BYTES} bytes "
            "per record"
        )
    return out, size


def _value(key: str, value: Any) -> Any:
    if value is None:
        raise InvalidMetadataError(
            f"metadata field '{key}' is null; null values are not supported (omit the field)"
        )
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float) or _is_numpy_scalar(value):
        return _number(key, value)
    if isinstance(value, Mapping):
        raise InvalidMetadataError(
            f"metadata field '{key}' is a nested object; values must be strings, numbers, "
            "booleans or lists of strings"
        )
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidMetadataError(
                    f"metadata field '{key}' is a list with {_kind(item)} at position {i}; "
                    "lists may only hold strings"
                )
        return [str(item) for item in value]
    raise InvalidMetadataError(
        f"metadata field '{key}' has unsupported type {type(value).__name__}; values must be "
        "strings, numbers, booleans or lists of strings"
    )


def _is_numpy_scalar(value: Any) -> bool:
    return type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0


def _number(key: str, value: Any) -> Any:
    if _is_numpy_scalar(value):
        kind = value.dtype.kind
        if kind == "b":
            return bool(value)
        if kind not in "iuf":
            raise InvalidMetadataError(
                f"metadata field '{key}' has unsupported type {type(value).__name__}"
            )
        value = value.item()
    if isinstance(value, int) and not limits.MIN_METADATA_INT <= value <= limits.MAX_METADATA_INT:
        raise InvalidMetadataError(
            f"metadata field '{key}' is {_short(value)}; integers must fit in 64 bits "
            "(between -2^63 and 2^64-1): send larger numbers as floats or strings"
        )
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise InvalidMetadataError(
            f"metadata field '{key}' is {_short(value)}; numbers must be finite float64 values"
        )
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"
