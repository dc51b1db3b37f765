"""Checksummed JSON for SlabDB's small durable objects (manifests, catalog entries, markers).

A sealed object carries its kind, its identity (what it is the object *of*: a manifest
names its namespace prefix, a catalog entry its index, a marker its index and namespace)
and a SHA-256 over all of that and the body::

    {"seal": 1, "kind": "manifest", "identity": {"prefix": "data/..."},
     "sha256": "<hex>", "body": {...}}

:func:`unseal` refuses, with a :class:`~slabdb.core.errors.CorruptionError` naming the
object, bytes that are not valid JSON, fail the checksum, are of another kind, or belong
to another identity (an object copied or written under the wrong key).  One flipped bit
anywhere is caught: in the body by the checksum, in the envelope because the JSON no
longer parses or no longer has the envelope's exact shape.

Objects written before sealing existed are read through a ``legacy`` decoder that
accepts only the exact old shape; the caller writes the sealed form on its next write.
A damaged sealed object can never pass for a legacy one: their shapes differ in every
top-level key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slabdb.core.errors import CorruptionError

SEAL_VERSION = 1
_ENVELOPE_KEYS = frozenset({"seal", "kind", "identity", "sha256", "body"})

Body = dict[str, Any]
LegacyDecoder = Callable[[bytes], Body | None]
"""Returns the body of an object in the exact pre-seal format, or None if it is not one."""


@dataclass(frozen=True)
class Unsealed:
    """A checked object: its body, and whether it was sealed (False: legacy format)."""

    body: Body
    sealed: bool


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def _digest(kind: str, identity: Mapping[str, Any], body: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical([SEAL_VERSION, kind, identity, body])).hexdigest()


def seal(kind: str, identity: Mapping[str, Any], body: Mapping[str, Any]) -> bytes:
    """The sealed bytes of ``body``, an object of ``kind`` belonging to ``identity``."""
    envelope = {
        "seal": SEAL_VERSION,
        "kind": kind,
        "identity": dict(identity),
        "sha256": _digest(kind, identity, body),
        "body": dict(body),
    }
    return json.dumps(envelope, separators=(",", ":"), allow_nan=False).encode()


def unseal(
    data: bytes,
    kind: str,
    expect_identity: Mapping[str, Any],
    where: str,
    *,
    legacy: LegacyDecoder | None = None,
) -> Body:
    """The body of a sealed object; CorruptionError naming ``where`` if it does not check."""
    return read_sealed(data, kind, expect_identity, where, legacy=legacy).body


def read_sealed(
    data: bytes,
    kind: str,
    expect_identity: Mapping[str, Any],
    where: str,
    *,
    legacy: LegacyDecoder | None = None,
) -> Unsealed:
    """Like :func:`unseal`, also saying whether the object was sealed or legacy."""
    envelope = _parse_envelope(data)
    if envelope is None:
        body = legacy(data) if legacy is not None else None
        if body is None:
            raise CorruptionError(f"{where}: not a sealed {kind} object (damaged or foreign)")
        return Unsealed(body, sealed=False)
    if envelope["seal"] != SEAL_VERSION:
        raise CorruptionError(f"{where}: unsupported seal version {envelope['seal']!r}")
    body, identity = envelope["body"], envelope["identity"]
    if not isinstance(body, dict) or not isinstance(identity, dict):
        raise CorruptionError(f"{where}: damaged (body or identity is not an object)")
    try:
        expected_digest = _digest(envelope["kind"], identity, body)
    except (TypeError, ValueError) as exc:
        raise CorruptionError(f"{where}: damaged ({exc})") from exc
    if envelope["sha256"] != expected_digest:
        raise CorruptionError(f"{where}: checksum mismatch (the object is damaged)")
    if envelope["kind"] != kind:
        raise CorruptionError(f"{where}: holds a {envelope['kind']!r} object, not a {kind!r}")
    if identity != dict(expect_identity):
        raise CorruptionError(
            f"{where}: belongs to {_describe(identity)}, not {_describe(expect_identity)}"
        )
    return Unsealed(body, sealed=True)


def _parse_envelope(data: bytes) -> dict[str, Any] | None:
    """The envelope if ``data`` is JSON of exactly the envelope's shape, else None."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(raw, dict) and set(raw) == _ENVELOPE_KEYS:
        return raw
    return None


def json_object(data: bytes) -> dict[str, Any] | None:
    """``data`` parsed as a JSON object, or None (a helper for legacy decoders)."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return raw if isinstance(raw, dict) else None


def _describe(identity: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(identity.items())) or "nothing"
