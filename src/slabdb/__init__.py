"""SlabDB: a vector database with Pinecone's serverless architecture, on your own machines.

>>> import slabdb
>>> db = slabdb.connect("memory://")
>>> _ = db.create_index(name="docs", dimension=3, metric="cosine")
>>> index = db.Index("docs")
>>> index.upsert(vectors=[{"id": "a", "values": [1.0, 0.0, 0.0], "metadata": {"genre": "x"}}])
UpsertResponse(upserted_count=1)
>>> index.query(vector=[1.0, 0.1, 0.0], top_k=1).matches[0].id
'a'
>>> db.close()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Exports load on first use (PEP 562): importing ``slabdb.core`` or the CLI must not pull
# in numpy, faiss and the engine.
_EXPORTS = {
    "Client": "slabdb.client",
    "Index": "slabdb.client",
    "IndexList": "slabdb.client",
    "connect": "slabdb.client",
    "EngineConfig": "slabdb.core.config",
    "Settings": "slabdb.core.config",
    "SlabDBError": "slabdb.core.errors",
}

if TYPE_CHECKING:
    from slabdb.client import Client, Index, IndexList, connect
    from slabdb.core.config import EngineConfig, Settings
    from slabdb.core.errors import SlabDBError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slabdb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Client",
    "EngineConfig",
    "Index",
    "IndexList",
    "Settings",
    "SlabDBError",
    "__version__",
    "connect",
]
