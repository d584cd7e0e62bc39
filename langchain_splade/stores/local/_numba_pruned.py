"""Exact (and approximate) top-k by Block-Max Pruning, compiled with numba.

Algorithm (Mallia, Suel & Tonellotto, "Faster Learned Sparse Retrieval with
Block-Max Pruning", SIGIR 2024): rows are split into blocks of ``block_rows``
consecutive rows, and every term stores, per block it occurs in, an upper bound of
its weight there (:class:`~langchain_splade.stores.local.layout.BlockMax`). A query

1. sums ``query weight x bound`` over its terms' block lists: an upper bound of the
   score of every document of every block (one pass over a few thousand entries);
2. orders the blocks by that bound (a 1,024-bucket counting sort: O(blocks));
3. scores whole blocks, best bound first, into a small block-sized accumulator,
   keeping a running top-k; and stops at the first block whose bound cannot reach
   the current k-th score. Nothing that could enter the top-k is skipped, so the
   result is exact; the documents are ordered at build time so that a block's
   bound is close to its best document (``kernels.document_order``).

``alpha`` < 1 shrinks every bound before the test: blocks whose bound is within a
factor ``alpha`` of the k-th score are skipped too, which is BMP's approximate mode.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from langchain_splade.stores.local._numba_exhaustive import scan_candidates
from langchain_splade.stores.local._numba_kernels import _kept, _offer, _offer_delta
from langchain_splade.stores.local.layout import (
    BOUND_STEP,
    BlockMax,
    ForwardStore,
    Postings,
    Query,
    ScoreBuffers,
)

N_BUCKETS = 1024
"""Buckets of the block order: blocks within a bucket are visited in any order, but
each is still tested against its own bound, so exactness never depends on this."""


@numba.njit(nogil=True, cache=True)
def _block_bounds(  # type: ignore[no-untyped-def]
    bm_indptr, bm_block, bm_bound, q_terms, weights, vocab, ub, blocks, head, links
):
    """Accumulate block upper bounds into ``ub`` and list touched blocks in ``blocks``;
    chain each block's (query term, entry) pairs from ``head[b]`` through ``links``
    (rows: next pair, query term, entry), so a visited block finds its postings
    without searching. Returns the number of touched blocks."""
    n = 0
    n_pairs = 0
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
                head[b] = -1
            ub[b] += wb * np.float32(bm_bound[e])
            links[0, n_pairs] = head[b]
            links[1, n_pairs] = i
            links[2, n_pairs] = e
            head[b] = n_pairs
            n_pairs += 1
    return n


@numba.njit(nogil=True, cache=True)
def _bucket_order(ub, blocks, n):  # type: ignore[no-untyped-def]
    """Blocks grouped by bound, best bucket first, and each bucket's largest bound."""
    best = np.float32(0.0)
    for j in range(n):
        best = max(best, ub[blocks[j]])
    scale = (N_BUCKETS - 1) / best if best > 0.0 else 0.0
    counts = np.zeros(N_BUCKETS + 1, dtype=np.int64)
    bucket_max = np.zeros(N_BUCKETS, dtype=np.float32)
    keys = np.empty(n, dtype=np.int64)
    for j in range(n):
        u = ub[blocks[j]]
        key = N_BUCKETS - 1 - min(int(u * scale), N_BUCKETS - 1)  # 0 = best bucket
        keys[j] = key
        counts[key + 1] += 1
        bucket_max[key] = max(bucket_max[key], u)
    for key in range(N_BUCKETS):
        counts[key + 1] += counts[key]
    order = np.empty(n, dtype=np.int64)
    cursor = counts[:-1].copy()
    for j in range(n):
        order[cursor[keys[j]]] = blocks[j]
        cursor[keys[j]] += 1
    return order, counts, bucket_max


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
    touched,
    kept_scores,
    head,
    links,
):
    """Candidate rows of the top-k (see module docstring); leaves ``ub`` all-zero."""
    vocab = term_indptr.shape[0] - 1
    n_q = q_terms.shape[0]
    starts = np.zeros(n_q, dtype=np.int64)
    ends = np.zeros(n_q, dtype=np.int64)
    weights = np.zeros(n_q, dtype=np.float32)
    for i in range(n_q):
        t = q_terms[i]
        if t < vocab:
            starts[i] = term_indptr[t]
            ends[i] = term_indptr[t + 1]
            weights[i] = q_weights[i] * term_scale[t]
    heap = np.empty(max(k, 1), dtype=np.float32)
    state = np.zeros(2, dtype=np.int64)
    tau = np.full(1, -1.0)
    # The delta first: its rows raise the threshold before any block is visited.
    _offer_delta(
        n_base,
        delta_indptr,
        delta_terms,
        delta_values,
        q_terms,
        q_weights,
        mask,
        k,
        heap,
        state,
        tau,
        touched,
        kept_scores,
        abs_err,
        rel_err,
    )
    n_blocks = (n_base + block_rows - 1) // block_rows
    blocks = np.empty(n_blocks, dtype=np.int64)
    n = _block_bounds(
        bm_indptr, bm_block, bm_bound, q_terms, weights, vocab, ub, blocks, head, links
    )
    order, counts, bucket_max = _bucket_order(ub, blocks, n)
    # A document's float32 score may exceed the float32 sum of bounds by rounding in
    # both sums: (1 + rel_err)**2 covers it (rel_err is already twice the bound).
    shrink = np.float64(alpha) / (1.0 + 2.0 * rel_err)
    acc = np.zeros(block_rows, dtype=np.float32)
    for key in range(N_BUCKETS):
        if counts[key] == counts[key + 1]:
            continue
        if bucket_max[key] * shrink < tau[0]:
            break  # every later bucket holds smaller bounds
        for j in range(counts[key], counts[key + 1]):
            b = order[j]
            if ub[b] * shrink < tau[0]:
                continue
            lo_row = b * block_rows
            hi_row = min(lo_row + block_rows, n_base)
            link = head[b]
            while link >= 0:
                i, e = links[1, link], links[2, link]
                t = q_terms[i]
                first, last = starts[i], ends[i]
                lo = first + np.int64(bm_start[e])
                hi = last
                if e + 1 < bm_indptr[t + 1]:
                    hi = min(first + np.int64(bm_start[e + 1]), last)
                w = weights[i]
                for p in range(lo, hi):
                    d = post_docs[p] - lo_row
                    if 0 <= d < block_rows:  # always, unless the files were tampered with
                        acc[d] += w * np.float32(post_q[p])
                link = links[0, link]
            for d in range(hi_row - lo_row):
                s = acc[d]
                if s != 0.0:
                    acc[d] = 0.0
                    if s >= tau[0]:
                        _offer(
                            lo_row + d,
                            s,
                            mask,
                            k,
                            heap,
                            state,
                            tau,
                            touched,
                            kept_scores,
                            abs_err,
                            rel_err,
                        )
    for j in range(n):
        ub[blocks[j]] = 0.0
    return _kept(state, tau, touched, kept_scores)


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
    if buffers is None or buffers.size < n_rows:
        buffers = ScoreBuffers(n_rows)
    inside = query.terms[query.terms < postings.vocab_size]
    n_pairs = int(np.sum(blockmax.bm_indptr[inside + 1] - blockmax.bm_indptr[inside]))
    n_blocks = (n_rows - delta.n_rows + blockmax.block_rows - 1) // blockmax.block_rows
    needed = n_blocks + 3 * n_pairs
    if buffers.pairs.shape[0] < needed:
        buffers.pairs = np.empty(max(needed, 2 * buffers.pairs.shape[0]), dtype=np.int64)
    head = buffers.pairs[:n_blocks]
    links = buffers.pairs[n_blocks:needed].reshape(3, n_pairs)
    result: npt.NDArray[np.int64] = _pruned(
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
        n_rows - delta.n_rows,
        delta.indptr,
        delta.terms,
        delta.values,
        mask,
        int(k),
        float(query.abs_err),
        float(query.rel_err),
        float(alpha),
        buffers.scores,
        buffers.touched,
        buffers.kept_scores,
        head,
        links,
    )
    return result
