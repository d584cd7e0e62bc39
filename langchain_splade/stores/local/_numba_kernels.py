"""numba versions of the local index kernels (imported lazily by ``kernels``).

Kept apart so that importing the package never imports numba: the ``fast`` extra is
optional, and compiling costs a few seconds on first use (cached on disk afterwards
with ``cache=True``). This module holds the building blocks (transpose, block bounds,
the running top-k heap, exact ranking); ``_numba_order`` the document order,
``_numba_pruned`` the block-max search and ``_numba_exhaustive`` the plain
term-at-a-time scan.
"""

from __future__ import annotations

import numba
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
    block_rows_for,
)


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


def build_postings(forward: ForwardStore, vocab_size: int) -> Postings:
    """Transpose a forward CSR store into quantised postings (same output as numpy)."""
    term_indptr, post_docs, post_q, term_scale = _transpose(
        np.ascontiguousarray(forward.indptr, dtype=np.int64),
        np.ascontiguousarray(forward.terms, dtype=np.int32),
        np.ascontiguousarray(forward.values, dtype=np.float32),
        int(vocab_size),
    )
    return Postings(term_indptr, post_docs, post_q, term_scale)


@numba.njit(nogil=True, cache=True)
def _blockmax(term_indptr, post_docs, post_q, block_rows):  # type: ignore[no-untyped-def]
    """Two passes over the postings: count (term, block) entries, then fill them."""
    vocab = term_indptr.shape[0] - 1
    n_entries = 0
    for t in range(vocab):
        last = -1
        for p in range(term_indptr[t], term_indptr[t + 1]):
            b = post_docs[p] // block_rows
            if b != last:
                n_entries += 1
                last = b
    bm_indptr = np.zeros(vocab + 1, dtype=np.int64)
    bm_block = np.empty(n_entries, dtype=np.uint16)
    bm_bound = np.empty(n_entries, dtype=np.uint8)
    bm_start = np.empty(n_entries, dtype=np.uint32)
    e = 0
    for t in range(vocab):
        last = -1
        best = 0
        for p in range(term_indptr[t], term_indptr[t + 1]):
            b = post_docs[p] // block_rows
            if b != last:
                if last >= 0:
                    bm_bound[e - 1] = (best + BOUND_STEP - 1) // BOUND_STEP
                bm_block[e] = b
                bm_start[e] = p - term_indptr[t]
                e += 1
                last = b
                best = 0
            code = int(post_q[p])
            if code > best:
                best = code
        if last >= 0:
            bm_bound[e - 1] = (best + BOUND_STEP - 1) // BOUND_STEP
        bm_indptr[t + 1] = e
    return bm_indptr, bm_block, bm_bound, bm_start


def build_blockmax(postings: Postings, n_rows: int) -> BlockMax:
    """Compiled :func:`kernels.build_blockmax_numpy` (the same arrays)."""
    block_rows = block_rows_for(n_rows)
    bm_indptr, bm_block, bm_bound, bm_start = _blockmax(
        postings.term_indptr, postings.post_docs, postings.post_q, np.int64(block_rows)
    )
    return BlockMax(block_rows, bm_indptr, bm_block, bm_bound, bm_start)


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
def _new_top_k(mask, k, touched, kept_scores, abs_err, rel_err):  # type: ignore[no-untyped-def]
    """An empty running top-k: the arguments of :func:`_offer` after the row and the
    score, as one tuple that the kernels pass along (``*top_k``)."""
    heap = np.empty(max(k, 1), dtype=np.float32)
    state = np.zeros(2, dtype=np.int64)
    tau = np.full(1, -1.0)
    return (mask, k, heap, state, tau, touched, kept_scores, abs_err, rel_err)


@numba.njit(nogil=True, cache=True)
def _offer_delta(n_base, delta_indptr, delta_terms, delta_values, q_terms, q_weights, top_k):  # type: ignore[no-untyped-def]
    """Score the unmerged delta rows by brute force and offer them to the top-k."""
    n_delta = delta_indptr.shape[0] - 1
    n_q = q_terms.shape[0]
    if n_delta == 0 or n_q == 0:
        return
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
        if s > 0.0 and s >= top_k[4][0]:
            _offer(n_base + r, s, *top_k)


@numba.njit(nogil=True, cache=True)
def _kept(top_k):  # type: ignore[no-untyped-def]
    """The kept rows still inside the final band (early keepers may have fallen out)."""
    state, tau, touched, kept_scores = top_k[3], top_k[4], top_k[5], top_k[6]
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
    base: ForwardStore, delta: ForwardStore, rows: npt.NDArray[np.int64], query: Query
) -> Ranked:
    """Compiled :func:`kernels.rank_numpy` (identical output, one call)."""
    return Ranked(
        *_rank(
            base.indptr,
            base.terms,
            base.values,
            delta.indptr,
            delta.terms,
            delta.values,
            base.n_rows,
            rows,
            query.terms,
            query.weights,
        )
    )
