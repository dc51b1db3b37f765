"""Keep a Postgres table searchable by meaning: outbox + triggers → workers → SlabDB.

See ``docs/design/sync.md``. Entry points: :func:`init_sync`, :func:`open_sync_worker`,
:func:`bootstrap`, :func:`read_status`, :func:`verify_sync`; targets :class:`EmbeddedTarget`
and :class:`RemoteTarget` (Pinecone API); optional SQS transport :class:`SqsRelay` +
:class:`SqsConsumer`. The CLI is ``slabdb sync``.
"""

from slabdb.sync.bootstrap import BootstrapResult, bootstrap
from slabdb.sync.config import SyncConfig, SyncNotFoundError
from slabdb.sync.metrics import SyncMetrics, SyncStatus, read_status
from slabdb.sync.remote import RemoteTarget
from slabdb.sync.retry import OutboxRetryPolicy
from slabdb.sync.setup import init_sync, load_sync, open_sync_worker, uninstall_sync
from slabdb.sync.sqs import SqsConsumer, SqsRelay, SqsSettings
from slabdb.sync.target import EmbeddedTarget, SyncTarget, TargetBatch
from slabdb.sync.verify import VerifyReport, verify_sync
from slabdb.sync.worker import SyncWorker, WorkerPool, WorkerSettings

__all__ = [
    "BootstrapResult",
    "EmbeddedTarget",
    "OutboxRetryPolicy",
    "RemoteTarget",
    "SqsConsumer",
    "SqsRelay",
    "SqsSettings",
    "SyncConfig",
    "SyncMetrics",
    "SyncNotFoundError",
    "SyncStatus",
    "SyncTarget",
    "SyncWorker",
    "TargetBatch",
    "VerifyReport",
    "WorkerPool",
    "WorkerSettings",
    "bootstrap",
    "init_sync",
    "load_sync",
    "open_sync_worker",
    "read_status",
    "uninstall_sync",
    "verify_sync",
]
