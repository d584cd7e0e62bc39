"""Hybrid (SPLADE + BM25) query latency right after a write, against a query with no
write before it, on the local index; and the old rebuild-per-write BM25 for scale.

Corpus: real English Wikipedia paragraphs (2015 dump, WikiExtractor output, CC BY-SA
3.0) from the public repository jason-feng/wikiVisual, folder ``text/`` at commit
1c0fac92f29f17c1603bfffbe864e0dfdff66897: paragraphs of 30-300 words, deduplicated,
shuffled with a fixed seed. Pass the repository as a git directory (``--wiki-git``;
any clone or mirror holding that commit). The index holds ``--docs`` of them; the
writes add paragraphs that are not in it; the queries are the first 4-10 words of
other held-out paragraphs (real phrases, not in the index).

The SPLADE side: encoding 500k paragraphs with the bundled model would take about two
hours on 2 cores, so each paragraph's vector is its splade-tiny tokenizer terms,
weighted ``log(1 + tf) * idf`` (no expansion terms). Its postings therefore follow
real text; this benchmark measures what a write costs the next query, not SPLADE
quality. Queries are weighted the same way.

Each round, for each write size in ``--writes`` (interleaved, so every condition
sees the same machine and index state): add that many new paragraphs (timed), run one
hybrid query (timed: the query "right after the write"), then delete the added
paragraphs (timed; it keeps the index at ``--docs``). Size 0 is the baseline: a query
with no write before it. A hybrid query is what ``SpladeRetriever(mode="hybrid")``
runs below its encoder: ``search`` and ``bm25_search`` at depth 100, fused with the
default ``max`` fusion (0.8 / 0.2). Writes merge when the delta grows past its
threshold (the writer pays); merges show in the write times, not in the queries.

    python benchmarks/hybrid_writes.py --wiki-git PATH --docs 50000 500000
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _machine import machine_info
from _wiki_corpus import WIKI_COMMIT, wiki_paragraphs
from tqdm import tqdm

from langchain_splade.bm25 import BM25Index
from langchain_splade.fusion import fuse
from langchain_splade.retrievers import DEFAULT_FUSION_WEIGHTS
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

MODEL = Path(__file__).resolve().parents[1] / "langchain_splade" / "models" / "splade-tiny"
DEPTH = 100
Csr = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float32]]
logger = logging.getLogger("hybrid_writes")


def tokenizer_vectors(texts: list[str], idf: npt.NDArray[np.float64] | None = None) -> Any:
    """``log(1 + tf) * idf`` over the bundled tokenizer's term ids, as CSR arrays (and
    the idf, computed from ``texts`` when not given)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    rows: list[Counter[int]] = []
    for start in tqdm(range(0, len(texts), 2048), desc="tokenizing", leave=False):
        for encoding in tokenizer.encode_batch(texts[start : start + 2048]):
            rows.append(Counter(t for t in encoding.ids if t > 999))  # no specials, no [unused]
    if idf is None:
        df = np.zeros(tokenizer.get_vocab_size(), dtype=np.float64)
        for row in rows:
            df[list(row)] += 1
        idf = np.log1p(len(rows) / (df + 1.0))
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    terms = np.empty(int(indptr[-1]), dtype=np.int32)
    values = np.empty(int(indptr[-1]), dtype=np.float32)
    for i, row in enumerate(rows):
        ids = np.array(sorted(row), dtype=np.int32)
        tf = np.array([row[t] for t in ids.tolist()], dtype=np.float64)
        terms[indptr[i] : indptr[i + 1]] = ids
        values[indptr[i] : indptr[i + 1]] = (np.log1p(tf) * idf[ids]).astype(np.float32)
    return (indptr, terms, values), idf


def hybrid(index: LocalSparseIndex, vector: SparseVector, text: str) -> list[Any]:
    sparse = index.search(vector, k=DEPTH)
    lexical = index.bm25_search(text, k=DEPTH)
    return fuse(
        {"sparse": [(h.id, h.score) for h in sparse], "bm25": [(h.id, h.score) for h in lexical]},
        "max",
        weights=DEFAULT_FUSION_WEIGHTS,
        limit=10,
    )


def rows(csr: Csr, start: int, stop: int) -> Csr:
    indptr, terms, values = csr
    lo, hi = int(indptr[start]), int(indptr[stop])
    return indptr[start : stop + 1] - lo, terms[lo:hi], values[lo:hi]


def vector(csr: Csr, i: int) -> SparseVector:
    indptr, terms, values = csr
    lo, hi = int(indptr[i]), int(indptr[i + 1])
    return SparseVector(terms[lo:hi], values[lo:hi])


def percentiles(samples: list[float]) -> dict[str, float]:
    array = np.array(samples) * 1e3
    return {
        "p50_ms": round(float(np.percentile(array, 50)), 3),
        "p99_ms": round(float(np.percentile(array, 99)), 3),
        "max_ms": round(float(array.max()), 3),
        "n": len(samples),
    }


def run_size(
    texts: list[str], n_docs: int, writes: list[int], rounds: int, old_rounds: int
) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    n_queries = 400
    pool = max(writes) * 2
    doc_texts, write_texts = texts[:n_docs], texts[n_docs : n_docs + pool]
    query_texts = [
        " ".join(t.split()[: int(rng.integers(4, 11))])
        for t in texts[n_docs + pool : n_docs + pool + n_queries]
    ]
    docs, idf = tokenizer_vectors(doc_texts)
    new, _ = tokenizer_vectors(write_texts, idf)
    queries, _ = tokenizer_vectors(query_texts, idf)
    index = LocalSparseIndex()
    build_start = time.perf_counter()
    ids = [f"d{i}" for i in range(n_docs)]
    for start in tqdm(range(0, n_docs, 10_000), desc=f"indexing {n_docs}", leave=False):
        stop = min(start + 10_000, n_docs)
        index.add_csr(ids[start:stop], *rows(docs, start, stop), texts=doc_texts[start:stop])
    index.optimize()
    build_s = time.perf_counter() - build_start
    stats = index.stats()
    for q in range(20):  # warm up the kernels and caches
        hybrid(index, vector(queries, q), query_texts[q])
    query_times: dict[int, list[float]] = {w: [] for w in writes}
    write_times: dict[int, list[float]] = {w: [] for w in writes if w}
    delete_times: dict[int, list[float]] = {w: [] for w in writes if w}
    q = 0
    for _ in tqdm(range(rounds), desc=f"rounds at {n_docs}", leave=False):
        for w in writes:
            q = (q + 1) % n_queries
            added = [f"new{i}" for i in range(w)]
            if w:
                first = int(rng.integers(0, pool - w + 1))
                start = time.perf_counter()
                index.add_csr(
                    added, *rows(new, first, first + w), texts=write_texts[first : first + w]
                )
                write_times[w].append(time.perf_counter() - start)
            start = time.perf_counter()
            hybrid(index, vector(queries, q), query_texts[q])
            query_times[w].append(time.perf_counter() - start)
            if w:
                start = time.perf_counter()
                index.delete(added)
                delete_times[w].append(time.perf_counter() - start)
    baseline = percentiles(query_times[0]) if 0 in query_times else None
    result: dict[str, Any] = {
        "documents": n_docs,
        "build_s": round(build_s, 1),
        "postings": stats["postings"],
        "bm25_postings": stats["bm25_postings"],
        "bm25_bytes_per_posting": round(stats["bm25_bytes_per_posting"], 2),
        "bm25_vocab": stats["bm25_vocab_size"],
        "queries": {},
    }
    for w in writes:
        row: dict[str, Any] = {"query": percentiles(query_times[w])}
        if w:
            row["write"] = percentiles(write_times[w])
            row["delete"] = percentiles(delete_times[w])
        if baseline:
            row["p50_vs_no_write"] = round(row["query"]["p50_ms"] / baseline["p50_ms"], 2)
            row["p99_vs_no_write"] = round(row["query"]["p99_ms"] / baseline["p99_ms"], 2)
        result["queries"][str(w)] = row
    if old_rounds:  # one sample past 100k documents: each takes a minute or more
        samples = old_rounds if n_docs <= 100_000 else 1
        result["rebuild_per_write"] = old_rebuild(index, query_texts, samples)
    return result


def old_rebuild(index: LocalSparseIndex, query_texts: list[str], rounds: int) -> dict[str, Any]:
    """The previous design, for scale: the first BM25 query after any write rebuilt a
    bm25s index of every live text (``BM25Index``), then searched it."""
    live = index.get(index.ids())
    ids, texts = [d.id for d in live], [d.text for d in live]
    times = []
    for r in range(rounds):
        start = time.perf_counter()
        BM25Index(ids, texts).search(query_texts[r], k=DEPTH)
        times.append(time.perf_counter() - start)
    return {"first_bm25_query_after_a_write": percentiles(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wiki-git", type=Path, required=True)
    parser.add_argument("--docs", type=int, nargs="+", default=[50_000, 500_000])
    parser.add_argument("--writes", type=int, nargs="+", default=[0, 1, 10, 1000])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--old-rounds", type=int, default=3, help="rebuild-per-write samples")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    need = max(args.docs) + 2 * max(args.writes) + 400
    texts = wiki_paragraphs(args.wiki_git, need)
    shuffled = [texts[i] for i in np.random.default_rng(1).permutation(len(texts))]
    results = {
        "machine": machine_info("numpy", "numba", "bm25s"),
        "corpus": f"wikiVisual {WIKI_COMMIT[:7]} text/: {len(texts)} distinct paragraphs "
        "of 30-300 words, shuffled",
        "sizes": [],
    }
    for n_docs in args.docs:
        results["sizes"].append(
            run_size(shuffled, n_docs, args.writes, args.rounds, args.old_rounds)
        )
        logger.info(json.dumps(results["sizes"][-1], indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "hybrid_writes.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    logger.info("wrote %s", path)


if __name__ == "__main__":
    main()
