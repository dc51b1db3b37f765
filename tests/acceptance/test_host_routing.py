"""Host-name routing (``slabdb serve --base-domain``): every index on one port, chosen by
the HTTP ``Host`` / gRPC ``:authority`` the official SDK 10 sends, over REST and gRPC;
per-index ports stay the default.

The index hosts (``http://<index>-<project>.slabdb.test:<port>``) do not resolve here,
so the SDK is given a local HTTP proxy (its own ``proxy_url``): REST requests reach it in
absolute form, gRPC as a CONNECT tunnel, and the proxy connects every name to
127.0.0.1.  The SDK thus dials the very host ``describe_index`` returned, and the server
sees that name in ``Host``/``:authority`` (the proxy records it, so the test can tell).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pinecone import Pinecone, RetryConfig, ServerlessSpec
from pinecone.errors import PineconeError
from slabdb_server_process import ServerProcess

from slabdb.testing.net import accept_forever, pipe

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
DOMAIN = "slabdb.test"


class NameProxy:
    """An HTTP proxy that sends every host name to 127.0.0.1 (same port) and records the
    names it was asked for."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.targets: list[str] = []
        accept_forever(self.sock, self._spawn)

    def _spawn(self, client: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                client.close()
                return
            head += chunk
        method, target = head.split(b" ", 2)[:2]
        if method == b"CONNECT":  # gRPC: a tunnel to host:port
            authority = target.decode()
            rest = head.split(b"\r\n\r\n", 1)[1]
        else:  # REST: GET http://host:port/path, forwarded as it is
            authority = target.decode().split("://", 1)[1].split("/", 1)[0]
            rest = head
        self.targets.append(authority)
        upstream = socket.create_connection(("127.0.0.1", int(authority.rsplit(":", 1)[1])))
        if method == b"CONNECT":
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def proxy() -> Iterator[NameProxy]:
    p = NameProxy()
    yield p
    p.close()


def _client(srv: ServerProcess, proxy: NameProxy) -> Pinecone:
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # plaintext to a non-local name
    return Pinecone(
        api_key=srv.api_key,
        host=srv.url,
        grpc_scheme="http",
        proxy_url=proxy.url,
        retry_config=RetryConfig(max_retries=0),
    )


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = Path(tmp_path_factory.mktemp("slabdb-routed"))
    with ServerProcess(data=data, extra_args=("--base-domain", DOMAIN)) as srv:
        yield srv


@pytest.fixture(scope="module")
def data_port_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = Path(tmp_path_factory.mktemp("slabdb-data-port"))
    srv = ServerProcess(data=data)
    srv.extra_args = ("--base-domain", DOMAIN, "--data-port", str(srv.port + 1))
    with srv:
        yield srv


def _two_indexes(pc: Pinecone, prefix: str) -> tuple[str, str]:
    a, b = f"{prefix}-a", f"{prefix}-b"
    for name in (a, b):
        pc.create_index(name=name, dimension=2, metric="cosine", spec=SPEC)
    return a, b


def test_describe_index_answers_a_host_under_the_base_domain(routed: ServerProcess) -> None:
    with Pinecone(api_key=routed.api_key, host=routed.url) as pc:
        pc.create_index(name="described", dimension=2, metric="cosine", spec=SPEC)
        assert (
            pc.describe_index("described").host
            == f"http://described-default.{DOMAIN}:{routed.port}"
        )
        assert {i.host for i in pc.list_indexes()} == {pc.describe_index("described").host}


def test_per_index_ports_stay_the_default(server: ServerProcess) -> None:
    with Pinecone(api_key=server.api_key, host=server.url) as pc:
        pc.create_index(name="ported", dimension=2, metric="cosine", spec=SPEC)
        host = str(pc.describe_index("ported").host)
    assert host.startswith("http://127.0.0.1:") and int(host.rsplit(":", 1)[1]) > server.port


def test_sdk10_rest_routes_by_host_header(routed: ServerProcess, proxy: NameProxy) -> None:
    with _client(routed, proxy) as pc:
        a, b = _two_indexes(pc, "rest")
        ia, ib = pc.index(name=a), pc.index(name=b)
        assert ia.host.endswith(f":{routed.port}") and ib.host.endswith(f":{routed.port}")
        ia.upsert(vectors=[("only-a", [1.0, 0.0])])
        ib.upsert(vectors=[("only-b", [0.0, 1.0])])
        assert list(ia.fetch(ids=["only-a", "only-b"]).vectors) == ["only-a"]
        assert list(ib.fetch(ids=["only-a", "only-b"]).vectors) == ["only-b"]
        assert ia.query(vector=[1.0, 0.0], top_k=5).matches[0].id == "only-a"
    assert f"{a}-default.{DOMAIN}:{routed.port}" in proxy.targets


def test_sdk10_grpc_routes_by_authority(routed: ServerProcess, proxy: NameProxy) -> None:
    with _client(routed, proxy) as pc:
        a, b = _two_indexes(pc, "grpc")
        ga, gb = pc.index(name=a, grpc=True), pc.index(name=b, grpc=True)
        assert ga.upsert(vectors=[("g-a", [1.0, 0.0])]).upserted_count == 1
        assert gb.upsert(vectors=[("g-b", [0.0, 1.0])]).upserted_count == 1
        assert list(ga.fetch(ids=["g-a", "g-b"]).vectors) == ["g-a"]
        assert list(gb.fetch(ids=["g-a", "g-b"]).vectors) == ["g-b"]
        assert gb.query(vector=[0.0, 1.0], top_k=3).matches[0].id == "g-b"
        assert list(pc.index(name=a).fetch(ids=["g-a"]).vectors) == ["g-a"]  # REST sees it
    assert f"{b}-default.{DOMAIN}:{routed.port}" in proxy.targets


def test_unknown_host_under_the_domain_is_not_found(
    routed: ServerProcess, proxy: NameProxy
) -> None:
    url = f"http://127.0.0.1:{routed.port}/describe_index_stats"
    headers = {"Api-Key": routed.api_key, "Host": f"nope-default.{DOMAIN}:{routed.port}"}
    res = httpx.get(url, headers=headers)
    assert res.status_code == 404 and "nope-default" in res.text
    with _client(routed, proxy) as pc:
        ghost = pc.index(host=f"http://ghost-default.{DOMAIN}:{routed.port}", grpc=True)
        with pytest.raises(PineconeError, match="no index is served at host"):
            ghost.describe_index_stats()


def test_another_projects_key_cannot_use_the_host(routed: ServerProcess) -> None:
    with Pinecone(api_key=routed.api_key, host=routed.url) as pc:
        pc.create_index(name="mine", dimension=2, metric="cosine", spec=SPEC)
    created = subprocess.run(
        [sys.executable, "-m", "slabdb.cli", "keys", "create", "--project", "other",
         "--data", str(routed.data)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    other = created.stdout.strip().splitlines()[-1]
    headers = {"Api-Key": other, "Host": f"mine-default.{DOMAIN}"}
    res = httpx.get(f"http://127.0.0.1:{routed.port}/describe_index_stats", headers=headers)
    assert res.status_code == 404


def test_data_port_serves_every_index_by_name(
    data_port_server: ServerProcess, proxy: NameProxy
) -> None:
    srv, data_port = data_port_server, data_port_server.port + 1
    with _client(srv, proxy) as pc:
        a, b = _two_indexes(pc, "dp")
        assert pc.describe_index(a).host == f"http://{a}-default.{DOMAIN}:{data_port}"
        pc.index(name=a).upsert(vectors=[("x", [1.0, 0.0])])
        assert list(pc.index(name=a, grpc=True).fetch(ids=["x"]).vectors) == ["x"]
        assert pc.index(name=b, grpc=True).fetch(ids=["x"]).vectors == {}
    stray = httpx.get(f"http://127.0.0.1:{data_port}/indexes", headers={"Api-Key": srv.api_key})
    assert stray.status_code == 404 and "index hosts only" in stray.text


def test_preamble_reads_a_split_padded_header_block_and_drops_only_the_first_ack() -> None:
    """The mux's reading of a gRPC client's first frames, in an order the SDK above does
    not use: padding + priority, a CONTINUATION, the SETTINGS ACK after the headers."""
    import hpack

    from slabdb.api.h2_authority import ClientPreamble, frame

    block = hpack.Encoder().encode([(":method", "POST"), (":authority", "a-b.example:9")])
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    settings = frame(0x4, 0, 0, b"")
    headers = frame(0x1, 0x8 | 0x20, 1, bytes([3]) + b"\0\0\0\0\x10" + block[:4] + b"pad")
    continuation = frame(0x9, 0x4, 1, block[4:])
    ack, data = frame(0x4, 0x1, 0), frame(0x0, 0x1, 1, b"body")
    wire = preface + settings + headers + continuation + ack + ack + data
    preamble, forwarded = ClientPreamble(), b""
    for i in range(len(wire)):  # one byte at a time
        forwarded += preamble.feed(wire[i : i + 1])
    assert preamble.authority == "a-b.example:9" and preamble.stream_id == 1
    assert forwarded == preface + settings + headers + continuation + ack + data
    assert preamble.passthrough


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data-port", "7001"), "--data-port needs --base-domain"),
        (("--base-domain", "not a domain"), "is not a DNS name"),
    ],
)
def test_serve_refuses_routing_flags_that_cannot_work(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "slabdb.cli", "serve", "--init", "--data", str(tmp_path / "d"), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and message in done.stdout + done.stderr
    assert not (tmp_path / "d").exists()


def test_host_routing_over_tls(
    tmp_path: Path, proxy: NameProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The self-signed certificate covers ``*.<base domain>``; REST and gRPC both route."""
    args = ("--tls-self-signed", "--base-domain", DOMAIN)
    with (
        ServerProcess(data=tmp_path / "tls", extra_args=args) as srv,
        Pinecone(
            api_key=srv.api_key, host=srv.url, proxy_url=proxy.url, ssl_ca_certs=srv.ca_cert,
            retry_config=RetryConfig(max_retries=0),
        ) as pc,
    ):  # fmt: skip
        pc.create_index(name="sealed", dimension=2, metric="cosine", spec=SPEC)
        assert pc.describe_index("sealed").host == f"https://sealed-default.{DOMAIN}:{srv.port}"
        pc.index(name="sealed").upsert(vectors=[("t", [1.0, 0.0])])
        monkeypatch.setenv("SSL_CERT_FILE", srv.ca_cert)  # SDK 10's gRPC channel reads it
        assert list(pc.index(name="sealed", grpc=True).fetch(ids=["t"]).vectors) == ["t"]
