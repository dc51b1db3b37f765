"""SlabDB's network API: Pinecone's REST and gRPC wire formats over the embedded engine.

* :mod:`slabdb.api.service` - the data plane once for both transports (default
  namespace, limits, LSN reporting, wire-neutral results).
* :mod:`slabdb.api.rest` - FastAPI app (control plane; data plane over the service).
* :mod:`slabdb.api.grpc` - ``VectorService`` on grpcio (over the service).
* :mod:`slabdb.api.mux` - one port per index serving HTTP/1.1 REST and HTTP/2 gRPC
  (:mod:`~slabdb.api.mux_router` picks the protocol, :mod:`~slabdb.api.grpc_relay`
  relays gRPC to the index's backend).
* :mod:`slabdb.api.server` - ``slabdb serve``: wires it all together (options in
  :mod:`~slabdb.api.serve_options`, per-index ports in :mod:`~slabdb.api.listeners`).
"""
