"""``slabdb serve``: the control plane on the base port, each index on ``base + slot``
(or, with ``--base-domain``, every index on one port, routed by host name: see
:mod:`slabdb.api.context`).

Every port speaks HTTP/1.1 (REST, FastAPI on uvicorn) and HTTP/2 (gRPC, grpcio) through
:mod:`slabdb.api.mux`, so ``describe_index(...).host`` (``http://127.0.0.1:5081``) works
for the SDK's REST and gRPC clients alike.  With ``--tls-cert``/``--tls-key`` (or
``--tls-self-signed``) every port speaks TLS instead, and hosts are ``https://``.
Prometheus metrics have a listener of their own (``--metrics-port``, loopback).

This module assembles one process; the options are :mod:`slabdb.api.serve_options`,
the files under ``<data>/_control/`` :mod:`slabdb.api.control_files`, and the per-index
ports :mod:`slabdb.api.listeners`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn

from slabdb.api.auth import Authenticator
from slabdb.api.context import ServerContext
from slabdb.api.control_files import catalog_url, tls_files, trust_hint, write_key_file
from slabdb.api.grpc.backends import GrpcBackends
from slabdb.api.host_routing import HostRoutingMiddleware
from slabdb.api.listeners import IndexListeners
from slabdb.api.metrics import ApiMetrics, serve_metrics
from slabdb.api.observability import configure_logging
from slabdb.api.readiness import Readiness
from slabdb.api.rest.app import create_app
from slabdb.api.serve_options import ServeOptions
from slabdb.api.service.bulk_service import ImportPolicy
from slabdb.api.tls import server_context
from slabdb.api.uvicorn_mux import mux_protocol_class
from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.keys import NewKey
from slabdb.control.projects import DEFAULT_PROJECT, Projects
from slabdb.core.config import EngineConfig
from slabdb.embed.models import EmbedModels
from slabdb.storage import open_store

log = logging.getLogger("slabdb.server")


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
        self.listeners = IndexListeners(
            options.host,
            options.port,
            self.projects,
            self.grpc,
            self._protocol_class,
            host_routing=options.base_domain is not None,
        )
        self.ctx = ServerContext(
            projects=self.projects,
            auth=self.auth,
            metrics=self.metrics,
            base_port=options.port,
            advertise_host=options.advertise_host or options.host,
            advertise_port=options.advertise_port,
            readiness=Readiness(self.store, self.catalog),
            scheme="https" if self.tls is not None else "http",
            open_listener=self.listeners.open,
            close_listener=self.listeners.close,
            base_domain=options.base_domain,
            data_port=options.data_port,
            import_policy=ImportPolicy.of(options.import_roots, self.store.url),
        )
        self.app = create_app(self.ctx, docs=options.docs)
        self._metrics_server: Any = None
        self.projects.on_slot = self.listeners.slot_seen

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

    # --- the mux of every listener ----------------------------------------------------------
    def _grpc_socket_for_authority(self, authority: str) -> str | None:
        """Host routing: the gRPC backend of the index ``authority`` names."""
        slot = self.ctx.slot_for_host(authority)
        return None if slot is None else self.grpc.socket_for(self.options.port + slot)

    def _protocol_class(self, routed: bool = False) -> Any:
        """The mux protocol of a listener; ``routed``: gRPC goes by ``:authority``."""
        by_authority = self._grpc_socket_for_authority if routed else None
        return mux_protocol_class(
            self.grpc.socket_for, self.tls, trust_hint(self.tls_files), by_authority
        )

    # --- run -------------------------------------------------------------------------------------
    def _uvicorn_config(self) -> uvicorn.Config:
        """uvicorn on the control port (also the routed data port without ``--data-port``)."""
        routed = self.ctx.host_routing
        return uvicorn.Config(
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

    async def serve(self) -> None:
        server = _Uvicorn(self._uvicorn_config())
        self.listeners.attach(server)
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        sync: asyncio.Task[None] | None = None
        if server.started:
            if self.options.data_port is not None:
                await self.listeners.listen(self.options.data_port, routed=True)
            for slot in self.projects.slots():
                await self.listeners.open(slot.slot)
            sync = asyncio.create_task(self.listeners.sync_forever())
            self._announce()
        try:
            await task
        finally:
            if sync is not None:
                sync.cancel()
            self.listeners.detach_loop()

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
            "indexes": self.listeners.count,
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
