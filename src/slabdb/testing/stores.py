"""An object store that forwards to another and lets a test watch or break each call.

    store = HookStore(open_store("memory://"))
    store.hooks["put_if_match"] = lambda key: (_ for _ in ()).throw(OSError("down"))
    db = slabdb.Client(store)

``hooks[name]`` runs with the key before the call of that name (``put``,
``put_if_absent``, ``put_if_match``, ``get``, ``get_range``, ``head``, ``list``,
``delete``) and may raise to inject a failure; ``after_get`` runs after a successful
``get``, between the caller's read and its next step, which is where races are forced.
``calls`` counts every call by name (``list`` calls count by prefix too, in
``list_prefixes``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from slabdb.storage.base import GetResult, ObjectMeta, ObjectStore


class HookStore(ObjectStore):
    """Delegates to ``inner``; counts calls and runs optional hooks around them."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.hooks: dict[str, Callable[[str], None]] = {}
        self.calls: dict[str, int] = {}
        self.list_prefixes: list[str] = []

    def _hook(self, name: str, key: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        hook = self.hooks.get(name)
        if hook is not None:
            hook(key)

    @property
    def url(self) -> str:
        return self.inner.url

    def put(self, key: str, data: bytes) -> str | None:
        self._hook("put", key)
        return self.inner.put(key, data)

    def put_if_absent(self, key: str, data: bytes | memoryview) -> str | None:
        self._hook("put_if_absent", key)
        return self.inner.put_if_absent(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> str | None:
        self._hook("put_if_match", key)
        return self.inner.put_if_match(key, data, etag)

    def get(self, key: str) -> GetResult:
        self._hook("get", key)
        got = self.inner.get(key)
        self._hook("after_get", key)
        return got

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self._hook("get_range", key)
        return self.inner.get_range(key, start, end)

    def head(self, key: str) -> ObjectMeta:
        self._hook("head", key)
        return self.inner.head(key)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectMeta]:
        self._hook("list", prefix)
        self.list_prefixes.append(prefix)
        return self.inner.list(prefix, start_after)

    def delete(self, key: str) -> None:
        self._hook("delete", key)
        self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()
