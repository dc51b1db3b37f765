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

from slabdb.client import Client, IndexList, connect
from slabdb.config import EngineConfig, Settings
from slabdb.errors import SlabDBError
from slabdb.index import Index

__version__ = "0.1.0"

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
