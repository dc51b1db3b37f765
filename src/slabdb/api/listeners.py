"""Per-index ports: index slot N listens on ``base port + N``, next to uvicorn's own
listener, and the listeners are kept equal to the catalog's slots (indexes created or
deleted through another server sharing the catalog get, or lose, a port here too)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from slabdb.api.grpc.backends import GrpcBackends
from slabdb.control.projects import Projects

log = logging.getLogger("slabdb.server")
LISTENER_SYNC_SECONDS = 1.0
"""How often the listeners are matched against the catalog's slots, so that indexes
created or deleted through another server sharing the catalog get (or lose) a port here."""
BIND_RETRY_SECONDS = 30.0
"""After a failed bind, how long before the slot's port is tried again."""

ProtocolClassFor = Callable[[bool], Any]
"""The uvicorn protocol class of a listener; its argument: gRPC goes by ``:authority``."""


class IndexListeners:
    """The mux listeners of one process beyond uvicorn's own: one per index slot (none
    under host routing) and, with ``--data-port``, the routed data port."""

    def __init__(
        self,
        host: str,
        base_port: int,
        projects: Projects,
        grpc: GrpcBackends,
        protocol_class: ProtocolClassFor,
        host_routing: bool,
    ) -> None:
        self._host = host
        self._base_port = base_port
        self._projects = projects
        self._grpc = grpc
        self._protocol_class = protocol_class
        self._host_routing = host_routing
        self._listeners: dict[int, asyncio.AbstractServer] = {}
        self._opened_at: dict[int, float] = {}
        self._opening: dict[int, asyncio.Future[None]] = {}
        self._bind_failed: dict[int, float] = {}
        self._uvicorn: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    @property
    def count(self) -> int:
        """How many index slots have a port open."""
        return len(self._listeners)

    def attach(self, server: uvicorn.Server) -> None:
        """Listen next to ``server``, on the running loop (called from that loop)."""
        self._uvicorn = server
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def detach_loop(self) -> None:
        """The loop has stopped: :meth:`slot_seen` no longer opens ports."""
        self._loop = None

    async def open(self, slot: int) -> None:
        """Listen on ``base port + slot`` (no-op if already listening; concurrent calls
        for one slot share one attempt).  Under host routing indexes have no port of
        their own: a no-op."""
        if self._uvicorn is None or slot in self._listeners or self._host_routing:
            return
        pending = self._opening.get(slot)
        if pending is None:
            pending = asyncio.ensure_future(self._open(slot))
            self._opening[slot] = pending
            pending.add_done_callback(lambda _: self._opening.pop(slot, None))
        await asyncio.shield(pending)

    async def _open(self, slot: int) -> None:
        server = self._uvicorn
        if server is None or slot in self._listeners:
            return
        port = self._base_port + slot
        try:
            listener = await self.listen(port, routed=False)
        except OSError as exc:
            self._bind_failed[slot] = time.monotonic() + BIND_RETRY_SECONDS
            log.error("cannot listen on port %d for index slot %d: %s", port, slot, exc)
            return
        self._listeners[slot] = listener
        self._opened_at[slot] = time.monotonic()
        self._bind_failed.pop(slot, None)

    async def listen(self, port: int, routed: bool) -> asyncio.AbstractServer:
        """A mux listener on ``port`` next to uvicorn's own (OSError if it cannot bind)."""
        server = self._uvicorn
        assert server is not None
        sock = socket.socket(socket.AF_INET6 if ":" in self._host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, port))
        except OSError:
            sock.close()
            raise
        sock.listen(2048)
        sock.setblocking(False)
        config, state = server.config, server.server_state
        app_state = server.lifespan.state
        protocol = self._protocol_class(routed)
        listener = await asyncio.get_running_loop().create_server(
            lambda: protocol(config, state, app_state), sock=sock
        )
        server.servers.append(listener)
        return listener

    def slot_seen(self, slot: int) -> None:
        """``Projects.on_slot``: a control-plane answer names ``slot``; make sure its port
        is open before the answer goes out (the index may come from another server)."""
        loop = self._loop
        if loop is None or slot in self._listeners:
            return
        if self._bind_failed.get(slot, 0.0) > time.monotonic():
            return
        if threading.get_ident() == self._loop_thread:
            loop.create_task(self.open(slot))
            return
        future = asyncio.run_coroutine_threadsafe(self.open(slot), loop)
        try:
            future.result(timeout=10)
        except Exception as exc:  # the periodic sync tries again
            log.warning("could not open the listener of slot %d: %s", slot, exc)

    async def sync(self) -> None:
        """Open listeners for every slot in the catalog, close those of released slots."""
        started = time.monotonic()
        try:
            slots = await asyncio.get_running_loop().run_in_executor(None, self._projects.slots)
        except Exception as exc:
            log.warning("cannot read index slots from the catalog: %s", exc)
            return
        self._projects.forget_changed(slots)
        wanted = {s.slot for s in slots}
        now = time.monotonic()
        for slot in sorted(wanted - self._listeners.keys()):
            if self._bind_failed.get(slot, 0.0) <= now:
                await self.open(slot)
        for slot in list(self._listeners.keys() - wanted):
            if self._opened_at.get(slot, 0.0) < started:  # not opened since the read
                await self.close(slot)

    async def sync_forever(self) -> None:
        while True:
            await asyncio.sleep(LISTENER_SYNC_SECONDS)
            try:
                await self.sync()
            except Exception:
                log.exception("listener sync failed")

    async def close(self, slot: int) -> None:
        listener = self._listeners.pop(slot, None)
        self._opened_at.pop(slot, None)
        if listener is not None:
            listener.close()
            if self._uvicorn is not None and listener in self._uvicorn.servers:
                self._uvicorn.servers.remove(listener)
        await asyncio.get_running_loop().run_in_executor(None, self._grpc.stop, slot)
