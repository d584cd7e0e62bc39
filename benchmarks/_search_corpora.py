"""Corpora for benchmarks/search_latency.py: resampled real SPLADE vectors, and Zipf.

Why resampled real vectors: pruning wins or loses on term co-occurrence, which
independent Zipf draws do not have. ``resampled`` builds N documents from the
encoded shared datasets (splade-tiny, 256-token truncation): each keeps ~90 % of a
real document's terms, borrows ~10 % of another's, and jitters every weight by a
log-normal factor; rows come out in random order. Queries are the real encoded
queries. The encoded datasets and the corpora are cached as .npz under
/work/cache/local/ (or ``$SEARCH_CACHE``); a missing dataset is encoded from
``../shared/data`` (or ``$SEARCH_DATA``) on first use (~10 min per 5k-document set on
2 cores).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

logger = logging.getLogger("search_latency")

VOCAB = 30_522
CACHE = Path(os.environ.get("SEARCH_CACHE", "/work/cache/local"))
DATA = Path(os.environ.get("SEARCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATASETS = ("msmarco-5k", "nfcorpus")
"""The published runs resample these two (8,633 documents); dbpedia-5k was left out
to save encoding time on the shared machine."""
Csr = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float32]]


def real_vectors() -> tuple[Csr, Csr, list[str]]:
    """Documents and queries of every dataset in :data:`DATASETS`, encoded."""
    docs: list[Csr] = []
    queries: list[Csr] = []
    for name in DATASETS:
        path = CACHE / f"{name}-truncate-256.npz"
        if not path.exists():
            encode_dataset(name, path)
        data = np.load(path)
        docs.append((data["doc_indptr"], data["doc_terms"], data["doc_values"]))
        queries.append((data["q_indptr"], data["q_terms"], data["q_values"]))
    return _stack(docs), _stack(queries), list(DATASETS)


def encode_dataset(name: str, path: Path) -> None:
    """Every document (title + text, truncated at 256 tokens) and every query of a
    BEIR dataset, encoded with the bundled splade-tiny, saved as CSR arrays."""
    from langchain_splade.encoders import SpladeEncoder
    from langchain_splade.loaders import read_jsonl

    root = DATA / name
    texts = [
        f"{record.get('title') or ''} {record.get('text') or ''}".strip()
        for _, record in read_jsonl(root / "corpus.jsonl")
    ]
    queries = [record["text"] for _, record in read_jsonl(root / "queries.jsonl")]
    encoder = SpladeEncoder(max_length=256, long_documents="truncate", batch_size=16)
    logger.info("encoding %s: %d documents, %d queries", name, len(texts), len(queries))
    q_vectors = encoder.embed_queries(queries)
    d_vectors = encoder.embed_documents(texts, show_progress=True)
    d_ptr, d_terms, d_values = _csr(d_vectors)
    q_ptr, q_terms, q_values = _csr(q_vectors)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, doc_indptr=d_ptr, doc_terms=d_terms, doc_values=d_values,
             q_indptr=q_ptr, q_terms=q_terms, q_values=q_values)  # fmt: skip


def _csr(vectors: Any) -> Csr:
    indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
    np.cumsum([v.nnz for v in vectors], out=indptr[1:])
    terms = np.concatenate([v.indices for v in vectors]).astype(np.int32)
    return indptr, terms, np.concatenate([v.values for v in vectors]).astype(np.float32)


def _stack(parts: list[Csr]) -> Csr:
    indptrs, offset = [np.zeros(1, np.int64)], 0
    for indptr, _, _ in parts:
        indptrs.append(indptr[1:] + offset)
        offset += int(indptr[-1])
    return (
        np.concatenate(indptrs),
        np.concatenate([p[1] for p in parts]).astype(np.int32),
        np.concatenate([p[2] for p in parts]).astype(np.float32),
    )


@numba.njit(cache=True)
def _mix(indptr, terms, values, n, keep, borrow, sigma, seed):  # type: ignore[no-untyped-def]
    np.random.seed(seed)
    n_real = indptr.shape[0] - 1
    cap = 0
    bases = np.random.randint(0, n_real, n)
    donors = np.random.randint(0, n_real, n)
    for i in range(n):
        cap += indptr[bases[i] + 1] - indptr[bases[i]] + indptr[donors[i] + 1] - indptr[donors[i]]
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_t = np.empty(cap, dtype=np.int32)
    out_v = np.empty(cap, dtype=np.float32)
    at = 0
    for i in range(n):
        a, b = bases[i], donors[i]
        p, q = indptr[a], indptr[b]
        pe, qe = indptr[a + 1], indptr[b + 1]
        start = at
        while p < pe or q < qe:  # merge two sorted term lists
            if q >= qe or (p < pe and terms[p] < terms[q]):
                t, w, take = terms[p], values[p], np.random.random() < keep
                p += 1
            elif p >= pe or terms[q] < terms[p]:
                t, w, take = terms[q], values[q], np.random.random() < borrow
                q += 1
            else:  # in both: the base's weight, kept like a base term
                t, w, take = terms[p], values[p], np.random.random() < keep
                p += 1
                q += 1
            if take:
                out_t[at] = t
                out_v[at] = max(np.float32(w * np.exp(np.random.normal(0.0, sigma))), 1e-3)
                at += 1
        if at == start and pe > indptr[a]:  # never empty: keep the base's first term
            out_t[at] = terms[indptr[a]]
            out_v[at] = values[indptr[a]]
            at += 1
        out_ptr[i + 1] = at
    return out_ptr, out_t[:at].copy(), out_v[:at].copy()


def resampled(n_docs: int, seed: int = 0) -> tuple[Csr, Csr, dict[str, Any]]:
    """``n_docs`` documents mixed from real ones, and the real queries (cached)."""
    docs, queries, names = real_vectors()
    mixed = mix(docs, n_docs, 0.9, 0.1, seed, tag="+".join(names))
    info = {
        "corpus": "resampled real splade-tiny vectors (truncate-256)",
        "datasets": names,
        "real_documents": int(docs[0].shape[0] - 1),
        "mix": "keep 90% of a real doc's terms, borrow 10% of another's, "
        "weights x lognormal(0, 0.15)",
    }
    return mixed, queries, info


def mix(bases: Csr, n_docs: int, keep: float, borrow: float, seed: int, tag: str) -> Csr:
    """``n_docs`` documents, each ``keep`` of a random base's terms and ``borrow`` of
    another's, weights jittered by lognormal(0, 0.15) (cached under ``tag``)."""
    path = CACHE / f"resampled-{n_docs}-{seed}-{tag}.npz"
    if path.exists():
        data = np.load(path)
        return data["indptr"], data["terms"], data["values"]
    t0 = time.perf_counter()
    mixed: Csr = _mix(*bases, n_docs, keep, borrow, 0.15, seed)
    np.savez(path, indptr=mixed[0], terms=mixed[1], values=mixed[2])
    logger.info("resampled %d docs in %.1fs -> %s", n_docs, time.perf_counter() - t0, path)
    return mixed


def matrix(csr: Csr) -> sp.csr_matrix:
    indptr, terms, values = csr
    return sp.csr_matrix((values, terms, indptr), shape=(len(indptr) - 1, VOCAB))


def nearest_cosine(docs: sp.csr_matrix, rng: np.random.Generator, sample: int = 200) -> float:
    """Mean cosine of sampled documents to their nearest other document: how much a
    corpus repeats itself (near-copies make pruning look good)."""
    norms = np.sqrt(np.asarray(docs.multiply(docs).sum(axis=1)).ravel())
    unit = (sp.diags(1 / np.maximum(norms, 1e-12)) @ docs).tocsr()
    unit_t = unit.T.tocsr()
    rows = rng.choice(docs.shape[0], sample, replace=False)
    best = []
    for start in range(0, sample, 20):  # 20 dense rows of similarities at a time
        part = rows[start : start + 20]
        sims = (unit[part] @ unit_t).toarray()
        sims[np.arange(part.shape[0]), part] = -1
        best.extend(sims.max(axis=1).tolist())
    return float(np.mean(best))


# -- data ------------------------------------------------------------------------------


def zipf_probabilities(vocab: int, exponent: float, rng: np.random.Generator) -> npt.NDArray[Any]:
    """P(term) ~ 1 / rank**exponent, ranks randomly assigned to term ids."""
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    probs = ranks**-exponent
    probs /= probs.sum()
    return probs[rng.permutation(vocab)]


def alias_table(probs: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Vose's alias method: O(1) vectorised draws from a discrete distribution."""
    n = probs.shape[0]
    scaled = probs * n
    prob, alias = np.ones(n), np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias


def sample_rows(
    n_rows: int,
    low: int,
    high: int,
    probs: npt.NDArray[Any],
    rng: np.random.Generator,
    chunk: int = 100_000,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """CSR rows of distinct Zipf-drawn terms (sorted) with log-normal weights."""
    prob, alias = alias_table(probs)
    indptrs, terms_parts = [np.zeros(1, dtype=np.int64)], []
    offset = 0
    for start in range(0, n_rows, chunk):
        rows = min(chunk, n_rows - start)
        draws = rng.integers(low, high + 1, size=rows) * 13 // 10  # oversample: dedupe below
        row_of = np.repeat(np.arange(rows, dtype=np.int64), draws)
        slot = rng.integers(0, probs.shape[0], size=row_of.shape[0])
        picked = np.where(rng.random(row_of.shape[0]) < prob[slot], slot, alias[slot])
        keys = np.sort(row_of * VOCAB + picked)
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        counts = np.bincount(keys // VOCAB, minlength=rows)
        terms_parts.append((keys % VOCAB).astype(np.int32))
        indptrs.append(np.cumsum(counts) + offset)
        offset += int(counts.sum())
    indptr = np.concatenate(indptrs)
    terms = np.concatenate(terms_parts)
    values = rng.lognormal(mean=-0.5, sigma=0.6, size=terms.shape[0]).astype(np.float32)
    np.clip(values, 0.01, 5.0, out=values)
    return indptr, terms, values


def zipf(
    n_docs: int, n_queries: int, seed: int = 0, exponent: float = 1.0
) -> tuple[Csr, Csr, dict[str, Any]]:
    """Independent Zipf draws: ~120 terms a document, 30-50 a query (the harder case)."""
    rng = np.random.default_rng(seed)
    probs = zipf_probabilities(VOCAB, exponent, rng)
    docs = sample_rows(n_docs, 90, 150, probs, rng)
    queries = sample_rows(n_queries, 30, 50, probs, rng)
    return docs, queries, {"corpus": f"Zipf draws (exponent {exponent})"}
