"""The row order of a merged base: recursive sparse k-means, compiled with numba.

Why: block-max pruning skips a block only when the sum of its per-term maxima stays
below the k-th score, so a block must hold documents that share their heavy terms.
Graph bisection (Dhulipala et al., KDD 2016), which BMP uses, is the best known
order but costs minutes per million documents; this is a cheaper clustering with
the same aim. Each document is reduced to its :data:`SKETCH_TERMS` heaviest terms
(L2-normalised), and the rows are split top-down: a node of more than one block is
cut into up to :data:`FANOUT` clusters by spherical k-means (centroids seeded from
random members, :data:`ITERATIONS` Lloyd steps on a sample, then one assignment of
every member), and each cluster is split again until it fits a block. At one million
resampled SPLADE documents it roughly halves the (term, block) entries of an
arbitrary order, which is what makes the bounds tight
(``benchmarks/search_latency.py``).

Centroid terms shared by more than a quarter of the centroids are left out of the
assignment: they add about the same to every centroid's score and cost the most.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
import numpy.typing as npt

from langchain_splade.stores.local.layout import ForwardStore, block_rows_for

SKETCH_TERMS = 64
"""Heaviest terms of a document that the clustering looks at."""

CENTROID_TERMS = 128
"""Heaviest terms kept per centroid."""

FANOUT = 64
"""Clusters per split."""

ITERATIONS = 2
"""Lloyd steps per split, on :data:`SAMPLE_PER_CLUSTER` x fanout members."""

SAMPLE_PER_CLUSTER = 64

COMMON_SHARE = 0.25
"""Centroid terms in more than this share of a split's centroids are ignored."""

SEED = 20241127

_PARALLEL = threading.Lock()
"""numba's fallback threading layer (workqueue) aborts on concurrent parallel
launches, so merges of two indexes in two threads take turns here."""


@numba.njit(nogil=True, cache=True, parallel=True)
def _sketch(indptr, terms, values, m):  # type: ignore[no-untyped-def]
    """Each row's ``m`` heaviest terms (ties: smaller id), ascending, L2-normalised."""
    n = indptr.shape[0] - 1
    sp = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        sp[r + 1] = sp[r] + min(m, indptr[r + 1] - indptr[r])
    st = np.empty(sp[n], dtype=np.int32)
    sv = np.empty(sp[n], dtype=np.float32)
    n_chunks = max(min(n, 256), 1)
    for ch in numba.prange(n_chunks):
        for r in range(ch * n // n_chunks, (ch + 1) * n // n_chunks):
            lo, hi = indptr[r], indptr[r + 1]
            keep = sp[r + 1] - sp[r]
            if keep == 0:
                continue
            cut = np.float32(-np.inf)
            if keep < hi - lo:  # the keep-th largest weight
                cut = np.partition(values[lo:hi], hi - lo - keep)[hi - lo - keep]
            above = 0
            for p in range(lo, hi):
                if values[p] > cut:
                    above += 1
            ties = keep - above  # ties at the cut: the smallest term ids win
            at = sp[r]
            norm = 0.0
            for p in range(lo, hi):
                w = values[p]
                if w > cut or (w == cut and ties > 0):
                    if w == cut:
                        ties -= 1
                    st[at] = terms[p]
                    sv[at] = w
                    norm += np.float64(w) * w
                    at += 1
            scale = np.float32(1.0 / np.sqrt(norm)) if norm > 0.0 else np.float32(1.0)
            for p in range(sp[r], sp[r + 1]):
                sv[p] *= scale
    return sp, st, sv


@numba.njit(nogil=True, cache=True)
def _invert(c_ptr, c_terms, c_weights, head, count, common):  # type: ignore[no-untyped-def]
    """Centroids as term -> (centroid, weight) lists in ``head``/``count`` (vocab-sized,
    all -1/0 on entry); terms in more than ``common`` centroids get an empty list."""
    n_c = c_ptr.shape[0] - 1
    total = c_ptr[n_c]
    inv_c = np.empty(total, dtype=np.int32)
    inv_w = np.empty(total, dtype=np.float32)
    for p in range(total):
        count[c_terms[p]] += 1
    run = 0
    for p in range(total):
        t = c_terms[p]
        if head[t] < 0:
            head[t] = run
            run += count[t]
            count[t] = 0
    for c in range(n_c):
        for p in range(c_ptr[c], c_ptr[c + 1]):
            t = c_terms[p]
            inv_c[head[t] + count[t]] = c
            inv_w[head[t] + count[t]] = c_weights[p]
            count[t] += 1
    if common > 0:
        for p in range(total):
            if count[c_terms[p]] > common:
                count[c_terms[p]] = 0
    return inv_c, inv_w


@numba.njit(nogil=True, cache=True)
def _clear(c_ptr, c_terms, head, count):  # type: ignore[no-untyped-def]
    for p in range(c_ptr[c_ptr.shape[0] - 1]):
        head[c_terms[p]] = -1
        count[c_terms[p]] = 0


@numba.njit(nogil=True, cache=True, parallel=True)
def _assign(rows, sp, st, sv, n_c, head, count, inv_c, inv_w, labels):  # type: ignore[no-untyped-def]
    """``labels[i]``: the centroid closest to row ``rows[i]`` (``n_c`` if none shares a
    term with it)."""
    n = rows.shape[0]
    n_chunks = max(min(n, 64), 1)
    for ch in numba.prange(n_chunks):
        acc = np.zeros(n_c, dtype=np.float32)
        for i in range(ch * n // n_chunks, (ch + 1) * n // n_chunks):
            r = rows[i]
            for p in range(sp[r], sp[r + 1]):
                t = st[p]
                h = head[t]
                if h >= 0:
                    w = sv[p]
                    for e in range(h, h + count[t]):
                        acc[inv_c[e]] += w * inv_w[e]
            best = n_c
            best_score = np.float32(0.0)
            for c in range(n_c):
                if acc[c] > best_score:
                    best_score = acc[c]
                    best = c
                acc[c] = 0.0
            labels[i] = best


@numba.njit(nogil=True, cache=True)
def _centroids(rows, labels, n_c, sp, st, sv, m, dense, touched):  # type: ignore[no-untyped-def]
    """Each cluster's summed sketches, cut to the ``m`` heaviest terms, normalised
    (``dense`` is vocab-sized and all-zero on entry and on return)."""
    starts = np.zeros(n_c + 2, dtype=np.int64)
    for i in range(rows.shape[0]):
        starts[labels[i] + 1] += 1
    for c in range(n_c + 1):
        starts[c + 1] += starts[c]
    members = np.empty(rows.shape[0], dtype=np.int64)
    cursor = starts[:-1].copy()
    for i in range(rows.shape[0]):
        members[cursor[labels[i]]] = rows[i]
        cursor[labels[i]] += 1
    c_ptr = np.zeros(n_c + 1, dtype=np.int64)
    c_terms = np.empty(n_c * m, dtype=np.int32)
    c_weights = np.empty(n_c * m, dtype=np.float32)
    for c in range(n_c):
        n_t = 0
        for j in range(starts[c], starts[c + 1]):
            r = members[j]
            for p in range(sp[r], sp[r + 1]):
                t = st[p]
                if dense[t] == 0.0:
                    touched[n_t] = t
                    n_t += 1
                dense[t] += sv[p]
        sums = np.empty(n_t, dtype=np.float32)
        for j in range(n_t):
            sums[j] = dense[touched[j]]
            dense[touched[j]] = 0.0
        cut = np.float32(0.0)
        if n_t > m:
            cut = -np.partition(-sums, m - 1)[m - 1]  # the m-th largest sum
        above = 0
        for j in range(n_t):
            if sums[j] > cut:
                above += 1
        ties = m - above
        norm = 0.0
        at = c_ptr[c]
        for j in range(n_t):
            if sums[j] > cut or (sums[j] == cut and ties > 0):
                if sums[j] == cut:
                    ties -= 1
                c_terms[at] = touched[j]
                c_weights[at] = sums[j]
                norm += np.float64(sums[j]) * sums[j]
                at += 1
        scale = np.float32(1.0 / np.sqrt(norm)) if norm > 0.0 else np.float32(1.0)
        for j in range(c_ptr[c], at):
            c_weights[j] *= scale
        c_ptr[c + 1] = at
    return c_ptr, c_terms[: c_ptr[n_c]].copy(), c_weights[: c_ptr[n_c]].copy()


@numba.njit(nogil=True, cache=True)
def _split(  # type: ignore[no-untyped-def]
    perm, lo, hi, n_c, sp, st, sv, head, count, labels, dense, touched, scratch, params
):
    """Reorder ``perm[lo:hi]`` by cluster; returns the cluster boundaries (absolute)."""
    size = hi - lo
    per_cluster, iterations, centroid_terms, common_share = params
    n_sample = min(size, int(per_cluster) * n_c)
    sample = perm[lo + np.random.choice(size, n_sample, replace=False)]
    total = 0
    for c in range(n_c):
        total += sp[sample[c] + 1] - sp[sample[c]]
    c_ptr = np.zeros(n_c + 1, dtype=np.int64)
    c_terms = np.empty(total, dtype=np.int32)
    c_weights = np.empty(total, dtype=np.float32)
    at = 0
    for c in range(n_c):  # seeds: the first n_c (random) sampled members
        r = sample[c]
        for p in range(sp[r], sp[r + 1]):
            c_terms[at] = st[p]
            c_weights[at] = sv[p]
            at += 1
        c_ptr[c + 1] = at
    common = int(common_share * n_c) if n_c >= 8 else 0
    sample_labels = np.empty(n_sample, dtype=np.int64)
    for _ in range(int(iterations)):
        inv_c, inv_w = _invert(c_ptr, c_terms, c_weights, head, count, common)
        _assign(sample, sp, st, sv, n_c, head, count, inv_c, inv_w, sample_labels)
        _clear(c_ptr, c_terms, head, count)
        c_ptr, c_terms, c_weights = _centroids(
            sample, sample_labels, n_c, sp, st, sv, int(centroid_terms), dense, touched
        )
    inv_c, inv_w = _invert(c_ptr, c_terms, c_weights, head, count, common)
    rows = perm[lo:hi].copy()
    node_labels = labels[:size]
    _assign(rows, sp, st, sv, n_c, head, count, inv_c, inv_w, node_labels)
    _clear(c_ptr, c_terms, head, count)
    bounds = np.zeros(n_c + 2, dtype=np.int64)
    for i in range(size):
        bounds[node_labels[i] + 1] += 1
    for c in range(n_c + 1):
        bounds[c + 1] += bounds[c]
    cursor = bounds[:-1].copy()
    for i in range(size):  # stable: rows keep their relative order within a cluster
        scratch[cursor[node_labels[i]]] = rows[i]
        cursor[node_labels[i]] += 1
    perm[lo:hi] = scratch[:size]
    return bounds + lo


@numba.njit(nogil=True, cache=True)
def _cluster_order(sp, st, sv, vocab, leaf, fanout, params, seed):  # type: ignore[no-untyped-def]
    np.random.seed(seed)
    n = sp.shape[0] - 1
    perm = np.arange(n, dtype=np.int64)
    head = np.full(vocab, -1, dtype=np.int64)
    count = np.zeros(vocab, dtype=np.int64)
    labels = np.empty(n, dtype=np.int64)
    scratch = np.empty(n, dtype=np.int64)
    dense = np.zeros(vocab, dtype=np.float32)
    touched = np.empty(vocab, dtype=np.int32)
    stack = [(np.int64(0), np.int64(n))]
    while len(stack) > 0:
        lo, hi = stack.pop()
        size = hi - lo
        if size <= leaf:
            continue
        n_c = min(fanout, (size + leaf - 1) // leaf)
        bounds = _split(
            perm, lo, hi, n_c, sp, st, sv, head, count, labels, dense, touched, scratch, params
        )
        for c in range(n_c + 1):
            a, b = bounds[c], bounds[c + 1]
            if b - a > leaf and b - a < size:  # a cluster that did not shrink stays as is
                stack.append((a, b))
    return perm


def document_order(forward: ForwardStore) -> npt.NDArray[np.int64]:
    """Rows grouped by recursive sparse k-means into block-sized clusters (see module
    docstring); deterministic for a given store."""
    n = forward.n_rows
    leaf = block_rows_for(n)
    if n <= leaf or forward.nnz == 0:
        return np.arange(n, dtype=np.int64)
    terms = np.ascontiguousarray(forward.terms[: forward.nnz], dtype=np.int32)
    values = np.ascontiguousarray(forward.values[: forward.nnz], dtype=np.float32)
    indptr = np.ascontiguousarray(forward.indptr, dtype=np.int64)
    vocab = int(terms.max()) + 1
    params = (
        float(SAMPLE_PER_CLUSTER),
        float(ITERATIONS),
        float(CENTROID_TERMS),
        float(COMMON_SHARE),
    )
    with _PARALLEL:
        sp, st, sv = _sketch(indptr, terms, values, SKETCH_TERMS)
        order: npt.NDArray[np.int64] = _cluster_order(sp, st, sv, vocab, leaf, FANOUT, params, SEED)
    return order
