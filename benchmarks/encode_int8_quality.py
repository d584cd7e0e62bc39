"""nDCG@10 of the opt-in int8 encoder (``quantize="int8"``) against the exact one.

Both encode the shared BEIR datasets with the bundled model, ``max_length=256``,
truncation; each is scored by the eval runner (``run_evaluation``, sparse mode,
local index), queries encoded by the same encoder as the documents. Document
vectors are cached under ``--cache`` (exact ones also read from ``--reuse`` when
another benchmark encoded them with the same settings), so a rerun only scores.

    python benchmarks/encode_int8_quality.py --datasets nfcorpus msmarco-5k dbpedia-5k
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.evaluation import load_beir
from langchain_splade.evaluation.runner import run_evaluation
from langchain_splade.types import SparseVector

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
logger = logging.getLogger("encode_int8_quality")


def cached_vectors(
    path: Path, encoder: SpladeEncoder, texts: list[str], doc_ids: list[str], reuse: list[Path]
) -> list[SparseVector]:
    """Document vectors from ``path`` (or a ``reuse`` file), else encoded and saved."""
    for candidate in (path, *reuse):
        if candidate.is_file():
            data = np.load(candidate)
            keys = (
                ("doc_terms", "doc_values") if "doc_terms" in data else ("doc_indices", "doc_data")
            )
            ptr, terms, values = data["doc_indptr"], data[keys[0]], data[keys[1]]
            same_order = "doc_ids" not in data or list(data["doc_ids"]) == list(doc_ids)
            if len(ptr) == len(texts) + 1 and same_order:
                logger.info("reusing %s", candidate)
                return [
                    SparseVector(terms[ptr[i] : ptr[i + 1]], values[ptr[i] : ptr[i + 1]])
                    for i in range(len(texts))
                ]
    start = time.perf_counter()
    vectors = encoder.embed_documents(texts, show_progress=True)
    logger.info("encoded %d docs in %.0f s", len(texts), time.perf_counter() - start)
    ptr = np.zeros(len(vectors) + 1, np.int64)
    np.cumsum([v.nnz for v in vectors], out=ptr[1:])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        doc_indptr=ptr,
        doc_terms=np.concatenate([v.indices for v in vectors]).astype(np.int32),
        doc_values=np.concatenate([v.values for v in vectors]).astype(np.float32),
    )
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["nfcorpus", "msmarco-5k", "dbpedia-5k"])
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/encoder"))
    parser.add_argument(
        "--reuse",
        type=Path,
        nargs="*",
        default=[Path("/work/cache/local"), Path("/work/cache/vectors")],
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    settings = {"max_length": 256, "long_documents": "truncate", "batch_size": 16}
    encoders = {
        "exact": SpladeEncoder(**settings),  # type: ignore[arg-type]
        "int8": SpladeEncoder(**settings, quantize="int8"),  # type: ignore[arg-type]
    }
    out_file = args.out / "encode_int8_quality.json"
    previous = json.loads(out_file.read_text()) if out_file.is_file() else {}
    rows: dict[str, dict[str, float]] = previous.get("datasets", {})  # datasets run before
    for name in args.datasets:
        dataset = load_beir(DATA / name)
        row: dict[str, float] = {}
        for kind, encoder in encoders.items():
            reuse = [
                *(folder / f"{name}-truncate-256.npz" for folder in args.reuse),
                *(folder / name / "truncate-256.npz" for folder in args.reuse),
            ] if kind == "exact" else []  # fmt: skip
            path = args.cache / f"{name}-{kind}-truncate-256.npz"
            vectors = cached_vectors(path, encoder, dataset.doc_texts, dataset.doc_ids, reuse)
            scores = run_evaluation(
                dataset, encoder, ["sparse"], vectors=vectors, show_progress=False
            )["sparse"]
            row[f"{kind}_ndcg@10"] = round(scores["ndcg@10"], 4)
            logger.info("%s %s nDCG@10 %.4f", name, kind, scores["ndcg@10"])
        row["delta"] = round(row["int8_ndcg@10"] - row["exact_ndcg@10"], 4)
        rows[name] = row
        result = {
            "benchmark": "encode_int8_quality",
            "machine": machine_info("torch", "transformers"),
            "command": " ".join(sys.argv),
            "settings": settings,
            "datasets": rows,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
