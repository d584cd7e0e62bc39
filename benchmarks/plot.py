"""Draw benchmarks/results/summary.png from the JSON results (for the README).

python benchmarks/plot.py
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    quality = json.loads((RESULTS / "quality.json").read_text())["results"]["truncate"]["metrics"]
    encode = json.loads((RESULTS / "encode_throughput_cpu_float32.json").read_text())["systems"]
    latency = json.loads((RESULTS / "search_latency_wiki.json").read_text())["runs"][-1]

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    modes = {"bm25": "BM25", "sparse": "SPLADE", "max_a0.8": "hybrid (default)"}
    width = 0.25
    for offset, dataset in enumerate(quality):
        values = [quality[dataset][m]["ndcg@10"] for m in modes]
        ax.bar([i + offset * width for i in range(len(modes))], values, width, label=dataset)
    ax.set_xticks([i + width for i in range(len(modes))], list(modes.values()))
    ax.set_ylabel("nDCG@10")
    ax.set_title("Retrieval quality (splade-tiny, 256 tokens)")
    ax.set_ylim(0, 1.0)
    ax.legend(fontsize=8, loc="upper center", ncol=3)

    ax = axes[1]
    names = {
        "st_torch": "sentence-transformers",
        "splade_encoder": "SpladeEncoder",
        "splade_encoder_int8": "SpladeEncoder int8",
    }
    present = [n for n in names if n in encode]
    ax.bar(
        [names[n] for n in present],
        [encode[n]["docs_per_s"] for n in present],
        color=["#999999", "#1f77b4", "#aec7e8"][: len(present)],
    )
    ax.set_ylabel("documents / s (2-core CPU, ~280 tokens)")
    ratio = encode["splade_encoder"]["docs_per_s"] / encode["st_torch"]["docs_per_s"]
    ax.set_title(f"Encoding: {ratio:.2f}x sentence-transformers")
    ax.tick_params(axis="x", labelsize=8)

    ax = axes[2]
    families = {"exact": "#1f77b4", "approx": "#aec7e8", "scan": "#999999", "splade": "#7f7f7f"}
    families |= {"seismic": "#d62728", "bmp": "#2ca02c"}
    for system, row in latency["latency"].items():
        family = next((f for f in families if system.startswith(f)), "scan")
        ax.scatter(row["p50_ms"], row["recall_at_10"], color=families[family], s=25)
        ax.annotate(system, (row["p50_ms"], row["recall_at_10"]), fontsize=6,
                    xytext=(3, 2), textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("p50 query latency (ms, log scale)")
    ax.set_ylabel("recall@10 vs exact")
    ax.set_title(f"Search, {latency['docs']:,} real Wikipedia paragraphs")

    fig.tight_layout()
    out = RESULTS / "summary.png"
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
