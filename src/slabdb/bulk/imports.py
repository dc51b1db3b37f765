"""The import API of one index: start, describe, list, cancel (and resume, a SlabDB extra).

``start`` records the import (status Pending) and runs it in a daemon thread of this
process; the caller polls :meth:`BulkImports.describe`.  If the process dies, the import
stays InProgress in the store: :meth:`BulkImports.resume` (``slabdb import --resume``)
carries on from its last finished chunk, on any node, once the dead runner's lease has
expired.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from slabdb.bulk.progress import (
    ERROR_MODES,
    ImportList,
    ImportModel,
    ImportProgress,
    Pagination,
    StartImportResponse,
    now_text,
)
from slabdb.bulk.runner import IMPORT_LEASE_SECONDS, ImportRunner, ImportTarget
from slabdb.bulk.source import open_source
from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError

log = logging.getLogger(__name__)


def error_mode_of(error_mode: str | None) -> str:
    """``continue`` or ``abort`` (the default), case-insensitive, as the SDK sends it."""
    mode = (error_mode or "abort").lower()
    if mode not in ERROR_MODES:
        raise InvalidArgumentError(f"error_mode must be 'continue' or 'abort', got {error_mode!r}")
    return mode


def absolute_uri(uri: str) -> str:
    """A local directory as an absolute path (a resume may run from another directory)."""
    if not isinstance(uri, str) or "://" in uri:
        return uri
    return str(Path(uri).expanduser().resolve())


class BulkImports:
    """Imports into one index (``target``), run in background threads of this process."""

    def __init__(self, target: ImportTarget, lease_seconds: float = IMPORT_LEASE_SECONDS) -> None:
        self.target = target
        self.lease_seconds = lease_seconds
        """How long a dead runner's lease blocks a resume."""
        self._threads: dict[str, threading.Thread] = {}

    def start(
        self,
        uri: str,
        error_mode: str | None = None,
        background: bool = True,
        on_progress: Callable[[ImportProgress], None] | None = None,
    ) -> StartImportResponse:
        """Record a new import of ``uri`` and run it (in a thread, or here if not ``background``)."""
        mode = error_mode_of(error_mode)
        uri = absolute_uri(uri)
        open_source(uri, **self.target.source_options).close()  # a bad uri fails here, at once
        progress, _ = self.target.records.create(
            lambda import_id: ImportProgress(
                id=import_id, uri=uri, error_mode=mode, created_at=now_text()
            )
        )
        self._launch(progress.id, background, on_progress)
        return StartImportResponse(id=progress.id)

    def resume(
        self,
        import_id: str,
        background: bool = True,
        on_progress: Callable[[ImportProgress], None] | None = None,
    ) -> ImportModel:
        """Carry on an import whose process died (ConflictError while its runner lives)."""
        self.target.records.load(import_id)
        self._launch(import_id, background, on_progress)
        return self.describe(import_id)

    def _launch(
        self, import_id: str, background: bool, on_progress: Callable[[ImportProgress], None] | None
    ) -> None:
        runner = ImportRunner(self.target, import_id, on_progress, self.lease_seconds)
        if not background:
            runner.run()
            return
        thread = threading.Thread(
            target=_run_logged, args=(runner,), name=f"slabdb-import-{import_id}", daemon=True
        )
        self._threads[import_id] = thread
        thread.start()

    def wait(self, import_id: str, timeout: float | None = None) -> ImportModel:
        """Wait for this process's runner of ``import_id`` (if any), then describe it."""
        thread = self._threads.get(import_id)
        if thread is not None:
            thread.join(timeout)
        return self.describe(import_id)

    def describe(self, import_id: str) -> ImportModel:
        return ImportModel.of(self.target.records.load(str(import_id))[0])

    def list_paginated(
        self, limit: int | None = None, pagination_token: str | None = None
    ) -> ImportList:
        """One page of imports, oldest first (``limit`` 1 to 100, default 100)."""
        size = limits.DEFAULT_LIST_LIMIT if limit is None else int(limit)
        if not 1 <= size <= limits.MAX_LIST_LIMIT:
            raise InvalidArgumentError(f"limit must be within [1, {limits.MAX_LIST_LIMIT}]")
        ids = self.target.records.ids()
        start = 0
        if pagination_token:
            if pagination_token not in ids:
                raise InvalidArgumentError("invalid pagination token")
            start = ids.index(pagination_token)
        page = ids[start : start + size]
        more = start + size < len(ids)
        models = [self.describe(i) for i in page]
        return ImportList(models, Pagination(next=ids[start + size]) if more else None)

    def cancel(self, import_id: str) -> None:
        """Ask the runner to stop after its current chunk (no effect once finished)."""
        self.target.records.request_cancel(str(import_id))


def _run_logged(runner: ImportRunner) -> None:
    try:
        runner.run()
    except Exception:  # the import stays InProgress in the store: resumable
        log.exception("import %s stopped", runner.import_id)
