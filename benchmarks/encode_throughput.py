"""SpladeEncoder against the textbook SPLADE formula, same texts, same threads, one run.

The baseline is the seed formula as usually written: run the masked LM, then
``torch.log(1 + torch.relu(logits)) * mask`` and ``.max(dim=1)`` over the full
``batch x length x vocab`` logits, batches in input order. We report docs/s of
both (median over rounds), their ratio, peak RSS of each, and the largest
per-weight difference (special-token entries excluded: the encoder zeroes them).

    python benchmarks/encode_throughput.py                      # CPU, 96 docs of ~250 tokens
    python benchmarks/encode_throughput.py --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info, peak_rss_mib, peak_rss_reset

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.encoders.loading import BUNDLED_MODELS_DIR
from langchain_splade.encoders.pooling import splade_reference

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "msmarco-5k"


def long_texts(corpus: Path, tokenizer: object, count: int, tokens: int) -> list[str]:
    """Join consecutive passages until each text has about ``tokens`` tokens."""
    texts, current = [], ""
    with (corpus / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            current = f"{current} {json.loads(line)['text']}".strip()
            if len(tokenizer(current)["input_ids"]) >= tokens:  # type: ignore[operator]
                texts.append(current)
                current = ""
                if len(texts) == count:
                    break
    return texts


def seed_formula(model, tokenizer, texts, batch_size, max_length, device) -> torch.Tensor:  # type: ignore[no-untyped-def]
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            logits = model(**batch).logits.float()
            outputs.append(splade_reference(logits, batch["attention_mask"]).cpu())
    return torch.cat(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=96)
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoModelForMaskedLM

    encoder = SpladeEncoder(
        max_length=args.max_length,
        long_documents="truncate",
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,  # type: ignore[arg-type]
    )
    tokenizer = encoder._tokenizer
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    baseline_model = (
        AutoModelForMaskedLM.from_pretrained(
            BUNDLED_MODELS_DIR / "splade-tiny", local_files_only=True
        )
        .eval()
        .to(args.device, dtype[args.dtype])
    )
    texts = long_texts(args.data, tokenizer, args.docs, args.tokens)
    token_counts = [
        len(tokenizer(t, truncation=True, max_length=args.max_length)["input_ids"]) for t in texts
    ]

    timings: dict[str, list[float]] = {"seed": [], "encoder": []}
    peaks: dict[str, float | None] = {}
    reference = ours = None
    for _ in range(args.rounds):
        for name in ("seed", "encoder"):
            peak_rss_reset()
            start = time.perf_counter()
            if name == "seed":
                reference = seed_formula(
                    baseline_model, tokenizer, texts, args.batch_size, args.max_length, args.device
                )
            else:
                ours = encoder.embed_documents(texts)
            timings[name].append(len(texts) / (time.perf_counter() - start))
            peaks[name] = max(peaks.get(name) or 0.0, peak_rss_mib() or 0.0) or None

    assert reference is not None and ours is not None
    dense = torch.zeros_like(reference)
    for row, vector in enumerate(ours):
        dense[row, torch.from_numpy(vector.indices.astype("int64"))] = torch.from_numpy(
            vector.values.copy()
        )
    reference[:, encoder._special_ids] = 0.0
    max_abs_diff = float((dense - reference).abs().max())

    seed_dps = statistics.median(timings["seed"])
    ours_dps = statistics.median(timings["encoder"])
    result = {
        "benchmark": "encode_throughput",
        "machine": machine_info("torch", "transformers", "tokenizers"),
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "docs": len(texts),
        "tokens_per_doc_median": statistics.median(token_counts),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "seed_docs_per_s": round(seed_dps, 2),
        "encoder_docs_per_s": round(ours_dps, 2),
        "speedup": round(ours_dps / seed_dps, 2),
        "seed_peak_rss_mib": peaks["seed"],
        "encoder_peak_rss_mib": peaks["encoder"],
        "max_abs_diff": max_abs_diff,
        "all_rounds_docs_per_s": timings,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / f"encode_throughput_{args.device}_{args.dtype}.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"wrote {out_file}")


if __name__ == "__main__":
    main()
