"""The default namespace: the one place the embedded API, REST and gRPC learn its names.

Pinecone's data plane has one namespace without a name: requests that omit
``namespace`` (REST: the field is absent or ``null``; gRPC: the proto3 string is empty)
address it, and so does the reserved name ``"__default__"``. The engine calls it ``""``.

Answers name it in two ways, the same on both transports and at every supported API
version (2025-01 to 2026-07: :mod:`slabdb.api.versions` has no rule of its own for it),
and the same in the embedded API, as the official SDK 10 shows them:

=========================================================  =================
where the name appears                                     default namespace
=========================================================  =================
namespace descriptions (list, describe, create), the keys  ``"__default__"``
of ``describe_index_stats``, the records-search answer
the ``namespace`` echoed by query, fetch,                  ``""``
fetch_by_metadata and list (vectors API)
=========================================================  =================
"""

from __future__ import annotations

DEFAULT_NAMESPACE = "__default__"
"""The reserved name of the default namespace in requests and namespace descriptions."""


def engine_name(name: str | None) -> str:
    """The engine's name for a namespace a request named (``None``, ``""`` and
    ``"__default__"`` are the default namespace)."""
    if name is None or name == DEFAULT_NAMESPACE:
        return ""
    return name


def listed_name(name: str) -> str:
    """A namespace as descriptions, listings, stats keys and records search name it."""
    return DEFAULT_NAMESPACE if name in ("", DEFAULT_NAMESPACE) else name


def served_name(name: str) -> str:
    """The ``namespace`` a vectors-API read (query, fetch, fetch_by_metadata, list)
    answers with: ``""`` for the default namespace."""
    return "" if name == DEFAULT_NAMESPACE else name
