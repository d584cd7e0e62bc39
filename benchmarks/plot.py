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
    quality = json.loads((RESULTS / "quality_backends.json").read_text())["results"]
    encode = json.loads((RESULTS / "encode_throughput_cpu_float32.json").read_text())
    latency = json.loads((RESULTS / "search_latency.json").read_text())

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    modes = ["bm25", "sparse", "hybrid"]
    width = 0.2
    for offset, (dataset, backend) in enumerate(
        (d, b) for d in quality for b in ("local", "opensearch")
    ):
        values = [quality[dataset][backend][m]["ndcg@10"] for m in modes]
        ax.bar(
            [i + offset * width for i in range(len(modes))],
            values,
            width,
            label=f"{dataset} / {backend}",
        )
    ax.set_xticks([i + 1.5 * width for i in range(len(modes))], ["BM25", "SPLADE", "hybrid"])
    ax.set_ylabel("nDCG@10")
    ax.set_title("Retrieval quality (splade-tiny)")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=7, ncol=2, loc="upper center")

    ax = axes[1]
    names = ["textbook formula", "SpladeEncoder"]
    values = [encode["seed_docs_per_s"], encode["encoder_docs_per_s"]]
    ax.bar(names, values, color=["#999999", "#1f77b4"])
    ax.set_ylabel("documents / s (2-core CPU, ~250 tokens)")
    ax.set_title(f"Encoding: {encode['speedup']:.1f}x, identical output")

    ax = axes[2]
    sizes, systems = _latency_rows(latency)
    for i, system in enumerate(systems):
        ax.bar(
            [j + i * 0.25 for j in range(len(sizes))],
            [systems[system][s] for s in sizes],
            0.25,
            label=system,
        )
    ax.set_xticks([j + 0.25 for j in range(len(sizes))], [f"{s:,} docs" for s in sizes])
    ax.set_ylabel("p50 query latency (ms)")
    ax.set_yscale("log")
    ax.set_title("Local index search latency")
    ax.legend(fontsize=8)

    fig.tight_layout()
    out = RESULTS / "summary.png"
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


def _latency_rows(latency: dict) -> tuple[list[int], dict[str, dict[int, float]]]:  # type: ignore[type-arg]
    systems: dict[str, dict[int, float]] = {}
    sizes = []
    for run in latency["runs"]:
        sizes.append(run["docs"])
        for system, row in run["latency"].items():
            systems.setdefault(system, {})[run["docs"]] = row["p50_ms"]
    return sizes, systems


if __name__ == "__main__":
    main()
