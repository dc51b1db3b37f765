"""SlabDB's one error tree.

Every error a user can see derives from :class:`SlabDBError` and knows how the API
layer should present it: its HTTP status, its gRPC status code and its wire name
(Pinecone's ``error.code`` strings), and whether another attempt may succeed
(``retryable``, read by :func:`slabdb.core.retry.is_retryable`).  The API layer only
translates; it never decides statuses itself.

::

    SlabDBError (500, INTERNAL)
    ├── InvalidArgumentError (400, INVALID_ARGUMENT)
    │   ├── DimensionMismatchError
    │   ├── LimitExceededError
    │   ├── InvalidFilterError
    │   └── InvalidMetadataError
    ├── PayloadTooLargeError (413, INVALID_ARGUMENT)
    ├── UnauthenticatedError (401, UNAUTHENTICATED)
    ├── PermissionDeniedError (403, PERMISSION_DENIED)
    ├── NotFoundError (404, NOT_FOUND)
    │   ├── IndexNotFoundError
    │   ├── NamespaceNotFoundError
    │   └── ObjectNotFoundError
    ├── AlreadyExistsError (409, ALREADY_EXISTS)
    │   └── ObjectExistsError                 create-if-absent found the key taken
    ├── ConflictError (409, ABORTED)          lost a compare-and-swap race; retryable
    │   ├── PreconditionFailedError           put-if-ETag-matches saw another ETag
    │   └── StaleNamespaceError               the open namespace was deleted elsewhere
    ├── CorruptionError (500, DATA_LOSS)       a checksum did not match
    ├── StorageError (503, UNAVAILABLE)        the object store failed; retryable
    │   └── WriteOutcomeUnknownError           a write timed out: it may have landed
    ├── LsnNotReachedError (503, UNAVAILABLE) a read's minimum LSN was not caught up to; retryable
    └── ClosedError (503, UNAVAILABLE)         the database was closed
"""

from __future__ import annotations

from typing import ClassVar


class GrpcCode:
    """gRPC status codes by number (kept here so errors need no grpc import)."""

    OK = 0
    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class SlabDBError(Exception):
    """Base of every SlabDB error."""

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[int] = GrpcCode.INTERNAL
    wire_name: ClassVar[str] = "INTERNAL"
    retryable: bool = False
    """True when the same call may succeed if tried again later (a class attribute)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_control_plane(self) -> dict[str, object]:
        """Pinecone's control-plane error body."""
        return {
            "error": {"code": self.wire_name, "message": self.message},
            "status": self.http_status,
        }

    def to_data_plane(self) -> dict[str, object]:
        """Pinecone's data-plane error body."""
        return {"code": self.grpc_code, "message": self.message, "details": []}


class InvalidArgumentError(SlabDBError):
    """The request is malformed or breaks a documented limit."""

    http_status = 400
    grpc_code = GrpcCode.INVALID_ARGUMENT
    wire_name = "INVALID_ARGUMENT"


class DimensionMismatchError(InvalidArgumentError):
    """A vector's length differs from the index dimension."""


class LimitExceededError(InvalidArgumentError):
    """A count or size limit (records per upsert, top_k, id length, ...) was exceeded."""


class InvalidFilterError(InvalidArgumentError):
    """A metadata filter does not follow the filter language."""


class InvalidMetadataError(InvalidArgumentError):
    """Metadata has a null, a nested object, a bad list or is too large."""


class PayloadTooLargeError(SlabDBError):
    """The request body is over the 2 MB limit."""

    http_status = 413
    grpc_code = GrpcCode.INVALID_ARGUMENT
    wire_name = "INVALID_ARGUMENT"


class UnauthenticatedError(SlabDBError):
    """No API key, or one that is not known."""

    http_status = 401
    grpc_code = GrpcCode.UNAUTHENTICATED
    wire_name = "UNAUTHENTICATED"


class PermissionDeniedError(SlabDBError):
    """The key may not do this (for example, deletion protection is on)."""

    http_status = 403
    grpc_code = GrpcCode.PERMISSION_DENIED
    wire_name = "FORBIDDEN"


class NotFoundError(SlabDBError):
    """The named resource does not exist."""

    http_status = 404
    grpc_code = GrpcCode.NOT_FOUND
    wire_name = "NOT_FOUND"


class IndexNotFoundError(NotFoundError):
    """No index of that name."""


class NamespaceNotFoundError(NotFoundError):
    """No namespace of that name in the index."""


class AlreadyExistsError(SlabDBError):
    """The resource exists already (index name taken, object key claimed)."""

    http_status = 409
    grpc_code = GrpcCode.ALREADY_EXISTS
    wire_name = "ALREADY_EXISTS"


class ConflictError(SlabDBError):
    """A compare-and-swap lost its race; re-read and re-plan."""

    http_status = 409
    grpc_code = GrpcCode.ABORTED
    wire_name = "ABORTED"
    retryable = True


class CorruptionError(SlabDBError):
    """Stored bytes failed their checksum or could not be decoded."""

    http_status = 500
    grpc_code = GrpcCode.DATA_LOSS
    wire_name = "DATA_LOSS"


class StorageError(SlabDBError):
    """The object store did not do what was asked."""

    http_status = 503
    grpc_code = GrpcCode.UNAVAILABLE
    wire_name = "UNAVAILABLE"
    retryable = True


class WriteOutcomeUnknownError(StorageError):
    """The object store did not confirm a write (a timeout or a lost connection after the
    request was sent): it may or may not have landed.

    Retrying the same request is safe: an upsert, update or delete of the same ids with
    the same values has the same result whether the first attempt landed or not.
    """


class LsnNotReachedError(SlabDBError):
    """A read asked for a minimum LSN (read-your-writes) that this node's view of the
    namespace did not reach within the bounded wait (``slabdb.engine.freshness``)."""

    http_status = 503
    grpc_code = GrpcCode.UNAVAILABLE
    wire_name = "UNAVAILABLE"
    retryable = True


class ClosedError(SlabDBError):
    """The database or index handle was closed."""

    http_status = 503
    grpc_code = GrpcCode.UNAVAILABLE
    wire_name = "UNAVAILABLE"


class ObjectNotFoundError(NotFoundError):
    """The object store has no object under that key."""


class ObjectExistsError(AlreadyExistsError):
    """A create-if-absent put found the key taken (another writer won it)."""


class PreconditionFailedError(ConflictError):
    """A put-if-ETag-matches found a different ETag (or no object)."""


class StaleNamespaceError(ConflictError):
    """The namespace this handle had open was deleted by another handle or process.

    Raised after a WAL append landed in the deleted namespace's log; the embedded API
    catches it, reopens the namespace and writes again.
    """
