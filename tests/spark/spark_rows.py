"""The rows the writer tests load: constants and the expected values, shared by
``conftest.py`` (which generates them in Spark) and ``test_writer.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ROWS = 2000
DIM = 128
GENRES = ("drama", "comedy", "noir")


@dataclass
class Source:
    df: DataFrame
    """id, vector (array<float>), sparse (struct), genre, year, score, tags, meta (struct)."""
    vectors: dict[str, np.ndarray]
    rows: dict[str, dict[str, Any]]
    """Every row's other columns, computed here the way Spark computes them."""


PRIME = 1009
"""Dense values are ((id * DIM + j) % PRIME) / PRIME: exact IEEE arithmetic in Spark and
numpy alike, and every float has a long decimal form (so batches split by bytes)."""
