"""TLS for ``slabdb serve``: the server's context, a local CA for ``--tls-self-signed``, and
the TLS layer the port mux puts under a connection once it has seen a ClientHello.

The mux (:mod:`slabdb.api.mux`) reads a connection's first byte itself, so it can refuse
plaintext on a TLS port (and TLS on a plaintext port) with a clear log line instead of a
failed handshake.  That rules out asyncio's own ``ssl=`` listeners; :class:`TlsTransport`
runs the handshake over ``ssl.MemoryBIO`` on the bytes the mux already read, then looks to
the protocol above it (uvicorn's HTTP/1 protocol or the gRPC relay) like any transport.

ALPN offers ``http/1.1`` before ``h2``: OpenSSL picks the server's first choice the client
offers, so REST clients that offer both (curl, httpx) get HTTP/1.1, which the REST app
speaks, and gRPC clients, which offer only ``h2``, get HTTP/2.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("slabdb.tls")
ALPN_PROTOCOLS = ("http/1.1", "h2")
TLS_HANDSHAKE_BYTE = 0x16
"""Every TLS connection opens with a handshake record (content type 22)."""
TLS_DIR = "tls"
"""Under ``<data>/_control/``: the files ``--tls-self-signed`` writes."""
CA_FILE, CA_KEY_FILE = "ca.pem", "ca-key.pem"
CERT_FILE, KEY_FILE = "server.pem", "server-key.pem"
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
CA_DAYS, CERT_DAYS, RENEW_DAYS = 3650, 825, 30
_READ_CHUNK = 256 * 1024


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path | None = None
    """The CA that signed ``cert`` when SlabDB made it (what a client must trust)."""


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context for ``files``: TLS 1.2+, ALPN http/1.1 and h2."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # HTTP/2 needs 1.2 or later
    try:
        ctx.load_cert_chain(str(files.cert), str(files.key))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"cannot load the TLS certificate {files.cert} / key {files.key}: {exc}"
        ) from None
    ctx.set_alpn_protocols(list(ALPN_PROTOCOLS))
    return ctx


# --- a local CA -------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only, whatever the umask."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _san(names: Sequence[str]) -> Any:
    from cryptography import x509

    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _covers(cert: Any, names: Sequence[str]) -> bool:
    """Is ``cert`` valid for a while yet, and for every one of ``names``?"""
    from cryptography import x509

    if cert.not_valid_after_utc - dt.timedelta(days=RENEW_DAYS) < dt.datetime.now(dt.UTC):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    have |= set(san.get_values_for_type(x509.DNSName))
    return all(str(_normal(n)) in have for n in names)


def _normal(name: str) -> object:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return name


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _sign(subject: str, key: Any, issuer: tuple[Any, Any] | None, names: Sequence[str]) -> Any:
    """A certificate for ``key``: a CA when ``issuer`` is None, else a server certificate
    for ``names`` signed by ``issuer`` = (CA certificate, CA key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    is_ca = issuer is None
    ca_cert, ca_key = issuer if issuer is not None else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject if ca_cert is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS if is_ca else CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), True)
        .add_extension(_key_usage(is_ca), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if not is_ca:
        builder = builder.add_extension(_san(names), False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
        )
    return builder.sign(ca_key, hashes.SHA256())


def _key_usage(is_ca: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not is_ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        encipher_only=False,
        decipher_only=False,
    )


def _load_ca(directory: Path) -> tuple[Any, Any] | None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    if not (ca_path.is_file() and key_path.is_file()):
        return None
    cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    if cert.not_valid_after_utc - dt.timedelta(days=RENEW_DAYS) < dt.datetime.now(dt.UTC):
        return None
    return cert, serialization.load_pem_private_key(key_path.read_bytes(), None)


def self_signed(directory: Path, names: Sequence[str] = LOCAL_NAMES) -> TlsFiles:
    """A CA and a server certificate for ``names`` under ``directory`` (mode 0700, files
    0600).  Existing files are kept while they are valid and cover ``names``, so a client
    pointed at the CA file keeps working across restarts; a new server certificate is
    signed by the same CA when possible."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    files = TlsFiles(directory / CERT_FILE, directory / KEY_FILE, directory / CA_FILE)
    assert files.ca is not None
    ca = _load_ca(directory)
    if ca is not None and files.cert.is_file() and files.key.is_file():
        current = x509.load_pem_x509_certificate(files.cert.read_bytes())
        if _covers(current, names) and current.issuer == ca[0].subject:
            return files
    if ca is None:
        ca_key = _new_key()
        ca = (_sign("SlabDB local CA", ca_key, None, ()), ca_key)
        _write_private(directory / CA_KEY_FILE, _pem_key(ca_key))
        _write_private(files.ca, ca[0].public_bytes(serialization.Encoding.PEM))
    key = _new_key()
    cert = _sign(names[0], key, ca, names)
    _write_private(files.key, _pem_key(key))
    _write_private(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    log.info("wrote a self-signed TLS certificate for %s to %s", ", ".join(names), directory)
    return files


# --- the TLS layer --------------------------------------------------------------------------


class TlsTransport(asyncio.Transport):
    """The plaintext side of one server-side TLS connection over a raw transport.

    The owner feeds it the raw bytes (:meth:`feed`); once the handshake is done,
    ``on_ready(self)`` is called and decrypted data goes to the protocol set with
    :meth:`set_protocol`.  Flow control and most extra info are the raw transport's.
    """

    def __init__(
        self,
        raw: asyncio.Transport,
        context: ssl.SSLContext,
        on_ready: Callable[[TlsTransport], None],
        on_failed: Callable[[ssl.SSLError], None],
    ) -> None:
        super().__init__()
        self._raw = raw
        self._context = context
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._on_ready = on_ready
        self._on_failed = on_failed
        self._protocol: asyncio.Protocol | None = None
        self._handshaken = False
        self._closing = False

    @property
    def alpn(self) -> str | None:
        return self._ssl.selected_alpn_protocol()

    def feed(self, data: bytes) -> None:
        """Raw bytes from the client."""
        self._incoming.write(data)
        if not self._handshaken:
            try:
                self._ssl.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except ssl.SSLError as exc:
                self._flush()  # the alert, if OpenSSL made one
                self._closing = True
                self._raw.close()
                self._on_failed(exc)
                return
            self._handshaken = True
            self._flush()
            self._on_ready(self)
        self._read_plaintext()

    def _read_plaintext(self) -> None:
        while not self._closing and self._protocol is not None:
            try:
                chunk = self._ssl.read(_READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify
                self._flush()
                if not self._protocol.eof_received():
                    self.close()
                return
            except ssl.SSLError as exc:
                log.warning("TLS error, closing the connection: %s", exc)
                self.abort()
                return
            if not chunk:
                break
            self._protocol.data_received(chunk)
        self._flush()  # TLS 1.3 session tickets and key updates

    def eof_received(self) -> bool | None:
        """The raw connection's EOF (without close_notify)."""
        if self._protocol is not None and self._handshaken:
            return self._protocol.eof_received()
        return None

    def _flush(self) -> None:
        if self._outgoing.pending:
            out = self._outgoing.read()
            if not self._raw.is_closing():
                self._raw.write(out)

    # --- asyncio.Transport ---------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        view = memoryview(data)
        while view:
            written = self._ssl.write(view)
            view = view[written:]
        self._flush()

    def can_write_eof(self) -> bool:
        return False

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._handshaken:
            with contextlib.suppress(ssl.SSLError, ValueError):
                self._ssl.unwrap()  # close_notify
            self._flush()
        self._raw.close()

    def abort(self) -> None:
        self._closing = True
        self._raw.abort()

    def is_closing(self) -> bool:
        return self._closing or self._raw.is_closing()

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def is_reading(self) -> bool:
        return self._raw.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._ssl
        if name == "sslcontext":
            return self._context
        if name == "peercert":
            return self._ssl.getpeercert()
        if name == "cipher":
            return self._ssl.cipher()
        return self._raw.get_extra_info(name, default)
