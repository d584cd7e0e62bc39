"""Long documents: which way of turning a document longer than one window into a
SPLADE vector keeps retrieval quality (nDCG@10), measured against truncation.

Every strategy is derived from the same cached per-window vectors (each window is
encoded once by ``_window_cache.py``; only multi-window documents differ):

- ``truncate``: the first window only (``long_documents="truncate"``);
- ``max``: max-pool over the tokenizer's windows (today's ``"window"``);
- ``max_aligned``: the same, the last window right-aligned on the document's end
  (always full length, never a short tail);
- ``decay_g``: max over ``g ** k * w_k`` (window ``k`` from 0), plain or aligned;
- ``first_g``: the first window at full weight, every later one scaled by ``g``;
- ``maxp``: MaxP (Dai & Callan, 2019): one vector per window, a document scores
  its best window (needs an index that groups vectors per document).

Parameters are chosen across datasets: for each dataset, the parameter ``g`` of each
family is picked on the *other* datasets that have multi-window documents
(leave-one-dataset-out), then scored on the held-out one. The rule for a default:
nDCG@10 >= truncation - 0.002 on every dataset.

    python benchmarks/_window_cache.py          # encodes the windows once (cached)
    python benchmarks/long_documents.py         # table + results/long_documents.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info
from _window_cache import Arrays, LazyEncoder, load_or_encode, query_matrix, top_runs, window_matrix

from langchain_splade.evaluation import BeirDataset, evaluate, load_beir

logger = logging.getLogger("long_documents")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "long_documents.json"
GAMMAS = (0.5, 0.6, 0.7, 0.8, 0.9)
DEPTH = 1000
TOLERANCE = 0.002

Run = dict[str, list[tuple[str, float]]]


def _selected_windows(arrays: Arrays, aligned: bool) -> np.ndarray:
    """Rows of the windows a strategy pools: tokenizer windows, or with the last one
    of each multi-window document replaced by its right-aligned window."""
    is_aligned = arrays["win_aligned_last"]
    if not aligned:
        return np.flatnonzero(~is_aligned)
    owner, position = arrays["win_owner"], arrays["win_position"]
    replaced = set(zip(owner[is_aligned].tolist(), position[is_aligned].tolist()))
    keep = [
        row
        for row in range(len(owner))
        if is_aligned[row] or (int(owner[row]), int(position[row])) not in replaced
    ]
    return np.array(keep, dtype=np.int64)


def pooled_docs(
    arrays: Arrays, coefficient: Callable[[np.ndarray], np.ndarray], aligned: bool
) -> Any:
    """Document matrix ``(docs, vocab)``: per term, the max over the document's windows
    of ``coefficient(position) * weight``."""
    windows = window_matrix(arrays)
    rows = _selected_windows(arrays, aligned)
    scale = coefficient(arrays["win_position"][rows].astype(np.float64))
    chosen = sp.diags(scale.astype(np.float32)) @ windows[rows]
    coo = chosen.tocoo()
    owner = arrays["win_owner"][rows][coo.row].astype(np.int64)
    vocab = windows.shape[1]
    keys = owner * vocab + coo.col
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], coo.data[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    maxima = np.maximum.reduceat(values, starts) if len(values) else values
    unique = keys[starts]
    docs = len(arrays["doc_ids"])
    return sp.csr_matrix((maxima, (unique // vocab, unique % vocab)), shape=(docs, vocab))


def strategies() -> dict[str, tuple[str, float | None, Callable[[np.ndarray], np.ndarray], bool]]:
    """name -> (family, parameter, coefficient of window k, right-aligned last window)."""
    out: dict[str, tuple[str, float | None, Callable[[np.ndarray], np.ndarray], bool]] = {
        "truncate": ("truncate", None, lambda k: (k == 0).astype(np.float64), False),
        "max": ("max", None, np.ones_like, False),
        "max_aligned": ("max_aligned", None, np.ones_like, True),
    }
    for g in GAMMAS:
        out[f"decay_{g}"] = ("decay", g, lambda k, g=g: g**k, False)
        out[f"decay_aligned_{g}"] = ("decay_aligned", g, lambda k, g=g: g**k, True)
        out[f"first_{g}"] = ("first", g, lambda k, g=g: np.where(k == 0, 1.0, g), False)
        out[f"first_aligned_{g}"] = (
            "first_aligned",
            g,
            lambda k, g=g: np.where(k == 0, 1.0, g),
            True,
        )
    return out


def splade_run(arrays: Arrays, docs: Any) -> Run:
    scores = (query_matrix(arrays).astype(np.float64) @ docs.astype(np.float64).T).toarray()
    return top_runs(scores, arrays["doc_ids"], arrays["query_ids"], DEPTH)


def maxp_run(arrays: Arrays, aligned: bool) -> Run:
    """MaxP: a document's score is the best score of any of its windows."""
    rows = _selected_windows(arrays, aligned)
    windows = window_matrix(arrays)[rows].astype(np.float64)
    scores = (query_matrix(arrays).astype(np.float64) @ windows.T).toarray()
    owner = arrays["win_owner"][rows]
    order = np.argsort(owner, kind="stable")
    owner = owner[order]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    per_doc = np.maximum.reduceat(scores[:, order], starts, axis=1)
    return top_runs(per_doc, arrays["doc_ids"][owner[starts]], arrays["query_ids"], DEPTH)


def ndcg(data: BeirDataset, run: Run) -> float:
    return evaluate(data.qrels, {q: dict(r) for q, r in run.items()}, ["ndcg@10"]).aggregate[
        "ndcg@10"
    ]


def all_runs(arrays: Arrays) -> dict[str, Run]:
    """Every strategy's SPLADE run on one dataset."""
    runs = {
        name: splade_run(arrays, pooled_docs(arrays, c, a))
        for name, (_, _, c, a) in strategies().items()
    }
    runs["maxp"] = maxp_run(arrays, aligned=False)
    runs["maxp_aligned"] = maxp_run(arrays, aligned=True)
    return runs


def cross_dataset_choice(
    table: Mapping[str, Mapping[str, float]], multi: list[str]
) -> dict[str, Any]:
    """For each family with a parameter, the parameter chosen on the other multi-window
    datasets (max mean nDCG@10 there) and its held-out score on each dataset."""
    families: dict[str, list[tuple[str, float]]] = {}
    for name, (family, param, _, _) in strategies().items():
        if param is not None:
            families.setdefault(family, []).append((name, param))
    out: dict[str, Any] = {}
    for family, members in families.items():
        per_dataset = {}
        for held in table:
            train = [d for d in multi if d != held] or multi
            best = max(
                members, key=lambda m: (statistics.fmean(table[d][m[0]] for d in train), -m[1])
            )
            per_dataset[held] = {
                "chosen": best[0],
                "trained_on": train,
                "ndcg@10": table[held][best[0]],
            }
        out[family] = per_dataset
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", default=["nfcorpus", "dbpedia-5k", "msmarco-5k"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    from langchain_splade.encoders import SpladeEncoder

    torch.set_num_threads(2)
    encoder = LazyEncoder(lambda: SpladeEncoder(device="cpu", max_length=256))
    table: dict[str, dict[str, float]] = {}
    stats: dict[str, dict[str, int]] = {}
    for name in args.datasets:
        data = load_beir(args.data_dir / name)
        arrays = load_or_encode(data, encoder)
        counts = np.bincount(
            arrays["win_owner"][~arrays["win_aligned_last"]], minlength=len(arrays["doc_ids"])
        )
        stats[name] = {
            "docs": len(counts),
            "multi_window_docs": int((counts > 1).sum()),
            "windows": int(counts.sum()),
        }
        table[name] = {strategy: ndcg(data, run) for strategy, run in all_runs(arrays).items()}
    multi = [d for d in table if stats[d]["multi_window_docs"] > 0]
    choice = cross_dataset_choice(table, multi)
    names = list(next(iter(table.values())))
    print(f"{'strategy':22s}" + "".join(f"{d:>12s}" for d in table) + f"{'mean':>10s}")
    for strategy in names:
        row = [table[d][strategy] for d in table]
        print(
            f"{strategy:22s}"
            + "".join(f"{v:12.4f}" for v in row)
            + f"{statistics.fmean(row):10.4f}"
        )
    for family, per in choice.items():
        print(
            f"{family + ' (LODO)':22s}"
            + "".join(f"{per[d]['ndcg@10']:12.4f}" for d in table)
            + "   "
            + ", ".join(f"{d}: {per[d]['chosen']}" for d in table)
        )
    report = {
        "benchmark": "long_documents",
        "machine": machine_info("torch", "transformers", "numpy", "scipy"),
        "settings": {
            "model": "splade-tiny (bundled)",
            "max_length": 256,
            "window_overlap": 32,
            "depth": DEPTH,
            "metric": "nDCG@10 (trec_eval semantics)",
            "tolerance": TOLERANCE,
            "command": "python benchmarks/long_documents.py",
        },
        "datasets": stats,
        "ndcg@10": table,
        "cross_dataset": choice,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
