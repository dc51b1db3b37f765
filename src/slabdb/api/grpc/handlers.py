"""Registering the servicer with SlabDB's own request decoding.

grpcio answers a request it cannot decode, or one over its receive limit, before any
servicer code runs: INTERNAL "Exception deserializing request!" or RESOURCE_EXHAUSTED
(which SDK 10 takes for a rate limit and retries for half a minute). So each method's
deserializer here never fails: it checks the size against the API's limit, cuts out and
decodes the ``filter`` (:mod:`.wire`), and hands the servicer a :class:`Parsed` that
holds either the request or the error to answer it with (INVALID_ARGUMENT with the
limit, as REST's 400/413 say it). The method table itself is the generated one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from slabdb.api.grpc import wire
from slabdb.api.grpc.gen import db_data_pb2_grpc as pb_grpc
from slabdb.api.limits import too_large
from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError, SlabDBError

SERVICE = "VectorService"
COLUMN_MESSAGES = frozenset({"UpsertRequest"})
"""Requests read from their bytes as columns (:attr:`Parsed.columns`)."""
MAX_RECEIVE_BYTES = 4 * limits.MAX_REQUEST_BYTES
"""grpcio's own limit, well above the API's 2 MB, so that SlabDB (not grpcio) answers
oversized requests; a request past even this gets grpcio's RESOURCE_EXHAUSTED."""


@dataclass(frozen=True)
class Parsed:
    """A decoded request: the message (its ``filter`` cut out) and the filter, or the
    error the call must answer with."""

    message: Any = None
    """The decoded message; None for an upsert whose :attr:`columns` hold all of it."""
    filter: dict[str, Any] | None = None
    error: SlabDBError | None = None
    columns: wire.UpsertColumns | None = None
    """An upsert's records read from its bytes (:func:`.wire.upsert_columns`): :mod:`.parse`
    turns their packed floats straight into a matrix. When they hold the whole request
    (no metadata, no sparse values: :attr:`~.wire.UpsertColumns.complete`), protobuf
    does not decode it at all."""


def deserializer(message_cls: Any) -> Callable[[bytes], Parsed]:
    """The request deserializer of one method (never raises)."""
    fields = message_cls.DESCRIPTOR.fields_by_name
    filter_number = fields["filter"].number if "filter" in fields else None
    name = message_cls.DESCRIPTOR.name
    as_columns = name in COLUMN_MESSAGES

    def deserialize(data: bytes) -> Parsed:
        if len(data) > limits.MAX_REQUEST_BYTES:
            return Parsed(error=too_large(len(data)))
        try:
            columns = wire.upsert_columns(data) if as_columns else None
            if columns is not None and columns.complete:
                return Parsed(columns=columns)
            raw_filter = None
            if filter_number is not None:
                data, raw_filter = wire.split_field(data, filter_number)
            message = message_cls.FromString(data)
            decoded = None if raw_filter is None else wire.decode_struct(raw_filter)
            return Parsed(message=message, filter=decoded, columns=columns)
        except SlabDBError as refused:
            return Parsed(error=refused)
        except Exception as exc:  # protobuf's DecodeError (too deep, truncated, ...)
            reason = str(exc).rsplit(":", 1)[-1].strip() or type(exc).__name__
            if "MaxDepth" in reason:
                reason = "it nests deeper than protobuf decodes (100 messages)"
            return Parsed(
                error=InvalidArgumentError(f"the request is not a valid {name}: {reason}")
            )

    return deserialize


class _Collector:
    """Stands in for a grpc.Server to capture the generated method handlers."""

    handlers: dict[str, Any]

    def add_generic_rpc_handlers(self, _: Any) -> None:
        pass

    def add_registered_method_handlers(self, _: str, handlers: dict[str, Any]) -> None:
        self.handlers = handlers


def add_servicer(servicer: pb_grpc.VectorServiceServicer, server: grpc.Server) -> None:
    """Register ``servicer`` on ``server`` with :func:`deserializer` for every method."""
    collector = _Collector()
    pb_grpc.add_VectorServiceServicer_to_server(servicer, collector)
    handlers = {}
    for method, handler in collector.handlers.items():
        message_cls = handler.request_deserializer.__self__
        handlers[method] = handler._replace(request_deserializer=deserializer(message_cls))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
