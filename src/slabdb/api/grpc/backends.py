"""One grpcio server per index slot, each on a private Unix socket behind the mux.

The mux relays raw HTTP/2 bytes, so a backend cannot learn which port the client
dialled; giving each index its own backend (sharing one thread pool) keeps that
knowledge in the socket.  Backends start on the first gRPC connection to an index.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from slabdb.api.auth import Authenticator
from slabdb.api.grpc.handlers import MAX_RECEIVE_BYTES, add_servicer
from slabdb.api.grpc.service import VectorServicer
from slabdb.api.metrics import ApiMetrics
from slabdb.control.projects import Projects

log = logging.getLogger("slabdb.grpc")
GRPC_THREADS = 16
RESPONSE_MESSAGE_BYTES = 64 * 1024 * 1024


class GrpcBackends:
    def __init__(
        self, projects: Projects, auth: Authenticator, metrics: ApiMetrics, base_port: int
    ) -> None:
        self._projects = projects
        self._auth = auth
        self._metrics = metrics
        self._base_port = base_port
        self._dir = Path(tempfile.mkdtemp(prefix="slabdb-grpc-"))
        self._executor = ThreadPoolExecutor(GRPC_THREADS, thread_name_prefix="slabdb-grpc")
        self._servers: dict[int, tuple[grpc.Server, str]] = {}
        self._lock = threading.Lock()

    def socket_for(self, port: int) -> str | None:
        slot = port - self._base_port
        if slot <= 0:
            return None
        with self._lock:
            running = self._servers.get(slot)
            if running is not None:
                return running[1]
            path = str(self._dir / f"slot-{slot}.sock")
            server = grpc.server(
                self._executor,
                options=[
                    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
                    ("grpc.max_send_message_length", RESPONSE_MESSAGE_BYTES),
                ],
            )
            add_servicer(VectorServicer(self._projects, self._auth, self._metrics, slot), server)
            server.add_insecure_port(f"unix:{path}")
            server.start()
            self._servers[slot] = (server, path)
            log.info("gRPC backend for slot %d on %s", slot, path)
            return path

    def stop(self, slot: int) -> None:
        with self._lock:
            running = self._servers.pop(slot, None)
        if running is not None:
            running[0].stop(grace=1.0)

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server, _ in servers:
            server.stop(grace=2.0).wait()
        self._executor.shutdown(wait=False)
        for path in self._dir.glob("*"):
            path.unlink(missing_ok=True)
        self._dir.rmdir()
