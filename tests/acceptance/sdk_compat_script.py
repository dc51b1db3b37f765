"""Drive an older pinecone SDK (7.x or 9.x) through the control plane, then the shared
data-plane scenario (``tests/scenarios/data_plane.py``) over REST and over gRPC.

Runs inside that SDK's own virtualenv (only ``pinecone`` there: no pytest, no numpy):
    .venv-sdk7/bin/python sdk_compat_script.py URL API_KEY
Prints ``ok: <step>`` lines and exits non-zero on the first failure.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pinecone
from pinecone import Pinecone, ServerlessSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the scenarios package
from scenarios import data_plane
from scenarios.data_plane import check

URL, KEY = sys.argv[1], sys.argv[2]
MAJOR = int(pinecone.__version__.split(".")[0]) if hasattr(pinecone, "__version__") else 7
SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
FEATURES = {  # what each SDK's REST and gRPC Index offer of the scenario's optional steps
    (7, "rest"): frozenset({data_plane.LIST_ALL, data_plane.FILTERED_STATS}),
    (7, "grpc"): frozenset({data_plane.LIST_ALL, data_plane.FILTERED_STATS}),
    (9, "rest"): data_plane.ALL_FEATURES - {data_plane.FILTERED_STATS},
    (9, "grpc"): data_plane.ALL_FEATURES
    - {data_plane.FETCH_BY_METADATA, data_plane.FILTERED_STATS},
}


def step(name: str) -> None:
    print(f"ok: {name}", flush=True)


def control_plane(pc: Any, name: str) -> str:
    """Create, describe, list and configure an index; returns its host."""
    if pc.has_index(name):
        pc.delete_index(name)
    model = pc.create_index(
        name=name,
        dimension=data_plane.DIMENSION,
        metric=data_plane.METRIC,
        spec=SPEC,
        tags={"env": "dev"},
    )
    check(model.host.startswith("http://127.0.0.1:"), "create_index host", model.host)
    check(pc.describe_index(name).dimension == data_plane.DIMENSION, "describe_index")
    check(name in pc.list_indexes().names(), "list_indexes")
    pc.configure_index(name, deletion_protection="enabled", tags={"env": "prod"})
    check(pc.describe_index(name).deletion_protection == "enabled", "configure_index")
    pc.configure_index(name, deletion_protection="disabled")
    step("control plane")
    return str(model.host)


def clients(pc: Any, name: str, host: str) -> tuple[Any, Any]:
    """(REST index, gRPC index) of this SDK version, plaintext to the local server."""
    if MAJOR >= 9:
        from pinecone.grpc import GrpcIndex

        # SDK 9's pc.index(grpc=True) always dials TLS; plaintext needs secure=False
        return pc.Index(name), GrpcIndex(host=host, api_key=KEY, secure=False)
    # SDK 7's gRPC client takes host:port without a scheme
    return Pinecone(api_key=KEY, host=URL).Index(name), pc.Index(host=host.removeprefix("http://"))


def errors(pc: Any, name: str) -> None:
    pc.delete_index(name)
    check(not pc.has_index(name), "delete_index")
    data_plane.raises_not_found(lambda: pc.describe_index(name), "describe after delete")
    bad = Pinecone(api_key="sdb-00000000-wrongwrongwrongwrongwrong", host=URL)
    try:
        bad.list_indexes()
    except Exception as exc:
        check("401" in str(exc) or "unauthor" in str(exc).lower(), "401 on a bad key", exc)
    else:
        raise AssertionError("bad key accepted")
    step("errors")


def main() -> None:
    if MAJOR >= 9:
        pc: Any = Pinecone(api_key=KEY, host=URL, ssl_verify=False)
    else:
        from pinecone.grpc import PineconeGRPC

        pc = PineconeGRPC(api_key=KEY, host=URL, ssl_verify=False)
    name = f"compat-{MAJOR}"
    host = control_plane(pc, name)
    rest, grpc_idx = clients(pc, name, host)
    for label, idx, ns in (("rest", rest, "ns1"), ("grpc", grpc_idx, "ns2")):
        features = FEATURES[MAJOR, label]
        data_plane.run(idx, ns, features)
        step(f"{label} data plane")
        data_plane.run_namespaces(idx, f"{label}-team", features)
        step(f"{label} namespaces")
    errors(pc, name)
    print("ALL OK")


if __name__ == "__main__":
    main()
