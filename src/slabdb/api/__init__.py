"""SlabDB's network API: Pinecone's REST and gRPC wire formats over the embedded engine.

* :mod:`slabdb.api.rest` - FastAPI app (control plane and data plane).
* :mod:`slabdb.api.grpc` - ``VectorService`` on grpcio.
* :mod:`slabdb.api.mux` - one port per index serving HTTP/1.1 REST and HTTP/2 gRPC.
* :mod:`slabdb.api.server` - ``slabdb serve``: wires it all together.
"""
