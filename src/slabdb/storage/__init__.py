"""Object storage: the one interface every durable byte goes through."""

from slabdb.storage.base import GetResult, ObjectMeta, ObjectStore
from slabdb.storage.factory import open_store
from slabdb.storage.obstore_store import ObstoreObjectStore

__all__ = ["GetResult", "ObjectMeta", "ObjectStore", "ObstoreObjectStore", "open_store"]
