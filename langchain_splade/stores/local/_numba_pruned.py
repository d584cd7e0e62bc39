"""Exact (and approximate) top-k by Block-Max Pruning, compiled with numba.

Algorithm (after Mallia, Suel & Tonellotto, "Faster Learned Sparse Retrieval with
Block-Max Pruning", SIGIR 2024): rows are split into blocks of ``block_rows``
consecutive rows, and every term stores, per block it occurs in, an upper bound of
its weight there (:class:`~langchain_splade.stores.local.layout.BlockMax`). A query

1. sums ``query weight x bound`` over its terms' block lists: an upper bound of the
   score of every document of every block (one pass over their block lists);
2. orders the blocks by that bound (a 1,024-bucket counting sort: O(blocks));
3. scores the :data:`FIRST_BLOCKS` best-bound blocks, which sets a k-th score;
4. scores every other block whose bound still reaches that k-th score, best first,
   unless that is more than :data:`SCAN_SHARE` of the blocks: then the plain scan
   (``_numba_exhaustive``) answers the query instead.

Nothing that could enter the top-k is skipped, so the result is exact. Both scoring
passes run term at a time over the selected blocks only: each query term's block list
is walked in row order and only selected blocks' postings are read, into a
block-sized slot of the accumulator. Reading postings in order is what makes this
fast; visiting blocks one by one in bound order (BMP's forward-index way) costs a
cache miss per query term and block in our term-ordered postings, and measured
slower than the plain scan. The documents are ordered at merge time so that a
block's bound is close to its best document (``_numba_order``).

``alpha`` < 1 shrinks every bound before the test: blocks whose bound is within a
factor ``alpha`` of the k-th score are skipped too, which is BMP's approximate mode.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from langchain_splade.stores.local._numba_exhaustive import scan_candidates
from langchain_splade.stores.local._numba_kernels import (
    _kept,
    _new_top_k,
    _offer,
    _offer_delta,
)
from langchain_splade.stores.local.layout import (
    BOUND_STEP,
    BlockMax,
    ForwardStore,
    Postings,
    Query,
    ScoreBuffers,
)

N_BUCKETS = 1024
"""Buckets of the block order: blocks within a bucket come in any order, and each is
still tested against its own bound, so exactness never depends on this."""

SCAN_SHARE = 0.5
"""A query whose bounds leave more than this share of all blocks to score runs the
plain scan instead: on corpora without shared terms between neighbours (independent
Zipf draws) scoring selected blocks costs ~1.7x the scan per posting."""

FIRST_BLOCKS = 64
"""Blocks scored before the others are selected: enough that their k-th score is
close to the final one (measured: 16 to 128 perform alike at 0.1M-1M documents)."""


@numba.njit(nogil=True, cache=True)
def _block_bounds(bm_indptr, bm_block, bm_bound, q_terms, weights, vocab, ub, blocks):  # type: ignore[no-untyped-def]
    """Accumulate block upper bounds into ``ub`` (all-zero on entry) and list the
    touched blocks in ``blocks``; returns their number."""
    n = 0
    for i in range(q_terms.shape[0]):
        t = q_terms[i]
        if t >= vocab:
            continue
        wb = weights[i] * np.float32(BOUND_STEP)
        if wb <= 0.0:
            continue
        for e in range(bm_indptr[t], bm_indptr[t + 1]):
            b = bm_block[e]
            if ub[b] == 0.0:
                blocks[n] = b
                n += 1
            ub[b] += wb * np.float32(bm_bound[e])
    return n


@numba.njit(nogil=True, cache=True)
def _bucket_order(ub, blocks, n):  # type: ignore[no-untyped-def]
    """The touched blocks grouped by bound, best bucket first (a counting sort)."""
    best = np.float32(0.0)
    for j in range(n):
        best = max(best, ub[blocks[j]])
    scale = (N_BUCKETS - 1) / best if best > 0.0 else 0.0
    counts = np.zeros(N_BUCKETS + 1, dtype=np.int64)
    keys = np.empty(n, dtype=np.int32)
    for j in range(n):
        key = N_BUCKETS - 1 - min(int(ub[blocks[j]] * scale), N_BUCKETS - 1)  # 0 = best
        keys[j] = key
        counts[key + 1] += 1
    for key in range(N_BUCKETS):
        counts[key + 1] += counts[key]
    order = np.empty(n, dtype=np.int32)
    for j in range(n):
        order[counts[keys[j]]] = blocks[j]
        counts[keys[j]] += 1
    return order


@numba.njit(nogil=True, cache=True)
def _score_blocks(index, block_rows, n_base, q_terms, weights, slot, selected, n, acc, top_k):  # type: ignore[no-untyped-def]
    """Score the blocks ``selected[:n]`` (``slot[b]`` = their place in ``acc``) term at
    a time, offer their rows to the running top-k, and mark them done (``slot`` -2);
    leaves ``acc`` all-zero. ``index`` holds the postings and block arrays, ``top_k``
    the running top-k (``_new_top_k``)."""
    if n == 0:
        return
    term_indptr, post_docs, post_q, bm_indptr, bm_block, bm_start = index
    tau = top_k[4]
    vocab = term_indptr.shape[0] - 1
    for i in range(q_terms.shape[0]):
        t = q_terms[i]
        w = weights[i]
        if t >= vocab or w <= 0.0:
            continue
        first, last = term_indptr[t], term_indptr[t + 1]
        e_start, e_end = bm_indptr[t], bm_indptr[t + 1]
        for e in range(e_start, e_end):  # in order: binary searches measured slower
            b = bm_block[e]
            if slot[b] < 0:
                continue
            lo = first + np.int64(bm_start[e])
            hi = first + np.int64(bm_start[e + 1]) if e + 1 < e_end else last
            shift = (np.int64(slot[b]) - np.int64(b)) * block_rows
            for p in range(lo, hi):
                acc[shift + post_docs[p]] += w * np.float32(post_q[p])
    for j in range(n):
        b = selected[j]
        at = np.int64(slot[b]) * block_rows
        lo_row = np.int64(b) * block_rows
        for d in range(min(block_rows, n_base - lo_row)):
            s = acc[at + d]
            if s != 0.0:
                acc[at + d] = 0.0
                if s >= tau[0]:
                    _offer(lo_row + d, s, *top_k)
        slot[b] = -2


@numba.njit(nogil=True, cache=True)
def _pruned(  # type: ignore[no-untyped-def]
    term_indptr,
    post_docs,
    post_q,
    term_scale,
    bm_indptr,
    bm_block,
    bm_bound,
    bm_start,
    block_rows,
    q_terms,
    q_weights,
    n_base,
    delta_indptr,
    delta_terms,
    delta_values,
    mask,
    k,
    abs_err,
    rel_err,
    alpha,
    ub,
    slot,
    acc,
    touched,
    kept_scores,
    first_blocks,
    scan_share,
):
    """Candidate rows of the top-k (see module docstring) and False, or no rows and
    True when more than ``scan_share`` of all blocks would need scoring; leaves ``ub``
    and ``acc`` all-zero and ``slot`` all -1."""
    vocab = term_indptr.shape[0] - 1
    n_q = q_terms.shape[0]
    weights = np.zeros(n_q, dtype=np.float32)
    for i in range(n_q):
        t = q_terms[i]
        if t < vocab:
            weights[i] = q_weights[i] * term_scale[t]
    top_k = _new_top_k(mask, k, touched, kept_scores, abs_err, rel_err)
    tau = top_k[4]
    # The delta first: its rows raise the threshold before any block is scored.
    _offer_delta(n_base, delta_indptr, delta_terms, delta_values, q_terms, q_weights, top_k)
    n_blocks = (n_base + block_rows - 1) // block_rows
    blocks = np.empty(n_blocks, dtype=np.int32)
    n = _block_bounds(bm_indptr, bm_block, bm_bound, q_terms, weights, vocab, ub, blocks)
    # A document's float32 score may exceed the float32 sum of bounds by rounding in
    # both sums: (1 + rel_err)**2 covers it (rel_err is already twice the bound).
    shrink = np.float64(alpha) / (1.0 + 2.0 * rel_err)
    selected = np.empty(n, dtype=np.int32)
    order = _bucket_order(ub, blocks, n)
    start = 0
    for end in (min(first_blocks, n), n):  # the best bounds first, then the rest
        n_selected = 0
        for j in range(start, end):
            b = order[j]
            if ub[b] * shrink >= tau[0]:
                slot[b] = n_selected
                selected[n_selected] = b
                n_selected += 1
        if end == n and n_selected > scan_share * n_blocks:
            for j in range(n):  # the bounds prune too little: the caller scans instead
                ub[blocks[j]] = 0.0
                slot[blocks[j]] = -1
            return np.empty(0, dtype=np.int64), True
        _score_blocks(
            (term_indptr, post_docs, post_q, bm_indptr, bm_block, bm_start),
            block_rows,
            n_base,
            q_terms,
            weights,
            slot,
            selected,
            n_selected,
            acc,
            top_k,
        )
        start = end
    for j in range(n):
        ub[blocks[j]] = 0.0
        slot[blocks[j]] = -1
    return _kept(top_k), False


def topk_candidates(
    postings: Postings,
    blockmax: BlockMax | None,
    delta: ForwardStore,
    query: Query,
    mask: npt.NDArray[np.bool_],
    k: int,
    alpha: float = 1.0,
    buffers: ScoreBuffers | None = None,
) -> npt.NDArray[np.int64]:
    """Rows that may be in the top-``k`` among ``mask`` (exact when ``alpha`` is 1;
    releases the GIL). Without block bounds, scans every posting instead."""
    if blockmax is None or postings.nnz == 0:
        return scan_candidates(postings, blockmax, delta, query, mask, k, alpha, buffers)
    n_rows = mask.shape[0]
    n_base = n_rows - delta.n_rows
    if buffers is None or buffers.size < n_rows:
        buffers = ScoreBuffers(n_rows)
    ub, slot, acc = buffers.for_blocks(
        (n_base + blockmax.block_rows - 1) // blockmax.block_rows, blockmax.block_rows
    )
    rows, scan_instead = _pruned(
        postings.term_indptr,
        postings.post_docs,
        postings.post_q,
        postings.term_scale,
        blockmax.bm_indptr,
        blockmax.bm_block,
        blockmax.bm_bound,
        blockmax.bm_start,
        int(blockmax.block_rows),
        query.terms,
        query.weights,
        n_base,
        delta.indptr,
        delta.terms,
        delta.values,
        mask,
        int(k),
        float(query.abs_err),
        float(query.rel_err),
        float(alpha),
        ub,
        slot,
        acc,
        buffers.touched,
        buffers.kept_scores,
        FIRST_BLOCKS,
        SCAN_SHARE,
    )
    if scan_instead:
        return scan_candidates(postings, None, delta, query, mask, k, 1.0, buffers)
    result: npt.NDArray[np.int64] = rows
    return result
