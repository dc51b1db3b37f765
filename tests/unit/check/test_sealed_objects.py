"""core/sealed.py: a checksum, a kind and an identity on every small durable object."""

from __future__ import annotations

import json

import pytest

from slabdb.core.errors import CorruptionError
from slabdb.core.sealed import read_sealed, seal, unseal

IDENTITY = {"prefix": "data/i-1/d/2/"}
BODY = {"checkpoint_lsn": 30, "name": "é", "x": [1.5, -0.0, 1e300], "nested": {"b": 1, "a": 2}}


def test_round_trip() -> None:
    data = seal("manifest", IDENTITY, BODY)
    assert unseal(data, "manifest", IDENTITY, "k") == BODY
    assert read_sealed(data, "manifest", IDENTITY, "k").sealed


def test_any_single_bit_flip_is_refused_naming_the_object_or_changes_nothing() -> None:
    r"""Refused, unless the flip only respells the same JSON value (``\u00e9`` as
    ``\u00E9``, ``1e+300`` as ``1E+300``): then the body read is exactly the one sealed."""
    data = seal("manifest", IDENTITY, BODY)
    respelled = 0
    for i in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[i] ^= 1 << bit
            try:
                body = unseal(bytes(damaged), "manifest", IDENTITY, "the/key")
            except CorruptionError as exc:
                assert exc.message.startswith("the/key: ")
                continue
            assert body == BODY
            respelled += 1
    assert respelled <= 2


def test_a_valid_json_edit_of_the_body_fails_the_checksum() -> None:
    doc = json.loads(seal("manifest", IDENTITY, BODY))
    doc["body"]["checkpoint_lsn"] = 31
    with pytest.raises(CorruptionError, match="checksum mismatch"):
        unseal(json.dumps(doc).encode(), "manifest", IDENTITY, "k")


def test_wrong_kind_or_identity_is_refused() -> None:
    data = seal("manifest", IDENTITY, BODY)
    with pytest.raises(CorruptionError, match="holds a 'manifest' object, not a 'index'"):
        unseal(data, "index", IDENTITY, "k")
    with pytest.raises(CorruptionError, match="belongs to prefix='data/i-1/d/2/'"):
        unseal(data, "manifest", {"prefix": "data/i-1/d/3/"}, "k")


def test_legacy_objects_pass_only_through_their_decoder() -> None:
    old = json.dumps({"format": 1}).encode()
    with pytest.raises(CorruptionError, match="not a sealed manifest"):
        unseal(old, "manifest", IDENTITY, "k")
    got = read_sealed(old, "manifest", IDENTITY, "k", legacy=json.loads)
    assert got.body == {"format": 1} and not got.sealed
