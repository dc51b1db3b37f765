"""What the operations of one index handle share: its config and the client's resources."""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from dataclasses import dataclass

from slabdb.client import validation
from slabdb.client.catalog import IndexCatalog, IndexConfig
from slabdb.client.handles import NamespaceHandles
from slabdb.embed.models import EmbedModels
from slabdb.engine.namespace import Namespace


@dataclass(frozen=True)
class IndexContext:
    """An index's config with the client's namespace handles, catalog, pool and models."""

    config: IndexConfig
    handles: NamespaceHandles
    catalog: IndexCatalog
    executor: Executor
    embed_models: EmbedModels
    search_slots: threading.BoundedSemaphore
    """Held while a query searches (``Client.search_slots``)."""

    def namespace(self, name: str | None, create: bool = False) -> Namespace | None:
        """The engine of namespace ``name`` (validated; None/'' is the default namespace)."""
        return self.handles.get(self.config, validation.namespace(name), create)
