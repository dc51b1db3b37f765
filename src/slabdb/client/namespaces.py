"""Namespace operations of one index (SDK method names): list, describe, create, delete."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

from slabdb.client import validation
from slabdb.client.context import IndexContext
from slabdb.client.pagination import decode_token, encode_token
from slabdb.client.responses import ListNamespacesResponse, NamespaceDescription, Pagination
from slabdb.core import limits, naming
from slabdb.core.errors import AlreadyExistsError, NamespaceNotFoundError


class NamespaceOps:
    """List, describe, create and delete the namespaces of one index."""

    def __init__(self, ctx: IndexContext) -> None:
        self._ctx = ctx

    def _describe(self, name: str) -> NamespaceDescription:
        ns = self._ctx.namespace(name)
        if ns is None:
            raise NamespaceNotFoundError(f"namespace {name!r} not found")
        return NamespaceDescription(name=naming.listed_name(name), record_count=ns.view().count)

    def list_namespaces_paginated(
        self,
        limit: int | None = None,
        pagination_token: str | None = None,
        prefix: str | None = None,
    ) -> ListNamespacesResponse:
        after = decode_token("namespaces", pagination_token)  # the previous page's last name
        names = self.namespace_names(prefix)
        total = len(names)
        if after is not None:
            names = [n for n in names if n > after]
        limit = limit or limits.DEFAULT_LIST_LIMIT
        page, rest = names[:limit], names[limit:]
        return ListNamespacesResponse(
            namespaces=[self._describe(n) for n in page],
            pagination=Pagination(next=encode_token("namespaces", page[-1])) if rest else None,
            total_count=total,
        )

    def namespace_names(self, prefix: str | None = None) -> builtins.list[str]:
        """Names of the namespaces of this index ('' is the default), without opening them."""
        names = self._ctx.catalog.namespaces(self._ctx.config)
        return [n for n in names if n.startswith(prefix)] if prefix else names

    def list_namespaces(self, **kwargs: Any) -> Iterator[NamespaceDescription]:
        token = kwargs.pop("pagination_token", None)
        while True:
            page = self.list_namespaces_paginated(pagination_token=token, **kwargs)
            yield from page.namespaces
            if page.pagination is None:
                return
            token = page.pagination.next

    def describe_namespace(self, namespace: str) -> NamespaceDescription:
        return self._describe(validation.namespace(namespace))

    def create_namespace(self, name: str) -> NamespaceDescription:
        """A new, empty namespace; 409 if it exists (the default namespace always does)."""
        ns_name = validation.new_namespace_name(name)
        if ns_name == "":
            raise AlreadyExistsError("namespace '__default__' already exists (it always does)")
        self._ctx.catalog.create_namespace(self._ctx.config, ns_name)
        self._ctx.namespace(ns_name, create=True)
        return self._describe(ns_name)

    def delete_namespace(self, namespace: str) -> dict[str, Any]:
        name = validation.namespace(namespace)
        ns = self._ctx.namespace(name)
        if ns is None:
            raise NamespaceNotFoundError(f"namespace {namespace!r} not found")
        self._ctx.catalog.unregister_namespace(self._ctx.config, name)
        self._ctx.handles.forget(self._ctx.config, name)
        ns.delete_all_data()
        return {}
