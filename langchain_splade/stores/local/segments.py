"""In-memory layout of the local index: an immutable base segment plus a delta.

Why this split: rebuilding postings costs O(all postings), so writes go to a small
append-only delta (a forward CSR store scored by brute force) and are merged into a
new base lazily, when the delta grows past a fraction of the base. Arrays already
published are never written again (appends go past their end; merges build new
arrays), so a search can use a snapshot without holding a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from langchain_splade.stores.local.layout import BlockMax, ForwardStore, Postings

_A = TypeVar("_A", bound="np.ndarray[Any, Any]")


def concat(first: ForwardStore, second: ForwardStore) -> ForwardStore:
    """Rows of ``first`` followed by rows of ``second``."""
    indptr = np.concatenate([first.indptr, second.indptr[1:] + first.nnz])
    terms = np.concatenate([first.terms[: first.nnz], second.terms[: second.nnz]])
    values = np.concatenate([first.values[: first.nnz], second.values[: second.nnz]])
    return ForwardStore(indptr, terms, values)


@dataclass(frozen=True)
class Segment:
    """The immutable base: forward rows ``0..n-1``, their postings and block bounds
    (``None`` only for an empty base)."""

    forward: ForwardStore
    postings: Postings
    blockmax: BlockMax | None = None


class GrowableCSR:
    """Append-only CSR rows with amortised O(1) growth (capacity doubling).

    ``view()`` returns arrays that later appends never modify, so snapshots stay valid.
    """

    def __init__(self) -> None:
        self._indptr = np.zeros(16, dtype=np.int64)
        self._terms = np.zeros(1024, dtype=np.int32)
        self._values = np.zeros(1024, dtype=np.float32)
        self._rows = 0
        self._nnz = 0

    @property
    def n_rows(self) -> int:
        return self._rows

    @property
    def nnz(self) -> int:
        return self._nnz

    def extend(
        self,
        lengths: npt.NDArray[np.int64],
        terms: npt.NDArray[np.int32],
        values: npt.NDArray[np.float32],
    ) -> None:
        """Append many rows at once (``lengths[i]`` terms for row i, concatenated)."""
        n_new, nnz = int(lengths.shape[0]), int(terms.shape[0])
        if self._rows + n_new + 1 > self._indptr.shape[0]:
            self._indptr = _grow(self._indptr, self._rows + n_new + 1)
        if self._nnz + nnz > self._terms.shape[0]:
            self._terms = _grow(self._terms, self._nnz + nnz)
            self._values = _grow(self._values, self._nnz + nnz)
        self._terms[self._nnz : self._nnz + nnz] = terms
        self._values[self._nnz : self._nnz + nnz] = values
        np.cumsum(lengths, out=self._indptr[self._rows + 1 : self._rows + n_new + 1])
        self._indptr[self._rows + 1 : self._rows + n_new + 1] += self._nnz
        self._rows += n_new
        self._nnz += nnz

    def view(self) -> ForwardStore:
        return ForwardStore(
            self._indptr[: self._rows + 1], self._terms[: self._nnz], self._values[: self._nnz]
        )


class GrowableArray:
    """An append-only 1-D float64 array; ``view()`` is never modified by later appends."""

    def __init__(self) -> None:
        self._data = np.zeros(16, dtype=np.float64)
        self._size = 0

    def extend(self, values: npt.NDArray[Any]) -> None:
        if self._size + values.shape[0] > self._data.shape[0]:
            self._data = _grow(self._data, self._size + values.shape[0])
        self._data[self._size : self._size + values.shape[0]] = values
        self._size += values.shape[0]

    def view(self) -> npt.NDArray[np.float64]:
        return self._data[: self._size]


def _grow(array: _A, needed: int) -> _A:
    capacity = max(needed, int(array.shape[0] * 1.5) + 16)
    grown = np.zeros(capacity, dtype=array.dtype)
    grown[: array.shape[0]] = array
    return cast(_A, grown)


__all__ = ["ForwardStore", "GrowableArray", "GrowableCSR", "Segment", "concat"]
