"""The REST API (FastAPI): control plane on the base port, data plane on index ports."""
