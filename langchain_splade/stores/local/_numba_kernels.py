"""numba versions of the local index kernels (imported lazily by ``kernels``).

Kept in their own module so that importing the package never imports numba: the
``fast`` extra is optional, and compiling costs a second or two on first use
(cached on disk afterwards with ``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from langchain_splade.stores.local.kernels import QMAX, Postings, Ranked, ScoreBuffers


@numba.njit(nogil=True, cache=True)
def _transpose(doc_indptr, doc_terms, doc_values, vocab_size):  # type: ignore[no-untyped-def]
    """Counting-sort transpose (O(nnz)); rows stay ascending within each term."""
    nnz = doc_terms.shape[0]
    n_rows = doc_indptr.shape[0] - 1
    term_indptr = np.zeros(vocab_size + 1, dtype=np.int64)
    term_max = np.zeros(vocab_size, dtype=np.float32)
    for p in range(nnz):
        t = doc_terms[p]
        term_indptr[t + 1] += 1
        if doc_values[p] > term_max[t]:
            term_max[t] = doc_values[p]
    for t in range(vocab_size):
        term_indptr[t + 1] += term_indptr[t]
    term_scale = np.empty(vocab_size, dtype=np.float32)
    for t in range(vocab_size):
        term_scale[t] = np.float32(np.float64(term_max[t]) / QMAX)
    cursor = term_indptr[:-1].copy()
    post_docs = np.empty(nnz, dtype=np.int32)
    post_q = np.empty(nnz, dtype=np.uint16)
    for r in range(n_rows):
        for p in range(doc_indptr[r], doc_indptr[r + 1]):
            t = doc_terms[p]
            pos = cursor[t]
            cursor[t] = pos + 1
            post_docs[pos] = r
            code = np.rint(np.float64(doc_values[p]) / np.float64(term_scale[t]))
            if code < 1.0:
                code = 1.0
            elif code > QMAX:
                code = QMAX
            post_q[pos] = np.uint16(code)
    return term_indptr, post_docs, post_q, term_scale


def build_postings(
    doc_indptr: npt.NDArray[np.int64],
    doc_terms: npt.NDArray[np.int32],
    doc_values: npt.NDArray[np.float32],
    vocab_size: int,
) -> Postings:
    """Transpose a forward CSR store into quantised postings (same output as numpy)."""
    term_indptr, post_docs, post_q, term_scale = _transpose(
        np.ascontiguousarray(doc_indptr, dtype=np.int64),
        np.ascontiguousarray(doc_terms, dtype=np.int32),
        np.ascontiguousarray(doc_values, dtype=np.float32),
        int(vocab_size),
    )
    return Postings(term_indptr, post_docs, post_q, term_scale)


@numba.njit(nogil=True, cache=True)
def _sift_down(heap, n, i):  # type: ignore[no-untyped-def]
    while True:
        left = 2 * i + 1
        if left >= n:
            return
        smallest = left
        right = left + 1
        if right < n and heap[right] < heap[left]:
            smallest = right
        if heap[smallest] >= heap[i]:
            return
        tmp = heap[i]
        heap[i] = heap[smallest]
        heap[smallest] = tmp
        i = smallest


BLOCK_ROWS = 1 << 15
"""Rows per accumulation block: 128 KiB of float32 scores stays in a core's L2 cache,
so the random scatter of term-at-a-time scoring hits L2 instead of L3/DRAM (measured
~10% faster than unblocked at 1M documents; 2**14..2**17 perform alike)."""

SCAN_CHUNK = 64
"""Rows per step of the dense-mode scan (one vectorised count decides whether to look)."""

BLOCK_MIN_ROWS = 1 << 18
"""Below this many rows the scores (1 MiB) fit in L2 anyway and blocking only costs."""


@numba.njit(nogil=True, cache=True)
def _band(kth, abs_err, rel_err):  # type: ignore[no-untyped-def]
    """Lowest approximate score that may still beat ``kth`` exactly (see error_bounds)."""
    return (np.float64(kth) * (1.0 - rel_err) - 2.0 * abs_err) / (1.0 + rel_err)


@numba.njit(nogil=True, cache=True)
def _float32_at_most(x):  # type: ignore[no-untyped-def]
    """The largest float32 <= ``x``, so a float32 ``s < result`` implies ``s < x``."""
    y = np.float32(x)
    if np.float64(y) > x:
        y = np.nextafter(y, np.float32(-np.inf))
    return y


@numba.njit(nogil=True, cache=True)
def _offer(d, s, mask, k, heap, state, tau, touched, kept_scores, abs_err, rel_err):  # type: ignore[no-untyped-def]
    """Offer row ``d`` with approximate score ``s`` > 0 to the running top-k.

    ``state`` = [filled heap slots, rows kept]; ``tau[0]`` = running band threshold,
    which only rises, so every row of the final band is kept (plus a few extra that
    the caller drops at the end).
    """
    if s < tau[0] or not mask[d]:
        return
    filled = state[0]
    if filled < k:
        heap[filled] = s
        filled += 1
        state[0] = filled
        if filled == k:
            for j in range(k // 2 - 1, -1, -1):
                _sift_down(heap, k, j)
            tau[0] = _band(heap[0], abs_err, rel_err)
    elif s > heap[0]:
        heap[0] = s
        _sift_down(heap, k, 0)
        tau[0] = _band(heap[0], abs_err, rel_err)
    touched[state[1]] = d
    kept_scores[state[1]] = s
    state[1] += 1


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
    heap = np.empty(max(k, 1), dtype=np.float32)
    state = np.zeros(2, dtype=np.int64)
    tau = np.full(1, -1.0)
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
                            _offer(
                                d,
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
                            floor = tau[0]
                            floor32 = _float32_at_most(floor)
                for j in range(SCAN_CHUNK):
                    scores[chunk + j] = 0.0
            for d in range(full_end, block_end):
                s = scores[d]
                if s != 0.0:
                    scores[d] = 0.0
                    if s >= floor:  # cheap test first: most rows fall below the band
                        _offer(
                            d, s, mask, k, heap, state, tau, touched, kept_scores, abs_err, rel_err
                        )
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
                _offer(d, s, mask, k, heap, state, tau, touched, kept_scores, abs_err, rel_err)
                floor = tau[0]
    n_delta = delta_indptr.shape[0] - 1
    if n_delta > 0 and n_q > 0:
        max_term = q_terms[n_q - 1]
        qdense = np.zeros(max_term + 1, dtype=np.float32)
        for i in range(n_q):
            qdense[q_terms[i]] = q_weights[i]
        for r in range(n_delta):
            s = np.float32(0.0)
            for p in range(delta_indptr[r], delta_indptr[r + 1]):
                t = delta_terms[p]
                if t <= max_term:
                    s += qdense[t] * delta_values[p]
            if s > 0.0 and s >= floor:
                _offer(
                    n_base + r,
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
                floor = tau[0]
    # Drop early keepers below the final threshold.
    n_out = 0
    for i in range(state[1]):
        if kept_scores[i] >= tau[0]:
            touched[n_out] = touched[i]
            n_out += 1
    out = np.empty(n_out, dtype=np.int64)
    for i in range(n_out):
        out[i] = touched[i]
    return out


@numba.njit(nogil=True, cache=True)
def _dot_row(indptr, terms, values, r, q_terms, q_weights):  # type: ignore[no-untyped-def]
    """Exact float64 dot product of CSR row ``r`` with the query: a merge of the two
    sorted term lists, summed in term order like :func:`kernels.rescore` (so both
    give bit-identical scores: float32 x float32 products are exact in float64)."""
    n_q = q_terms.shape[0]
    s = 0.0
    j = 0
    for p in range(indptr[r], indptr[r + 1]):
        t = terms[p]
        while j < n_q and q_terms[j] < t:
            j += 1
        if j == n_q:
            break
        if q_terms[j] == t:
            s += np.float64(q_weights[j]) * np.float64(values[p])
    return s


@numba.njit(nogil=True, cache=True)
def _rescore(  # type: ignore[no-untyped-def]
    base_indptr,
    base_terms,
    base_values,
    delta_indptr,
    delta_terms,
    delta_values,
    n_base,
    rows,
    q_terms,
    q_weights,
):
    """Exact scores of ``rows``: base rows below ``n_base``, delta rows after."""
    out = np.zeros(rows.shape[0], dtype=np.float64)
    for i in range(rows.shape[0]):
        r = rows[i]
        if r < n_base:
            out[i] = _dot_row(base_indptr, base_terms, base_values, r, q_terms, q_weights)
        else:
            out[i] = _dot_row(
                delta_indptr, delta_terms, delta_values, r - n_base, q_terms, q_weights
            )
    return out


@numba.njit(nogil=True, cache=True)
def _copy_row(indptr, terms, values, r, out_terms, out_values, at):  # type: ignore[no-untyped-def]
    for p in range(indptr[r], indptr[r + 1]):
        out_terms[at] = terms[p]
        out_values[at] = values[p]
        at += 1
    return at


@numba.njit(nogil=True, cache=True)
def _rank(  # type: ignore[no-untyped-def]
    base_indptr,
    base_terms,
    base_values,
    delta_indptr,
    delta_terms,
    delta_values,
    n_base,
    rows,
    q_terms,
    q_weights,
):
    """Exact scores, rows by (-score, row) with positive scores only, and their
    vectors gathered into one CSR block (see :func:`kernels.rank_numpy`)."""
    scores = _rescore(
        base_indptr,
        base_terms,
        base_values,
        delta_indptr,
        delta_terms,
        delta_values,
        n_base,
        rows,
        q_terms,
        q_weights,
    )
    n = rows.shape[0]
    order = np.arange(n)
    # Insertion sort: there are about k candidates.
    for i in range(1, n):
        j = i
        while j > 0:
            a, b = order[j - 1], order[j]
            if scores[a] < scores[b] or (scores[a] == scores[b] and rows[a] > rows[b]):
                order[j - 1], order[j] = b, a
                j -= 1
            else:
                break
    m = 0
    while m < n and scores[order[m]] > 0.0:
        m += 1
    out_rows = np.empty(m, dtype=np.int64)
    out_scores = np.empty(m, dtype=np.float64)
    indptr = np.zeros(m + 1, dtype=np.int64)
    for i in range(m):
        r = rows[order[i]]
        out_rows[i] = r
        out_scores[i] = scores[order[i]]
        if r < n_base:
            length = base_indptr[r + 1] - base_indptr[r]
        else:
            length = delta_indptr[r - n_base + 1] - delta_indptr[r - n_base]
        indptr[i + 1] = indptr[i] + length
    out_terms = np.empty(indptr[m], dtype=np.int32)
    out_values = np.empty(indptr[m], dtype=np.float32)
    at = 0
    for i in range(m):
        r = out_rows[i]
        if r < n_base:
            at = _copy_row(base_indptr, base_terms, base_values, r, out_terms, out_values, at)
        else:
            at = _copy_row(
                delta_indptr, delta_terms, delta_values, r - n_base, out_terms, out_values, at
            )
    return out_rows, out_scores, indptr, out_terms, out_values


def rank(
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
    """Compiled :func:`kernels.rank_numpy` (identical output, one call)."""
    return Ranked(
        *_rank(
            base_indptr,
            base_terms,
            base_values,
            delta_indptr,
            delta_terms,
            delta_values,
            int(base_indptr.shape[0]) - 1,
            rows,
            q_terms,
            q_weights,
        )
    )


def topk_candidates(
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
    """Rows that may be in the exact top-``k`` among ``mask`` (releases the GIL)."""
    n_rows = mask.shape[0]
    if buffers is None or buffers.size < n_rows:
        buffers = ScoreBuffers(n_rows)
    result: npt.NDArray[np.int64] = _candidates(
        postings.term_indptr,
        postings.post_docs,
        postings.post_q,
        postings.term_scale,
        q_terms,
        q_weights,
        int(delta_start),
        delta_indptr,
        delta_terms,
        delta_values,
        mask,
        int(k),
        float(abs_err),
        float(rel_err),
        buffers.scores,
        buffers.touched,
        buffers.kept_scores,
        BLOCK_ROWS if delta_start >= BLOCK_MIN_ROWS else max(int(delta_start), 1),
    )
    return result
