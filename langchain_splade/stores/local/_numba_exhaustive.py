"""The plain compiled term-at-a-time scan: every posting of every query term.

Kept beside the block-max search (``_numba_pruned``) as the exhaustive baseline the
benchmark compares against, and for corpora too small to have blocks worth skipping.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from langchain_splade.stores.local._numba_kernels import (
    _float32_at_most,
    _kept,
    _new_top_k,
    _offer,
    _offer_delta,
)
from langchain_splade.stores.local.layout import (
    BlockMax,
    ForwardStore,
    Postings,
    Query,
    ScoreBuffers,
)

BLOCK_ROWS = 1 << 15
"""Rows per accumulation block: 128 KiB of float32 scores stays in a core's L2 cache,
so the random scatter of term-at-a-time scoring hits L2 instead of L3/DRAM (measured
~10% faster than unblocked at 1M documents; 2**14..2**17 perform alike)."""

SCAN_CHUNK = 64
"""Rows per step of the dense-mode scan (one vectorised count decides whether to look)."""

BLOCK_MIN_ROWS = 1 << 18
"""Below this many rows the scores (1 MiB) fit in L2 anyway and blocking only costs."""


@numba.njit(nogil=True, cache=True)
def _candidates(  # type: ignore[no-untyped-def]
    term_indptr,
    post_docs,
    post_q,
    term_scale,
    q_terms,
    q_weights,
    delta_start,
    delta_indptr,
    delta_terms,
    delta_values,
    mask,
    k,
    abs_err,
    rel_err,
    scores,
    touched,
    kept_scores,
    block_rows,
):
    """Term-at-a-time accumulation and a size-k min-heap threshold; returns the rows
    of the candidate band and leaves ``scores`` all-zero again.

    Two modes: when the query's postings cover a small part of the corpus, rows are
    listed as they are first touched and only they are scanned (sparse); when they
    cover much of it (frequent terms), rows are processed in L2-sized blocks with a
    branch-free accumulation, each block scanned while still in cache (dense).
    """
    n_base = delta_start
    vocab = term_indptr.shape[0] - 1
    n_q = q_terms.shape[0]
    starts = np.zeros(n_q, dtype=np.int64)
    ends = np.zeros(n_q, dtype=np.int64)
    weights = np.zeros(n_q, dtype=np.float32)
    total = 0
    for i in range(n_q):
        t = q_terms[i]
        if t < vocab:
            starts[i] = term_indptr[t]
            ends[i] = term_indptr[t + 1]
            weights[i] = q_weights[i] * term_scale[t]
            total += ends[i] - starts[i]
    top_k = _new_top_k(mask, k, touched, kept_scores, abs_err, rel_err)
    tau = top_k[4]
    floor = -1.0  # local copy of tau[0]
    if total > n_base // 4:
        for block_start in range(0, n_base, block_rows):
            block_end = min(block_start + block_rows, n_base)
            # Already zero: the sequential write pulls the block into cache at streaming
            # speed, instead of one cache miss per line during the random scatter.
            scores[block_start:block_end] = 0.0
            for i in range(n_q):
                lo, hi = starts[i], ends[i]
                if lo >= hi:
                    continue
                stop = hi
                if block_end < n_base:
                    stop = lo + np.searchsorted(post_docs[lo:hi], block_end)
                w = weights[i]
                for p in range(lo, stop):
                    scores[post_docs[p]] += w * np.float32(post_q[p])
                starts[i] = stop
            # Scan SCAN_CHUNK rows at a time: a branch-free (vectorised) count of rows
            # at or above the band skips most chunks (the band only rises, so a row
            # below it now can never be offered), and the chunk is zeroed while in L1.
            full_end = block_start + (block_end - block_start) // SCAN_CHUNK * SCAN_CHUNK
            floor32 = _float32_at_most(floor)
            for chunk in range(block_start, full_end, SCAN_CHUNK):
                above = 0
                for j in range(SCAN_CHUNK):
                    above += scores[chunk + j] >= floor32
                if above:
                    for d in range(chunk, chunk + SCAN_CHUNK):
                        s = scores[d]
                        if s != 0.0 and s >= floor:
                            _offer(d, s, *top_k)
                            floor = tau[0]
                            floor32 = _float32_at_most(floor)
                for j in range(SCAN_CHUNK):
                    scores[chunk + j] = 0.0
            for d in range(full_end, block_end):
                s = scores[d]
                if s != 0.0:
                    scores[d] = 0.0
                    if s >= floor:  # cheap test first: most rows fall below the band
                        _offer(d, s, *top_k)
                        floor = tau[0]
    else:
        n_touched = 0
        for i in range(n_q):
            w = weights[i]
            for p in range(starts[i], ends[i]):
                d = post_docs[p]
                x = w * np.float32(post_q[p])
                s = scores[d]
                if s == 0.0:
                    if x == 0.0:
                        continue
                    touched[n_touched] = d
                    n_touched += 1
                scores[d] = s + x
        # _offer writes kept rows into touched[:kept] while we read touched[i]:
        # safe because kept <= i.
        for i in range(n_touched):
            d = touched[i]
            s = scores[d]
            scores[d] = 0.0
            if s >= floor:  # cheap test first: most rows fall below the band
                _offer(d, s, *top_k)
                floor = tau[0]
    _offer_delta(n_base, delta_indptr, delta_terms, delta_values, q_terms, q_weights, top_k)
    return _kept(top_k)


def scan_candidates(
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
    (releases the GIL; ``blockmax`` and ``alpha`` unused)."""
    n_rows = mask.shape[0]
    n_base = n_rows - delta.n_rows
    if buffers is None or buffers.size < n_rows:
        buffers = ScoreBuffers(n_rows)
    result: npt.NDArray[np.int64] = _candidates(
        postings.term_indptr,
        postings.post_docs,
        postings.post_q,
        postings.term_scale,
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
        buffers.scores,
        buffers.touched,
        buffers.kept_scores,
        BLOCK_ROWS if n_base >= BLOCK_MIN_ROWS else max(n_base, 1),
    )
    return result
