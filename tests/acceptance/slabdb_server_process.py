"""Start and stop a real ``slabdb serve`` subprocess: see :mod:`slabdb.testing.server`."""

from slabdb.testing.server import PORT_SPAN, ServerProcess, free_port_range

__all__ = ["PORT_SPAN", "ServerProcess", "free_port_range"]
