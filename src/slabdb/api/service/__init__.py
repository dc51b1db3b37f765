"""The transport-neutral data plane that REST (:mod:`slabdb.api.rest`) and gRPC
(:mod:`slabdb.api.grpc`) both call, so the two cannot disagree.

* :mod:`.inputs` - each operation's arguments as plain values.
* :mod:`.index_service` - :class:`IndexService`, one method per operation.
* :mod:`.reply` - :class:`Reply`: the wire-neutral result and the LSNs to report; the
  request's minimum LSN (read-your-writes).
* :mod:`slabdb.core.naming` - the default-namespace rule (``"__default__"`` <-> ``""``).
"""

from slabdb.api.service.index_service import IndexService
from slabdb.api.service.reply import MAX_INDEXED_LSN, MIN_LSN, REQUEST_LSN, Reply, min_lsn

__all__ = ["MAX_INDEXED_LSN", "MIN_LSN", "REQUEST_LSN", "IndexService", "Reply", "min_lsn"]
