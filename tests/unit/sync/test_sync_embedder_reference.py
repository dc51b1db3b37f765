"""A sync may name its embedder as ``package.module:Factory``."""

from __future__ import annotations

import pytest

from slabdb.core.errors import InvalidArgumentError
from slabdb.sync.setup import resolve_embedder
from slabdb.testing.embedders import FakeEmbedder


def test_a_module_reference_builds_that_embedder() -> None:
    embedder = resolve_embedder("slabdb.testing.embedders:FakeEmbedder", {"dimension": 4})
    assert isinstance(embedder, FakeEmbedder) and embedder.dimension == 4


def test_a_reference_to_something_that_is_no_embedder_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="cannot build the embedder"):
        resolve_embedder("collections:OrderedDict")
