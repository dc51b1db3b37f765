"""What ``slabdb serve`` is told: :class:`ServeOptions`, one field per command-line option."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORT = 5080


@dataclass(frozen=True)
class ServeOptions:
    data: str = "./data"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    catalog: str | None = None
    advertise_host: str | None = None
    advertise_port: int | None = None
    """The port clients reach this node's data plane on (a load balancer's), in index hosts
    in place of ``data_port``/``port``; per-index ports: index N on ``advertise_port + N``."""
    insecure_dev: bool = False
    log_level: str = "info"
    allow_test_embedders: bool = False
    model_aliases: tuple[tuple[str, str], ...] = ()
    """Extra names for embedding models, e.g. ``(("llama-text-embed-v2", "minilm"),)``."""
    docs: bool = False
    """Serve /docs and /openapi.json (without a key)."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    """Serve Prometheus metrics on ``metrics_host:metrics_port``; None: not at all."""
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_self_signed: bool = False
    """Make (or reuse) a local CA and certificate under ``<data>/_control/tls/``."""
    base_domain: str | None = None
    """Route by host name: index hosts are ``<index>-<project>.<base_domain>``."""
    data_port: int | None = None
    """With ``base_domain``: serve every index on this port (None: on ``port``)."""
    import_roots: tuple[str, ...] = ()
    """Local directories / s3:// prefixes import URIs may name (see ImportPolicy)."""

    @property
    def tls(self) -> bool:
        return self.tls_self_signed or bool(self.tls_cert)
