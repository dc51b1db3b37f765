"""Drive an older pinecone SDK (7.x or 9.x) through every operation, REST then gRPC.

Runs inside that SDK's own virtualenv (no pytest there):
    .venv-sdk7/bin/python sdk_compat_script.py URL API_KEY
Prints ``ok: <step>`` lines and exits non-zero on the first failure.
"""

from __future__ import annotations

import sys

import pinecone
from pinecone import Pinecone, ServerlessSpec

URL, KEY = sys.argv[1], sys.argv[2]
MAJOR = int(pinecone.__version__.split(".")[0]) if hasattr(pinecone, "__version__") else 7
SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def step(name: str) -> None:
    print(f"ok: {name}", flush=True)


def check(cond: object, what: str) -> None:
    if not cond:
        raise SystemExit(f"FAILED: {what}")


def stats_total(idx: object) -> int:
    return int(idx.describe_index_stats().total_vector_count)  # type: ignore[attr-defined]


def data_plane(idx: object, label: str, ns: str) -> None:
    i: object = idx
    res = i.upsert(  # type: ignore[attr-defined]
        vectors=[
            {"id": "a", "values": [0.1, 0.2, 0.3], "metadata": {"genre": "drama", "year": 2020}},
            {
                "id": "c",
                "values": [0.1, 0.1, 0.1],
                "sparse_values": {"indices": [1, 7], "values": [0.5, 0.25]},
            },
        ]
        + [{"id": f"doc1#{n}", "values": [0.3, 0.2, 0.1]} for n in range(5)],
        namespace=ns,
    )
    check(res.upserted_count == 7, f"{label} upsert")
    q = i.query(
        vector=[0.1, 0.2, 0.3],
        top_k=3,
        namespace=ns,
        filter={"genre": {"$eq": "drama"}},
        include_metadata=True,
    )  # type: ignore[attr-defined]
    check([m.id for m in q.matches] == ["a"], f"{label} filtered query")
    h = i.query(
        vector=[0.0, 0.0, 0.01],
        sparse_vector={"indices": [1], "values": [5.0]},
        top_k=1,
        namespace=ns,
    )  # type: ignore[attr-defined]
    check(h.matches[0].id == "c", f"{label} hybrid query")
    check(len(i.query(id="a", top_k=2, namespace=ns).matches) == 2, f"{label} query by id")  # type: ignore[attr-defined]
    f = i.fetch(ids=["a", "c"], namespace=ns)  # type: ignore[attr-defined]
    check(set(f.vectors) == {"a", "c"}, f"{label} fetch")
    i.update(id="a", set_metadata={"genre": "comedy"}, namespace=ns)  # type: ignore[attr-defined]
    check(
        i.fetch(ids=["a"], namespace=ns).vectors["a"].metadata["genre"] == "comedy",
        f"{label} update",
    )  # type: ignore[attr-defined]
    page = i.list_paginated(prefix="doc1#", limit=2, namespace=ns)  # type: ignore[attr-defined]
    check([v.id for v in page.vectors] == ["doc1#0", "doc1#1"], f"{label} list page")
    check(page.pagination is not None and page.pagination.next, f"{label} list token")
    check(
        i.describe_index_stats(filter={"genre": {"$exists": True}}).total_vector_count == 1,
        f"{label} stats filter",
    )  # type: ignore[attr-defined]
    i.delete(ids=["a"], namespace=ns)  # type: ignore[attr-defined]
    i.delete(filter={"genre": {"$in": ["x"]}}, namespace=ns)  # type: ignore[attr-defined]
    check(stats_total(i) == 6, f"{label} delete")
    check(int(i.describe_namespace(namespace=ns).record_count) == 6, f"{label} describe namespace")  # type: ignore[attr-defined]
    i.delete(delete_all=True, namespace=ns)  # type: ignore[attr-defined]
    check(stats_total(i) == 0, f"{label} delete all")
    step(f"{label} data plane")


def main() -> None:
    if MAJOR >= 9:
        pc = Pinecone(api_key=KEY, host=URL, ssl_verify=False)
    else:
        from pinecone.grpc import PineconeGRPC

        pc = PineconeGRPC(api_key=KEY, host=URL, ssl_verify=False)
    name = f"compat-{MAJOR}"
    if pc.has_index(name):
        pc.delete_index(name)
    model = pc.create_index(
        name=name, dimension=3, metric="dotproduct", spec=SPEC, tags={"env": "dev"}
    )
    check(model.host.startswith("http://127.0.0.1:"), "create_index host")
    check(pc.describe_index(name).dimension == 3, "describe_index")
    check(name in pc.list_indexes().names(), "list_indexes")
    conf = pc.configure_index(name, deletion_protection="enabled", tags={"env": "prod"})
    del conf
    check(pc.describe_index(name).deletion_protection == "enabled", "configure_index")
    pc.configure_index(name, deletion_protection="disabled")
    step("control plane")

    host = pc.describe_index(name).host
    if MAJOR >= 9:
        rest = pc.Index(name)
        from pinecone.grpc import GrpcIndex

        # SDK 9's pc.index(grpc=True) always dials TLS; plaintext needs secure=False
        grpc_idx = GrpcIndex(host=host, api_key=KEY, secure=False)
    else:
        rest = Pinecone(api_key=KEY, host=URL).Index(name)
        # SDK 7's gRPC client takes host:port without a scheme
        grpc_idx = pc.Index(host=host.removeprefix("http://"))
    data_plane(rest, "rest", "ns1")
    data_plane(grpc_idx, "grpc", "ns2")
    rest.create_namespace(name="ns3") if hasattr(rest, "create_namespace") else None
    names = {n.name for n in rest.list_namespaces_paginated(limit=10).namespaces}
    check({"ns1", "ns2"} <= names, f"list namespaces {names}")
    rest.delete_namespace(namespace="ns1")
    step("namespaces")

    pc.delete_index(name)
    check(not pc.has_index(name), "delete_index")
    try:
        pc.describe_index(name)
        raise SystemExit("FAILED: describe after delete")
    except Exception as exc:
        check("404" in str(exc) or "not found" in str(exc).lower(), f"404 after delete: {exc}")
    bad = Pinecone(api_key="sdb-00000000-wrongwrongwrongwrongwrong", host=URL)
    try:
        bad.list_indexes()
        raise SystemExit("FAILED: bad key accepted")
    except Exception as exc:
        check("401" in str(exc) or "unauthor" in str(exc).lower(), f"401: {exc}")
    step("errors")
    print("ALL OK")


if __name__ == "__main__":
    main()
