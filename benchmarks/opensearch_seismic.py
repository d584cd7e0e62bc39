"""OpenSearch exact ``rank_features`` against native sparse ANN (SEISMIC), on one node.

Two parts, both on an OpenSearch 3.6.0 node with the k-NN and neural-search plugins
(the only version whose plugins Maven Central serves), started here unless ``--url``:

* quality: on msmarco-5k, nfcorpus and dbpedia-5k, nDCG@10 of SEISMIC against the
  exact local index on the same document vectors (splade-tiny, the quality table's
  cache), and recall@10 against the exact top-10. Each corpus is force-merged into
  one segment and ``approximate_threshold`` is below its size, so SEISMIC (not the
  exact fallback for small segments) answers every query.
* speed: a resampled corpus of ``--docs`` documents (default 200,000) built from all
  the real documents of the three sets (each document: 75 % of one real document's
  terms and 25 % of another's, weights jittered), so it is not near-copies of a few
  thousand. Its redundancy is reported beside the real documents' (mean cosine of a
  sample to its nearest other document). Exact ``rank_features`` and SEISMIC indices
  of the same vectors on the same node: ingest documents/s, then p50/p99 of
  ``search(k=10)`` (interleaved, after a warm-up pass) and recall@10 against the exact
  top-10 (brute force).

SEISMIC's parameters are chosen on msmarco-5k (the first quality corpus) and reported
on the others; the speed corpus uses the same query-time grid.

    python benchmarks/opensearch_seismic.py [--docs 200000] [--queries 200] [--url URL]

Writes ``benchmarks/results/opensearch_seismic.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_info
from _search_corpora import _csr, _mix, matrix, nearest_cosine
from quality import DEFAULT_CACHE, DEFAULT_DATA, encode_corpus

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.evaluation import evaluate, load_beir
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.testing.opensearch import OpenSearchTestNode
from langchain_splade.types import SparseVector

logger = logging.getLogger("bench_seismic")
OUT = Path(__file__).resolve().parent / "results" / "opensearch_seismic.json"
DATASETS = ("msmarco-5k", "nfcorpus", "dbpedia-5k")
VOCAB = 30_522
INDEX_SETTINGS: dict[str, dict[str, Any]] = {
    # n_postings: postings kept per term; the engine's default (0.0005 x documents per
    # segment) keeps ~2 per term at 5k documents and ~100 at 200k, so it is set.
    "n_postings=1000": {"n_postings": 1000},
    "n_postings=3000": {"n_postings": 3000},
}
QUERY_SETTINGS: dict[str, dict[str, Any]] = {
    "top_n=10": {"top_n": 10},
    "top_n=20": {"top_n": 20},
    "top_n=20 heap_factor=1.5": {"top_n": 20, "heap_factor": 1.5},
}
Csr = tuple[np.ndarray, np.ndarray, np.ndarray]
CLIENT = {"timeout": 600}  # bulk requests and refreshes build SEISMIC clusters


def vectors_of(csr: Csr) -> list[SparseVector]:
    indptr, terms, values = csr
    return [
        SparseVector(terms[indptr[i] : indptr[i + 1]], values[indptr[i] : indptr[i + 1]])
        for i in range(len(indptr) - 1)
    ]


def exact_top(docs: sp.csr_matrix, queries: sp.csr_matrix, k: int = 10) -> list[list[int]]:
    """Brute-force top-``k`` rows per query (the recall reference)."""
    tops = []
    for start in range(0, queries.shape[0], 50):
        scores = (queries[start : start + 50] @ docs.T).toarray()
        for row in scores:
            best = np.argpartition(-row, k)[:k]
            best = best[np.argsort(-row[best], kind="stable")]
            tops.append([int(i) for i in best if row[i] > 0])
    return tops


def recall(got: list[list[int]], expected: list[list[int]]) -> float:
    values = [len(set(g) & set(e)) / len(e) for g, e in zip(got, expected) if e]
    return statistics.fmean(values)


def new_seismic_index(url: str, name: str, ceiling: float, **parameters: Any) -> Any:
    """A SEISMIC index that answers with SEISMIC once merged (segments of 1,000+ documents)."""
    return OpenSearchSparseIndex(
        name,
        url=url,
        client_kwargs=CLIENT,
        method="seismic",
        approximate_threshold=1000,
        weight_ceiling=ceiling,
        refresh=False,
        **parameters,
    )


def searcher(url: str, name: str, **query_parameters: Any) -> Any:
    """An existing SEISMIC index opened with query-time parameters (``top_n``, ...)."""
    return OpenSearchSparseIndex(
        name, url=url, method="seismic", client_kwargs=CLIENT, **query_parameters
    )


@contextmanager
def seismic_index(url: str, name: str, ceiling: float, **parameters: Any) -> Iterator[Any]:
    index = new_seismic_index(url, name, ceiling, **parameters)
    try:
        yield index
    finally:
        index.clear()
        index.close()


def ingest(index: Any, ids: list[str], vectors: list[SparseVector], what: str) -> float:
    """Documents/s of bulk ``add`` (chunks of 2,000, the engine refreshing every second
    as by default), the final refresh and force merge excluded."""
    start = time.perf_counter()
    for at in tqdm(range(0, len(ids), 2000), desc=f"ingest {what}", leave=False):
        index.add(ids[at : at + 2000], vectors[at : at + 2000])
    seconds = time.perf_counter() - start
    name = index.index_name
    # SEISMIC builds its clusters when a segment is written: give these calls time.
    index.client.indices.refresh(index=name, request_timeout=3600)
    index.client.indices.forcemerge(index=name, max_num_segments=1, request_timeout=3600)
    index.client.indices.refresh(index=name, request_timeout=3600)
    return len(ids) / seconds


def ceiling_of(values: np.ndarray) -> float:
    """The smallest 0.5-step ceiling above every weight (nothing is clipped)."""
    return math.ceil(float(values.max()) * 2 + 0.01) / 2


# -- quality -------------------------------------------------------------------------


def quality(url: str, data: Path, encoder: SpladeEncoder) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in DATASETS:
        dataset = load_beir(data / name)
        docs = encode_corpus(dataset, encoder, DEFAULT_CACHE)[:3]
        ids = dataset.doc_ids
        qids = [q for q in dataset.queries if dataset.qrels.get(q)]
        queries = encoder.embed_queries([dataset.queries[q] for q in qids])
        reference = exact_top(matrix(docs), matrix(_csr(queries)))
        local = LocalSparseIndex()
        local.add_csr(ids, *docs)
        local_run = {q: [h.id for h in local.search(v, k=10)] for q, v in zip(qids, queries)}
        row: dict[str, Any] = {
            "documents": len(ids),
            "queries": len(qids),
            "exact_local_ndcg@10": evaluate(dataset.qrels, local_run, ["ndcg@10"]).aggregate[
                "ndcg@10"
            ],
        }
        vectors = vectors_of(docs)
        position = {doc_id: i for i, doc_id in enumerate(ids)}
        for setting, parameters in INDEX_SETTINGS.items():
            index_name = f"bench-seismic-{uuid.uuid4().hex[:8]}"
            with seismic_index(url, index_name, ceiling_of(docs[2]), **parameters) as index:
                ingest(index, ids, vectors, f"{name} {setting}")
                for query_setting, query_parameters in QUERY_SETTINGS.items():
                    search_index = searcher(url, index_name, **query_parameters)
                    run = {
                        q: [h.id for h in search_index.search(v, k=10)]
                        for q, v in zip(qids, queries)
                    }
                    search_index.close()
                    got = [[position[i] for i in run[q]] for q in qids]
                    ndcg = evaluate(dataset.qrels, run, ["ndcg@10"]).aggregate["ndcg@10"]
                    row[f"{setting} {query_setting}"] = {
                        "ndcg@10": ndcg,
                        "ndcg@10_vs_exact": ndcg - row["exact_local_ndcg@10"],
                        "recall@10": recall(got, reference),
                    }
                    logger.info(
                        "%s %s %s: %s",
                        name,
                        setting,
                        query_setting,
                        row[f"{setting} {query_setting}"],
                    )
        results[name] = row
    return results


# -- speed ---------------------------------------------------------------------------


def speed_corpus(
    data: Path, encoder: SpladeEncoder, n_docs: int, n_queries: int
) -> tuple[Csr, Csr, dict[str, Any]]:
    """``n_docs`` documents mixed 75/25 from the real documents of every quality corpus,
    and ``n_queries`` real queries sampled from all of them."""
    parts, query_vectors = [], []
    for name in DATASETS:
        dataset = load_beir(data / name)
        parts.append(encode_corpus(dataset, encoder, DEFAULT_CACHE)[:3])
        query_vectors.extend(encoder.embed_queries(list(dataset.queries.values())))
    real = _csr([v for part in parts for v in vectors_of(part)])
    mixed = _mix(*real, n_docs, 0.75, 0.25, 0.15, 7)
    rng = np.random.default_rng(7)
    picked = rng.choice(len(query_vectors), min(n_queries, len(query_vectors)), replace=False)
    queries = _csr([query_vectors[i] for i in picked])
    info = {
        "real_documents": int(len(real[0]) - 1),
        "mix": "75% of one real document's terms + 25% of another's, weights x lognormal(0, 0.15)",
        "postings": int(mixed[0][-1]),
        "nn_cosine_resampled": nearest_cosine(matrix(mixed), rng),
        "nn_cosine_real": nearest_cosine(matrix(real), rng),
    }
    return mixed, queries, info


def speed(
    url: str, data: Path, encoder: SpladeEncoder, n_docs: int, n_queries: int, repeat: int
) -> dict[str, Any]:
    docs, queries, info = speed_corpus(data, encoder, n_docs, n_queries)
    ids = [f"d{i}" for i in range(n_docs)]
    vectors, query_vectors = vectors_of(docs), vectors_of(queries)
    reference = exact_top(matrix(docs), matrix(queries))
    results: dict[str, Any] = {
        "corpus": {**info, "documents": n_docs, "queries": len(query_vectors)}
    }
    exact_name = f"bench-exact-{uuid.uuid4().hex[:8]}"
    exact = OpenSearchSparseIndex(exact_name, url=url, refresh=False, client_kwargs=CLIENT)
    searchers: dict[str, Any] = {"exact rank_features": exact}
    ingest_rates = {"exact rank_features": ingest(exact, ids, vectors, "exact")}
    seismic_names = []
    try:
        for setting, parameters in INDEX_SETTINGS.items():
            name = f"bench-seismic-{uuid.uuid4().hex[:8]}"
            seismic_names.append(name)
            index = new_seismic_index(url, name, ceiling_of(docs[2]), **parameters)
            ingest_rates[f"seismic {setting}"] = ingest(index, ids, vectors, setting)
            index.close()
            for query_setting, query_parameters in QUERY_SETTINGS.items():
                searchers[f"seismic {setting} {query_setting}"] = searcher(
                    url, name, **query_parameters
                )
        position = {doc_id: i for i, doc_id in enumerate(ids)}
        times: dict[str, list[float]] = {system: [] for system in searchers}
        tops: dict[str, list[list[int]]] = {system: [] for system in searchers}
        for round_ in range(repeat + 1):  # round 0 warms caches and JITs
            for query in tqdm(query_vectors, desc=f"queries round {round_}", leave=False):
                for system, index in searchers.items():
                    start = time.perf_counter()
                    hits = index.search(query, k=10)
                    elapsed = (time.perf_counter() - start) * 1000
                    if round_:
                        times[system].append(elapsed)
                    if round_ == 1:
                        tops[system].append([position[h.id] for h in hits])
        exact_p50 = statistics.median(times["exact rank_features"])
        for system in searchers:
            p50 = statistics.median(times[system])
            results[system] = {
                "p50_ms": p50,
                "p99_ms": float(np.percentile(times[system], 99)),
                "speedup_p50_vs_exact": exact_p50 / p50,
                "recall@10": recall(tops[system], reference),
                "ingest_docs_per_s": ingest_rates.get(system)
                or ingest_rates.get(" ".join(system.split()[:2])),
            }
            logger.info("%s: %s", system, results[system])
    finally:
        for index in searchers.values():
            index.close()
        exact.clear()
        for name in seismic_names:
            OpenSearchSparseIndex(name, url=url, method="seismic").clear()
    return results


def markdown(report: dict[str, Any]) -> str:
    lines: list[str] = []
    if report.get("quality"):
        settings = " | ".join(f"{s} {q}" for s in INDEX_SETTINGS for q in QUERY_SETTINGS)
        lines.append(f"| corpus | exact local nDCG@10 | {settings} |")
        lines.append("|---" * (2 + len(INDEX_SETTINGS) * len(QUERY_SETTINGS)) + "|")
    for name, row in report.get("quality", {}).items():
        cells = [
            f"{row[f'{s} {q}']['ndcg@10']:.4f} ({row[f'{s} {q}']['ndcg@10_vs_exact']:+.4f}), "
            f"R@10 {row[f'{s} {q}']['recall@10']:.3f}"
            for s in INDEX_SETTINGS
            for q in QUERY_SETTINGS
        ]
        lines.append(f"| {name} | {row['exact_local_ndcg@10']:.4f} | " + " | ".join(cells) + " |")
    speed_rows = report.get("speed", {})
    if speed_rows:
        header = "| system | p50 ms | p99 ms | p50 speedup vs exact | recall@10 | ingest docs/s |"
        lines += ["", header, "|---|---|---|---|---|---|"]
        for system, row in speed_rows.items():
            if system == "corpus":
                continue
            lines.append(
                f"| {system} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                f"{row['speedup_p50_vs_exact']:.2f}x | {row['recall@10']:.4f} | "
                f"{row['ingest_docs_per_s'] or 0:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--heap", default="4g")
    parser.add_argument("--url", default=None, help="an OpenSearch 3.6.0 node with neural-search")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("opensearch").setLevel(logging.WARNING)
    encoder = SpladeEncoder()
    node = None
    url = args.url
    if url is None:
        node = OpenSearchTestNode(version="3.6.0", neural_search=True, heap=args.heap)
        node.start()
        url = node.url
    report: dict[str, Any] = {
        "benchmark": "opensearch_seismic",
        "machine": machine_info("torch", "opensearch-py"),
        "node": {"version": "3.6.0 + k-NN and neural-search 3.6.0.0", "heap": args.heap},
        "settings": {
            "index": INDEX_SETTINGS,
            "query": QUERY_SETTINGS,
            "approximate_threshold": 1000,
        },
    }
    try:
        if not args.skip_quality:
            report["quality"] = quality(url, args.data, encoder)
        if not args.skip_speed:
            report["speed"] = speed(url, args.data, encoder, args.docs, args.queries, args.repeat)
        if node is not None:
            report["node"]["rss_mib"] = node_rss_mib(node)
    finally:
        if node is not None:
            node.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(report))
    print(f"wrote {args.out}")


def node_rss_mib(node: Any) -> float | None:
    """The node's resident memory (Linux), or None when it cannot be read."""
    pid = getattr(getattr(node, "_process", None), "pid", None)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


if __name__ == "__main__":
    main()
