"""Backends side by side on the same pre-encoded vectors: the local index, OpenSearch and
Elasticsearch, in one run, on one machine.

For each dataset whose splade-tiny vectors (256 tokens, truncation) are cached
(``--vectors DIRS``: ``DIR/<dataset>/truncate-256.npz`` or
``DIR/<dataset>-truncate-256.npz``, CSR document and query rows), every backend gets the same
document and query vectors, so differences are the backends' own:

* parity: nDCG@10 of exact sparse search (Elasticsearch with boosted ``term``
  clauses, OpenSearch with linear ``rank_feature``; both keep 9-bit weights), the
  difference from the local index's exact nDCG@10, and the mean top-10 overlap with
  the local index (shared ids / 10); also with exact re-scoring from ``_source``;
* ingest: documents/s of ``add`` (bulk, chunks of 500, one refresh), vectors only;
* query: p50/p95 latency of ``search(k=10)`` over the first ``--latency-queries``
  queries, ``--repeat`` passes, backends interleaved query by query so a noisy
  neighbour slows all alike, after one warm-up pass (the parity pass over all queries).

Nodes are the embedded test nodes (OpenSearch 2.19, Elasticsearch 9.2; 512 MB heaps)
on the same machine as the client unless ``--opensearch-url``/``--elasticsearch-url``
(or the ``*_URL`` variables) name clusters; their figures include HTTP/JSON overhead
and share the CPU with Python. Timings are medians; compare ratios, not absolutes.

Run: ``python benchmarks/backends.py [--datasets msmarco-5k,dbpedia-5k,nfcorpus]``.
Writes ``benchmarks/results/backends.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_info

from langchain_splade.evaluation import load_beir
from langchain_splade.evaluation.metrics import evaluate
from langchain_splade.stores.elasticsearch import ElasticsearchSparseIndex
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.testing.elasticsearch import ElasticsearchTestNode
from langchain_splade.testing.opensearch import OpenSearchTestNode
from langchain_splade.types import SparseVector

logger = logging.getLogger("bench_backends")
ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "backends.json"
DEFAULT_DATA = ROOT.parent.parent / "shared" / "data"
DEFAULT_VECTORS = "/work/cache/vectors,/work/cache/local"
K = 10


def find_vectors(name: str, roots: list[Path]) -> Path | None:
    """The cached truncate-256 vectors of ``name``, in either cache layout."""
    for root in roots:
        for path in (root / name / "truncate-256.npz", root / f"{name}-truncate-256.npz"):
            if path.is_file():
                return path
    return None


def load_vectors(
    path: Path, dataset: Path
) -> tuple[list[str], list[SparseVector], list[str], list[SparseVector]]:
    """Document ids and vectors, query ids and vectors, from a CSR ``.npz``: either with
    ``doc_ids``/``query_ids`` and ``*_indices``/``*_data`` arrays, or rows in the order
    of ``corpus.jsonl``/``queries.jsonl`` with ``*_terms``/``*_values`` arrays."""

    def rows(z: Any, prefix: str) -> list[SparseVector]:
        indptr = z[f"{prefix}_indptr"]
        terms = z[f"{prefix}_indices"] if f"{prefix}_indices" in z.files else z[f"{prefix}_terms"]
        values = z[f"{prefix}_data"] if f"{prefix}_data" in z.files else z[f"{prefix}_values"]
        return [
            SparseVector(terms[a:b].astype(np.int64), values[a:b])
            for a, b in itertools.pairwise(indptr)
        ]

    with np.load(path, allow_pickle=False) as z:
        if "doc_ids" in z.files:
            doc_ids, query_ids = [str(i) for i in z["doc_ids"]], [str(i) for i in z["query_ids"]]
            return doc_ids, rows(z, "doc"), query_ids, rows(z, "query")
        return (
            _ids(dataset / "corpus.jsonl"),
            rows(z, "doc"),
            _ids(dataset / "queries.jsonl"),
            rows(z, "q"),
        )


def _ids(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line)["_id"] for line in lines if line.strip()]


@contextlib.contextmanager
def cluster(kind: str, url: str | None) -> Iterator[str]:
    """``url``, or the URL of a test node started for the run (stopped afterwards)."""
    if url:
        yield url
        return
    node = ElasticsearchTestNode() if kind == "elasticsearch" else OpenSearchTestNode(heap="512m")
    with node:
        yield node.url


def build(kind: str, url: str | None, name: str, rescore: bool = False) -> Any:
    if kind == "local":
        return LocalSparseIndex()
    if kind == "opensearch":
        return OpenSearchSparseIndex(name, url=url, rescore=rescore)
    return ElasticsearchSparseIndex(name, url=url, rescore=rescore)


def ingest(index: Any, ids: list[str], vectors: list[SparseVector]) -> float:
    """Documents per second of one ``add`` of everything (bulk + refresh)."""
    start = time.perf_counter()
    index.add(ids, vectors)
    return len(ids) / (time.perf_counter() - start)


def run_dataset(
    name: str,
    vectors_path: Path,
    data: Path,
    urls: dict[str, str],
    repeat: int,
    latency_queries: int,
) -> dict[str, Any]:
    doc_ids, docs, query_ids, queries = load_vectors(vectors_path, data / name)
    qrels = load_beir(data / name).qrels
    tag = uuid.uuid4().hex[:8]
    indices: dict[str, Any] = {}
    out: dict[str, Any] = {
        "documents": len(doc_ids),
        "queries": len(query_ids),
        "latency_queries": min(latency_queries, len(query_ids)),
    }
    for kind in ("local", *urls):
        # one untimed ingest into a scratch index first: JIT and connection warm-up
        if kind != "local":
            scratch = build(kind, urls[kind], f"bench-scratch-{tag}")
            scratch.add(doc_ids[:500], docs[:500])
            scratch.clear()
            scratch.close()
        index = build(kind, urls.get(kind), f"bench-{name}-{tag}")
        out.setdefault("ingest_docs_per_s", {})[kind] = ingest(index, doc_ids, docs)
        indices[kind] = index
    for kind in urls:  # exact re-scoring reads the same index
        indices[f"{kind}+rescore"] = build(kind, urls[kind], f"bench-{name}-{tag}", rescore=True)

    latencies: dict[str, list[float]] = {kind: [] for kind in indices}
    runs: dict[str, dict[str, list[str]]] = {kind: {} for kind in indices}
    for kind, index in indices.items():  # warm-up pass, also the runs for parity
        for qid, query in zip(query_ids, queries):
            runs[kind][qid] = [h.id for h in index.search(query, k=K)]
    for _ in range(repeat):
        for query in queries[:latency_queries]:
            for kind, index in indices.items():
                start = time.perf_counter()
                index.search(query, k=K)
                latencies[kind].append(1000 * (time.perf_counter() - start))

    exact = evaluate(qrels, runs["local"], ["ndcg@10"]).aggregate["ndcg@10"]
    for kind in indices:
        ndcg = evaluate(qrels, runs[kind], ["ndcg@10"]).aggregate["ndcg@10"]
        overlap = statistics.fmean(
            len(set(runs[kind][q]) & set(runs["local"][q])) / K for q in query_ids
        )
        identical = statistics.fmean(runs[kind][q] == runs["local"][q] for q in query_ids)
        ordered = sorted(latencies[kind])
        out.setdefault("search", {})[kind] = {
            "ndcg@10": round(ndcg, 4),
            "ndcg@10_minus_local": round(ndcg - exact, 4),
            "top10_overlap_with_local": round(overlap, 4),
            "top10_identical_share": round(identical, 4),
            "query_p50_ms": round(statistics.median(ordered), 2),
            "query_p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        }
    local_p50 = out["search"]["local"]["query_p50_ms"]
    for row in out["search"].values():
        row["p50_vs_local"] = round(row["query_p50_ms"] / local_p50, 1)
    for kind in urls:
        indices[kind].clear()
        for index in (indices[kind], indices[f"{kind}+rescore"]):
            index.close()
    return out


def table(results: dict[str, Any]) -> str:
    lines = [
        "| dataset | backend | nDCG@10 | Δ vs local | top-10 overlap | ingest docs/s | "
        "p50 ms | p95 ms | p50 / local |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res in results["datasets"].items():
        for kind, row in res["search"].items():
            ingest_rate = res["ingest_docs_per_s"].get(kind)
            rate = f"{ingest_rate:,.0f}" if ingest_rate else ""
            lines.append(
                f"| {name} | {kind} | {row['ndcg@10']:.4f} | {row['ndcg@10_minus_local']:+.4f} | "
                f"{row['top10_overlap_with_local']:.3f} | {rate} | {row['query_p50_ms']} | "
                f"{row['query_p95_ms']} | {row['p50_vs_local']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="msmarco-5k,dbpedia-5k,nfcorpus")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--vectors", default=DEFAULT_VECTORS, help="comma-separated cache folders to look in"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the queries")
    parser.add_argument(
        "--latency-queries", type=int, default=50, help="queries timed per pass (all: parity)"
    )
    parser.add_argument("--backends", default="opensearch,elasticsearch")
    parser.add_argument("--opensearch-url", default=os.environ.get("OPENSEARCH_URL"))
    parser.add_argument("--elasticsearch-url", default=os.environ.get("ELASTICSEARCH_URL"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("elastic_transport", "opensearch", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    roots = [Path(p) for p in args.vectors.split(",")]
    found = {name: find_vectors(name, roots) for name in args.datasets.split(",")}
    available = {name: path for name, path in found.items() if path is not None}
    missing = [name for name, path in found.items() if path is None]
    for name in missing:
        logger.warning("%s: no cached vectors under %s; skipped", name, args.vectors)
    wanted = args.backends.split(",") if args.backends else []
    results: dict[str, Any] = {
        "machine": machine_info("elasticsearch", "opensearch-py", "numpy"),
        "k": K,
        "repeat": args.repeat,
        "skipped_datasets": missing,
        "datasets": {},
    }
    with contextlib.ExitStack() as stack:
        urls = {
            kind: stack.enter_context(cluster(kind, getattr(args, f"{kind}_url")))
            for kind in wanted
        }
        for name, path in available.items():
            logger.info("%s: running %s", name, ", ".join(["local", *urls]))
            results["datasets"][name] = run_dataset(
                name, path, args.data, urls, args.repeat, args.latency_queries
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2) + "\n")  # after each dataset
    print(table(results))


if __name__ == "__main__":
    main()
