"""Helpers for tests, SlabDB's own and its users': in-memory fakes instead of monkeypatching."""

from slabdb.testing.embedders import FakeEmbedder, FlakyEmbedder, hash_vector  # noqa: F401
from slabdb.testing.stores import HookStore  # noqa: F401
