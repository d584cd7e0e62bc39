"""Encoding documents for Qdrant: our adapter against the SPLADE encoders Qdrant users run.

The same nfcorpus documents (title + abstract) become langchain-qdrant ``SparseVector``s
through each system, with the same bundled splade-tiny weights, the same 2 threads,
batch 32 and 256-token truncation:

* ``adapter``: ``QdrantSparseEmbeddings(SpladeEncoder(long_documents="truncate"))``;
* ``adapter_window``: the adapter's default, sliding windows (keeps long documents'
  tails, so it does more work on long texts);
* ``st_sparse_encoder``: sentence-transformers' ``SparseEncoder`` on the bundled folder
  (MLMTransformer + SpladePooling), sparse tensors converted to ``SparseVector``;
* ``fastembed_onnx``: langchain-qdrant's ``FastEmbedSparse`` (FastEmbed's SPLADE code
  path: ONNX Runtime, full-logits ``log1p(relu)`` max pooling) on an ONNX export of the
  same weights. FastEmbed's own SPLADE model (``prithivida/Splade_PP_en_v1``) is not in
  any local cache here and nothing may be downloaded, so the export stands in for it:
  same code path, same small model, so the figures compare implementations, not models.

Each system runs in its own subprocess per round (peak RSS is per process, so they
cannot contaminate each other); rounds interleave the systems; medians are reported
with ratios against ``adapter`` measured in the same run.

    python benchmarks/adapter_encode.py                  # 1,000 nfcorpus docs, 3 rounds
    python benchmarks/adapter_encode.py --docs 200 --rounds 1 --systems adapter fastembed_onnx
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "nfcorpus"
MODEL_DIR = ROOT / "langchain_splade" / "models" / "splade-tiny"
DEFAULT_ONNX = Path.home() / ".cache" / "langchain-splade" / "splade-tiny-onnx"
SYSTEMS = ["adapter", "adapter_window", "st_sparse_encoder", "fastembed_onnx"]


def load_texts(data: Path, count: int) -> list[str]:
    """The first ``count`` corpus documents as ``title + " " + text`` (BEIR's convention)."""
    texts = []
    with (data / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(f"{record.get('title', '')} {record['text']}".strip())
            if len(texts) == count:
                break
    return texts


def export_onnx(target: Path, max_length: int) -> Path:
    """An ONNX export of the bundled model (logits output), in the layout FastEmbed loads."""
    if (target / "model.onnx").exists():
        return target
    import torch
    from transformers import AutoModelForMaskedLM

    target.mkdir(parents=True, exist_ok=True)
    model = AutoModelForMaskedLM.from_pretrained(MODEL_DIR, local_files_only=True).eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    ids = torch.ones(2, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        Logits(),
        (ids, ids, torch.zeros_like(ids)),
        str(target / "model.onnx"),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "logits"]},
        opset_version=17,
        dynamo=False,
    )
    for name in ("tokenizer.json", "config.json"):
        shutil.copy(MODEL_DIR / name, target / name)
    config = json.loads((MODEL_DIR / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_max_length"] = config["max_length"] = max_length  # FastEmbed truncates here
    (target / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return target


def make_system(name: str, args: argparse.Namespace) -> Any:
    """A callable ``texts -> list[langchain_qdrant.SparseVector]`` for ``name``."""
    from langchain_qdrant import SparseVector

    if name in ("adapter", "adapter_window"):
        from langchain_splade.adapters import QdrantSparseEmbeddings
        from langchain_splade.encoders import SpladeEncoder

        encoder = SpladeEncoder(
            device="cpu",
            max_length=args.max_length,
            batch_size=args.batch_size,
            long_documents="truncate" if name == "adapter" else "window",
        )
        return QdrantSparseEmbeddings(encoder, show_progress=False).embed_documents
    if name == "st_sparse_encoder":
        from sentence_transformers import SparseEncoder

        model = SparseEncoder(str(MODEL_DIR), device="cpu", local_files_only=True)
        model.max_seq_length = args.max_length

        def st_encode(texts: list[str]) -> list[Any]:
            rows = model.encode_document(
                texts,
                batch_size=args.batch_size,
                convert_to_sparse_tensor=True,
                show_progress_bar=False,
            )
            out = []
            for row in rows:
                row = row.coalesce()
                out.append(
                    SparseVector(indices=row.indices()[0].tolist(), values=row.values().tolist())
                )
            return out

        return st_encode
    if name == "fastembed_onnx":
        from langchain_qdrant import FastEmbedSparse

        fastembed = FastEmbedSparse(
            model_name="prithivida/Splade_PP_en_v1",  # selects FastEmbed's SPLADE class
            specific_model_path=str(export_onnx(args.onnx_dir, args.max_length)),
            local_files_only=True,
            batch_size=args.batch_size,
            threads=args.threads,
        )
        return fastembed.embed_documents
    raise SystemExit(f"unknown system {name!r}; expected one of {SYSTEMS}")


def worker(args: argparse.Namespace) -> None:
    """One timed pass of one system in this process; prints a JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    texts = load_texts(args.data, args.docs)
    encode = make_system(args.worker, args)
    encode(texts[:8])  # warm-up: lazy initialisation, first-call allocations
    loaded_mib = peak_rss_mib()
    start = time.perf_counter()
    vectors = encode(texts)
    seconds = time.perf_counter() - start
    nnz = [len(v.indices) for v in vectors]
    print(
        json.dumps(
            {
                "system": args.worker,
                "docs_per_s": len(texts) / seconds,
                "seconds": seconds,
                "peak_rss_mib": peak_rss_mib(),
                "rss_after_load_mib": loaded_mib,
                "mean_terms": sum(nnz) / len(nnz),
            }
        )
    )


def run_worker(name: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--data",
        str(args.data),
        "--docs",
        str(args.docs),
        "--threads",
        str(args.threads),
        "--batch-size",
        str(args.batch_size),
        "--max-length",
        str(args.max_length),
        "--onnx-dir",
        str(args.onnx_dir),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--systems", nargs="+", default=SYSTEMS, choices=SYSTEMS)
    parser.add_argument("--onnx-dir", type=Path, default=DEFAULT_ONNX)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    load_before = os.getloadavg()
    if "fastembed_onnx" in args.systems:
        export_onnx(args.onnx_dir, args.max_length)  # once, outside the timed passes
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.systems}
    for round_no in range(args.rounds):
        order = (
            args.systems[round_no % len(args.systems) :]
            + args.systems[: round_no % len(args.systems)]
        )
        for name in order:
            runs[name].append(run_worker(name, args))
            print(json.dumps(runs[name][-1]), flush=True)

    summary: dict[str, dict[str, Any]] = {}
    for name, passes in runs.items():
        summary[name] = {
            "docs_per_s": round(statistics.median(p["docs_per_s"] for p in passes), 2),
            "peak_rss_mib": round(statistics.median(p["peak_rss_mib"] for p in passes), 1),
            "rss_after_load_mib": round(
                statistics.median(p["rss_after_load_mib"] for p in passes), 1
            ),
            "mean_terms": round(statistics.median(p["mean_terms"] for p in passes), 1),
        }
    if "adapter" in summary:
        base = summary["adapter"]
        for row in summary.values():
            row["speed_vs_adapter"] = round(row["docs_per_s"] / base["docs_per_s"], 2)
            row["peak_rss_vs_adapter"] = round(row["peak_rss_mib"] / base["peak_rss_mib"], 2)
    result = {
        "benchmark": "adapter_encode",
        "machine": machine_info(
            "torch",
            "transformers",
            "sentence-transformers",
            "fastembed",
            "onnxruntime",
            "langchain-qdrant",
        ),
        "dataset": args.data.name,
        "docs": args.docs,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "rounds": args.rounds,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "summary": summary,
        "passes": runs,
        "fastembed_note": (
            "FastEmbed's SPLADE model is not available offline (SparseTextEmbedding("
            "'prithivida/Splade_PP_en_v1', local_files_only=True) finds no files), so "
            "fastembed_onnx runs FastEmbed's SPLADE code on an ONNX export of splade-tiny."
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / "adapter_encode.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    print(f"wrote {out_file}")


if __name__ == "__main__":
    main()
