"""Scoring kernels of the local index: a compiled (numba) set and a numpy fallback.

Why two: numba makes term-at-a-time scoring a single fused loop (no temporaries, GIL
released so threads scale) and makes block-max pruning possible at all (it visits
blocks one by one), but it is an optional extra (``pip install
'langchain-splade[fast]'``). The numpy fallback scores every posting and computes a
superset of the same candidates, so exact results never depend on which kernel ran:
final scores come from :func:`rank_numpy` or its compiled twin, which sum the same
products in the same order (bit-identical float64 scores) and rank alike.

Scoring is approximate on purpose and then made exact (see :func:`make_query`):
postings store weights quantised to ``uint16`` per term and scores accumulate in
``float32``. Every document whose exact score could reach the k-th best is kept as a
candidate and re-scored in float64 from the stored float32 vectors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from langchain_splade.stores.local.layout import (
    BOUND_STEP,
    QMAX,
    BlockMax,
    ForwardStore,
    Postings,
    Query,
    Ranked,
    ScoreBuffers,
    block_rows_for,
    order_by_keys,
)

logger = logging.getLogger(__name__)

_ENV_KERNEL = "LANGCHAIN_SPLADE_KERNEL"


def make_query(
    postings: Postings, q_terms: npt.NDArray[np.int32], q_weights: npt.NDArray[np.float32]
) -> Query:
    """The query with ``(absolute, relative)`` bounds on ``|approximate - exact score|``.

    A document's approximate score ``s`` satisfies ``|s - exact| <= abs + rel * s``:
    quantisation adds at most ``q_w * term_scale`` per shared term (one posting per
    term and document), and float32 summation of m positive terms in any order, each
    a product of two rounded factors, adds at most ``(m + 2) * 2**-24`` relative error
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
    return Query(q_terms, q_weights, abs_err, rel_err)


# -- numpy reference implementation --------------------------------------------------


def build_postings_numpy(forward: ForwardStore, vocab_size: int) -> Postings:
    """Transpose a forward CSR store into quantised postings (stable: rows ascend)."""
    doc_indptr, doc_terms, doc_values = forward.indptr, forward.terms, forward.values
    counts = np.bincount(doc_terms, minlength=vocab_size)[:vocab_size]
    term_indptr = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(counts, out=term_indptr[1:])
    order = np.argsort(doc_terms, kind="stable")
    rows = np.repeat(np.arange(forward.n_rows, dtype=np.int32), np.diff(doc_indptr))
    post_docs = rows[order]
    weights = doc_values[order]
    term_max = np.zeros(vocab_size, dtype=np.float32)
    np.maximum.at(term_max, doc_terms, doc_values)
    term_scale = (term_max.astype(np.float64) / QMAX).astype(np.float32)
    post_q = _quantise(weights, term_scale[doc_terms[order]])
    return Postings(term_indptr, post_docs.astype(np.int32), post_q, term_scale)


def _quantise(
    weights: npt.NDArray[np.float32], scales: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint16]:
    codes = np.rint(weights.astype(np.float64) / scales.astype(np.float64))
    return np.clip(codes, 1, QMAX).astype(np.uint16)


def build_blockmax_numpy(postings: Postings, n_rows: int) -> BlockMax:
    """Per-(term, block) bound codes (vectorised; see :class:`BlockMax`)."""
    block_rows = block_rows_for(n_rows)
    n_blocks = max((n_rows + block_rows - 1) // block_rows, 1)
    vocab = postings.vocab_size
    if postings.nnz == 0:
        empty = np.zeros(0, np.uint16)
        return BlockMax(
            block_rows,
            np.zeros(vocab + 1, np.int64),
            empty,
            empty.astype(np.uint8),
            empty.astype(np.uint32),
        )
    term_of = np.repeat(np.arange(vocab, dtype=np.int64), np.diff(postings.term_indptr))
    key = term_of * n_blocks + np.asarray(postings.post_docs, dtype=np.int64) // block_rows
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    best = np.maximum.reduceat(np.asarray(postings.post_q), starts).astype(np.int64)
    bound = ((best + BOUND_STEP - 1) // BOUND_STEP).astype(np.uint8)
    entry_terms = term_of[starts]
    bm_indptr = np.zeros(vocab + 1, dtype=np.int64)
    np.cumsum(np.bincount(entry_terms, minlength=vocab), out=bm_indptr[1:])
    bm_start = (starts - postings.term_indptr[entry_terms]).astype(np.uint32)
    return BlockMax(
        block_rows, bm_indptr, (key[starts] % n_blocks).astype(np.uint16), bound, bm_start
    )


def document_order(forward: ForwardStore) -> npt.NDArray[np.int64]:
    """A row order that groups documents by their two heaviest terms.

    The numpy kernels never prune, so their merges keep this cheap order (one pass
    plus a sort); the compiled kernels cluster instead (``_numba_order``), which is
    what makes block bounds tight enough to skip most blocks.
    """
    n = forward.n_rows
    top1 = np.full(n, -1, dtype=np.int64)
    top2 = np.full(n, -1, dtype=np.int64)
    if forward.nnz:
        lengths = np.diff(forward.indptr)
        rows = np.repeat(np.arange(n), lengths)
        terms = np.asarray(forward.terms[: forward.nnz])
        order = np.lexsort((terms, -np.asarray(forward.values[: forward.nnz]), rows))
        starts = forward.indptr[:-1]
        has1, has2 = lengths >= 1, lengths >= 2
        top1[has1] = terms[order[starts[has1]]]
        top2[has2] = terms[order[starts[has2] + 1]]
    return order_by_keys(top1, top2)


def topk_candidates_numpy(
    postings: Postings,
    blockmax: BlockMax | None,
    delta: ForwardStore,
    query: Query,
    mask: npt.NDArray[np.bool_],
    k: int,
    alpha: float = 1.0,
    buffers: ScoreBuffers | None = None,
) -> npt.NDArray[np.int64]:
    """Rows that may be in the exact top-``k`` among ``mask``, scoring every posting
    (``blockmax`` and ``alpha`` are accepted for a uniform signature and unused)."""
    n_rows = mask.shape[0]
    n_base = n_rows - delta.n_rows
    scores = np.zeros(n_rows, dtype=np.float32)
    vocab = postings.vocab_size
    q_terms, q_weights = query.terms, query.weights
    for t, qw in zip(q_terms.tolist(), q_weights.tolist()):
        if t >= vocab:
            continue
        lo, hi = int(postings.term_indptr[t]), int(postings.term_indptr[t + 1])
        if lo == hi:
            continue
        w = np.float32(qw) * postings.term_scale[t]
        scores[postings.post_docs[lo:hi]] += w * postings.post_q[lo:hi].astype(np.float32)
    if delta.n_rows > 0 and q_terms.size:
        scores[n_base:] = rescore(delta, np.arange(delta.n_rows), query).astype(np.float32)
    touched = np.flatnonzero((scores > 0) & mask)
    if touched.size <= k:
        return touched.astype(np.int64)
    values = scores[touched]
    kth = float(np.partition(values, touched.size - k)[touched.size - k])
    tau = (kth * (1.0 - query.rel_err) - 2.0 * query.abs_err) / (1.0 + query.rel_err)
    return touched[values >= tau].astype(np.int64)


# -- shared exact re-scoring ---------------------------------------------------------


def rescore(
    store: ForwardStore, rows: npt.NDArray[np.int64], query: Query
) -> npt.NDArray[np.float64]:
    """Exact float64 dot products of ``rows`` of a forward CSR store with the query.

    Products of two float32 numbers are exact in float64, so only the final sum rounds.
    """
    q_terms, q_weights = query.terms, query.weights
    if rows.size == 0:
        return np.zeros(0, dtype=np.float64)
    starts = store.indptr[rows]
    lengths = store.indptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0 or q_terms.size == 0:
        return np.zeros(rows.size, dtype=np.float64)
    offsets = np.zeros(rows.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    positions = np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)
    terms = np.asarray(store.terms[positions])
    values = np.asarray(store.values[positions]).astype(np.float64)
    slot = np.searchsorted(q_terms, terms)
    slot_ok = np.minimum(slot, q_terms.size - 1)
    hit = q_terms[slot_ok] == terms
    prods = np.where(hit, q_weights[slot_ok].astype(np.float64) * values, 0.0)
    # Sequential per-row sums keep results independent of how rows are batched.
    owner = np.repeat(np.arange(rows.size), lengths)
    out = np.zeros(rows.size, dtype=np.float64)
    np.add.at(out, owner, prods)
    return out


def rank_numpy(
    base: ForwardStore, delta: ForwardStore, rows: npt.NDArray[np.int64], query: Query
) -> Ranked:
    """Exact scores of ``rows`` (base rows first, then delta rows), ranked by
    ``(-score, row)`` with positive scores only, and their vectors."""
    n_base = base.n_rows
    scores = np.zeros(rows.shape[0], dtype=np.float64)
    in_base = rows < n_base
    if in_base.any():
        scores[in_base] = rescore(base, rows[in_base], query)
    if not in_base.all():
        scores[~in_base] = rescore(delta, rows[~in_base] - n_base, query)
    order = np.lexsort((rows, -scores))
    order = order[scores[order] > 0.0]
    rows, scores = rows[order].astype(np.int64), scores[order]
    parts = [base.row(r) if r < n_base else delta.row(r - n_base) for r in rows.tolist()]
    indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum([p[0].shape[0] for p in parts], out=indptr[1:])
    terms = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
    values = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32)
    return Ranked(rows, scores, indptr, terms.astype(np.int32), values.astype(np.float32))


# -- kernel selection ----------------------------------------------------------------


@dataclass(frozen=True)
class Kernels:
    """The functions a search uses; ``name`` is ``"numba"`` or ``"numpy"``."""

    name: str
    build_postings: Callable[[ForwardStore, int], Postings]
    build_blockmax: Callable[[Postings, int], BlockMax]
    document_order: Callable[[ForwardStore], npt.NDArray[np.int64]]
    topk_candidates: Callable[..., npt.NDArray[np.int64]]
    needs_buffers: bool
    rank: Callable[[ForwardStore, ForwardStore, npt.NDArray[np.int64], Query], Ranked]
    """Exact scores, ranking and vectors of the candidates (see rank_numpy)."""


_KERNELS: dict[str, Kernels] = {}


def numpy_kernels() -> Kernels:
    """The pure numpy kernels (always available)."""
    if "numpy" not in _KERNELS:
        _KERNELS["numpy"] = Kernels(
            "numpy",
            build_postings_numpy,
            build_blockmax_numpy,
            document_order,
            topk_candidates_numpy,
            needs_buffers=False,
            rank=rank_numpy,
        )
    return _KERNELS["numpy"]


def numba_kernels() -> Kernels | None:
    """The compiled kernels, or ``None`` when numba is not installed."""
    if "numba" not in _KERNELS:
        try:
            from langchain_splade.stores.local import (
                _numba_kernels,
                _numba_order,
                _numba_pruned,
            )
        except ImportError:
            return None
        _KERNELS["numba"] = Kernels(
            "numba",
            _numba_kernels.build_postings,
            _numba_kernels.build_blockmax,
            _numba_order.document_order,
            _numba_pruned.topk_candidates,
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
