"""TLS: ``slabdb serve --tls-self-signed`` serves REST and gRPC over TLS on every port to
the official SDKs (10 in this venv, 7 and 9 in their own), and a client speaking the
other protocol than the port is refused at once with a log line saying what to set."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from pinecone import Pinecone, RetryConfig, ServerlessSpec
from pinecone.errors import PineconeError
from slabdb_server_process import ServerProcess
from test_sdk_legacy import sdk_python

from slabdb.api.tls import self_signed, server_context

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
FAST_FAIL_SECONDS = 2.0
NO_RETRIES = RetryConfig(max_retries=0)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = Path(tmp_path_factory.mktemp("slabdb-tls"))
    with ServerProcess(data=data, extra_args=("--tls-self-signed",)) as srv:
        yield srv


@pytest.fixture(scope="module")
def pc(tls_server: ServerProcess) -> Iterator[Pinecone]:
    with Pinecone(
        api_key=tls_server.api_key, host=tls_server.url, ssl_ca_certs=tls_server.ca_cert
    ) as client:
        yield client


@pytest.fixture(scope="module")
def index_host(pc: Pinecone) -> str:
    pc.create_index(name="tls", dimension=2, metric="cosine", spec=SPEC)
    return str(pc.describe_index("tls").host)


def wait_for_output(srv: ServerProcess, *needles: str, timeout: float = 5.0) -> str:
    """The server's output line holding every one of ``needles`` (awaited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in srv.output.splitlines():
            if all(n in line for n in needles):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line with {needles}:\n{srv.output[-3000:]}")


def timed_failure(call: Callable[[], object]) -> tuple[float, BaseException]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return time.monotonic() - started, exc
    raise AssertionError("the call succeeded")


def test_self_signed_ca_is_written_and_printed(tls_server: ServerProcess) -> None:
    ca = Path(tls_server.ca_cert)
    assert ca == tls_server.data / "_control" / "tls" / "ca.pem"
    assert f"TLS CA certificate (give it to clients): {ca}" in tls_server.output
    assert "SlabDB serving on https://127.0.0.1:" in tls_server.output
    assert stat.S_IMODE(ca.parent.stat().st_mode) == 0o700
    for f in ca.parent.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    ctx = ssl.create_default_context(cafile=str(ca))
    for host in ("127.0.0.1", "localhost"):  # the certificate names both
        r = httpx.get(f"https://{host}:{tls_server.port}/health", verify=ctx)
        assert r.json()["status"] == "ok"


def test_sdk10_rest_over_tls(pc: Pinecone, index_host: str) -> None:
    assert index_host.startswith("https://127.0.0.1:")
    idx = pc.Index("tls")
    assert idx.upsert(vectors=[("a", [1.0, 0.0]), ("b", [0.0, 1.0])]).upserted_count == 2
    assert idx.query(vector=[0.0, 1.0], top_k=1).matches[0].id == "b"
    assert "tls" in pc.list_indexes().names()


def test_sdk10_grpc_over_tls(
    pc: Pinecone, index_host: str, tls_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SDK 10's gRPC channel (Rust, rustls) trusts the system roots or SSL_CERT_FILE
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.ca_cert)
    idx = pc.index(name="tls", grpc=True)  # default: secure, https
    assert idx.upsert(vectors=[("g", [0.5, 0.5])], namespace="grpc").upserted_count == 1
    assert idx.fetch(ids=["g"], namespace="grpc").vectors["g"].values == [0.5, 0.5]


def test_large_requests_and_responses_over_tls(
    pc: Pinecone, tls_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.ca_cert)
    pc.create_index(name="tls-big", dimension=256, metric="cosine", spec=SPEC)
    vectors = [(f"v{i}", [float(i % 7) + j / 256 for j in range(256)]) for i in range(350)]
    rest = pc.Index("tls-big")
    rest.upsert(vectors=vectors, batch_size=350)  # one ~1.5 MB request body
    ids = [v[0] for v in vectors]
    fetched = pc.index(name="tls-big", grpc=True).fetch(ids=ids[:300])  # a ~1 MB gRPC reply
    assert len(fetched.vectors) == 300 and fetched.vectors["v8"].values == vectors[8][1]
    assert len(rest.fetch(ids=ids[300:]).vectors) == 50


@pytest.mark.embedded
def test_self_signed_files_are_kept_across_restarts(tmp_path: Path) -> None:
    first = self_signed(tmp_path)
    assert first.ca is not None
    ca, cert = first.ca.read_bytes(), first.cert.read_bytes()
    again = self_signed(tmp_path)
    assert (again.ca.read_bytes(), again.cert.read_bytes()) == (ca, cert)  # type: ignore[union-attr]
    renamed = self_signed(tmp_path, ["localhost", "127.0.0.1", "db.internal"])
    assert renamed.cert.read_bytes() != cert  # a name was missing: a new certificate...
    assert renamed.ca is not None and renamed.ca.read_bytes() == ca  # ...by the same CA
    leaf = x509.load_pem_x509_certificate(renamed.cert.read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    server_context(renamed)  # the key matches the certificate


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-self-signed", "--tls-key", "k.pem"], "either --tls-self-signed or"),
        (["--tls-cert", "nope.pem", "--tls-key", "nope.pem"], "cannot load the TLS certificate"),
    ],
)
def test_bad_tls_options_fail_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "slabdb.cli", "serve", "--init", "--data", str(tmp_path / "d"),
         *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0 and message in proc.stderr + proc.stdout, proc.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was created


LEGACY_SCRIPT = r"""
import sys
import pinecone
from pinecone import ServerlessSpec

url, key, ca, name = sys.argv[1:5]
major = int(pinecone.__version__.split(".")[0]) if hasattr(pinecone, "__version__") else 7
if major >= 9:
    from pinecone import Pinecone

    pc = Pinecone(api_key=key, host=url, ssl_ca_certs=ca)
else:
    from pinecone.grpc import PineconeGRPC

    pc = PineconeGRPC(api_key=key, host=url, ssl_ca_certs=ca)
pc.create_index(name=name, dimension=2, metric="cosine",
                spec=ServerlessSpec(cloud="aws", region="us-east-1"))
host = pc.describe_index(name).host
assert host.startswith("https://"), host
# the default, secure gRPC clients: SDK 9's pc.index(grpc=True), SDK 7's PineconeGRPC.Index
idx = pc.index(name=name, grpc=True) if major >= 9 else pc.Index(name)
assert type(idx).__name__ in ("GrpcIndex", "GRPCIndex"), type(idx)
idx.upsert(vectors=[("a", [1.0, 0.0]), ("b", [0.0, 1.0])])
assert idx.query(vector=[0.0, 1.0], top_k=1).matches[0].id == "b"
assert idx.describe_index_stats().total_vector_count == 2
print("ALL OK", type(idx).__name__)
"""


@pytest.mark.parametrize("major", ["7", "9"])
def test_legacy_sdk_grpc_over_tls(major: str, tls_server: ServerProcess) -> None:
    # SDK 7 hands ssl_ca_certs to grpcio; SDK 9's gRPC channel (Rust) reads SSL_CERT_FILE
    env = {**os.environ, "SSL_CERT_FILE": tls_server.ca_cert}
    proc = subprocess.run(
        [str(sdk_python(major)), "-c", LEGACY_SCRIPT, tls_server.url, tls_server.api_key,
         tls_server.ca_cert, f"tls-sdk{major}"],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert proc.returncode == 0 and "ALL OK" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def test_plaintext_on_the_tls_port_is_refused_at_once(
    tls_server: ServerProcess, index_host: str
) -> None:
    http_url = tls_server.url.replace("https://", "http://")
    rest = Pinecone(api_key=tls_server.api_key, host=http_url, retry_config=NO_RETRIES)
    seconds, exc = timed_failure(rest.list_indexes)
    assert seconds < FAST_FAIL_SECONDS
    assert "speaks TLS only" in str(exc) and tls_server.ca_cert in str(exc)  # the 400's body
    wait_for_output(tls_server, "plaintext HTTP/1", "use https://", tls_server.ca_cert)

    plain_grpc = Pinecone(
        api_key=tls_server.api_key, host=http_url, grpc_scheme="http", retry_config=NO_RETRIES
    ).index(host=index_host.replace("https://", "http://"), grpc=True)
    seconds, exc = timed_failure(plain_grpc.describe_index_stats)
    assert seconds < FAST_FAIL_SECONDS and isinstance(exc, PineconeError)
    wait_for_output(tls_server, "plaintext HTTP/2 (gRPC)", "drop grpc_scheme='http'")


def test_tls_on_a_plaintext_port_is_refused_at_once(server: ServerProcess) -> None:
    host = "127.0.0.1"
    ctx = ssl.create_default_context()
    started = time.monotonic()
    with (
        socket.create_connection((host, server.port), timeout=10) as raw,
        pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"),
    ):
        ctx.wrap_socket(raw, server_hostname=host)
    assert time.monotonic() - started < FAST_FAIL_SECONDS
    line = wait_for_output(server, "TLS handshake from", f"on port {server.port}")
    assert "serves plaintext" in line and "grpc_scheme='http'" in line and "secure=False" in line

    plain_pc = Pinecone(api_key=server.api_key, host=server.url)
    plain_pc.create_index(name="plain", dimension=2, metric="cosine", spec=SPEC)
    index_port = int(plain_pc.describe_index("plain").host.rsplit(":", 1)[1])
    tls_pc = Pinecone(api_key=server.api_key, host=server.url, retry_config=NO_RETRIES)
    grpc_idx = tls_pc.index(name="plain", grpc=True)  # SDK 10's default gRPC client: TLS
    seconds, exc = timed_failure(grpc_idx.describe_index_stats)
    assert seconds < FAST_FAIL_SECONDS and isinstance(exc, PineconeError), exc
    wait_for_output(server, "TLS handshake from", f"on port {index_port}")


def test_untrusted_certificate_is_logged(tls_server: ServerProcess) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(tls_server.url + "/health", verify=ssl.create_default_context())
    wait_for_output(tls_server, "TLS handshake with", "failed", tls_server.ca_cert)
