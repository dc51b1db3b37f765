"""The data-plane scenario, written once and run against every client that speaks it:
the embedded ``slabdb.connect(...).Index``, SDK 10 over REST and over gRPC (pytest, in
``tests/acceptance/test_data_plane.py``), and SDK 7/9 in their own venvs
(``tests/acceptance/sdk_compat_script.py``).

Standard library only (the SDK venvs have nothing but ``pinecone``); failures raise
``AssertionError`` with what was expected and what came back.  The caller creates the
index (``DIMENSION``, ``METRIC``) and passes an index handle and a namespace.  Optional
steps are named in ``features``; a client that lacks one says so explicitly, nothing is
skipped by probing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

DIMENSION = 3
METRIC = "dotproduct"  # hybrid (dense + sparse) queries need it

UPDATE_BY_FILTER = "update_by_filter"  # update(filter=..., dry_run=...) with matched_records
FETCH_BY_METADATA = "fetch_by_metadata"
LIST_ALL = "list_all"  # the list() generator over every page
CREATE_NAMESPACE = "create_namespace"
NAMESPACE_PREFIX = "namespace_prefix"  # list_namespaces_paginated(prefix=...)
FILTERED_STATS = "filtered_stats"  # describe_index_stats(filter=...) answered; else refused
"""Pinecone's serverless indexes refuse a stats filter from API 2025-10 on (SDK 9, 10);
SlabDB answers it for the embedded API and API 2025-04 (SDK 7): docs/server.md."""
ALL_FEATURES = frozenset(
    {UPDATE_BY_FILTER, FETCH_BY_METADATA, LIST_ALL, CREATE_NAMESPACE, NAMESPACE_PREFIX,
     FILTERED_STATS}
)  # fmt: skip

B_VALUES = [0.4, 0.5, 0.6]
DOCS = [f"doc1#{i}" for i in range(5)]
DRAMA_FILTER = {
    "genre": {"$eq": "drama"},
    "year": {"$gte": 2019},
    "$or": [{"tags": {"$in": ["x"]}}, {"flag": True}],
}


def stats_name(ns: str) -> str:
    """The key of namespace ``ns`` in describe_index_stats (the default one is named)."""
    return ns or "__default__"


def check(ok: object, what: str, got: object = None) -> None:
    if not ok:
        raise AssertionError(what if got is None else f"{what}: got {got!r}")


def close_to(a: Iterable[float], b: Iterable[float], tol: float = 1e-5) -> bool:
    la, lb = list(a), list(b)
    return len(la) == len(lb) and all(abs(x - y) <= tol for x, y in zip(la, lb, strict=True))


def ids_of(matches: Iterable[Any]) -> list[str]:
    return [m.id for m in matches]


def raises_not_found(call: Callable[[], object], what: str) -> None:
    """``call`` must fail with the client's own not-found error (404 / NOT_FOUND)."""
    try:
        call()
    except Exception as exc:
        text = f"{type(exc).__name__} {exc}".lower()
        check(any(s in text for s in ("notfound", "not_found", "not found", "404")), what, exc)
        return
    raise AssertionError(f"{what}: no error raised")


def run(idx: Any, ns: str, features: frozenset[str] = ALL_FEATURES) -> None:
    """The whole scenario in namespace ``ns`` (empty before, empty after)."""
    seed(idx, ns)
    check_queries(idx, ns)
    check_fetch(idx, ns, features)
    check_updates(idx, ns, features)
    check_listing(idx, ns, features)
    check_stats_and_deletes(idx, ns, features)


def seed(idx: Any, ns: str) -> None:
    """8 records: ``a`` (dense only), ``b`` (metadata), ``c`` (hybrid), ``doc1#0..4``."""
    res = idx.upsert(
        vectors=[
            {"id": "a", "values": [0.1, 0.2, 0.3]},
            {
                "id": "b",
                "values": B_VALUES,
                "metadata": {"genre": "drama", "year": 2020, "tags": ["x", "y"], "flag": True},
            },
            {
                "id": "c",
                "values": [0.1, 0.1, 0.1],
                "sparse_values": {"indices": [1, 7], "values": [0.5, 0.25]},
            },
        ],
        namespace=ns,
    )
    check(res.upserted_count == 3, "upsert count", res.upserted_count)
    docs = idx.upsert(vectors=[(d, [0.3, 0.2, 0.1]) for d in DOCS], namespace=ns)
    check(docs.upserted_count == len(DOCS), "upsert tuples count", docs.upserted_count)


def check_queries(idx: Any, ns: str) -> None:
    top = idx.query(
        vector=B_VALUES, top_k=2, namespace=ns, include_metadata=True, include_values=True
    )
    check(ids_of(top.matches) == ["b", "a"], "dotproduct ranking", ids_of(top.matches))
    best = top.matches[0]
    check(best.metadata["genre"] == "drama" and best.metadata["tags"] == ["x", "y"], "metadata")
    check(close_to(best.values, B_VALUES), "include_values", best.values)
    check(best.score > top.matches[1].score, "scores descend")
    bare = idx.query(vector=B_VALUES, top_k=1, namespace=ns)
    check(not bare.matches[0].values and not bare.matches[0].metadata, "values/metadata left out")
    flt = idx.query(vector=[0.1, 0.2, 0.3], top_k=5, namespace=ns, filter=DRAMA_FILTER)
    check(ids_of(flt.matches) == ["b"], "filter $eq/$gte/$or/$in/bool", ids_of(flt.matches))
    hybrid = idx.query(
        vector=[0.0, 0.0, 0.01],
        sparse_vector={"indices": [7], "values": [10.0]},
        top_k=1,
        namespace=ns,
    )
    check(ids_of(hybrid.matches) == ["c"], "hybrid query", ids_of(hybrid.matches))
    by_id = idx.query(id="a", top_k=2, namespace=ns)  # a's vector: b scores highest
    check(ids_of(by_id.matches) == ["b", "a"], "query by id", ids_of(by_id.matches))
    other = idx.query(vector=B_VALUES, top_k=3, namespace=ns + "-other")
    check(not other.matches, "namespaces are separate", ids_of(other.matches))


def check_fetch(idx: Any, ns: str, features: frozenset[str]) -> None:
    got = idx.fetch(ids=["a", "c", "missing"], namespace=ns).vectors
    check(sorted(got) == ["a", "c"], "fetch leaves out absent ids", sorted(got))
    check(close_to(got["a"].values, [0.1, 0.2, 0.3]), "fetched values", got["a"].values)
    sparse = got["c"].sparse_values
    check(list(sparse.indices) == [1, 7], "fetched sparse indices", sparse.indices)
    check(close_to(sparse.values, [0.5, 0.25]), "fetched sparse values", sparse.values)
    if FETCH_BY_METADATA in features:
        page = idx.fetch_by_metadata(filter={"genre": {"$eq": "drama"}}, namespace=ns, limit=5)
        check(sorted(page.vectors) == ["b"], "fetch_by_metadata", sorted(page.vectors))
        check(page.vectors["b"].metadata["year"] == 2020, "fetch_by_metadata metadata")


def check_updates(idx: Any, ns: str, features: frozenset[str]) -> None:
    idx.update(id="a", set_metadata={"genre": "comedy"}, namespace=ns)
    md = idx.fetch(ids=["a"], namespace=ns).vectors["a"].metadata
    check(dict(md) == {"genre": "comedy"}, "update by id sets metadata", md)
    idx.update(id="b", set_metadata={"year": 2021}, namespace=ns)
    md = idx.fetch(ids=["b"], namespace=ns).vectors["b"].metadata
    check(md["year"] == 2021 and md["genre"] == "drama", "set_metadata merges", md)
    idx.update(id="c", values=[0.2, 0.2, 0.2], namespace=ns)
    c = idx.fetch(ids=["c"], namespace=ns).vectors["c"]
    check(close_to(c.values, [0.2, 0.2, 0.2]), "update values", c.values)
    check(list(c.sparse_values.indices) == [1, 7], "update keeps sparse values")
    if UPDATE_BY_FILTER in features:
        comedy = {"genre": {"$eq": "comedy"}}
        dry = idx.update(filter=comedy, set_metadata={"x": 1}, namespace=ns, dry_run=True)
        check(dry.matched_records == 1, "dry run counts", dry.matched_records)
        md = idx.fetch(ids=["a"], namespace=ns).vectors["a"].metadata
        check("x" not in md, "dry run changes nothing", md)
        done = idx.update(filter=comedy, set_metadata={"x": 1}, namespace=ns)
        check(done.matched_records == 1, "update by filter counts", done.matched_records)
        md = idx.fetch(ids=["a"], namespace=ns).vectors["a"].metadata
        check(md["x"] == 1 and md["genre"] == "comedy", "update by filter", md)


def check_listing(idx: Any, ns: str, features: frozenset[str]) -> None:
    page = idx.list_paginated(prefix="doc1#", limit=2, namespace=ns)
    check([v.id for v in page.vectors] == DOCS[:2], "list page 1", page.vectors)
    check(page.pagination is not None and page.pagination.next, "list token", page.pagination)
    page2 = idx.list_paginated(
        prefix="doc1#", limit=2, namespace=ns, pagination_token=page.pagination.next
    )
    check([v.id for v in page2.vectors] == DOCS[2:4], "list page 2", page2.vectors)
    everything = idx.list_paginated(namespace=ns, limit=100)
    got = [v.id for v in everything.vectors]
    check(got == sorted(["a", "b", "c", *DOCS]), "list without prefix, in id order", got)
    check(not everything.pagination or not everything.pagination.next, "last page: no token")
    if LIST_ALL in features:
        pages = [_page_ids(p) for p in idx.list(prefix="doc1#", namespace=ns, limit=2)]
        check(pages == [DOCS[:2], DOCS[2:4], DOCS[4:]], "list() follows every page", pages)


def _page_ids(page: Any) -> list[str]:
    """SDK 10's list() yields ListResponse pages; older SDKs and SlabDB yield id lists."""
    return [v.id for v in page.vectors] if hasattr(page, "vectors") else list(page)


def check_stats_and_deletes(idx: Any, ns: str, features: frozenset[str]) -> None:
    stats = idx.describe_index_stats()
    summary = stats.namespaces.get(stats_name(ns))
    check(summary is not None and summary.vector_count == 8, "stats per namespace", stats)
    check(stats.dimension == DIMENSION, "stats dimension", stats.dimension)
    if FILTERED_STATS in features:
        genre = idx.describe_index_stats(filter={"genre": {"$exists": True}})
        check(genre.total_vector_count == 2, "stats with a filter", genre.total_vector_count)
    else:
        try:
            idx.describe_index_stats(filter={"genre": {"$exists": True}})
        except Exception as exc:
            check("400" in str(exc) or "INVALID_ARGUMENT" in str(exc), "stats filter refused", exc)
        else:
            raise AssertionError("stats with a filter: accepted, though refused for serverless")
    idx.delete(ids=["doc1#0", "missing"], namespace=ns)
    idx.delete(filter={"genre": {"$in": ["drama", "comedy"]}}, namespace=ns)
    left = idx.fetch(ids=["a", "b", "c", "doc1#0", "doc1#1"], namespace=ns).vectors
    check(sorted(left) == ["c", "doc1#1"], "delete by ids and by filter", sorted(left))
    check(_count(idx, ns) == 5, "count after deletes", _count(idx, ns))
    idx.delete(delete_all=True, namespace=ns)
    check(_count(idx, ns) == 0, "delete_all empties the namespace", _count(idx, ns))
    res = idx.query(vector=B_VALUES, top_k=5, namespace=ns)
    check(not res.matches, "nothing left to query", ids_of(res.matches))


def _count(idx: Any, ns: str) -> int:
    summary = idx.describe_index_stats().namespaces.get(stats_name(ns))
    return 0 if summary is None else int(summary.vector_count)


def run_namespaces(idx: Any, prefix: str, features: frozenset[str] = ALL_FEATURES) -> None:
    """Namespace operations, in namespaces named ``prefix``-something (none exist before)."""
    empty, full = f"{prefix}-empty", f"{prefix}-full"
    if CREATE_NAMESPACE in features:
        idx.create_namespace(name=empty)
    idx.upsert(vectors=[("v1", [1.0, 0.0, 0.0]), ("v2", [0.0, 1.0, 0.0])], namespace=full)
    by_prefix = {"prefix": prefix} if NAMESPACE_PREFIX in features else {}
    page = idx.list_namespaces_paginated(limit=100, **by_prefix)
    listed = {n.name for n in page.namespaces if n.name.startswith(prefix)}
    want = {empty, full} if CREATE_NAMESPACE in features else {full}
    check(listed == want, "list namespaces", listed)
    if NAMESPACE_PREFIX in features:
        check(len(page.namespaces) == len(want), "prefix filters", page.namespaces)
    first = idx.list_namespaces_paginated(limit=1, **by_prefix)
    check(len(first.namespaces) == 1, "namespace page size", first.namespaces)
    if CREATE_NAMESPACE in features:
        check(first.pagination is not None and first.pagination.next, "namespace page token")
        check(int(idx.describe_namespace(namespace=empty).record_count) == 0, "empty namespace")
    described = idx.describe_namespace(namespace=full)
    check(int(described.record_count) == 2, "describe namespace", described.record_count)
    idx.delete_namespace(namespace=full)
    raises_not_found(lambda: idx.describe_namespace(namespace=full), "deleted namespace")
    check(not idx.fetch(ids=["v1"], namespace=full).vectors, "deleted namespace has no records")
    if CREATE_NAMESPACE in features:
        idx.delete_namespace(namespace=empty)
