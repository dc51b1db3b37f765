"""Where the demo's parts listen: chosen once, kept in ``<data>/ports.json``, reused.

A port is kept from one run to the next while it is free (so the console stays at the
same address); a busy one is replaced by its preferred default if free, else by any free
port. SlabDB needs its base port and the next few (index ``N`` listens on ``base + N``).
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from slabdb.cli.local_postgres import free_port

INDEX_PORTS = 3
"""Ports after SlabDB's base port kept free for index listeners (the demo has one index)."""


@dataclass(frozen=True)
class DemoPorts:
    postgres: int = 5433
    slabdb: int = 5080
    metrics: int = 5090


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _span(port: int, width: int) -> set[int]:
    return set(range(port, port + width + 1))


def _pick(candidates: list[int | None], width: int, taken: set[int]) -> int:
    for port in candidates:
        if port is None or not 1024 <= port <= 65535 - width:
            continue
        span = _span(port, width)
        if not span & taken and all(port_free(p) for p in span):
            return port
    while True:
        port = free_port()
        span = _span(port, width)
        if port <= 65535 - width and not span & taken and all(port_free(p) for p in span):
            return port


def choose_ports(path: Path, app_port: int) -> DemoPorts:
    """The saved ports where free, else the defaults or free ones; saved for next time."""
    saved: dict[str, int] = {}
    if path.exists():
        try:
            saved = {k: int(v) for k, v in json.loads(path.read_text()).items()}
        except (ValueError, TypeError, AttributeError):
            saved = {}
    preferred = DemoPorts()
    taken = {app_port}
    chosen: dict[str, int] = {}
    for name, width in (("slabdb", INDEX_PORTS), ("metrics", 0), ("postgres", 0)):
        port = _pick([saved.get(name), getattr(preferred, name)], width, taken)
        chosen[name] = port
        taken |= _span(port, width)
    ports = DemoPorts(**chosen)
    path.write_text(json.dumps(asdict(ports)) + "\n")
    return ports
