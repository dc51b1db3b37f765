"""The default namespace: the one place the embedded API, REST and gRPC learn its names.

Pinecone's data plane has one namespace without a name: requests that omit
``namespace`` (REST: the field is absent or ``null``; gRPC: the proto3 string is empty)
address it, and so does the reserved name ``"__default__"``. The engine calls it ``""``.

Answers name it in two ways, the same on both transports and in the embedded API:

=========================================================  =================
where the name appears                                     default namespace
=========================================================  =================
namespace descriptions (list, describe, create), the       ``"__default__"``
records-search answer
the keys of ``describe_index_stats``                       ``"__default__"``, but
                                                           ``""`` for API 2025-04
                                                           and older (SDK 7.x)
the ``namespace`` echoed by query, fetch,                  ``""``
fetch_by_metadata and list (vectors API)
=========================================================  =================

The API version is the request's ``X-Pinecone-Api-Version`` (``YYYY-MM``; the embedded
API, like a request without one, gets the newest behaviour).
"""

from __future__ import annotations

DEFAULT_NAMESPACE = "__default__"
"""The reserved name of the default namespace in requests and namespace descriptions."""
EMPTY_STATS_KEY_UNTIL = "2025-04"
"""The last API version whose ``describe_index_stats`` keys the default namespace ``""``
(what SDK 7.x, which sends 2025-04, shows; 2025-10 and later answer ``"__default__"``)."""


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


def stats_key(name: str, api_version: str | None = None) -> str:
    """The key of a namespace in ``describe_index_stats`` at ``api_version`` (None: newest)."""
    if name in ("", DEFAULT_NAMESPACE):
        old = api_version is not None and api_version <= EMPTY_STATS_KEY_UNTIL
        return "" if old else DEFAULT_NAMESPACE
    return name
