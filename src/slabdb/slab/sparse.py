"""Sparse vectors inside a slab: CSR rows plus postings (an inverted index).

* :class:`SparseRows` is the row-major (CSR) form: ``indptr`` (n+1), ``indices``,
  ``values`` and a ``present`` flag per row (a row may have no sparse vector at all,
  which differs from an empty one).  It reconstructs one row and scores a chosen set
  of rows against a query (the pre-filter path).
* :class:`Postings` is the term-major form: for each term the rows holding it (in row
  order) and their values.  It scores every row against a query by touching only the
  query's terms (the scan path).

Both accumulate in float64, per row in ascending term order, so they produce
bit-identical scores.  Rows without any shared term score 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slabdb.core.values import SparseVector

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def _gather_ranges(starts: I64, lengths: I64) -> tuple[I64, I64]:
    """Positions of the concatenated ranges ``[start, start+length)`` and each one's owner."""
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    if total == 0:
        return np.empty(0, dtype=np.int64), owner
    first = np.cumsum(lengths) - lengths
    pos = np.arange(total, dtype=np.int64) - np.repeat(first - starts, lengths)
    return pos, owner


def _sorted_query(query: SparseVector) -> tuple[U32, F64]:
    idx, val = query.indices, query.values
    if len(idx) > 1 and not bool(np.all(idx[1:] > idx[:-1])):
        order = np.argsort(idx, kind="stable")
        idx, val = idx[order], val[order]
    return idx, val.astype(np.float64)


@dataclass(frozen=True)
class SparseRows:
    """Row-major sparse vectors of a slab's rows."""

    indptr: I64
    indices: U32
    values: F32
    present: npt.NDArray[np.bool_]

    @classmethod
    def build(cls, rows: Sequence[SparseVector | None]) -> SparseRows:
        n = len(rows)
        lengths = np.zeros(n, dtype=np.int64)
        present = np.zeros(n, dtype=np.bool_)
        idx_parts: list[U32] = []
        val_parts: list[F32] = []
        for i, sv in enumerate(rows):
            if sv is None:
                continue
            if len(sv.indices) != len(sv.values):
                raise ValueError(f"row {i}: sparse indices and values differ in length")
            present[i] = True
            lengths[i] = len(sv.indices)
            idx, val = _sorted_query(sv)  # stored rows are in ascending term order
            idx_parts.append(idx)
            val_parts.append(val.astype(np.float32))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate(idx_parts) if idx_parts else np.empty(0, np.uint32)
        values = np.concatenate(val_parts) if val_parts else np.empty(0, np.float32)
        return cls(indptr, indices.astype(np.uint32), values.astype(np.float32), present)

    @property
    def n(self) -> int:
        return len(self.present)

    def row(self, row: int) -> SparseVector | None:
        if not self.present[row]:
            return None
        a, b = int(self.indptr[row]), int(self.indptr[row + 1])
        return SparseVector(self.indices[a:b].copy(), self.values[a:b].copy())

    def score_rows(self, query: SparseVector, rows: I64) -> F64:
        """Sparse dot product of ``query`` with each of ``rows``."""
        qi, qv = _sorted_query(query)
        out = np.zeros(len(rows), dtype=np.float64)
        if len(qi) == 0 or len(rows) == 0:
            return out
        starts = self.indptr[rows]
        pos, owner = _gather_ranges(starts, self.indptr[rows + 1] - starts)
        if len(pos) == 0:
            return out
        terms = self.indices[pos]
        j = np.searchsorted(qi, terms)
        j_clip = np.minimum(j, len(qi) - 1)
        hit = qi[j_clip] == terms
        weights = self.values[pos[hit]].astype(np.float64) * qv[j_clip[hit]]
        scores = np.bincount(owner[hit], weights=weights, minlength=len(rows))
        return scores.astype(np.float64, copy=False)


@dataclass(frozen=True)
class Postings:
    """Term-major sparse vectors: ``rows[indptr[t]:indptr[t+1]]`` hold ``terms[t]``."""

    terms: U32
    indptr: I64
    rows: U32
    values: F32

    @classmethod
    def build(cls, csr: SparseRows) -> Postings:
        n_entries = len(csr.indices)
        row_of = np.repeat(np.arange(csr.n, dtype=np.uint32), np.diff(csr.indptr))
        order = np.argsort(csr.indices, kind="stable")  # stable: rows stay ascending per term
        sorted_terms = csr.indices[order]
        terms, starts = np.unique(sorted_terms, return_index=True)
        indptr = np.empty(len(terms) + 1, dtype=np.int64)
        indptr[:-1] = starts
        indptr[-1] = n_entries
        return cls(
            terms.astype(np.uint32), indptr, row_of[order], csr.values[order].astype(np.float32)
        )

    def score_all(self, query: SparseVector, n_rows: int) -> F64:
        """Sparse dot product of ``query`` with every row ``0 .. n_rows-1``."""
        qi, qv = _sorted_query(query)
        if len(qi) == 0 or len(self.terms) == 0:
            return np.zeros(n_rows, dtype=np.float64)
        t = np.searchsorted(self.terms, qi)
        t_clip = np.minimum(t, len(self.terms) - 1)
        hit = self.terms[t_clip] == qi
        t_hit = t_clip[hit]
        starts = self.indptr[t_hit]
        pos, owner = _gather_ranges(starts, self.indptr[t_hit + 1] - starts)
        weights = self.values[pos].astype(np.float64) * qv[hit][owner]
        scores = np.bincount(self.rows[pos], weights=weights, minlength=n_rows)
        return scores.astype(np.float64, copy=False)
