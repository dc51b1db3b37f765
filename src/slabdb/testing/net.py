"""Socket and pipe plumbing for test proxies, balancers and server subprocesses."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import IO


def accept_forever(sock: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """On a daemon thread, hand each connection ``sock`` accepts to ``handle`` (in that
    thread) until ``sock`` is closed."""

    def loop() -> None:
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            handle(client)

    threading.Thread(target=loop, daemon=True).start()


def follow(stream: IO[str] | None, append: Callable[[str], None]) -> None:
    """On a daemon thread, pass every line of a subprocess's ``stream`` to ``append``
    until it closes, so a full pipe never blocks the process."""
    assert stream is not None

    def loop() -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                append(line)

    threading.Thread(target=loop, daemon=True).start()


def pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until ``src`` closes, then shut both down."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
