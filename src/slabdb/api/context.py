"""What every request handler needs: projects, auth, metrics, hosts and index listeners."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from slabdb.api.auth import Authenticator
from slabdb.api.metrics import ApiMetrics
from slabdb.control.projects import Projects


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

    def index_host(self, slot: int) -> str:
        return f"{self.scheme}://{self.advertise_host}:{self.base_port + slot}"
