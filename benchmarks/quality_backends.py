"""The quality table on both backends: nDCG@10 etc. of sparse, BM25 and hybrid retrieval
through ``SpladeRetriever`` on the local index and on a real OpenSearch node, from the
same document vectors (encoded once, cached by ``quality.py``'s cache).

    python benchmarks/quality_backends.py                     # starts an OpenSearch node
    OPENSEARCH_URL=http://localhost:9200 python benchmarks/quality_backends.py
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info
from quality import DEFAULT_CACHE, DEFAULT_DATA, encode_corpus

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.evaluation import load_beir
from langchain_splade.evaluation.runner import MODES, run_evaluation
from langchain_splade.testing.opensearch import OpenSearchTestNode
from langchain_splade.types import SparseVector

OUT = Path(__file__).resolve().parent / "results" / "quality_backends.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", default="msmarco-5k,dbpedia-5k")
    parser.add_argument("--long-documents", default="window", choices=["window", "truncate"])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    encoder = SpladeEncoder(long_documents=args.long_documents)
    node = None
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        node = OpenSearchTestNode()
        node.start()
        url = node.url
    results: dict[str, dict[str, object]] = {}
    try:
        for name in args.datasets.split(","):
            dataset = load_beir(args.data / name)
            indptr, indices, values, _ = encode_corpus(dataset, encoder, args.cache)
            vectors = [
                SparseVector(indices[indptr[i] : indptr[i + 1]], values[indptr[i] : indptr[i + 1]])
                for i in range(len(indptr) - 1)
            ]
            results[name] = {
                backend: run_evaluation(
                    dataset,
                    encoder,
                    MODES,
                    backend=backend,
                    opensearch_url=url,
                    vectors=vectors,
                    show_progress=False,
                )
                for backend in ("local", "opensearch")
            }
            for backend, rows in results[name].items():
                for mode, row in rows.items():  # type: ignore[attr-defined]
                    print(f"{name:11s} {backend:10s} {mode:7s} nDCG@10 {row['ndcg@10']:.4f}")
    finally:
        if node is not None:
            node.stop()
    report = {
        "benchmark": "quality_backends",
        "machine": machine_info("torch", "opensearch-py", "bm25s"),
        "settings": {
            "model": encoder.model_name,
            "max_length": encoder.max_length,
            "long_documents": args.long_documents,
            "depth": 100,
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
