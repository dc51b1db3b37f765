"""Pagination tokens: opaque, tied to the listing that issued them, refused when garbage.

A token is the URL-safe base64 of ``{"k": <listing>, "a": <last key of the page>}``; the
next page starts after that key. A token that does not decode, or that another listing
issued, answers 400 (Pinecone's ``INVALID_PAGINATION_TOKEN``) rather than silently
restarting the listing from the beginning.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal

from slabdb.core.errors import InvalidArgumentError

Listing = Literal["list", "fetch_by_metadata", "namespaces"]
MAX_TOKEN_CHARS = 4096


def encode_token(listing: Listing, after: str) -> str:
    """The token of the page that starts after ``after``."""
    raw = json.dumps({"k": listing, "a": after}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(listing: Listing, token: str | None) -> str | None:
    """The key the page starts after (None: the first page; ``""`` counts as no token)."""
    if token is None or token == "":
        return None
    invalid = InvalidArgumentError(
        "invalid pagination token: pass the pagination.next of a previous page of this "
        "listing, or leave it out to start from the beginning"
    )
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw.decode())
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(doc, dict) or doc.get("k") != listing or not isinstance(doc.get("a"), str):
        raise invalid
    after: str = doc["a"]
    return after
