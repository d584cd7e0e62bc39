"""SpladeEncoder against sentence-transformers' SparseEncoder: same texts, threads, run.

Every system encodes the same documents (nfcorpus abstracts of 250-300 tokens,
truncated at 256) with the same thread count, batch 32, in one process; docs/s is
the median over rounds. The peer is sentence-transformers' ``SparseEncoder`` on the
bundled splade-tiny (wrapped as a sentence-transformers folder in a temp dir, since
nothing can be downloaded): its torch backend, and where onnxruntime/optimum
install, its ONNX backend in fp32 and as the dynamic int8 export
(``export_dynamic_quantized_onnx_model``). ``--with-seed`` adds the textbook formula
(full ``batch x length x vocab`` logits). Each row reports the largest per-weight
difference from sentence-transformers' torch output (special-token entries excluded:
the encoder zeroes them).

    python benchmarks/encode_throughput.py                       # CPU, 160 docs, 2 threads
    python benchmarks/encode_throughput.py --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.encoders.loading import BUNDLED_MODELS_DIR
from langchain_splade.encoders.pooling import splade_reference

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nfcorpus"
logger = logging.getLogger("encode_throughput")


def abstracts(corpus: Path, tokenizer: Any, count: int, low: int, high: int) -> list[str]:
    """The first ``count`` documents (title + text) of ``low``-``high`` tokens."""
    texts = []
    with (corpus / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            text = f"{doc.get('title', '')}\n{doc['text']}".strip()
            if low <= len(tokenizer(text)["input_ids"]) <= high:
                texts.append(text)
                if len(texts) == count:
                    break
    return texts


def sentence_transformers_folder(root: Path, max_length: int) -> Path:
    """The bundled model saved as a sentence-transformers SparseEncoder folder."""
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SpladePooling, Transformer

    folder = root / "splade-tiny-st"
    transformer = Transformer(
        str(BUNDLED_MODELS_DIR / "splade-tiny"),
        transformer_task="fill-mask",
        max_seq_length=max_length,
    )
    SparseEncoder(modules=[transformer, SpladePooling("max", "relu")]).save_pretrained(str(folder))
    return folder


def peers(folder: Path, threads: int, device: str) -> dict[str, Callable[[list[str]], Any]]:
    """sentence-transformers encoders by name: torch, and ONNX fp32/int8 where installed."""
    from sentence_transformers import SparseEncoder

    def encode_with(model: Any) -> Callable[[list[str]], Any]:
        return lambda texts: model.encode_document(
            texts, batch_size=32, convert_to_tensor=True, convert_to_sparse_tensor=False
        )

    systems = {"st_torch": encode_with(SparseEncoder(str(folder), device=device))}
    if device != "cpu":
        return systems
    try:
        import onnxruntime
        from sentence_transformers import export_dynamic_quantized_onnx_model

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        kwargs = {"session_options": options, "provider": "CPUExecutionProvider"}
        onnx_model = SparseEncoder(str(folder), backend="onnx", model_kwargs=kwargs)
        systems["st_onnx"] = encode_with(onnx_model)
        onnx_model.save_pretrained(str(folder))  # keeps onnx/model.onnx next to the config
        export_dynamic_quantized_onnx_model(onnx_model, "avx2", str(folder))
        int8 = SparseEncoder(
            str(folder),
            backend="onnx",
            model_kwargs={**kwargs, "file_name": "onnx/model_qint8_avx2.onnx"},
        )
        systems["st_onnx_int8"] = encode_with(int8)
    except Exception as exc:  # onnxruntime/optimum missing or failing: report torch only
        logger.warning("sentence-transformers ONNX backend unavailable: %s", exc)
    return systems


def seed_formula(texts: list[str], tokenizer: Any, args: argparse.Namespace) -> torch.Tensor:
    """The textbook formula: full logits, ``log(1 + relu(x)) * mask``, max over positions."""
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(
        BUNDLED_MODELS_DIR / "splade-tiny", local_files_only=True
    )
    model = model.eval().to(args.device)
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(texts), args.batch_size):
            batch = tokenizer(
                texts[start : start + args.batch_size],
                padding=True,
                truncation=True,
                max_length=args.max_length,
                return_tensors="pt",
            ).to(args.device)
            logits = model(**batch).logits.float()
            outputs.append(splade_reference(logits, batch["attention_mask"]).cpu())
    return torch.cat(outputs)


def dense(vectors: Any, vocab: int) -> torch.Tensor:
    """A ``(docs, vocab)`` tensor from SparseVectors or a tensor."""
    if isinstance(vectors, torch.Tensor):
        return vectors.float().cpu()
    out = torch.zeros(len(vectors), vocab)
    for row, vector in enumerate(vectors):
        out[row, torch.from_numpy(vector.indices.astype("int64"))] = torch.from_numpy(
            vector.values.copy()
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=160)
    parser.add_argument("--min-tokens", type=int, default=250)
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--with-seed", action="store_true", help="add the textbook formula")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    common = {"max_length": args.max_length, "long_documents": "truncate"}
    ours = SpladeEncoder(**common, batch_size=args.batch_size, device=args.device, dtype=args.dtype)  # type: ignore[arg-type]
    texts = abstracts(args.data, ours._tokenizer, args.docs, args.min_tokens, args.max_tokens)
    logger.info("%d documents of %d-%d tokens", len(texts), args.min_tokens, args.max_tokens)
    systems: dict[str, Callable[[list[str]], Any]] = {}
    if args.dtype == "float32":
        with tempfile.TemporaryDirectory() as tmp:
            systems.update(peers(sentence_transformers_folder(Path(tmp), args.max_length),
                                 args.threads, args.device))  # fmt: skip
    systems["splade_encoder"] = ours.embed_documents
    if args.device == "cpu":
        int8 = SpladeEncoder(**common, batch_size=args.batch_size, quantize="int8")  # type: ignore[arg-type]
        systems["splade_encoder_int8"] = int8.embed_documents
    if args.with_seed:
        systems["seed_formula"] = lambda batch: seed_formula(batch, ours._tokenizer, args)

    timings: dict[str, list[float]] = {name: [] for name in systems}
    outputs: dict[str, torch.Tensor] = {}
    for round_ in range(args.rounds):
        for name, encode in systems.items():
            start = time.perf_counter()
            result = encode(texts)
            timings[name].append(len(texts) / (time.perf_counter() - start))
            if round_ == 0:
                outputs[name] = dense(result, ours.vocab_size)
            logger.info("round %d %s: %.1f docs/s", round_, name, timings[name][-1])

    reference_name = "st_torch" if "st_torch" in outputs else "splade_encoder"
    reference = outputs[reference_name]
    reference[:, ours._special_ids] = 0.0
    rows = {}
    for name, output in outputs.items():
        output[:, ours._special_ids] = 0.0
        rows[name] = {
            "docs_per_s": round(statistics.median(timings[name]), 2),
            "max_abs_diff": float((output - reference).abs().max()),
            "all_rounds": [round(t, 2) for t in timings[name]],
        }
    base = rows.get("st_torch", rows["splade_encoder"])["docs_per_s"]
    for row in rows.values():
        row["vs_st_torch"] = round(row["docs_per_s"] / base, 2)
    if "st_onnx_int8" in rows and "splade_encoder_int8" in rows:
        int8_ratio = rows["splade_encoder_int8"]["docs_per_s"] / rows["st_onnx_int8"]["docs_per_s"]
        rows["splade_encoder_int8"]["vs_st_onnx_int8"] = round(int8_ratio, 2)
    token_counts = [len(ours._tokenizer(t)["input_ids"]) for t in texts]
    result = {
        "benchmark": "encode_throughput",
        "machine": machine_info(
            "torch", "transformers", "tokenizers", "sentence-transformers", "onnxruntime"
        ),
        "command": " ".join(sys.argv),
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "docs": len(texts),
        "data": str(args.data.resolve().name),
        "tokens_per_doc_median": statistics.median(token_counts),
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "reference": reference_name,
        "systems": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / f"encode_throughput_{args.device}_{args.dtype}.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"wrote {out_file}")


if __name__ == "__main__":
    main()
