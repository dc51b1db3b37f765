"""Generated gRPC stubs (scripts/gen_grpc_stubs.py)."""
