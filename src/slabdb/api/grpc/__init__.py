"""gRPC ``VectorService`` (Pinecone's published proto, stubs in :mod:`.gen`)."""
