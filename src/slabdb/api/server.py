"""``slabdb serve``: the control plane on the base port, each index on ``base + slot``
(or, with ``--base-domain``, every index on one port, routed by host name: see
:mod:`slabdb.api.context`).

Every port speaks HTTP/1.1 (REST, FastAPI on uvicorn) and HTTP/2 (gRPC, grpcio) through
:mod:`slabdb.api.mux`, so ``describe_index(...).host`` (``http://127.0.0.1:5081``) works
for the SDK's REST and gRPC clients alike.  With ``--tls-cert``/``--tls-key`` (or
``--tls-self-signed``) every port speaks TLS instead, and hosts are ``https://``.
Prometheus metrics have a listener of their own (``--metrics-port``, loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slabdb.api.auth import Authenticator
from slabdb.api.context import ServerContext
from slabdb.api.grpc.backends import GrpcBackends
from slabdb.api.host_routing import HostRoutingMiddleware
from slabdb.api.http1 import PineconeHttpProtocol
from slabdb.api.metrics import ApiMetrics, serve_metrics
from slabdb.api.mux import MuxProtocol
from slabdb.api.observability import configure_logging
from slabdb.api.rest.app import create_app
from slabdb.api.service.bulk_service import ImportPolicy
from slabdb.api.tls import LOCAL_NAMES, TLS_DIR, TlsFiles, self_signed, server_context
from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.keys import NewKey
from slabdb.control.projects import DEFAULT_PROJECT, Projects
from slabdb.core.config import EngineConfig
from slabdb.embed.models import EmbedModels
from slabdb.storage import ObjectStore, open_store
from slabdb.storage.local_writer import make_private_dir

log = logging.getLogger("slabdb.server")
DEFAULT_PORT = 5080
CONTROL_DIR = "_control"
CATALOG_FILE = "catalog.sqlite3"
DEFAULT_KEY_FILE = "default-api-key"
LISTENER_SYNC_SECONDS = 1.0
"""How often the listeners are matched against the catalog's slots, so that indexes
created or deleted through another server sharing the catalog get (or lose) a port here."""
BIND_RETRY_SECONDS = 30.0
"""After a failed bind, how long before the slot's port is tried again."""


@dataclass(frozen=True)
class ServeOptions:
    data: str = "./data"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    catalog: str | None = None
    advertise_host: str | None = None
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


def local_root(store: ObjectStore) -> Path | None:
    """The directory of a local store, else None."""
    url = store.url
    return Path(urlsplit(url).path) if url.startswith("file://") else None


def catalog_url(store: ObjectStore, explicit: str | None) -> str:
    """The control catalog: explicit path/URL, else ``<data dir>/_control/catalog.sqlite3``."""
    if explicit:
        return explicit
    root = local_root(store)
    if root is None:
        raise SystemExit(
            "a non-local --data store needs --catalog (a SQLite file path or a postgresql:// URL)"
        )
    return str(root / CONTROL_DIR / CATALOG_FILE)


def write_key_file(catalog: ControlCatalog, store: ObjectStore, key: NewKey) -> Path | None:
    """Keep the first key in a 0600 file next to the SQLite catalog (or in the data dir)."""
    if catalog.kind == "sqlite":
        directory = Path(catalog.url).parent
    else:
        root = local_root(store)
        if root is None:
            return None
        directory = root / CONTROL_DIR
    make_private_dir(directory, parents=True)
    path = directory / DEFAULT_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.plaintext + "\n")
    os.chmod(path, 0o600)
    return path


def tls_files(options: ServeOptions, store: ObjectStore) -> TlsFiles | None:
    """The certificate and key to serve with, making them for ``--tls-self-signed``."""
    if options.tls_cert and options.tls_key:
        return TlsFiles(Path(options.tls_cert), Path(options.tls_key))
    if not options.tls_self_signed:
        return None
    root = local_root(store)
    if root is None:
        raise SystemExit(
            "--tls-self-signed writes its CA under the data directory: use --tls-cert and "
            "--tls-key with a non-local --data store"
        )
    extra = [h for h in (options.advertise_host, options.host) if h and h not in ("0.0.0.0", "::")]
    if options.base_domain:
        extra.append(f"*.{options.base_domain}")
    make_private_dir(root / CONTROL_DIR)
    return self_signed(root / CONTROL_DIR / TLS_DIR, [*LOCAL_NAMES, *extra])


class _Uvicorn(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which would kill the
    process before SlabDB flushes; we shut down and exit 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()


class SlabServer:
    """Owns the store, catalog, projects, listeners and gRPC backends of one process."""

    def __init__(self, options: ServeOptions, engine: EngineConfig | None = None) -> None:
        self.options = options
        self.store = open_store(options.data)
        self.catalog = ControlCatalog(catalog_url(self.store, options.catalog))
        models = EmbedModels(
            allow_test_models=options.allow_test_embedders, aliases=dict(options.model_aliases)
        )
        self.projects = Projects(self.store, self.catalog, engine or EngineConfig(), models)
        self.projects.unique_host_labels = options.base_domain is not None
        self.auth = Authenticator(self.catalog, insecure_dev=options.insecure_dev)
        self.metrics = ApiMetrics(self.projects.open_clients)
        self.grpc = GrpcBackends(self.projects, self.auth, self.metrics, options.port)
        self.tls_files = tls_files(options, self.store)
        self.tls = server_context(self.tls_files) if self.tls_files is not None else None
        self.ctx = ServerContext(
            projects=self.projects,
            auth=self.auth,
            metrics=self.metrics,
            base_port=options.port,
            advertise_host=options.advertise_host or options.host,
            scheme="https" if self.tls is not None else "http",
            open_listener=self.open_listener,
            close_listener=self.close_listener,
            base_domain=options.base_domain,
            data_port=options.data_port,
            import_policy=ImportPolicy.of(options.import_roots, self.store.url),
        )
        self.app = create_app(self.ctx, docs=options.docs)
        self._metrics_server: Any = None
        self._listeners: dict[int, asyncio.AbstractServer] = {}
        self._opened_at: dict[int, float] = {}
        self._opening: dict[int, asyncio.Future[None]] = {}
        self._bind_failed: dict[int, float] = {}
        self._uvicorn: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.projects.on_slot = self._slot_seen

    def first_run(self) -> NewKey | None:
        key = self.projects.ensure_default()
        if key is not None:
            path = write_key_file(self.catalog, self.store, key)
            where = f" It is also in {path} (mode 0600)." if path else ""
            print(
                f"Created project '{DEFAULT_PROJECT}' and its API key (shown once):\n"
                f"  {key.plaintext}\n{where}",
                flush=True,
            )
        return key

    # --- listeners -------------------------------------------------------------------------
    def _tls_hint(self) -> str:
        """What a client must trust, for the mux's log lines."""
        files = self.tls_files
        if files is None:
            return ""
        if files.ca is not None:
            return f"the CA certificate {files.ca}"
        return f"the CA that signed {files.cert}"

    def _grpc_socket_for_authority(self, authority: str) -> str | None:
        """Host routing: the gRPC backend of the index ``authority`` names."""
        slot = self.ctx.slot_for_host(authority)
        return None if slot is None else self.grpc.socket_for(self.options.port + slot)

    def _protocol_class(self, routed: bool = False) -> Any:
        """The mux protocol of a listener; ``routed``: gRPC goes by ``:authority``."""
        grpc_socket_for = self.grpc.socket_for
        by_authority = self._grpc_socket_for_authority if routed else None
        tls, tls_hint = self.tls, self._tls_hint()

        class Protocol(MuxProtocol):
            def __init__(
                self,
                config: uvicorn.Config,
                server_state: Any,
                app_state: dict[str, Any],
                _loop: asyncio.AbstractEventLoop | None = None,
            ) -> None:
                def http() -> HttpToolsProtocol:
                    return PineconeHttpProtocol(
                        config=config, server_state=server_state, app_state=app_state, _loop=_loop
                    )

                super().__init__(http, grpc_socket_for, tls, tls_hint, by_authority)

        return Protocol

    async def open_listener(self, slot: int) -> None:
        """Listen on ``base port + slot`` (no-op if already listening; concurrent calls
        for one slot share one attempt).  Under host routing indexes have no port of
        their own: a no-op."""
        if self._uvicorn is None or slot in self._listeners or self.ctx.host_routing:
            return
        pending = self._opening.get(slot)
        if pending is None:
            pending = asyncio.ensure_future(self._open_listener(slot))
            self._opening[slot] = pending
            pending.add_done_callback(lambda _: self._opening.pop(slot, None))
        await asyncio.shield(pending)

    async def _open_listener(self, slot: int) -> None:
        server = self._uvicorn
        if server is None or slot in self._listeners:
            return
        port = self.options.port + slot
        try:
            listener = await self._listen(port, routed=False)
        except OSError as exc:
            self._bind_failed[slot] = time.monotonic() + BIND_RETRY_SECONDS
            log.error("cannot listen on port %d for index slot %d: %s", port, slot, exc)
            return
        self._listeners[slot] = listener
        self._opened_at[slot] = time.monotonic()
        self._bind_failed.pop(slot, None)

    async def _listen(self, port: int, routed: bool) -> asyncio.AbstractServer:
        """A mux listener on ``port`` next to uvicorn's own (OSError if it cannot bind)."""
        server = self._uvicorn
        assert server is not None
        sock = socket.socket(socket.AF_INET6 if ":" in self.options.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.options.host, port))
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

    def _slot_seen(self, slot: int) -> None:
        """``Projects.on_slot``: a control-plane answer names ``slot``; make sure its port
        is open before the answer goes out (the index may come from another server)."""
        loop = self._loop
        if loop is None or slot in self._listeners:
            return
        if self._bind_failed.get(slot, 0.0) > time.monotonic():
            return
        if threading.get_ident() == self._loop_thread:
            loop.create_task(self.open_listener(slot))
            return
        future = asyncio.run_coroutine_threadsafe(self.open_listener(slot), loop)
        try:
            future.result(timeout=10)
        except Exception as exc:  # the periodic sync tries again
            log.warning("could not open the listener of slot %d: %s", slot, exc)

    async def sync_listeners(self) -> None:
        """Open listeners for every slot in the catalog, close those of released slots."""
        started = time.monotonic()
        try:
            slots = await asyncio.get_running_loop().run_in_executor(None, self.projects.slots)
        except Exception as exc:
            log.warning("cannot read index slots from the catalog: %s", exc)
            return
        self.projects.forget_changed(slots)
        wanted = {s.slot for s in slots}
        now = time.monotonic()
        for slot in sorted(wanted - self._listeners.keys()):
            if self._bind_failed.get(slot, 0.0) <= now:
                await self.open_listener(slot)
        for slot in list(self._listeners.keys() - wanted):
            if self._opened_at.get(slot, 0.0) < started:  # not opened since the read
                await self.close_listener(slot)

    async def _sync_listeners_forever(self) -> None:
        while True:
            await asyncio.sleep(LISTENER_SYNC_SECONDS)
            try:
                await self.sync_listeners()
            except Exception:
                log.exception("listener sync failed")

    async def close_listener(self, slot: int) -> None:
        listener = self._listeners.pop(slot, None)
        self._opened_at.pop(slot, None)
        if listener is not None:
            listener.close()
            if self._uvicorn is not None and listener in self._uvicorn.servers:
                self._uvicorn.servers.remove(listener)
        await asyncio.get_running_loop().run_in_executor(None, self.grpc.stop, slot)

    # --- run -------------------------------------------------------------------------------------
    async def serve(self) -> None:
        routed = self.ctx.host_routing
        config = uvicorn.Config(
            HostRoutingMiddleware(self.app, self.ctx) if routed else self.app,
            host=self.options.host,
            port=self.options.port,
            http=self._protocol_class(routed and self.options.data_port is None),
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=75,
            backlog=2048,
        )
        server = _Uvicorn(config)
        self._uvicorn = server
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        sync: asyncio.Task[None] | None = None
        if server.started:
            if self.options.data_port is not None:
                await self._listen(self.options.data_port, routed=True)
            for slot in self.projects.slots():
                await self.open_listener(slot.slot)
            sync = asyncio.create_task(self._sync_listeners_forever())
            self._announce()
        try:
            await task
        finally:
            if sync is not None:
                sync.cancel()
            self._loop = None

    def start_metrics(self) -> None:
        """The Prometheus listener (``--metrics-port``), TLS if the API is."""
        port = self.options.metrics_port
        if port is None:
            return
        files = self.tls_files
        self._metrics_server = serve_metrics(
            self.metrics, self.options.metrics_host, port,
            certfile=str(files.cert) if files else None, keyfile=str(files.key) if files else None,
        )  # fmt: skip

    def _announce(self) -> None:
        control_plane = self.ctx.control_plane_url()
        files = self.tls_files
        metrics = self.options.metrics_port
        scheme = self.ctx.scheme
        event = {
            "event": "listening",
            "control_plane": control_plane,
            "data": self.store.url,
            "catalog": self.catalog.kind,
            "catalog_url": self.catalog.display_url,
            "indexes": len(self._listeners),
            "insecure_dev": self.options.insecure_dev,
            "tls": files is not None,
            "metrics": f"{scheme}://{self.options.metrics_host}:{metrics}" if metrics else None,
            "docs": self.options.docs,
            "routing": "host" if self.ctx.host_routing else "port",
            "base_domain": self.options.base_domain,
            "data_port": self.options.data_port,
        }
        log.info(json.dumps(event))
        if files is not None and files.ca is not None:
            print(f"TLS CA certificate (give it to clients): {files.ca}", flush=True)
        if event["metrics"]:
            print(f"Prometheus metrics on {event['metrics']}/metrics", flush=True)
        print(f"SlabDB serving on {control_plane}", flush=True)
        if self.ctx.host_routing:
            port = self.ctx.routed_port
            print(
                f"Index hosts: {scheme}://<index>-<project>.{self.options.base_domain}:{port} "
                "(routed by host name)",
                flush=True,
            )

    def close(self) -> None:
        if self._metrics_server is not None:
            with contextlib.suppress(Exception):
                self._metrics_server.shutdown()
                self._metrics_server.server_close()
        with contextlib.suppress(Exception):
            self.grpc.close()
        self.projects.close()
        self.catalog.close()
        self.store.close()


def run(options: ServeOptions, engine: EngineConfig | None = None) -> None:
    configure_logging(options.log_level)
    server = SlabServer(options, engine)
    server.first_run()
    server.start_metrics()
    try:
        try:
            import uvloop

            uvloop.run(server.serve())
        except ImportError:
            asyncio.run(server.serve())
    finally:
        server.close()
