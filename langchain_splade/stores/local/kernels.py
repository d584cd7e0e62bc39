"""Scoring kernels of the local index: a compiled (numba) one and a numpy fallback.

Why two: numba makes term-at-a-time scoring a single fused loop (no temporaries,
no argpartition over all N scores, GIL released so threads scale), but it is an
optional extra (``pip install 'langchain-splade[fast]'``). The numpy fallback
computes the same candidate sets, so results never depend on which kernel ran:
final scores come from :func:`rank_numpy` or its compiled twin, which sum the same
products in the same order (bit-identical float64 scores) and rank alike.

Scoring is approximate on purpose and then made exact (see :func:`error_bounds`):
postings store weights quantised to ``uint16`` per term (6 bytes a posting with an
``int32`` doc id) and scores accumulate in ``float32``. Every document whose exact
score could reach the k-th best is kept as a candidate and re-scored in float64
from the stored float32 vectors, so the returned ranking is the exact one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

QMAX = 65535
"""Largest quantised weight: a term's maximum weight maps to this code."""

_ENV_KERNEL = "LANGCHAIN_SPLADE_KERNEL"


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


def error_bounds(
    postings: Postings, q_terms: npt.NDArray[np.int32], q_weights: npt.NDArray[np.float32]
) -> tuple[float, float]:
    """``(absolute, relative)`` bounds on ``|approximate score - exact score|``.

    A document's approximate score ``s`` satisfies ``|s - exact| <= abs + rel * s``:
    quantisation adds at most ``q_w * term_scale`` per shared term (one posting per
    term and document), and float32 recursive summation of m positive terms, each a
    product of two rounded factors, adds at most ``(m + 2) * 2**-24`` relative error
    (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., sec. 4.2). We
    double the relative bound and pad the absolute one, so rounding in the bound
    itself can never make it too tight.
    """
    vocab = postings.vocab_size
    if q_terms.shape[0] and int(q_terms[-1]) < vocab:  # sorted terms, all inside
        terms, weights = q_terms, q_weights
    else:
        inside = q_terms < vocab
        terms, weights = q_terms[inside], q_weights[inside]
    scales = postings.term_scale[terms].astype(np.float64)
    abs_err = float(np.dot(weights.astype(np.float64), scales)) * 1.001
    rel_err = (q_terms.shape[0] + 3) * 2.0**-23
    return abs_err, rel_err


# -- numpy reference implementation --------------------------------------------------


def build_postings_numpy(
    doc_indptr: npt.NDArray[np.int64],
    doc_terms: npt.NDArray[np.int32],
    doc_values: npt.NDArray[np.float32],
    vocab_size: int,
) -> Postings:
    """Transpose a forward CSR store into quantised postings (stable: rows ascend)."""
    n_rows = doc_indptr.shape[0] - 1
    counts = np.bincount(doc_terms, minlength=vocab_size)[:vocab_size]
    term_indptr = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(counts, out=term_indptr[1:])
    order = np.argsort(doc_terms, kind="stable")
    rows = np.repeat(np.arange(n_rows, dtype=np.int32), np.diff(doc_indptr))
    post_docs = rows[order]
    weights = doc_values[order]
    term_max = np.zeros(vocab_size, dtype=np.float32)
    np.maximum.at(term_max, doc_terms, doc_values)
    term_scale = (term_max.astype(np.float64) / QMAX).astype(np.float32)
    post_terms = doc_terms[order]
    post_q = _quantise(weights, term_scale[post_terms])
    return Postings(term_indptr, post_docs.astype(np.int32), post_q, term_scale)


def _quantise(
    weights: npt.NDArray[np.float32], scales: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint16]:
    codes = np.rint(weights.astype(np.float64) / scales.astype(np.float64))
    return np.clip(codes, 1, QMAX).astype(np.uint16)


def topk_candidates_numpy(
    postings: Postings,
    q_terms: npt.NDArray[np.int32],
    q_weights: npt.NDArray[np.float32],
    delta_start: int,
    delta_indptr: npt.NDArray[np.int64],
    delta_terms: npt.NDArray[np.int32],
    delta_values: npt.NDArray[np.float32],
    mask: npt.NDArray[np.bool_],
    k: int,
    abs_err: float,
    rel_err: float,
    buffers: ScoreBuffers | None = None,
) -> npt.NDArray[np.int64]:
    """Rows that may be in the exact top-``k`` among ``mask`` (see module docstring)."""
    n_rows = mask.shape[0]
    scores = np.zeros(n_rows, dtype=np.float32)
    vocab = postings.vocab_size
    for t, qw in zip(q_terms.tolist(), q_weights.tolist()):
        if t >= vocab:
            continue
        lo, hi = int(postings.term_indptr[t]), int(postings.term_indptr[t + 1])
        if lo == hi:
            continue
        w = np.float32(qw) * postings.term_scale[t]
        scores[postings.post_docs[lo:hi]] += w * postings.post_q[lo:hi].astype(np.float32)
    n_delta = delta_indptr.shape[0] - 1
    if n_delta > 0 and q_terms.size:
        dense = np.zeros(int(q_terms.max()) + 1, dtype=np.float32)
        dense[q_terms] = q_weights
        terms = delta_terms[: delta_indptr[-1]]
        inside = terms < dense.shape[0]
        prods = np.where(inside, dense[np.where(inside, terms, 0)], np.float32(0))
        prods = prods * delta_values[: delta_indptr[-1]]
        sums = np.zeros(n_delta, dtype=np.float32)
        nonempty = np.diff(delta_indptr) > 0
        if prods.size:
            sums[nonempty] = np.add.reduceat(prods, delta_indptr[:-1][nonempty])
        scores[delta_start : delta_start + n_delta] = sums
    touched = np.flatnonzero((scores > 0) & mask)
    if touched.size <= k:
        return touched.astype(np.int64)
    values = scores[touched]
    kth = float(np.partition(values, touched.size - k)[touched.size - k])
    tau = (kth * (1.0 - rel_err) - 2.0 * abs_err) / (1.0 + rel_err)
    return touched[values >= tau].astype(np.int64)


# -- shared exact re-scoring ---------------------------------------------------------


def rescore(
    doc_indptr: npt.NDArray[np.int64],
    doc_terms: npt.NDArray[np.int32],
    doc_values: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    q_terms: npt.NDArray[np.int32],
    q_weights: npt.NDArray[np.float32],
) -> npt.NDArray[np.float64]:
    """Exact float64 dot products of ``rows`` of a forward CSR store with the query.

    Products of two float32 numbers are exact in float64, so only the final sum rounds.
    """
    if rows.size == 0:
        return np.zeros(0, dtype=np.float64)
    starts = doc_indptr[rows]
    lengths = doc_indptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0 or q_terms.size == 0:
        return np.zeros(rows.size, dtype=np.float64)
    offsets = np.zeros(rows.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    positions = np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)
    terms = np.asarray(doc_terms[positions])
    values = np.asarray(doc_values[positions]).astype(np.float64)
    slot = np.searchsorted(q_terms, terms)
    slot_ok = np.minimum(slot, q_terms.size - 1)
    hit = q_terms[slot_ok] == terms
    prods = np.where(hit, q_weights[slot_ok].astype(np.float64) * values, 0.0)
    # Sequential per-row sums keep results independent of how rows are batched.
    owner = np.repeat(np.arange(rows.size), lengths)
    out = np.zeros(rows.size, dtype=np.float64)
    np.add.at(out, owner, prods)
    return out


def rescore_split_numpy(
    base_indptr: npt.NDArray[np.int64],
    base_terms: npt.NDArray[np.int32],
    base_values: npt.NDArray[np.float32],
    delta_indptr: npt.NDArray[np.int64],
    delta_terms: npt.NDArray[np.int32],
    delta_values: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    q_terms: npt.NDArray[np.int32],
    q_weights: npt.NDArray[np.float32],
) -> npt.NDArray[np.float64]:
    """:func:`rescore` of ``rows`` numbered across a base store then a delta store."""
    n_base = int(base_indptr.shape[0]) - 1
    scores = np.zeros(rows.shape[0], dtype=np.float64)
    in_base = rows < n_base
    if in_base.any():
        scores[in_base] = rescore(
            base_indptr, base_terms, base_values, rows[in_base], q_terms, q_weights
        )
    if not in_base.all():
        local = rows[~in_base] - n_base
        scores[~in_base] = rescore(
            delta_indptr, delta_terms, delta_values, local, q_terms, q_weights
        )
    return scores


class Ranked(NamedTuple):
    """Candidates ranked by ``(-exact score, row)``, positive scores only, with their
    stored vectors as CSR rows (``terms/values[indptr[i]:indptr[i + 1]]`` is row i's)."""

    rows: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    indptr: npt.NDArray[np.int64]
    terms: npt.NDArray[np.int32]
    values: npt.NDArray[np.float32]


def rank_numpy(
    base_indptr: npt.NDArray[np.int64],
    base_terms: npt.NDArray[np.int32],
    base_values: npt.NDArray[np.float32],
    delta_indptr: npt.NDArray[np.int64],
    delta_terms: npt.NDArray[np.int32],
    delta_values: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    q_terms: npt.NDArray[np.int32],
    q_weights: npt.NDArray[np.float32],
) -> Ranked:
    """Exact scores of ``rows`` (:func:`rescore_split_numpy`), ranked, with vectors."""
    scores = rescore_split_numpy(
        base_indptr,
        base_terms,
        base_values,
        delta_indptr,
        delta_terms,
        delta_values,
        rows,
        q_terms,
        q_weights,
    )
    order = np.lexsort((rows, -scores))
    order = order[scores[order] > 0.0]
    rows, scores = rows[order].astype(np.int64), scores[order]
    n_base = int(base_indptr.shape[0]) - 1
    parts_t, parts_v = [], []
    for r in rows.tolist():
        if r < n_base:
            lo, hi = int(base_indptr[r]), int(base_indptr[r + 1])
            parts_t.append(base_terms[lo:hi])
            parts_v.append(base_values[lo:hi])
        else:
            lo, hi = int(delta_indptr[r - n_base]), int(delta_indptr[r - n_base + 1])
            parts_t.append(delta_terms[lo:hi])
            parts_v.append(delta_values[lo:hi])
    indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum([p.shape[0] for p in parts_t], out=indptr[1:])
    terms = np.concatenate(parts_t).astype(np.int32) if parts_t else np.zeros(0, np.int32)
    values = np.concatenate(parts_v).astype(np.float32) if parts_v else np.zeros(0, np.float32)
    return Ranked(rows, scores, indptr, terms, values)


# -- buffers -------------------------------------------------------------------------


class ScoreBuffers:
    """Per-thread scratch arrays for the compiled kernel: a score accumulator that
    the kernel leaves all-zero on return, touched rows, and scores of kept rows."""

    def __init__(self, n_rows: int) -> None:
        self.scores = np.zeros(n_rows, dtype=np.float32)
        self.touched = np.zeros(n_rows, dtype=np.int32)
        self.kept_scores = np.zeros(n_rows, dtype=np.float32)

    @property
    def size(self) -> int:
        return int(self.scores.shape[0])


# -- kernel selection ----------------------------------------------------------------


@dataclass(frozen=True)
class Kernels:
    """The functions a search uses; ``name`` is ``"numba"`` or ``"numpy"``."""

    name: str
    build_postings: Callable[..., Postings]
    topk_candidates: Callable[..., npt.NDArray[np.int64]]
    needs_buffers: bool
    rank: Callable[..., Ranked]
    """Exact scores, ranking and vectors of the candidates (see rank_numpy)."""


_KERNELS: dict[str, Kernels] = {}


def numpy_kernels() -> Kernels:
    """The pure numpy kernels (always available)."""
    if "numpy" not in _KERNELS:
        _KERNELS["numpy"] = Kernels(
            "numpy",
            build_postings_numpy,
            topk_candidates_numpy,
            needs_buffers=False,
            rank=rank_numpy,
        )
    return _KERNELS["numpy"]


def numba_kernels() -> Kernels | None:
    """The compiled kernels, or ``None`` when numba is not installed."""
    if "numba" not in _KERNELS:
        try:
            from langchain_splade.stores.local import _numba_kernels
        except ImportError:
            return None
        _KERNELS["numba"] = Kernels(
            "numba",
            _numba_kernels.build_postings,
            _numba_kernels.topk_candidates,
            needs_buffers=True,
            rank=_numba_kernels.rank,
        )
    return _KERNELS["numba"]


_LOGGED: set[str] = set()


def get_kernels(preference: str | None = None) -> Kernels:
    """Pick the kernels: ``preference`` or ``$LANGCHAIN_SPLADE_KERNEL`` ("numba",
    "numpy" or "auto"); auto uses numba when importable. Logs the choice once."""
    choice = (preference or os.environ.get(_ENV_KERNEL) or "auto").lower()
    if choice not in ("auto", "numba", "numpy"):
        from langchain_splade.errors import InvalidInputError

        raise InvalidInputError(
            f"Unknown kernel {choice!r}.",
            expected="'auto', 'numba' or 'numpy'",
            fix=f"pass kernel='auto' or unset ${_ENV_KERNEL}",
        )
    kernels: Kernels | None = None
    if choice in ("auto", "numba"):
        kernels = numba_kernels()
        if kernels is None and choice == "numba":
            from langchain_splade.errors import require

            require("numba", "fast")
    if kernels is None:
        kernels = numpy_kernels()
    if kernels.name not in _LOGGED:
        _LOGGED.add(kernels.name)
        if kernels.name == "numba":
            logger.info("LocalSparseIndex uses the compiled numba kernel.")
        else:
            logger.info(
                "LocalSparseIndex uses the numpy kernel; "
                "pip install 'langchain-splade[fast]' for the faster numba one."
            )
    return kernels
