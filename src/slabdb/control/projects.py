"""Projects: each has its own embedded :class:`~slabdb.Client` over its part of the store.

The ``default`` project is the root of the store, so a database written with
``slabdb.connect(dir)`` is served as-is; other projects live under
``projects/<name>/``.  Every index gets a *slot* in the control catalog: its data-plane
port is the server's base port plus the slot.  With host-name routing (``slabdb serve
--base-domain``) an index is found by the first label of its host instead,
``<index>-<project>`` (:func:`host_label`, :meth:`Projects.slot_for_host_label`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slabdb.client import Client, validation
from slabdb.client.index import Index
from slabdb.client.responses import IndexModel
from slabdb.control.catalog_db import ControlCatalog, IndexSlot, Project
from slabdb.control.keys import NewKey, new_key
from slabdb.control.prefixed_store import PrefixedStore
from slabdb.core.config import EngineConfig
from slabdb.core.errors import (
    AlreadyExistsError,
    IndexNotFoundError,
    InvalidArgumentError,
    NotFoundError,
)
from slabdb.embed.models import EmbedModels
from slabdb.storage.base import ObjectStore

DEFAULT_PROJECT = "default"
INDEX_HANDLE_TTL_SECONDS = 2.0
"""How long a data-plane index handle is reused before its slot and config are re-read
(with several servers, how long another server's delete can take to be noticed)."""
HOST_LABELS_REREAD_SECONDS = 0.25
"""An unknown host label re-reads the catalog's slots at most this often (so a stream of
requests for a host that does not exist cannot flood the catalog)."""
STALE_SLOT_SECONDS = 60.0
"""A slot row whose index is missing from the store is taken for a leftover of a failed
create/delete (and released) only when older than this: a younger one may belong to a
create in progress on another server."""


MAX_HOST_LABEL = 63
"""A DNS label's limit (RFC 1035): ``<index>-<project>`` must fit it under host routing."""


def host_label(index: str, project: str) -> str:
    """The first DNS label of an index's host under host-name routing."""
    return f"{index}-{project}"


@dataclass(frozen=True)
class IndexInfo:
    """An index as the API layer sees it: engine model plus slot and API metadata."""

    project: str
    model: IndexModel
    slot: int
    meta: dict[str, Any] = field(default_factory=dict)


class Projects:
    """Projects, their keys, their clients and their indexes' slots."""

    def __init__(
        self,
        store: ObjectStore,
        catalog: ControlCatalog,
        config: EngineConfig,
        embed_models: EmbedModels | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.config = config
        self.embed_models = embed_models or EmbedModels()
        """Integrated-embedding models, shared by every project (one cached embedder each)."""
        self._lock = threading.RLock()
        self._clients: dict[str, Client] = {}
        self._handles: dict[int, tuple[float, str, str, Index]] = {}
        self._labels: dict[str, dict[tuple[str, str], int]] = {}
        """host label -> (project, index) -> slot: more than one entry is ambiguous."""
        self._labels_read_at = float("-inf")
        self.unique_host_labels = False
        """Refuse an index whose :func:`host_label` another project's index has (set when
        the server routes by host name, where the label must name one index)."""
        self.on_slot: Callable[[int], None] | None = None
        """Called (from a worker thread) with every slot the control plane answers with:
        the server opens that slot's listener if another server created the index."""

    # --- projects and keys ------------------------------------------------------------------
    def ensure_default(self) -> NewKey | None:
        """On an empty catalog: create the default project and its first key."""
        if self.catalog.list_projects():
            return None
        try:
            self.catalog.create_project(DEFAULT_PROJECT, "")
        except AlreadyExistsError:
            return None
        return self.create_key(DEFAULT_PROJECT)

    def create_project(self, name: str) -> Project:
        validation.index_name(name)
        return self.catalog.create_project(name, f"projects/{name}/")

    def create_key(self, project: str) -> NewKey:
        key = new_key()
        self.catalog.add_key(key.key_id, project, key.key_hash)
        return key

    def client(self, project: str) -> Client:
        with self._lock:
            client = self._clients.get(project)
            if client is None:
                prefix = self.catalog.get_project(project).store_prefix
                client = Client(PrefixedStore(self.store, prefix), self.config, self.embed_models)
                self._clients[project] = client
            return client

    def open_clients(self) -> list[tuple[str, Client]]:
        """(project, client) of every project opened so far."""
        with self._lock:
            return list(self._clients.items())

    # --- indexes ------------------------------------------------------------------------------
    def _info(self, project: str, model: IndexModel) -> IndexInfo:
        slot = self.catalog.get_slot(project, model.name)
        if slot is None:  # made by the embedded API (or being deleted): give it a slot now
            try:
                slot = self.catalog.claim_slot(project, model.name, {})
            except AlreadyExistsError:  # another server was quicker
                slot = self.catalog.get_slot(project, model.name)
            else:
                if not self.client(project).has_index(model.name):  # deleted meanwhile
                    self.catalog.release_slot(project, model.name)
                    raise IndexNotFoundError(f"Resource {model.name} not found")
            if slot is None:
                raise IndexNotFoundError(f"Resource {model.name} not found")
        self._seen(slot.slot)
        self._remember_label(project, model.name, slot.slot)
        return IndexInfo(project, model, slot.slot, slot.meta)

    def _seen(self, slot: int) -> None:
        if self.on_slot is not None:
            self.on_slot(slot)

    def create_index(
        self, project: str, meta: dict[str, Any], for_model: bool = False, **kwargs: Any
    ) -> IndexInfo:
        """Create an index (``for_model``: with integrated embedding) and claim its slot."""
        client = self.client(project)
        name = validation.index_name(kwargs.get("name"))
        if client.has_index(name):
            raise AlreadyExistsError(f"Resource {name} already exists")
        if self.unique_host_labels:
            self._check_label_free(project, name)
        stale = self.catalog.get_slot(project, name)
        if stale is not None:  # left behind by a delete that died half-way?
            self.catalog.release_slot(project, name, older_than=time.time() - STALE_SLOT_SECONDS)
        slot = self.catalog.claim_slot(project, name, meta)
        try:
            if for_model:
                model = client.create_index_for_model(**kwargs)
            else:
                model = client.create_index(**kwargs)
        except Exception:
            self.catalog.release_slot(project, name)
            raise
        self._remember_label(project, name, slot.slot)
        return IndexInfo(project, model, slot.slot, meta)

    def _check_label_free(self, project: str, name: str) -> None:
        """Host routing: ``<index>-<project>`` must be a DNS label no other index has."""
        label = host_label(name, project)
        if len(label) > MAX_HOST_LABEL:
            room = MAX_HOST_LABEL - len(project) - 1
            raise InvalidArgumentError(
                f"the host name label {label!r} (<index>-<project>) is {len(label)} characters; "
                f"DNS allows {MAX_HOST_LABEL}: in project {project!r} an index name may have "
                f"at most {room} characters"
            )
        for row in self.catalog.all_slots():
            if row.project != project and host_label(row.name, row.project) == label:
                raise AlreadyExistsError(
                    f"index {row.name!r} of project {row.project!r} already has the host name "
                    f"{label!r} (<index>-<project>): choose another index name"
                )

    def describe_index(self, project: str, name: str) -> IndexInfo:
        return self._info(project, self.client(project).describe_index(name))

    def list_indexes(self, project: str) -> list[IndexInfo]:
        out = []
        for model in self.client(project).list_indexes():
            try:
                out.append(self._info(project, model))
            except IndexNotFoundError:  # deleted by another server while listing
                continue
        return out

    def configure_index(
        self,
        project: str,
        name: str,
        deletion_protection: str | None,
        tags: dict[str, str] | None,
        embed: dict[str, Any] | None = None,
    ) -> IndexInfo:
        client = self.client(project)
        model = client.configure_index(
            name, deletion_protection=deletion_protection, tags=tags, embed=embed
        )
        info = self._info(project, model)
        self._forget(info.slot)
        return info

    def delete_index(self, project: str, name: str) -> int:
        """Delete an index; returns the slot it held (its listener can close)."""
        client = self.client(project)
        info = self.describe_index(project, name)
        client.delete_index(name)
        self.catalog.release_slot(project, name)
        self._forget(info.slot)
        with self._lock:
            self._labels.get(host_label(name, project), {}).pop((project, name), None)
        return info.slot

    def slots(self) -> list[IndexSlot]:
        return self.catalog.all_slots()

    # --- data plane -----------------------------------------------------------------------------
    def index_for_slot(self, slot: int, project: str) -> Index:
        """The handle behind one index port, if ``project`` owns it (else not found)."""
        now = time.monotonic()
        with self._lock:
            cached = self._handles.get(slot)
        if cached is not None and cached[0] > now and cached[1] == project:
            return cached[3]
        row = self.catalog.slot_by_number(slot)
        if row is None or row.project != project:
            raise IndexNotFoundError("no index is served on this host for this API key")
        try:
            handle = self.client(project).Index(row.name)
        except NotFoundError as exc:
            raise IndexNotFoundError(f"index {row.name!r} not found") from exc
        with self._lock:
            self._handles[slot] = (now + INDEX_HANDLE_TTL_SECONDS, project, row.name, handle)
        return handle

    def slot_for_host_label(self, label: str, reread: bool = True) -> int | None:
        """The slot of the index whose host starts with ``label`` (None: no such index,
        or two indexes made before host routing share it).  ``reread``: on a miss, read
        the catalog's slots again (at most every HOST_LABELS_REREAD_SECONDS)."""
        with self._lock:
            slots = self._labels.get(label)
            fresh = time.monotonic() - self._labels_read_at < HOST_LABELS_REREAD_SECONDS
        if not slots and not fresh and reread:
            self._read_labels(self.catalog.all_slots())
            with self._lock:
                slots = self._labels.get(label)
        return next(iter(slots.values())) if slots and len(slots) == 1 else None

    def _read_labels(self, slots: list[IndexSlot]) -> None:
        labels: dict[str, dict[tuple[str, str], int]] = {}
        for row in slots:
            labels.setdefault(host_label(row.name, row.project), {})[row.project, row.name] = (
                row.slot
            )
        with self._lock:
            self._labels, self._labels_read_at = labels, time.monotonic()

    def _remember_label(self, project: str, name: str, slot: int) -> None:
        """An index this server just answered about is routable at once."""
        with self._lock:
            self._labels.setdefault(host_label(name, project), {})[project, name] = slot

    def _forget(self, slot: int) -> None:
        with self._lock:
            self._handles.pop(slot, None)

    def forget_changed(self, slots: list[IndexSlot]) -> None:
        """Drop cached handles whose slot was released or now holds another index (after
        another server's delete/create)."""
        self._read_labels(slots)
        current = {s.slot: (s.project, s.name) for s in slots}
        with self._lock:
            for slot, (_, project, name, _) in list(self._handles.items()):
                if current.get(slot) != (project, name):
                    del self._handles[slot]

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
        self.embed_models.close()
