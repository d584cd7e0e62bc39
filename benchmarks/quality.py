"""Retrieval quality of BM25, SPLADE and their fusions on BEIR-format folders.

For each dataset: BM25 (``langchain_splade.bm25``, bm25s stemmed, k1=0.9, b=0.4),
SPLADE (bundled splade-tiny through ``SpladeEncoder`` + ``LocalSparseIndex``), and
fusions of their top-100 lists: RRF (k=60; plain, and weighted with alpha) and
linear min-max / z-score fusions, for several alphas (alpha weights SPLADE,
1 - alpha BM25; ``rrf_a0.5`` ranks exactly as plain ``rrf``). Metrics are nDCG@10,
Recall@100, MRR@10 and MAP@100 with trec_eval semantics (scored runs, as
ir-measures computes them); ``ndcg@10_as_returned`` scores the lists in the order
our code returns them (ties by id ascending) instead of trec_eval's tie order.

Document vectors are cached (CSR ``.npz`` keyed by model, settings and corpus hash),
so only the first run pays the encoding (minutes for 10k documents on 2 cores).

    python benchmarks/quality.py                       # both datasets, JSON to results/
    python benchmarks/quality.py --datasets msmarco-5k --skip-splade
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info

from langchain_splade.bm25 import BM25Index
from langchain_splade.evaluation import BeirDataset, evaluate, load_beir
from langchain_splade.fusion import fuse

logger = logging.getLogger("quality")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "quality.json"
DEFAULT_CACHE = Path("/tmp/langchain-splade-quality-cache")
ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9)
DEPTH = 100
MAX_GAP = 0.015

Ranked = list[tuple[str, float]]


def bm25_runs(data: BeirDataset) -> tuple[dict[str, Ranked], dict[str, float]]:
    start = time.perf_counter()
    index = BM25Index.from_texts(data.doc_ids, data.doc_texts)
    index.search("warm up")  # builds the bm25s matrices
    built = time.perf_counter() - start
    runs, latencies = {}, []
    for qid, text in data.queries.items():
        t0 = time.perf_counter()
        ids, scores = index.search(text, k=DEPTH)
        latencies.append((time.perf_counter() - t0) * 1000)
        runs[qid] = list(zip(ids, scores))
    return runs, {"index_s": built, **_latency(latencies)}


def _cache_key(data: BeirDataset, encoder: Any) -> str:
    digest = hashlib.sha256()
    for doc_id, text in zip(data.doc_ids, data.doc_texts):
        digest.update(doc_id.encode() + b"\0" + text.encode() + b"\0")
    digest.update(json.dumps(encoder.fingerprint.to_json(), sort_keys=True).encode())
    return f"{data.name}-{digest.hexdigest()[:16]}"


def encode_corpus(
    data: BeirDataset, encoder: Any, cache_dir: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """CSR (indptr, indices, values) of the corpus vectors, from the cache when present."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{_cache_key(data, encoder)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as arrays:
            info = json.loads(str(arrays["info"]))
            logger.info("%s: document vectors from cache %s", data.name, path)
            return arrays["indptr"], arrays["indices"], arrays["values"], {**info, "cached": True}
    texts = data.doc_texts
    logger.info("%s: encoding %d documents (cached afterwards)...", data.name, len(texts))
    start = time.perf_counter()
    vectors = []
    for offset in range(0, len(texts), 500):
        vectors.extend(encoder.embed_documents(texts[offset : offset + 500]))
        logger.info("  %d/%d", len(vectors), len(texts))
    seconds = time.perf_counter() - start
    indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([v.nnz for v in vectors])
    indices = np.concatenate([v.indices for v in vectors]).astype(np.int32)
    values = np.concatenate([v.values for v in vectors]).astype(np.float32)
    info = {"encode_s": seconds, "docs_per_s": len(texts) / seconds}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, indptr=indptr, indices=indices, values=values, info=json.dumps(info))
    tmp.replace(path)
    return indptr, indices, values, {**info, "cached": False}


def splade_runs(
    data: BeirDataset, encoder: Any, cache_dir: Path
) -> tuple[dict[str, Ranked], dict[str, Any]]:
    from langchain_splade.stores.local import LocalSparseIndex

    indptr, indices, values, encode_info = encode_corpus(data, encoder, cache_dir)
    index = LocalSparseIndex()
    index.check_encoder(encoder.fingerprint)
    index.add_csr(data.doc_ids, indptr, indices, values)
    qids = list(data.queries)
    start = time.perf_counter()
    query_vectors = encoder.embed_queries([data.queries[q] for q in qids])
    query_encode_ms = (time.perf_counter() - start) * 1000 / len(qids)
    runs, latencies = {}, []
    for qid, vector in zip(qids, query_vectors):
        t0 = time.perf_counter()
        hits = index.search(vector, k=DEPTH)
        latencies.append((time.perf_counter() - t0) * 1000)
        runs[qid] = [(hit.id, hit.score) for hit in hits]
    nnz = np.diff(indptr)
    return runs, {
        **encode_info,
        "doc_nnz_mean": float(nnz.mean()),
        "query_encode_ms_mean": query_encode_ms,
        **_latency(latencies),
    }


def _latency(ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "search_ms_p50": statistics.median(ordered),
        "search_ms_p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }


def score(data: BeirDataset, runs: Mapping[str, Ranked]) -> dict[str, float]:
    scored = {qid: dict(ranked) for qid, ranked in runs.items()}
    result = evaluate(data.qrels, scored).aggregate
    as_returned = evaluate(
        data.qrels, {qid: [doc for doc, _ in ranked] for qid, ranked in runs.items()}, ["ndcg@10"]
    ).aggregate
    return {**result, "ndcg@10_as_returned": as_returned["ndcg@10"]}


def fused_runs(
    components: Mapping[str, Mapping[str, Ranked]], method: str, alpha: float | None
) -> dict[str, Ranked]:
    qids = set().union(*(set(c) for c in components.values()))
    out = {}
    for qid in sorted(qids):
        rankings = {name: runs.get(qid, []) for name, runs in components.items()}
        hits = fuse(rankings, method, alpha=alpha, limit=DEPTH)  # type: ignore[arg-type]
        out[qid] = [(hit.id, hit.score) for hit in hits]
    return out


def choose_default(results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, Any]:
    """The issue's rule: mean nDCG@10 above both singles' means, and never more than
    0.015 below the better single method on any dataset; best mean among those."""
    datasets = list(results)
    methods = list(next(iter(results.values())))

    def mean(method: str) -> float:
        return statistics.fmean(results[d][method]["ndcg@10"] for d in datasets)

    singles = [m for m in ("bm25", "splade") if m in methods]
    bar = max(mean(m) for m in singles)
    eligible: list[dict[str, Any]] = []
    for method in methods:
        if method in singles:
            continue
        gaps = {
            d: results[d][method]["ndcg@10"] - max(results[d][s]["ndcg@10"] for s in singles)
            for d in datasets
        }
        average = mean(method)
        eligible.append(
            {
                "method": method,
                "mean_ndcg@10": average,
                "gap_to_best_single": gaps,
                "eligible": average > bar and min(gaps.values()) >= -MAX_GAP,
            }
        )
    eligible.sort(key=lambda r: -r["mean_ndcg@10"])
    chosen = next((r["method"] for r in eligible if r["eligible"]), None)
    return {
        "rule": f"mean nDCG@10 > max single mean ({bar:.4f}) and >= best single - {MAX_GAP}",
        "single_means": {m: mean(m) for m in singles},
        "candidates": eligible,
        "best_eligible_by_mean": chosen,
    }


def run_setting(
    datasets: Mapping[str, BeirDataset],
    bm25: Mapping[str, tuple[dict[str, Ranked], dict[str, float]]],
    encoder: Any,
    cache_dir: Path,
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, Any]]]:
    """Every method on every dataset for one encoder setting (``encoder`` None: BM25 only)."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    timings: dict[str, dict[str, Any]] = {}
    for name, data in datasets.items():
        components: dict[str, dict[str, Ranked]] = {}
        timings[name] = {"bm25": bm25[name][1]}
        if encoder is not None:
            components["splade"], timings[name]["splade"] = splade_runs(data, encoder, cache_dir)
        components["bm25"] = bm25[name][0]
        table = {method: score(data, runs) for method, runs in components.items()}
        if len(components) == 2:
            table["rrf"] = score(data, fused_runs(components, "rrf", None))
            for method in ("rrf", "minmax", "zscore"):
                for alpha in ALPHAS:
                    table[f"{method}_a{alpha}"] = score(data, fused_runs(components, method, alpha))
        results[name] = table
        for method, row in table.items():
            logger.info(
                "%s %-14s nDCG@10 %.4f  R@100 %.4f  MRR@10 %.4f",
                name,
                method,
                row["ndcg@10"],
                row["recall@100"],
                row["mrr@10"],
            )
    return results, timings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", default=["msmarco-5k", "dbpedia-5k"])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument(
        "--long-documents",
        nargs="+",
        choices=["window", "truncate"],
        default=["window", "truncate"],
        help="encoder settings to compare (window is the encoder default)",
    )
    parser.add_argument("--skip-splade", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    datasets = {name: load_beir(args.data_dir / name) for name in args.datasets}
    for data in datasets.values():
        logger.info("%r", data)
    bm25 = {name: bm25_runs(data) for name, data in datasets.items()}

    report: dict[str, Any] = {
        "machine": machine_info("torch", "transformers", "bm25s", "numpy", "numba"),
        "settings": {
            "model": None if args.skip_splade else "splade-tiny (bundled)",
            "max_length": args.max_length,
            "device": "cpu",
            "bm25": {"k1": 0.9, "b": 0.4, "method": "lucene", "stemmer": "english"},
            "depth": DEPTH,
            "rrf_k": 60,
            "alpha": "weight of SPLADE in weighted RRF / linear fusion (BM25: 1 - alpha)",
            "metrics": "trec_eval semantics on scored runs (== ir-measures); mean over "
            "queries with a relevant judgment",
            "command": "python benchmarks/quality.py",
        },
        "results": {},
        "timings": {},
        "default_fusion": {},
    }
    settings = ["bm25-only"] if args.skip_splade else args.long_documents
    for setting in settings:
        encoder = None
        if setting != "bm25-only":
            from langchain_splade.encoders import SpladeEncoder

            logger.info("SPLADE with long_documents=%r", setting)
            encoder = SpladeEncoder(
                device="cpu",
                max_length=args.max_length,
                long_documents=setting,  # type: ignore[arg-type]
            )
        results, timings = run_setting(datasets, bm25, encoder, args.cache_dir)
        report["results"][setting] = results
        report["timings"][setting] = timings
        if encoder is not None:
            choice = choose_default(results)
            report["default_fusion"][setting] = choice
            logger.info("%s: default fusion %s", setting, choice["best_eligible_by_mean"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
