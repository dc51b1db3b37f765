"""What every request handler needs: projects, auth, metrics, hosts and index listeners.

Two ways to reach an index's data plane (``slabdb serve``):

* **per-index ports** (the default): index slot N on ``base port + N``, hosts
  ``http://<advertise host>:<base+N>``;
* **host-name routing** (``--base-domain D``): every index on one port (``--data-port``,
  else the control port), hosts ``http(s)://<index>-<project>.D[:port]``; requests are
  routed by the HTTP ``Host`` / gRPC ``:authority`` they carry (:meth:`slot_for_host`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from slabdb.api.auth import Authenticator
from slabdb.api.metrics import ApiMetrics
from slabdb.api.readiness import Readiness
from slabdb.api.service.bulk_service import ImportPolicy
from slabdb.control.projects import IndexInfo, Projects, host_label

DEFAULT_PORTS = {"http": 80, "https": 443}


def host_name(authority: str) -> str:
    """``Host`` / ``:authority`` without its port, lower-case (``[v6]:port`` kept whole)."""
    text = authority.strip().lower()
    if text.startswith("["):
        return text.split("]", 1)[0] + "]"
    return text.rsplit(":", 1)[0] if ":" in text else text


@dataclass
class ServerContext:
    projects: Projects
    auth: Authenticator
    metrics: ApiMetrics
    base_port: int
    advertise_host: str = "127.0.0.1"
    scheme: str = "http"
    open_listener: Callable[[int], Awaitable[None]] | None = field(default=None, repr=False)
    close_listener: Callable[[int], Awaitable[None]] | None = field(default=None, repr=False)
    base_domain: str | None = None
    """Host-name routing: index hosts are ``<index>-<project>.<base_domain>``."""
    data_port: int | None = None
    """Host-name routing: the port every index is served on (None: the control port)."""
    import_policy: ImportPolicy = field(default_factory=ImportPolicy)
    advertise_port: int | None = None
    """The port index hosts name (a load balancer's); None: the port served on."""
    readiness: Readiness | None = None
    """Probes the store and catalog for ``/health?check=ready`` (None: always ready)."""

    @property
    def host_routing(self) -> bool:
        return self.base_domain is not None

    @property
    def routed_port(self) -> int:
        """The port of every index under host-name routing."""
        return self.base_port if self.data_port is None else self.data_port

    def control_plane_url(self) -> str:
        return f"{self.scheme}://{self.advertise_host}:{self.base_port}"

    def index_host(self, info: IndexInfo) -> str:
        """The ``host`` that describe_index answers with."""
        if self.base_domain is None:
            base = self.base_port if self.advertise_port is None else self.advertise_port
            return f"{self.scheme}://{self.advertise_host}:{base + info.slot}"
        port = self.routed_port if self.advertise_port is None else self.advertise_port
        suffix = "" if DEFAULT_PORTS[self.scheme] == port else f":{port}"
        label = host_label(info.model.name, info.project)
        return f"{self.scheme}://{label}.{self.base_domain}{suffix}"

    def slot_for_host(self, authority: str, reread: bool = True) -> int | None:
        """Host-name routing: the slot of the index named by a ``Host``/``:authority``;
        None if it names none (or is not under the base domain).  ``reread=False``: from
        the cache only (never blocks on the catalog)."""
        if self.base_domain is None:
            return None
        name = host_name(authority)
        label, dot, domain = name.partition(".")
        if not dot or domain != self.base_domain.lower() or not label:
            return None
        return self.projects.slot_for_host_label(label, reread=reread)

    def is_index_host(self, authority: str) -> bool:
        """Whether ``authority`` is under the base domain (an index host, existing or not)."""
        if self.base_domain is None:
            return False
        return host_name(authority).endswith("." + self.base_domain.lower())
