"""OpenSearch backend vs the local index on msmarco-5k: bulk ingest and query latency.

The corpus and queries are encoded once with the bundled splade-tiny model and cached
(``~/.cache/langchain-splade/bench-msmarco-5k.npz``), so only indexing and retrieval
are timed. Both backends get the same pre-encoded vectors:

* ingest: documents/s of ``OpenSearchSparseIndex.add`` (bulk, chunks of 500, one
  refresh at the end; after one untimed ingest into a scratch index warms the JIT)
  and ``LocalSparseIndex.add``;
* query: p50/p95 latency of ``search(k=10)`` (full hits with vectors), each query run
  ``--repeat`` times after a warm-up pass, backends interleaved so a noisy neighbour
  slows both alike; OpenSearch with and without exact re-scoring.

OpenSearch runs on the embedded test node (2.19, 1 GB heap) on the same machine as the
client, so its figures include HTTP/JSON overhead and share the CPU with Python.

Run: ``python benchmarks/opensearch.py [--data ../shared/data/msmarco-5k] [--url URL]``
Writes ``benchmarks/results/opensearch.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_info

from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.testing.opensearch import OpenSearchTestNode
from langchain_splade.types import SparseVector

logger = logging.getLogger("bench_opensearch")
ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "opensearch.json"
DEFAULT_DATA = ROOT.parent.parent / "shared" / "data" / "msmarco-5k"
CACHE = Path.home() / ".cache" / "langchain-splade" / "bench-msmarco-5k.npz"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _pack(vectors: list[SparseVector]) -> dict[str, np.ndarray]:
    lengths = np.array([v.nnz for v in vectors], dtype=np.int64)
    return {
        "indptr": np.concatenate([[0], np.cumsum(lengths)]),
        "indices": np.concatenate([v.indices for v in vectors]),
        "values": np.concatenate([v.values for v in vectors]),
    }


def _unpack(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray) -> list[SparseVector]:
    return [SparseVector._trusted(indices[a:b], values[a:b]) for a, b in itertools.pairwise(indptr)]


def load_encoded(data: Path) -> tuple[list[str], list[str], list[SparseVector], list[SparseVector]]:
    """Document ids, texts, document vectors and query vectors (encoded once, cached)."""
    corpus = _read_jsonl(data / "corpus.jsonl")
    queries = _read_jsonl(data / "queries.jsonl")
    ids = [str(d["_id"]) for d in corpus]
    texts = [(d.get("title", "") + " " + d["text"]).strip() for d in corpus]
    if CACHE.is_file():
        cached = np.load(CACHE)
        if list(cached["ids"]) == ids:
            docs = _unpack(cached["d_indptr"], cached["d_indices"], cached["d_values"])
            qs = _unpack(cached["q_indptr"], cached["q_indices"], cached["q_values"])
            return ids, texts, docs, qs
    from langchain_splade.encoders import SpladeEncoder

    encoder = SpladeEncoder(device="cpu")
    started = time.perf_counter()
    docs = encoder.embed_documents(texts, show_progress=True)
    logger.info("encoded %d documents in %.0f s", len(docs), time.perf_counter() - started)
    qs = [encoder.embed_query(q["text"]) for q in queries]
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    d, q = _pack(docs), _pack(qs)
    arrays: dict[str, Any] = {"ids": np.array(ids)}
    arrays.update({f"d_{k}": v for k, v in d.items()})
    arrays.update({f"q_{k}": v for k, v in q.items()})
    np.savez(CACHE, **arrays)
    return ids, texts, docs, qs


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "mean_ms": 1000 * statistics.fmean(ordered),
    }


def run(url: str, data: Path, repeat: int) -> dict[str, Any]:
    ids, texts, docs, queries = load_encoded(data)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    remote = OpenSearchSparseIndex(name, url=url)
    exact = OpenSearchSparseIndex(name, url=url, rescore=True)
    local = LocalSparseIndex()
    results: dict[str, Any] = {"docs": len(ids), "queries": len(queries), "repeat": repeat}
    try:
        # Warm the JVM (JIT) with one untimed ingest into a scratch index: steady state.
        scratch = OpenSearchSparseIndex(name + "-warmup", url=url)
        scratch.add(ids, docs, texts)
        for query in queries:
            scratch.search(query, k=10)
        scratch.clear()
        scratch.close()
        len(remote)  # create the index outside the timing
        started = time.perf_counter()
        remote.add(ids, docs, texts)
        elapsed = time.perf_counter() - started
        results["opensearch_ingest_docs_per_s"] = len(ids) / elapsed
        started = time.perf_counter()
        local.add(ids, docs, texts)
        results["local_ingest_docs_per_s"] = len(ids) / (time.perf_counter() - started)

        systems = {
            "local": local.search,
            "opensearch": remote.search,
            "opensearch_rescore": exact.search,
        }
        timings: dict[str, list[float]] = {s: [] for s in systems}
        for query in queries:  # warm-up
            for search in systems.values():
                search(query, k=10)
        for _ in range(repeat):
            for query in queries:
                for system, search in systems.items():
                    started = time.perf_counter()
                    search(query, k=10)
                    timings[system].append(time.perf_counter() - started)
        results["latency"] = {s: _percentiles(t) for s, t in timings.items()}
        overlap = [
            len({h.id for h in remote.search(q, k=10)} & {h.id for h in local.search(q, k=10)})
            for q in queries
        ]
        results["top10_overlap_without_rescore"] = statistics.fmean(overlap) / 10
    finally:
        remote.clear()
        remote.close()
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"OpenSearch 2.19 test node vs LocalSparseIndex, msmarco-5k ({results['docs']} docs, "
        f"{results['queries']} queries x {results['repeat']}), k=10:",
        "",
        "| backend | ingest docs/s | query p50 ms | query p95 ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    latency = results["latency"]
    rows = [
        ("local", results["local_ingest_docs_per_s"], latency["local"]),
        ("opensearch", results["opensearch_ingest_docs_per_s"], latency["opensearch"]),
        ("opensearch, rescore=True", None, latency["opensearch_rescore"]),
    ]
    for label, ingest, lat in rows:
        ingest_text = f"{ingest:,.0f}" if ingest is not None else "(same)"
        lines.append(f"| {label} | {ingest_text} | {lat['p50_ms']:.1f} | {lat['p95_ms']:.1f} |")
    lines.append("")
    lines.append(
        "Top-10 overlap with the local index without re-scoring: "
        f"{100 * results['top10_overlap_without_rescore']:.1f} % (identical with rescore=True)."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--url", help="an existing cluster (default: start the test node)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("opensearch").setLevel(logging.WARNING)  # one line per request
    if args.url:
        results = run(args.url, args.data, args.repeat)
    else:
        with OpenSearchTestNode() as node:
            results = run(node.url, args.data, args.repeat)
    results["machine"] = machine_info("opensearch-py", "numpy", "numba")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
