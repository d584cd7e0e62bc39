"""OpenSearch exact ``rank_features`` against native sparse ANN (SEISMIC), on one node.

Two parts, both on an OpenSearch 3.6.0 node with the k-NN and neural-search plugins
(the only version whose plugins Maven Central serves), started here unless ``--url``:

* quality: on msmarco-5k, nfcorpus and dbpedia-5k, nDCG@10 of SEISMIC against the
  exact local index on the same document vectors (splade-tiny, the quality table's
  cache), and recall@10 against the exact top-10. Each corpus is force-merged into
  one segment and ``approximate_threshold`` is its size, so SEISMIC (not the exact
  fallback for small segments) answers every query and builds its clusters once.
* speed: ``--docs`` documents (default 200,000) of real text: English Wikipedia
  paragraphs (``--corpus wiki``, the search benchmark's corpus, needs ``--wiki-git``),
  documents resampled from 200,000 of them (``--corpus wiki-mixed``, 75 % of one
  paragraph's terms + 25 % of another's), or documents resampled from the three sets'
  real documents (``--corpus resampled``: each 75 % of one real document's terms and 25
  % of another's, weights jittered). Redundancy is reported as the mean cosine of a
  sample to its nearest other document. Exact ``rank_features`` and SEISMIC indices of
  the same vectors on the same node, each bulk-loaded with refresh off and force-merged
  into one segment (SEISMIC's ``approximate_threshold`` is the corpus size, so its
  clusters are built once, by that merge): ingest documents/s and merge seconds; then
  the client's p50/p99 of ``search(k=10)`` (hits with stored vectors) and the engine's
  own ``took``, each system answering all queries in a pass, passes alternating over
  three rounds, a query's time its median (``_timing.in_passes``); recall@10 against the
  exact top-10 (brute force).

SEISMIC's parameters are chosen on msmarco-5k (the first quality corpus) and reported
on the others; the speed corpora use that query-time grid plus a faster and a slower
setting.

    python benchmarks/opensearch_seismic.py --skip-quality --corpus wiki --wiki-git PATH \
        --docs 200000 --n-postings 1000 --heap 6g \
        --out benchmarks/results/opensearch_seismic_wiki.json

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_info
from _search_corpora import _csr, _mix, matrix, mix, nearest_cosine
from _timing import in_passes
from _wiki_corpus import WIKI_COMMIT, real_queries, wiki_vectors
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
SPEED_QUERY_SETTINGS: dict[str, dict[str, Any]] = {
    "top_n=5": {"top_n": 5},
    **QUERY_SETTINGS,
    "top_n=30 heap_factor=2": {"top_n": 30, "heap_factor": 2.0},
}
"""The quality grid, plus a faster and a slower setting to trace the recall curve."""
NODE_SETTINGS = {
    # SEISMIC trains clusters on one thread by default; the merge is the slow part.
    "plugins.neural_search.sparse.algo_param.index_thread_qty": 2,
    # its cache of clustered postings and forward vectors (default 10 % of the heap)
    "plugins.neural_search.circuit_breaker.limit": "50%",
}
Csr = tuple[np.ndarray, np.ndarray, np.ndarray]
CLIENT = {"timeout": 600}


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


def new_seismic_index(
    url: str, name: str, ceiling: float, threshold: int, **parameters: Any
) -> Any:
    """A SEISMIC index whose clusters are built once: by the force merge into a segment
    of ``threshold`` documents (smaller segments are searched exactly)."""
    return OpenSearchSparseIndex(
        name,
        url=url,
        client_kwargs=CLIENT,
        method="seismic",
        approximate_threshold=threshold,
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
def seismic_index(
    url: str, name: str, ceiling: float, threshold: int, **parameters: Any
) -> Iterator[Any]:
    index = new_seismic_index(url, name, ceiling, threshold, **parameters)
    try:
        yield index
    finally:
        index.clear()
        index.close()


def build(index: Any, ids: list[str], vectors: list[SparseVector], what: str) -> dict[str, float]:
    """Bulk-load with refresh off (chunks of 2,000), then force-merge into one segment
    (where SEISMIC builds its clusters): ingest documents/s and merge seconds."""
    name = index.index_name
    index.add(ids[:1], vectors[:1])  # creates the index with its mapping
    index.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "-1"}})
    start = time.perf_counter()
    for at in tqdm(range(1, len(ids), 2000), desc=f"ingest {what}", leave=False):
        index.add(ids[at : at + 2000], vectors[at : at + 2000])
    seconds = time.perf_counter() - start
    index.client.indices.put_settings(index=name, body={"index": {"refresh_interval": None}})
    start = time.perf_counter()
    index.force_merge(1)
    merge = time.perf_counter() - start
    logger.info("%s: %.0f docs/s, merge %.1f s", what, (len(ids) - 1) / seconds, merge)
    return {"ingest_docs_per_s": (len(ids) - 1) / seconds, "merge_s": merge}


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
            ceiling = ceiling_of(docs[2])
            with seismic_index(url, index_name, ceiling, len(ids), **parameters) as index:
                build(index, ids, vectors, f"{name} {setting}")
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


def resampled_corpus(
    data: Path, encoder: SpladeEncoder, n_docs: int
) -> tuple[Csr, list[SparseVector], dict[str, Any]]:
    """``n_docs`` documents mixed 75/25 from the real documents of every quality corpus,
    and every query of those sets."""
    parts, query_vectors = [], []
    for name in DATASETS:
        dataset = load_beir(data / name)
        parts.append(encode_corpus(dataset, encoder, DEFAULT_CACHE)[:3])
        query_vectors.extend(encoder.embed_queries(list(dataset.queries.values())))
    real = _csr([v for part in parts for v in vectors_of(part)])
    mixed = _mix(*real, n_docs, 0.75, 0.25, 0.15, 7)
    info = {
        "corpus": "resampled",
        "real_documents": int(len(real[0]) - 1),
        "mix": "75% of one real document's terms + 25% of another's, weights x lognormal(0, 0.15)",
        "nn_cosine_real": nearest_cosine(matrix(real), np.random.default_rng(7)),
    }
    return mixed, query_vectors, info


def wiki_corpus(git_dir: Path, n_docs: int) -> tuple[Csr, list[SparseVector], dict[str, Any]]:
    """The first ``n_docs`` English Wikipedia paragraphs (real text, no resampling) and
    the real queries of dbpedia-5k, msmarco-5k and nfcorpus."""
    docs = wiki_vectors(git_dir, n_docs)
    info = {
        "corpus": "wiki",
        "source": f"jason-feng/wikiVisual@{WIKI_COMMIT[:7]} text/, splade-tiny, 256 tokens",
    }
    return docs, vectors_of(real_queries()), info


def wiki_mixed_corpus(git_dir: Path, n_docs: int) -> tuple[Csr, list[SparseVector], dict[str, Any]]:
    """``n_docs`` documents resampled from 200,000 real Wikipedia paragraphs (75 % of one
    paragraph's terms + 25 % of another's): the search benchmark's ``wiki-mixed``."""
    bases = wiki_vectors(git_dir, 200_000)
    docs = mix(bases, n_docs, 0.75, 0.25, 0, "wiki200000-0.75-0.25")
    info = {
        "corpus": "wiki-mixed",
        "source": f"resampled from 200,000 paragraphs of jason-feng/wikiVisual@{WIKI_COMMIT[:7]}:"
        " 75% of one paragraph's terms + 25% of another's, weights x lognormal(0, 0.15)",
    }
    return docs, vectors_of(real_queries()), info


def took_log(index: Any) -> list[int]:
    """The engine's ``took`` (ms) of every search this index's client sends, in order."""
    client = index.client
    send = client.search
    log: list[int] = []

    def search(*args: Any, **kwargs: Any) -> Any:
        response = send(*args, **kwargs)
        log.append(int(response["took"]))
        return response

    client.search = search
    return log


def speed(
    url: str, docs: Csr, query_pool: list[SparseVector], info: dict[str, Any], n_queries: int
) -> dict[str, Any]:
    n_docs = len(docs[0]) - 1
    rng = np.random.default_rng(7)
    picked = rng.choice(len(query_pool), min(n_queries, len(query_pool)), replace=False)
    queries = [query_pool[i] for i in picked]
    ids = [f"d{i}" for i in range(n_docs)]
    vectors = vectors_of(docs)
    reference = exact_top(matrix(docs), matrix(_csr(queries)))
    results: dict[str, Any] = {
        "corpus": {
            **info,
            "documents": n_docs,
            "postings": int(docs[0][-1]),
            "queries": len(queries),
            "nn_cosine": nearest_cosine(matrix(docs), np.random.default_rng(7)),
        }
    }
    logger.info("corpus: %s", results["corpus"])
    exact_name = f"bench-exact-{uuid.uuid4().hex[:8]}"
    exact = OpenSearchSparseIndex(exact_name, url=url, refresh=False, client_kwargs=CLIENT)
    searchers: dict[str, Any] = {"exact rank_features": exact}
    builds = {"exact rank_features": build(exact, ids, vectors, "exact")}
    seismic_names = []
    try:
        for setting, parameters in INDEX_SETTINGS.items():
            name = f"bench-seismic-{uuid.uuid4().hex[:8]}"
            seismic_names.append(name)
            index = new_seismic_index(url, name, ceiling_of(docs[2]), n_docs, **parameters)
            builds[f"seismic {setting}"] = build(index, ids, vectors, setting)
            index.close()
            for query_setting, query_parameters in SPEED_QUERY_SETTINGS.items():
                searchers[f"seismic {setting} {query_setting}"] = searcher(
                    url, name, **query_parameters
                )
        position = {doc_id: i for i, doc_id in enumerate(ids)}
        took = {system: took_log(index) for system, index in searchers.items()}

        def answer(system: str) -> Callable[[int], tuple[list[int], int]]:
            def run(i: int) -> tuple[list[int], int]:
                before = len(took[system])
                hits = searchers[system].search(queries[i], k=10)
                return [position[h.id] for h in hits], sum(took[system][before:])

            return run

        times, answers = in_passes({s: answer(s) for s in searchers}, len(queries))
        exact_p50 = statistics.median(times["exact rank_features"])
        exact_took = statistics.median(t for _, t in answers["exact rank_features"])
        for system in searchers:
            ms = np.asarray(times[system]) * 1e3
            engine = [t for _, t in answers[system]]
            build_of = builds.get(system) or builds[" ".join(system.split()[:2])]
            results[system] = {
                "p50_ms": float(np.percentile(ms, 50)),
                "p99_ms": float(np.percentile(ms, 99)),
                "speedup_p50_vs_exact": exact_p50 / statistics.median(times[system]),
                "took_p50_ms": statistics.median(engine),
                "took_p99_ms": float(np.percentile(engine, 99)),
                "took_speedup_p50_vs_exact": exact_took / max(statistics.median(engine), 0.5),
                "recall@10": recall([got for got, _ in answers[system]], reference),
                **build_of,
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
        lines += [
            "",
            "| system | client p50 / p99 ms | vs exact | engine took p50 / p99 ms | vs exact "
            "| recall@10 | ingest docs/s | merge s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for system, row in speed_rows.items():
            if system == "corpus":
                continue
            lines.append(
                f"| {system} | {row['p50_ms']:.1f} / {row['p99_ms']:.1f} | "
                f"{row['speedup_p50_vs_exact']:.2f}x | {row['took_p50_ms']:.0f} / "
                f"{row['took_p99_ms']:.0f} | {row['took_speedup_p50_vs_exact']:.2f}x | "
                f"{row['recall@10']:.3f} | {row['ingest_docs_per_s']:.0f} | "
                f"{row['merge_s']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--corpus", choices=("wiki", "wiki-mixed", "resampled"), default="resampled"
    )
    parser.add_argument("--wiki-git", type=Path, help="a clone of jason-feng/wikiVisual")
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--n-postings", type=int, nargs="+", help="SEISMIC index settings for speed"
    )
    parser.add_argument("--heap", default="4g")
    parser.add_argument("--url", default=None, help="an OpenSearch 3.6.0 node with neural-search")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.corpus.startswith("wiki") and args.wiki_git is None:
        parser.error(f"--corpus {args.corpus} needs --wiki-git (a clone of jason-feng/wikiVisual)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("opensearch").setLevel(logging.WARNING)
    if args.n_postings:
        INDEX_SETTINGS.clear()
        INDEX_SETTINGS.update({f"n_postings={n}": {"n_postings": n} for n in args.n_postings})
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
            "speed_query": SPEED_QUERY_SETTINGS,
            "approximate_threshold": "the corpus size (one force-merged segment)",
            "node": NODE_SETTINGS,
        },
    }
    try:
        if node is not None:  # a --url cluster keeps its own settings
            apply_node_settings(url)
        if not args.skip_quality:
            report["quality"] = quality(url, args.data, encoder)
        if not args.skip_speed:
            if args.corpus == "wiki":
                docs, query_pool, info = wiki_corpus(args.wiki_git, args.docs)
            elif args.corpus == "wiki-mixed":
                docs, query_pool, info = wiki_mixed_corpus(args.wiki_git, args.docs)
            else:
                docs, query_pool, info = resampled_corpus(args.data, encoder, args.docs)
            report["speed"] = speed(url, docs, query_pool, info, args.queries)
        if node is not None:
            report["node"]["memory_mib"] = node.memory_mib()
    finally:
        if node is not None:
            node.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(report))
    print(f"wrote {args.out}")


def apply_node_settings(url: str) -> None:
    """:data:`NODE_SETTINGS`, as transient settings of the node this script started."""
    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[url])
    try:
        client.cluster.put_settings(body={"transient": NODE_SETTINGS})
    finally:
        client.close()


if __name__ == "__main__":
    main()
