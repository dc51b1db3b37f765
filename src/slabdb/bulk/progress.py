"""An import's durable state: ``data/<index>-<inc>/imports/<id>/progress.json``.

Written with create-if-absent, then only by the process holding the import's lease, by
compare-and-swap; ``cancel.json`` next to it asks the runner to stop (anyone may write
it).  What ``describe_import`` reports is read from here, so it is the same from every
node and survives a crash.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from slabdb.bulk.plan import NamespacePlan
from slabdb.core.errors import NotFoundError, ObjectExistsError, ObjectNotFoundError
from slabdb.engine.lease import Lease
from slabdb.lsm.manifest import SlabEntry
from slabdb.storage import ObjectStore
from slabdb.storage.keys import import_key, imports_prefix

PENDING, IN_PROGRESS, FAILED, COMPLETED, CANCELLED = (
    "Pending",
    "InProgress",
    "Failed",
    "Completed",
    "Cancelled",
)
TERMINAL = frozenset({FAILED, COMPLETED, CANCELLED})
ERROR_MODES = ("continue", "abort")


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class NamespaceProgress:
    """How far one namespace of the import got."""

    next_chunk: int = 0
    first_lsn: int = 0
    slabs: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    published: bool = False

    def slab_entries(self) -> tuple[SlabEntry, ...]:
        return tuple(SlabEntry.from_dict(s) for s in self.slabs)


@dataclass
class ImportProgress:
    id: str
    uri: str
    error_mode: str
    created_at: str
    status: str = PENDING
    finished_at: str | None = None
    error: str | None = None
    total_rows: int = 0
    rows_done: int = 0
    records_imported: int = 0
    records_failed: int = 0
    plan: list[NamespacePlan] = field(default_factory=list)
    namespaces: dict[str, NamespaceProgress] = field(default_factory=dict)

    @property
    def percent_complete(self) -> float:
        if self.status == COMPLETED:
            return 100.0
        if self.total_rows == 0:
            return 0.0
        return round(100.0 * min(self.rows_done, self.total_rows) / self.total_rows, 2)

    def finish(self, status: str, error: str | None = None) -> None:
        self.status, self.error, self.finished_at = status, error, now_text()

    def to_bytes(self) -> bytes:
        raw = asdict(self)
        raw["plan"] = [p.to_dict() for p in self.plan]
        return json.dumps(raw, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ImportProgress:
        raw = json.loads(data)
        raw["plan"] = [NamespacePlan.from_dict(p) for p in raw.get("plan", [])]
        raw["namespaces"] = {
            k: NamespaceProgress(**v) for k, v in raw.get("namespaces", {}).items()
        }
        return cls(**raw)


@dataclass(frozen=True)
class ImportModel:
    """What ``describe_import`` returns (the SDK's ``ImportModel`` fields)."""

    id: str
    uri: str
    status: str
    created_at: str
    finished_at: str | None
    percent_complete: float
    records_imported: int
    error: str | None = None
    records_failed: int = 0

    @classmethod
    def of(cls, p: ImportProgress) -> ImportModel:
        return cls(
            id=p.id,
            uri=p.uri,
            status=p.status,
            created_at=p.created_at,
            finished_at=p.finished_at,
            percent_complete=p.percent_complete,
            records_imported=p.records_imported,
            error=p.error,
            records_failed=p.records_failed,
        )

    def to_dict(self) -> dict[str, Any]:
        """The REST body (camelCase, as the 2026-07 spec names the fields)."""
        out: dict[str, Any] = {
            "id": self.id,
            "uri": self.uri,
            "status": self.status,
            "createdAt": self.created_at,
            "percentComplete": self.percent_complete,
            "recordsImported": self.records_imported,
            "validationResult": {
                "importSuccesses": self.records_imported,
                "importErrors": self.records_failed,
            },
        }
        if self.finished_at is not None:
            out["finishedAt"] = self.finished_at
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class StartImportResponse:
    id: str


@dataclass(frozen=True)
class Pagination:
    next: str


class ImportList(list[ImportModel]):
    """One page of imports; ``pagination`` is None on the last page."""

    def __init__(self, items: list[ImportModel], pagination: Pagination | None) -> None:
        super().__init__(items)
        self.pagination = pagination

    @property
    def data(self) -> list[ImportModel]:
        return list(self)


class ImportRecords:
    """The imports of one index incarnation in the store."""

    def __init__(self, store: ObjectStore, index: str, incarnation: str) -> None:
        self.store, self._index, self._inc = store, index, incarnation

    def key(self, import_id: str, what: str) -> str:
        return import_key(self._index, self._inc, import_id, what)

    def ids(self) -> list[str]:
        prefix = imports_prefix(self._index, self._inc)
        found = {m.key[len(prefix) :].split("/", 1)[0] for m in self.store.list(prefix)}
        return sorted(found, key=lambda i: (len(i), i))

    def create(self, make: Any) -> tuple[ImportProgress, str | None]:
        """Store ``make(id)`` under the next free numeric id ("1", "2", ...)."""
        taken = self.ids()
        n = max((int(i) for i in taken if i.isdigit()), default=0) + 1
        while True:
            progress: ImportProgress = make(str(n))
            try:
                etag = self.store.put_if_absent(
                    self.key(progress.id, "progress"), progress.to_bytes()
                )
            except ObjectExistsError:
                n += 1
                continue
            return progress, etag

    def load(self, import_id: str) -> tuple[ImportProgress, str | None]:
        try:
            got = self.store.get(self.key(import_id, "progress"))
        except ObjectNotFoundError as exc:
            raise NotFoundError(f"import {import_id!r} not found") from exc
        return ImportProgress.from_bytes(got.data), got.etag

    def save(self, progress: ImportProgress, etag: str | None) -> str | None:
        """Compare-and-swap; PreconditionFailedError if another runner wrote meanwhile."""
        data = progress.to_bytes()
        if etag is None:
            return self.store.put(self.key(progress.id, "progress"), data)
        return self.store.put_if_match(self.key(progress.id, "progress"), data, etag)

    def request_cancel(self, import_id: str) -> None:
        self.load(import_id)  # NotFoundError for an unknown id
        self.store.put(self.key(import_id, "cancel"), b'{"cancel": true}')

    def cancel_requested(self, import_id: str) -> bool:
        try:
            self.store.head(self.key(import_id, "cancel"))
        except ObjectNotFoundError:
            return False
        return True

    def lease(self, import_id: str, holder: str, ttl_seconds: float) -> Lease:
        return Lease(self.store, self.key(import_id, "lease"), holder, ttl_seconds)
