"""API versions and the two shapes of an index: classic (``spec``) and 2026-07 (``schema``).

Pinecone picks the version with ``X-Pinecone-Api-Version``. Up to 2026-04 an index
is ``{dimension, metric, spec:{serverless:{cloud, region}}, vector_type, ...}``; from
2026-07 it is ``{schema:{fields:{...}}, deployment:{...}, read_capacity, ...}``. A
request without the header gets the newest shape.
"""

from __future__ import annotations

import re
from typing import Any

from slabdb.control.projects import IndexInfo
from slabdb.core.errors import (
    InvalidArgumentError,
    PermissionDeniedError,
    SlabDBError,
    UnauthenticatedError,
)

NEWEST = "2026-07"
SCHEMA_SHAPE_SINCE = "2026-07"
SUPPORTED = ("2025-01", "2025-04", "2025-10", "2026-04", "2026-07")
DEFAULT_CLOUD = "aws"
DEFAULT_REGION = "us-east-1"
DENSE_FIELD = "_values"
SPARSE_FIELD = "_sparse_values"
_VERSION = re.compile(r"^\d{4}-\d{2}$")
FILTERED_STATS_UNTIL = "2025-04"
"""The last version under which ``describe_index_stats`` takes a ``filter``. Pinecone's
serverless indexes refuse it (the 2025-10, 2026-04 and 2026-07 specs say so; 2026-07:
"reject a request carrying a non-empty filter"); SlabDB keeps its filtered stats for
requests that ask for 2025-04 or older (SDK 7.x) and for the embedded API."""
CONFIGURE_EMBED_UNTIL = "2026-04"
"""The last version whose ``configure_index`` takes ``embed`` (turning a dense index into
an integrated one); the 2026-07 spec dropped the field (its request refuses unknown
fields, and SDK 10 no longer sends it)."""
UNAUTHORIZED_TEXT_SINCE = "2026-07"
"""From this version a wrong data-plane key answers 401 ``Unauthorized`` (the 2026-07
spec); before it, Pinecone answers 403 ``Wrong API key`` (what SDK 7.x's tests match)."""


def api_version(header: str | None) -> str:
    """The version a request asked for (the newest when it did not say)."""
    if not header:
        return NEWEST
    header = header.strip()
    if not _VERSION.match(header):
        raise InvalidArgumentError(
            f"X-Pinecone-Api-Version must look like YYYY-MM, got {header!r}; "
            f"supported: {', '.join(SUPPORTED)}"
        )
    return header


def configure_embed_allowed(version: str) -> bool:
    return version <= CONFIGURE_EMBED_UNTIL


def filtered_stats_allowed(version: str) -> bool:
    return version <= FILTERED_STATS_UNTIL


def filtered_stats_refused() -> InvalidArgumentError:
    return InvalidArgumentError(
        "Serverless indexes do not support describe_index_stats with a metadata filter "
        f"(API version 2025-10 and later). SlabDB answers filtered stats under "
        f"X-Pinecone-Api-Version {FILTERED_STATS_UNTIL} or older; or count the matches with "
        "fetch_by_metadata"
    )


def data_plane_key_error(version: str, err: UnauthenticatedError, sent: bool) -> SlabDBError:
    """What a data-plane request with a missing or wrong key is told, as Pinecone does."""
    if not sent:
        return err
    if version >= UNAUTHORIZED_TEXT_SINCE:
        return UnauthenticatedError("Unauthorized")
    return PermissionDeniedError("Wrong API key")


def schema_shape(version: str) -> bool:
    return version >= SCHEMA_SHAPE_SINCE


def index_model(info: IndexInfo, host: str, version: str) -> dict[str, Any]:
    """The IndexModel JSON of ``info`` in the shape ``version`` expects."""
    m = info.model
    cloud = str(info.meta.get("cloud", DEFAULT_CLOUD))
    region = str(info.meta.get("region", DEFAULT_REGION))
    status = {"ready": True, "state": "Ready"}
    if schema_shape(version):
        out: dict[str, Any] = {
            "name": m.name,
            "host": host,
            "status": status,
            "deployment": {"deployment_type": "managed", "cloud": cloud, "region": region},
            "read_capacity": {"mode": "OnDemand", "status": {"state": "Ready"}},
            "schema": {"fields": schema_fields(info)},
            "deletion_protection": m.deletion_protection,
        }
        if m.tags:  # Pinecone leaves the field out when an index has no tags
            out["tags"] = m.tags
        return out
    out = {
        "name": m.name,
        "metric": m.metric,
        "host": host,
        "deletion_protection": m.deletion_protection,
        "spec": {"serverless": {"cloud": cloud, "region": region}},
        "status": status,
        "vector_type": m.vector_type,
    }
    if m.dimension is not None:
        out["dimension"] = m.dimension
    if m.tags:
        out["tags"] = m.tags
    if m.embed:
        out["embed"] = dict(m.embed)
    return out


def schema_fields(info: IndexInfo) -> dict[str, Any]:
    m = info.model
    fields: dict[str, Any] = dict(info.meta.get("metadata_fields") or {})
    if m.embed:  # integrated embedding: one semantic_text field named after field_map.text
        e = m.embed
        fields[e["field_map"]["text"]] = {
            "type": "semantic_text",
            "model": e["model"],
            "dimension": e["dimension"],
            "metric": e["metric"],
            "read_parameters": e.get("read_parameters"),
            "write_parameters": e.get("write_parameters"),
        }
        if "local_model" in e:
            fields[e["field_map"]["text"]]["local_model"] = e["local_model"]
    elif m.vector_type == "sparse":
        fields[SPARSE_FIELD] = {"type": "sparse_vector", "metric": "dotproduct"}
    else:
        fields[DENSE_FIELD] = {"type": "dense_vector", "dimension": m.dimension, "metric": m.metric}
        if info.meta.get("hybrid"):
            fields[SPARSE_FIELD] = {"type": "sparse_vector", "metric": "dotproduct"}
    return fields


def _obj(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{where} must be an object")
    return value


def _str(value: Any, where: str, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{where} must be a string")
    return value


def parse_create(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(engine create_index kwargs, API metadata) from either create-index body shape."""
    common = {
        "name": body.get("name"),
        "deletion_protection": _str(
            body.get("deletion_protection"), "deletion_protection", "disabled"
        ),
        "tags": parse_tags(body.get("tags")),
    }
    if "schema" in body:
        return _parse_schema_body(body, common)
    spec = _obj(body.get("spec"), "spec")
    if "pod" in spec or "byoc" in spec:
        raise InvalidArgumentError("SlabDB serves serverless indexes only: use spec.serverless")
    serverless = _obj(spec.get("serverless"), "spec.serverless")
    meta = {
        "cloud": _str(serverless.get("cloud"), "spec.serverless.cloud", DEFAULT_CLOUD),
        "region": _str(serverless.get("region"), "spec.serverless.region", DEFAULT_REGION),
    }
    vector_type = _str(body.get("vector_type"), "vector_type", "dense")
    default_metric = "dotproduct" if vector_type == "sparse" else "cosine"
    kwargs = {
        **common,
        "dimension": body.get("dimension"),
        "metric": _str(body.get("metric"), "metric", default_metric),
        "vector_type": vector_type,
    }
    return kwargs, meta


def _parse_schema_body(
    body: dict[str, Any], common: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = _obj(body.get("deployment"), "deployment")
    dtype = _str(deployment.get("deployment_type"), "deployment.deployment_type", "managed")
    if dtype != "managed":
        raise InvalidArgumentError(
            f"SlabDB serves managed (serverless) indexes only, not deployment_type {dtype!r}"
        )
    meta: dict[str, Any] = {
        "cloud": _str(deployment.get("cloud"), "deployment.cloud", DEFAULT_CLOUD),
        "region": _str(deployment.get("region"), "deployment.region", DEFAULT_REGION),
    }
    fields = _obj(_obj(body.get("schema"), "schema").get("fields"), "schema.fields")
    dense = sparse = None
    extra: dict[str, Any] = {}
    for name, field in fields.items():
        field = _obj(field, f"schema.fields.{name}")
        ftype = field.get("type")
        if name == DENSE_FIELD and ftype == "dense_vector":
            dense = field
        elif name == SPARSE_FIELD and ftype == "sparse_vector":
            sparse = field
        elif ftype in ("dense_vector", "sparse_vector", "semantic_text"):
            raise InvalidArgumentError(
                f"schema field {name!r}: SlabDB serves vector indexes (fields '{DENSE_FIELD}' "
                f"and '{SPARSE_FIELD}'); document indexes with named vector fields are not supported"
            )
        else:
            extra[name] = field
    if dense is None and sparse is None:
        raise InvalidArgumentError(
            f"schema.fields needs '{DENSE_FIELD}' (dense_vector) or '{SPARSE_FIELD}' (sparse_vector)"
        )
    if extra:
        meta["metadata_fields"] = extra
    if dense is not None:
        metric = _str(dense.get("metric"), "schema.fields._values.metric", "cosine")
        if sparse is not None:
            if metric != "dotproduct":
                raise InvalidArgumentError(
                    "a dense + sparse (hybrid) index needs metric 'dotproduct'"
                )
            meta["hybrid"] = True
        kwargs = {**common, "dimension": dense.get("dimension"), "metric": metric}
        return {**kwargs, "vector_type": "dense"}, meta
    assert sparse is not None
    metric = _str(sparse.get("metric"), "schema.fields._sparse_values.metric", "dotproduct")
    return {**common, "dimension": None, "metric": metric, "vector_type": "sparse"}, meta


def parse_tags(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgumentError("tags must be an object of string values")
    if len(value) > 20 or any(len(k) > 80 or len(v) > 120 for k, v in value.items()):
        raise InvalidArgumentError("tags: at most 20, keys ≤ 80 and values ≤ 120 characters")
    return dict(value)
