"""Namespace operations of an index (SDK method names): list, describe, create, delete."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from slabdb.client import validation
from slabdb.client.responses import ListNamespacesResponse, NamespaceDescription, Pagination
from slabdb.core import limits
from slabdb.core.errors import NamespaceNotFoundError

if TYPE_CHECKING:
    from slabdb.client.catalog import IndexConfig
    from slabdb.client.client import Client
    from slabdb.engine.namespace import Namespace


class NamespacesMixin:
    """Mixed into :class:`slabdb.client.index.Index`, which provides the attributes below."""

    _client: Client
    config: IndexConfig

    def _ns(self, namespace: str | None, create: bool = False) -> Namespace | None:
        raise NotImplementedError

    def _writer(self, namespace: str | None) -> Namespace:
        raise NotImplementedError

    def _describe(self, name: str) -> NamespaceDescription:
        ns = self._ns(name)
        if ns is None:
            raise NamespaceNotFoundError(f"namespace {name!r} not found")
        return NamespaceDescription(name=name or "__default__", record_count=ns.view().count)

    def list_namespaces_paginated(
        self,
        limit: int | None = None,
        pagination_token: str | None = None,
        prefix: str | None = None,
    ) -> ListNamespacesResponse:
        names = self.namespace_names(prefix)
        total = len(names)
        if pagination_token:
            names = [n for n in names if n > pagination_token]
        limit = limit or limits.DEFAULT_LIST_LIMIT
        page, rest = names[:limit], names[limit:]
        return ListNamespacesResponse(
            namespaces=[self._describe(n) for n in page],
            pagination=Pagination(next=page[-1]) if rest else None,
            total_count=total,
        )

    def namespace_names(self, prefix: str | None = None) -> builtins.list[str]:
        """Names of the namespaces of this index ('' is the default), without opening them."""
        names = self._client.catalog.namespaces(self.config)
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
        ns_name = validation.namespace(name)
        self._writer(ns_name)
        return self._describe(ns_name)

    def delete_namespace(self, namespace: str) -> dict[str, Any]:
        name = validation.namespace(namespace)
        ns = self._ns(name)
        if ns is None:
            raise NamespaceNotFoundError(f"namespace {namespace!r} not found")
        self._client.catalog.unregister_namespace(self.config, name)
        self._client.forget_namespace(self.config, name)
        ns.delete_all_data()
        return {}
