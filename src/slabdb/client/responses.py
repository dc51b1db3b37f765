"""Public value types, shaped like the official ``pinecone`` SDK's response models.

Every type reads by attribute (``res.matches[0].score``) and by key
(``res["matches"][0]["score"]``), and ``to_dict()`` gives the camelCase-free
plain-dict form the SDK's ``to_dict()`` gives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Metric = Literal["cosine", "euclidean", "dotproduct"]
VectorType = Literal["dense", "sparse"]
MetadataValue = str | int | float | bool | list[str]
Metadata = dict[str, MetadataValue]


class _Model:
    """Attribute and key access, and ``to_dict``, for the response dataclasses."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None or f.metadata.get("internal"):
                continue
            out[f.name] = _plain(value)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, _Model):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _lsn_field() -> Any:
    """The WAL position of a write, or the one a read saw (served as LSN headers)."""
    return field(default=None, repr=False, compare=False, metadata={"internal": True})


@dataclass
class SparseValues(_Model):
    indices: list[int]
    values: list[float]


@dataclass
class Vector(_Model):
    id: str
    values: list[float] = field(default_factory=list)
    metadata: Metadata | None = None
    sparse_values: SparseValues | None = None


@dataclass
class ScoredVector(_Model):
    id: str
    score: float
    values: list[float] = field(default_factory=list)
    sparse_values: SparseValues | None = None
    metadata: Metadata | None = None


@dataclass
class Usage(_Model):
    read_units: int = 0


@dataclass
class QueryResponse(_Model):
    matches: list[ScoredVector]
    namespace: str = ""
    usage: Usage | None = None
    lsn: int | None = _lsn_field()


@dataclass
class FetchResponse(_Model):
    vectors: dict[str, Vector]
    namespace: str = ""
    usage: Usage | None = None


@dataclass
class UpsertResponse(_Model):
    upserted_count: int
    lsn: int | None = _lsn_field()


@dataclass
class UpdateResponse(_Model):
    matched_records: int | None = None
    lsn: int | None = _lsn_field()


class DeleteResponse(dict[str, Any]):
    """What ``delete`` returns: ``{}`` as in the SDK, plus the write's ``lsn``."""

    def __init__(self, lsn: int | None = None) -> None:
        super().__init__()
        self.lsn = lsn


@dataclass
class NamespaceSummary(_Model):
    vector_count: int


@dataclass
class NamespaceDescription(_Model):
    name: str
    record_count: int


@dataclass
class DescribeIndexStatsResponse(_Model):
    namespaces: dict[str, NamespaceSummary]
    dimension: int | None
    index_fullness: float
    total_vector_count: int
    metric: str
    vector_type: str


@dataclass
class ListItem(_Model):
    id: str


@dataclass
class Pagination(_Model):
    next: str


@dataclass
class ListResponse(_Model):
    vectors: list[ListItem]
    namespace: str = ""
    pagination: Pagination | None = None
    usage: Usage | None = None


@dataclass
class ListNamespacesResponse(_Model):
    namespaces: list[NamespaceDescription]
    pagination: Pagination | None = None
    total_count: int | None = None


@dataclass
class FetchByMetadataResponse(_Model):
    vectors: dict[str, Vector]
    namespace: str = ""
    pagination: Pagination | None = None
    usage: Usage | None = None


@dataclass
class IndexModel(_Model):
    name: str
    dimension: int | None
    metric: str
    vector_type: str
    host: str
    deletion_protection: str = "disabled"
    tags: dict[str, str] | None = None
    spec: dict[str, Any] = field(
        default_factory=lambda: {"serverless": {"cloud": "aws", "region": "us-east-1"}}
    )
    status: dict[str, Any] = field(default_factory=lambda: {"ready": True, "state": "Ready"})
    embed: dict[str, Any] | None = None
    """The integrated embedding of an index made by ``create_index_for_model``."""


# --- integrated embedding (search_records) ----------------------------------------------
@dataclass
class Hit(_Model):
    """One search hit: ``hit["_id"]``/``hit.id``, ``hit["_score"]``/``hit.score``, ``fields``."""

    _id: str
    _score: float
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self._id

    @property
    def score(self) -> float:
        return self._score


@dataclass
class SearchResult(_Model):
    hits: list[Hit] = field(default_factory=list)


@dataclass
class SearchUsage(_Model):
    read_units: int = 0
    embed_total_tokens: int | None = None
    rerank_units: int | None = None


@dataclass
class SearchRecordsResponse(_Model):
    result: SearchResult
    usage: SearchUsage
    namespace: str = ""
