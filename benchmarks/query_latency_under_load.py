"""Encode + search latency of one query at a time, idle vs with one core kept busy.

A service answering one query at a time on a shared machine: the query is encoded
(``embed_query``) and searched in the local index (top 10). We measure p50/p95 with
the machine as it is ("idle": nothing added by us) and with one core kept busy by a
bounded busy-loop subprocess, for the default encoder (queries on single-threaded
lanes, ``isolate_queries=True``) and for torch's intra-op pool in the calling thread
(``isolate_queries=False``, the behaviour before), same process, same queries,
conditions interleaved. The goal: the loaded p50 within 2x of the idle one.

    python benchmarks/query_latency_under_load.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.evaluation import load_beir
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "msmarco-5k"
CACHED = Path("/work/cache/local/msmarco-5k-truncate-256.npz")
BUSY_LOOP = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


def build_index(encoder: SpladeEncoder, docs: int) -> tuple[LocalSparseIndex, list[str]]:
    """The local index over the first ``docs`` msmarco-5k passages, and its queries."""
    dataset = load_beir(DATA)
    texts, ids = dataset.doc_texts[:docs], dataset.doc_ids[:docs]
    if CACHED.is_file():  # the same vectors (bundled model, 256 tokens) encoded elsewhere
        data = np.load(CACHED)
        ptr, terms, values = data["doc_indptr"], data["doc_terms"], data["doc_values"]
        vectors = [SparseVector(terms[ptr[i] : ptr[i + 1]], values[ptr[i] : ptr[i + 1]])
                   for i in range(len(texts))]  # fmt: skip
    else:
        vectors = encoder.embed_documents(texts, show_progress=True)
    index = LocalSparseIndex()
    index.add(ids, vectors, texts)
    return index, list(dataset.queries.values())


def latencies(encoder: SpladeEncoder, index: LocalSparseIndex, queries: list[str]) -> list[float]:
    """Milliseconds per query for encode + top-10 search, one query at a time."""
    out = []
    for query in queries:
        start = time.perf_counter()
        index.search(encoder.embed_query(query), k=10)
        out.append(1000 * (time.perf_counter() - start))
    return out


def percentile(values: list[float], percent: float) -> float:
    return float(np.percentile(values, percent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--passes", type=int, default=3, help="passes over the queries")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    encoders = {
        "lanes (default)": SpladeEncoder(max_length=256, long_documents="truncate"),
        "intra-op pool": SpladeEncoder(
            max_length=256, long_documents="truncate", isolate_queries=False
        ),
    }
    index, queries = build_index(encoders["lanes (default)"], args.docs)
    for encoder in encoders.values():  # warm-up: lazy init, lanes started
        latencies(encoder, index, queries[:5])

    samples: dict[str, dict[str, list[float]]] = {
        name: {"idle": [], "one core busy": []} for name in encoders
    }
    load_avg = {"idle": [], "one core busy": []}
    for _ in range(args.passes):
        for condition in ("idle", "one core busy"):
            busy = None
            if condition == "one core busy":
                busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(seconds=300)])
                time.sleep(0.5)
            try:
                load_avg[condition].append(os.getloadavg()[0])
                for name, encoder in encoders.items():
                    samples[name][condition] += latencies(encoder, index, queries)
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()

    rows = {}
    for name, by_condition in samples.items():
        row = {
            f"{condition} {stat}_ms": round(percentile(values, q), 2)
            for condition, values in by_condition.items()
            for stat, q in (("p50", 50), ("p95", 95))
        }
        row["loaded/idle p50"] = round(row["one core busy p50_ms"] / row["idle p50_ms"], 2)
        row["loaded/idle p95"] = round(row["one core busy p95_ms"] / row["idle p95_ms"], 2)
        rows[name] = row
    result = {
        "benchmark": "query_latency_under_load",
        "machine": machine_info("torch", "numpy", "numba"),
        "command": " ".join(sys.argv),
        "docs": len(index),
        "queries_per_condition": len(queries) * args.passes,
        "load_average_1min": {k: round(statistics.mean(v), 2) for k, v in load_avg.items()},
        "systems": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / "query_latency_under_load.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"wrote {out_file}")


if __name__ == "__main__":
    main()
