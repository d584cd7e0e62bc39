"""BM25 quality of the local index's incremental BM25 against the bm25s build the
quality table uses (``BM25Index``), on the shared BEIR sets: nDCG@10, and how many
top-100 lists are identical.

The local index is built the way a RAG app builds it: in batches of 500 documents,
with a tenth of them upserted again and the last batch deleted and re-added, so its
statistics went through every kind of write (merges included) before the queries.
Its SPLADE side is a placeholder vector per document (BM25 reads only the texts).

    python benchmarks/bm25_parity.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _machine import machine_info
from tqdm import tqdm

from langchain_splade.bm25 import BM25Index
from langchain_splade.evaluation import evaluate, load_beir
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEPTH = 100


def local_index(ids: list[str], texts: list[str]) -> LocalSparseIndex:
    index = LocalSparseIndex()
    placeholder = SparseVector([1], [1.0])
    for start in tqdm(range(0, len(ids), 500), desc="local index", leave=False):
        batch = slice(start, start + 500)
        index.add(ids[batch], [placeholder] * len(ids[batch]), texts=texts[batch])
    again = ids[::10]
    index.add(again, [placeholder] * len(again), texts=texts[::10])  # upserts
    last = slice(len(ids) - 500, len(ids))
    index.delete(ids[last])
    index.add(ids[last], [placeholder] * len(ids[last]), texts=texts[last])
    return index


def dataset_row(path: Path) -> dict[str, Any]:
    data = load_beir(path)
    ids, texts = data.doc_ids, data.doc_texts
    reference = BM25Index(ids, texts)
    index = local_index(ids, texts)
    runs: dict[str, dict[str, dict[str, float]]] = {"bm25s": {}, "local": {}}
    identical = 0
    times: dict[str, list[float]] = {"bm25s": [], "local": []}
    for qid, query in tqdm(data.queries.items(), desc=data.name, leave=False):
        start = time.perf_counter()
        found, scores = reference.search(query, k=DEPTH)
        times["bm25s"].append(time.perf_counter() - start)
        start = time.perf_counter()
        hits = index.bm25_search(query, k=DEPTH)
        times["local"].append(time.perf_counter() - start)
        runs["bm25s"][qid] = dict(zip(found, scores))
        runs["local"][qid] = {hit.id: hit.score for hit in hits}
        identical += found == [hit.id for hit in hits]
    ndcg = {
        name: round(evaluate(data.qrels, run, ["ndcg@10"]).aggregate["ndcg@10"], 4)
        for name, run in runs.items()
    }
    return {
        "dataset": data.name,
        "documents": len(ids),
        "queries": len(data.queries),
        "ndcg@10": ndcg,
        "identical_top100": identical,
        "query_p50_ms": {k: round(float(np.median(v)) * 1e3, 3) for k, v in times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["msmarco-5k", "dbpedia-5k", "nfcorpus"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rows = [dataset_row(DATA / name) for name in args.datasets]
    result = {"machine": machine_info("bm25s", "numpy"), "datasets": rows}
    print(json.dumps(rows, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bm25_parity.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
