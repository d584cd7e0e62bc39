"""Retrieval quality of BM25, SPLADE and every hybrid fusion candidate, with the
default fusion chosen by leave-one-dataset-out (LODO).

For each dataset: BM25 (``langchain_splade.bm25``, bm25s stemmed, k1=0.9, b=0.4),
SPLADE (bundled splade-tiny, 256-token windows; document vectors derived from the
per-window cache of ``_window_cache.py`` with the chosen long-document strategy),
and every candidate of :mod:`langchain_splade.evaluation.candidates` fusing their
top-100 lists (as ``SpladeRetriever(mode="hybrid")`` does). Each run is retrieved
once (top-1000, cached as JSON); every candidate is arithmetic on cached runs.

The default is chosen by LODO: for each dataset, the candidate with the largest
worst-case margin over the better single method on the *other two* datasets is
scored on the held-out one. Rule: on every held-out dataset nDCG@10 >= max(SPLADE,
BM25) - 0.005, and the mean above both singles' means.

    python benchmarks/_window_cache.py     # encode windows once (cached)
    python benchmarks/quality.py           # LODO table, results/quality.json
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
from _window_cache import CACHE, LazyEncoder, load_or_encode, query_matrix
from long_documents import maxp_run, pooled_docs, splade_run, strategies

from langchain_splade.bm25 import BM25Index
from langchain_splade.evaluation import BeirDataset, evaluate, load_beir
from langchain_splade.evaluation.candidates import (
    SINGLES,
    candidates,
    fused_run,
    leave_one_out,
)

logger = logging.getLogger("quality")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "quality.json"
DEFAULT_CACHE = Path("/tmp/langchain-splade-quality-cache")
DATASETS = ["msmarco-5k", "dbpedia-5k", "nfcorpus"]
DEPTH = 100  # per component, as SpladeRetriever(candidates=100)
RUN_DEPTH = 1000
TOLERANCE = 0.005

Ranked = list[tuple[str, float]]
Runs = dict[str, Ranked]


def bm25_runs(data: BeirDataset, cache: Path = CACHE) -> tuple[Runs, dict[str, float]]:
    """Top-1000 BM25 per query and each query's BM25 upper bound (the sum over its
    terms of the term's largest score in any document), cached as JSON."""
    path = cache / data.name / "bm25.json"
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        return {q: [tuple(h) for h in r] for q, r in stored["runs"].items()}, stored["bounds"]
    index = BM25Index.from_texts(data.doc_ids, data.doc_texts)
    index.search("warm up")  # builds the bm25s matrices
    model = index._model
    scores = model.scores
    runs, bounds = {}, {}
    for qid, text in data.queries.items():
        ids, values = index.search(text, k=RUN_DEPTH)
        runs[qid] = list(zip(ids, values))
        tokens = model.get_tokens_ids(index.tokenize(text))
        bounds[qid] = float(
            sum(
                scores["data"][scores["indptr"][t] : scores["indptr"][t + 1]].max(initial=0.0)
                for t in tokens
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": runs, "bounds": bounds}), encoding="utf-8")
    return runs, bounds


def splade_runs(
    data: BeirDataset, encoder: Any, strategy: str, cache: Path = CACHE
) -> tuple[Runs, dict[str, float]]:
    """Top-1000 SPLADE per query for a long-document ``strategy`` of
    ``long_documents.py``, and each query's bound ``sum_j q_j * max_d w_dj``."""
    path = cache / data.name / f"splade-{strategy}.json"
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        return {q: [tuple(h) for h in r] for q, r in stored["runs"].items()}, stored["bounds"]
    arrays = load_or_encode(data, encoder, cache)
    if strategy.startswith("maxp"):
        runs = maxp_run(arrays, aligned=strategy == "maxp_aligned")
        docs = pooled_docs(arrays, np.ones_like, aligned=strategy == "maxp_aligned")
    else:
        _, _, coefficient, aligned = strategies()[strategy]
        docs = pooled_docs(arrays, coefficient, aligned)
        runs = splade_run(arrays, docs)
    column_max = np.asarray(docs.max(axis=0).todense()).ravel().astype(np.float64)
    query_bounds = query_matrix(arrays).astype(np.float64) @ column_max
    bounds = {str(q): float(b) for q, b in zip(arrays["query_ids"], query_bounds)}
    path.write_text(json.dumps({"runs": runs, "bounds": bounds}), encoding="utf-8")
    return runs, bounds


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


def score(
    data: BeirDataset, runs: Mapping[str, Ranked], metrics: Sequence[str] | None = None
) -> dict[str, float]:
    scored = {qid: dict(ranked) for qid, ranked in runs.items()}
    return evaluate(data.qrels, scored, *([metrics] if metrics else [])).aggregate


def dataset_table(
    data: BeirDataset, sparse: Runs, bm25: Runs, bounds: Mapping[str, Mapping[str, float]]
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Metrics of both singles (cut to DEPTH) and of every candidate on one dataset."""
    cut = {
        name: {q: r[:DEPTH] for q, r in run.items()}
        for name, run in (("sparse", sparse), ("bm25", bm25))
    }
    table = {name: score(data, run) for name, run in cut.items()}
    families = {}
    for candidate in candidates(with_bounds=True):
        fused = fused_run(candidate, cut["sparse"], cut["bm25"], bounds, DEPTH)
        table[candidate.name] = score(data, fused, ["ndcg@10", "recall@100"])
        families[candidate.name] = candidate.family
    return table, families


def _report(
    results: Mapping[str, Mapping[str, Mapping[str, float]]], families: Mapping[str, str]
) -> dict[str, Any]:
    ndcg = {d: {m: row["ndcg@10"] for m, row in table.items()} for d, table in results.items()}
    criteria = ("worst_margin", "mean") if len(ndcg) > 1 else ()  # LODO needs 2+ datasets
    lodo = {crit: leave_one_out(ndcg, families, crit) for crit in criteria}
    means = {m: statistics.fmean(ndcg[d][m] for d in ndcg) for m in next(iter(ndcg.values()))}
    chosen = {
        crit: sorted({fold["chosen"] for fold in folds.values()}) for crit, folds in lodo.items()
    }
    rule = {
        crit: {
            "every_fold_within_tolerance": all(f["margin"] >= -TOLERANCE for f in folds.values()),
            "held_out_mean": statistics.fmean(f["held_out"] for f in folds.values()),
            "single_means": {s: means[s] for s in SINGLES},
        }
        for crit, folds in lodo.items()
    }
    return {
        "ndcg@10": ndcg,
        "means": means,
        "lodo": lodo,
        "chosen_per_criterion": chosen,
        "rule": rule,
    }


def print_table(report: Mapping[str, Any], families: Mapping[str, str]) -> None:
    ndcg = report["ndcg@10"]
    datasets = list(ndcg)
    print(f"{'method':16s}" + "".join(f"{d:>12s}" for d in datasets) + f"{'mean':>10s}")
    for method in ndcg[datasets[0]]:
        row = [ndcg[d][method] for d in datasets]
        print(
            f"{method:16s}" + "".join(f"{v:12.4f}" for v in row) + f"{statistics.fmean(row):10.4f}"
        )
    for crit, folds in report["lodo"].items():
        print(f"LODO ({crit}):")
        for family in dict.fromkeys(families.values()):
            cells = [folds[d]["families"][family] for d in datasets]
            print(
                f"  {family:14s}"
                + "".join(f"{c['held_out']:12.4f}" for c in cells)
                + "   "
                + ", ".join(c["chosen"] for c in cells)
            )
        print(
            f"  {'selected':14s}"
            + "".join(f"{folds[d]['held_out']:12.4f}" for d in datasets)
            + "   "
            + ", ".join(folds[d]["chosen"] for d in datasets)
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument(
        "--long-documents",
        nargs="+",
        default=["truncate"],
        help="long-document strategies of long_documents.py for the SPLADE side",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    import torch

    from langchain_splade.encoders import SpladeEncoder

    torch.set_num_threads(2)
    encoder = LazyEncoder(lambda: SpladeEncoder(device="cpu", max_length=256))
    datasets = {name: load_beir(args.data_dir / name) for name in args.datasets}
    report: dict[str, Any] = {
        "machine": machine_info("torch", "transformers", "bm25s", "numpy", "scipy"),
        "settings": {
            "model": "splade-tiny (bundled)",
            "max_length": 256,
            "bm25": {"k1": 0.9, "b": 0.4, "method": "lucene", "stemmer": "english"},
            "depth": DEPTH,
            "alpha": "SPLADE's weight (BM25: 1 - alpha)",
            "metrics": "trec_eval semantics on scored runs (== ir-measures)",
            "tolerance": TOLERANCE,
            "command": "python benchmarks/quality.py " + " ".join(sys.argv[1:]),
        },
        "results": {},
    }
    families: dict[str, str] = {}
    for setting in args.long_documents:
        results = {}
        for name, data in datasets.items():
            bm25, bm25_bounds = bm25_runs(data)
            sparse, sparse_bounds = splade_runs(data, encoder, setting)
            bounds = {
                q: {"sparse": sparse_bounds.get(q, 0.0), "bm25": bm25_bounds.get(q, 0.0)}
                for q in data.queries
            }
            results[name], families = dataset_table(data, sparse, bm25, bounds)
        summary = _report(results, families)
        print(f"\n== SPLADE long documents: {setting} ==")
        print_table(summary, families)
        report["results"][setting] = {"metrics": results, **summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
