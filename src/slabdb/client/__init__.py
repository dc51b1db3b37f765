"""The embedded client: ``Client`` (control plane) and ``Index`` (data plane).

``Index`` is a thin facade with the official SDK's method names; it composes the record
operations, the namespace operations and the integrated-embedding records API.
"""

from slabdb.client.client import Client, IndexList, connect
from slabdb.client.index import Index

__all__ = ["Client", "Index", "IndexList", "connect"]
