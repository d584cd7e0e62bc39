"""The array layouts the local index's kernels share (a leaf module: numpy only).

Why a leaf: the numpy kernels (``kernels``), the compiled ones (``_numba_*``) and the
index all pass these objects around, so none of them imports another for its types.
Every kernel takes one :class:`ForwardStore` / :class:`Postings` / :class:`BlockMax`
object instead of long lists of bare arrays; only the compiled functions themselves
see the arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

QMAX = 65535
"""Largest quantised posting weight: a term's maximum weight maps to this code."""

BOUND_MAX = 255
"""Largest block-max code (``uint8``): ``ceil(code / 257)``, so ``257 * bound >= code``."""

BOUND_STEP = 257
"""``QMAX / BOUND_MAX``: one block-max step in posting codes."""

MIN_BLOCK_ROWS = 64
"""Rows per block-max block (grown to keep block numbers within ``uint16``)."""


@dataclass(frozen=True)
class ForwardStore:
    """Documents as CSR rows (sorted term ids, float32 weights): the exact source of
    truth, used to re-score candidates and to return vectors."""

    indptr: npt.NDArray[np.int64]
    terms: npt.NDArray[np.int32]
    values: npt.NDArray[np.float32]

    @property
    def n_rows(self) -> int:
        return int(self.indptr.shape[0]) - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1]) if self.indptr.shape[0] else 0

    @classmethod
    def empty(cls) -> ForwardStore:
        return cls(
            np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, np.float32)
        )

    def row(self, r: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        lo, hi = int(self.indptr[r]), int(self.indptr[r + 1])
        return np.array(self.terms[lo:hi]), np.array(self.values[lo:hi])

    def take(self, rows: npt.NDArray[np.int64]) -> ForwardStore:
        """A new store holding ``rows`` in that order (compaction and reordering)."""
        lengths = (self.indptr[rows + 1] - self.indptr[rows]).astype(np.int64)
        indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        total = int(indptr[-1])
        positions = np.repeat(self.indptr[rows] - indptr[:-1], lengths) + np.arange(
            total, dtype=np.int64
        )
        return ForwardStore(
            indptr, np.asarray(self.terms[positions]), np.asarray(self.values[positions])
        )


@dataclass(frozen=True)
class Postings:
    """An inverted index in CSC-like flat arrays (term -> doc rows, quantised weights).

    Attributes:
        term_indptr: int64[V + 1]; postings of term t are ``[term_indptr[t], term_indptr[t+1])``.
        post_docs: int32 doc rows, ascending within a term.
        post_q: uint16 codes; weight ~= ``post_q * term_scale[t]`` (within ``term_scale[t]``).
        term_scale: float32[V] per-term step (``max weight of the term / 65535``).
    """

    term_indptr: npt.NDArray[np.int64]
    post_docs: npt.NDArray[np.int32]
    post_q: npt.NDArray[np.uint16]
    term_scale: npt.NDArray[np.float32]

    @property
    def vocab_size(self) -> int:
        return int(self.term_indptr.shape[0]) - 1

    @property
    def nnz(self) -> int:
        return int(self.post_docs.shape[0])


@dataclass(frozen=True)
class BlockMax:
    """Per-term upper bounds over blocks of ``block_rows`` consecutive rows.

    The bound of term t in block b is ``bound * 257 * term_scale[t]`` where ``bound`` is
    ``ceil(max posting code of t in b / 257)``: never below any posting's quantised
    weight, so a block whose summed bounds fall below the k-th score holds no result
    (Block-Max Pruning, Mallia, Suel & Tonellotto, SIGIR 2024).

    Attributes:
        block_rows: rows per block (a power of two).
        bm_indptr: int64[V + 1]; term t's blocks are ``[bm_indptr[t], bm_indptr[t+1])``.
        bm_block: uint16 block numbers, ascending per term (``block_rows`` grows with the
            corpus so that there are at most 65,535 blocks).
        bm_bound: uint8 bound codes.
        bm_start: uint32 offset of the entry's first posting from its term's first
            posting, so a visited block jumps straight to its postings.
    """

    block_rows: int
    bm_indptr: npt.NDArray[np.int64]
    bm_block: npt.NDArray[np.uint16]
    bm_bound: npt.NDArray[np.uint8]
    bm_start: npt.NDArray[np.uint32]

    @property
    def n_entries(self) -> int:
        return int(self.bm_block.shape[0])

    @property
    def nbytes(self) -> int:
        arrays = (self.bm_indptr, self.bm_block, self.bm_bound, self.bm_start)
        return int(sum(a.nbytes for a in arrays))


class Ranked(NamedTuple):
    """Candidates ranked by ``(-exact score, row)``, positive scores only, with their
    stored vectors as CSR rows (``terms/values[indptr[i]:indptr[i + 1]]`` is row i's)."""

    rows: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    indptr: npt.NDArray[np.int64]
    terms: npt.NDArray[np.int32]
    values: npt.NDArray[np.float32]


class ScoreBuffers:
    """Per-thread scratch arrays for the compiled kernels: a score accumulator, touched
    rows and scores of kept rows, and per-block bounds and slots for block-max search.
    Kernels leave ``scores`` and ``block_bounds`` all-zero and ``block_slots`` all -1."""

    def __init__(self, n_rows: int) -> None:
        self.scores = np.zeros(n_rows, dtype=np.float32)
        self.touched = np.zeros(n_rows, dtype=np.int32)
        self.kept_scores = np.zeros(n_rows, dtype=np.float32)
        self.block_bounds = np.zeros(0, dtype=np.float32)
        self.block_slots = np.zeros(0, dtype=np.int32)

    @property
    def size(self) -> int:
        return int(self.touched.shape[0])

    def for_blocks(
        self, n_blocks: int, block_rows: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """Bounds and slots of ``n_blocks`` blocks, and an accumulator of as many
        whole blocks (grown on first use, then reused)."""
        if self.block_bounds.shape[0] < n_blocks:
            self.block_bounds = np.zeros(n_blocks, dtype=np.float32)
            self.block_slots = np.full(n_blocks, -1, dtype=np.int32)
        if self.scores.shape[0] < n_blocks * block_rows:
            self.scores = np.zeros(n_blocks * block_rows, dtype=np.float32)
        return self.block_bounds, self.block_slots, self.scores


@dataclass(frozen=True)
class Query:
    """A query as the kernels see it: sorted term ids, float32 weights, and the
    proven error bounds of approximate scores (see ``kernels.error_bounds``)."""

    terms: npt.NDArray[np.int32]
    weights: npt.NDArray[np.float32]
    abs_err: float
    rel_err: float


def block_rows_for(n_rows: int) -> int:
    """The block size: :data:`MIN_BLOCK_ROWS`, doubled until block numbers fit uint16."""
    rows = MIN_BLOCK_ROWS
    while (n_rows + rows - 1) // rows > 65535:
        rows *= 2
    return rows


def order_by_keys(
    top1: npt.NDArray[np.int64], top2: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Rows sorted by ``(top1, top2, row)``."""
    return np.lexsort((np.arange(top1.shape[0]), top2, top1)).astype(np.int64)
