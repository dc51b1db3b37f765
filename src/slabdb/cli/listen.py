"""Is the control-plane port free? Asked before ``serve`` creates anything."""

from __future__ import annotations

import errno
import socket

from slabdb.cli.errors import CommandError


def check_port_free(host: str, port: int, *, flag: str = "--port") -> None:
    """Bind ``host:port`` the way the server will (``SO_REUSEADDR``, so a port that only
    has connections in TIME_WAIT counts as free), then let it go."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CommandError(_bind_message(host, port, exc, flag)) from exc


def _bind_message(host: str, port: int, exc: OSError, flag: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another `slabdb serve`?): "
            f"stop that process or pick another port with {flag}"
        )
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port}: use a port above 1023 with {flag}"
    reason = exc.strerror or str(exc)
    return f"cannot listen on {host}:{port}: {reason} (check {flag.replace('port', 'host')})"
