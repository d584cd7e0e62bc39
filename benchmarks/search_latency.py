"""Search latency and recall of LocalSparseIndex (exact and approximate) vs exhaustive
scans and Seismic: on real Wikipedia paragraphs, corpora resampled from real vectors,
and Zipf draws.

Every system gets the same CSR vectors and the same pre-encoded queries, in one
process, so only indexing and retrieval are timed (no model). Systems (single-threaded
latency; each system answers all queries in a pass, passes alternate over the systems
for three rounds and each query's time is its median, so a noisy neighbour on the
shared machine slows all of them alike and no system finds another's cache warm):

* ``exact``: ``LocalSparseIndex.search`` (block-max pruning; full hits with exact
  scores, texts, metadata and vectors), numba kernel.
* ``approx a=X``: ``search(..., approximate=True, alpha=X)``.
* ``scan``: the same index scoring every posting (``_prune = False``): an exhaustive
  compiled term-at-a-time scan, which is what this index did before pruning.
* ``splade_index``: the ``splade-index`` package (numba, exhaustive) with its CSC
  matrix injected and a stub model returning our pre-encoded queries.
* ``seismic qc=Q hf=H``: ``pyseismic-lsr`` (n_postings 2000, summary_energy 0.3,
  as in the issue) at several query-time settings (query_cut, heap_factor).
* ``bmp a=X``: the ``bmp`` package (Block-Max Pruning, Rust; blocks of 64), fed the
  documents in this index's merge order (BMP expects a reordered corpus and has no
  reordering of its own) with weights scaled to its integer range
  (``255 / max weight``, so its top-k is exact only up to that quantisation).

Recall@10 is against ``exact``'s top-10 ids. Build times: ours (add + merge, with
document reordering and block bounds), and the same build without reordering and
block bounds ("before": what the index did before pruning), measured in this run.

Run: ``python benchmarks/search_latency.py --corpus resampled --docs 1000000``
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_info
from _search_corpora import VOCAB, Csr, matrix, mix, nearest_cosine, resampled, zipf
from _timing import in_passes, summarise
from _wiki_corpus import WIKI_COMMIT, real_queries, wiki_vectors

from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

logger = logging.getLogger("search_latency")
RESULTS = Path(__file__).resolve().parent / "results"


# -- systems ---------------------------------------------------------------------------


def build_index(docs: Csr, ids: list[str], legacy: bool = False) -> tuple[LocalSparseIndex, float]:
    """Bulk add + merge; ``legacy`` skips reordering and block bounds (the old build)."""
    index = LocalSparseIndex(kernel="numba")
    if legacy:
        index._kernels = dataclasses.replace(
            index._kernels,
            document_order=lambda f: np.arange(f.n_rows, dtype=np.int64),
            build_blockmax=lambda p, n: None,  # type: ignore[arg-type,return-value]
        )
    start = time.perf_counter()
    index.add_csr(ids, *docs)
    index.optimize()
    return index, time.perf_counter() - start


class _StubModel:
    """Stands in for a sentence-transformers SparseEncoder: returns pre-encoded queries."""

    def __init__(self, queries: Sequence[SparseVector]) -> None:
        import torch

        self._tensors = [
            torch.sparse_coo_tensor(
                torch.from_numpy(q.indices.astype(np.int64)).unsqueeze(0),
                torch.from_numpy(q.values.copy()),
                size=(VOCAB,),
            ).coalesce()
            for q in queries
        ]

    def encode_query(self, queries: Sequence[str], **_: Any) -> list[Any]:
        return [self._tensors[int(q)] for q in queries]


def make_splade_index(docs: Csr, queries: Sequence[SparseVector]) -> Any:
    import scipy.sparse
    import splade_index

    n = docs[0].shape[0] - 1
    csc = scipy.sparse.csr_array((docs[2], docs[1], docs[0]), shape=(n, VOCAB)).tocsc()
    model = splade_index.SPLADE(backend="numba")
    model.scores = {
        "data": csc.data,
        "indices": csc.indices.astype(np.int32),
        "indptr": csc.indptr.astype(np.int32),
        "num_docs": n,
    }
    model.unique_token_ids_set = set(np.flatnonzero(np.diff(csc.indptr)).tolist())
    model.corpus = np.arange(n)
    model.document_ids = np.arange(n)
    model.model = _StubModel(queries)
    model.retrieve(["0"], k=10, show_progress=False, n_threads=1)  # compile
    return model


def make_bmp(index: LocalSparseIndex, directory: Path) -> tuple[Any, float, float]:
    """A ``bmp`` index of the local index's merged rows, in their order; returns it, its
    build time and the query weight scale."""
    import bmp

    snap = index._snap
    forward = snap.base.forward
    scale = 255.0 / float(forward.values.max())
    start = time.perf_counter()
    indexer = bmp.Indexer(str(directory / "bmp"), bsize=64, compress_range=False)
    names = np.array([str(t) for t in range(VOCAB)], dtype=object)
    for r in range(forward.n_rows):
        lo, hi = int(forward.indptr[r]), int(forward.indptr[r + 1])
        codes = np.rint(forward.values[lo:hi] * scale).astype(np.int64)
        indexer.add_document(snap.ids[r], dict(zip(names[forward.terms[lo:hi]], codes.tolist())))
    indexer.finish()
    searcher = bmp.Searcher(str(directory / "bmp"))
    return searcher, time.perf_counter() - start, 100.0


def make_seismic(docs: Csr) -> tuple[Any, float]:
    import seismic

    string = seismic.get_seismic_string()
    tokens = np.array([str(t) for t in range(VOCAB)], dtype=string)
    start = time.perf_counter()
    dataset = seismic.SeismicDataset()
    indptr, terms, values = docs
    for r in range(indptr.shape[0] - 1):
        lo, hi = indptr[r], indptr[r + 1]
        dataset.add_document(str(r), tokens[terms[lo:hi]], values[lo:hi])
    index = seismic.SeismicIndex.build_from_dataset(
        dataset, n_postings=2000, summary_energy=0.3, centroid_fraction=0.1
    )
    return index, time.perf_counter() - start


# -- measurement -----------------------------------------------------------------------


def throughput(fn: Callable[[int], Any], n_queries: int, pairs: int = 3) -> dict[str, float]:
    """Batch QPS with 1 and 2 threads, alternating runs; medians of ``pairs`` pairs."""
    walls: dict[int, list[float]] = {1: [], 2: []}
    fn(2)
    for _ in range(pairs):
        for threads in (1, 2):
            start = time.perf_counter()
            fn(threads)
            walls[threads].append(time.perf_counter() - start)
    return {
        f"qps_{t}_threads": round(n_queries / statistics.median(w), 1) for t, w in walls.items()
    }


NEAR_COPY_BASES = 8_633
"""Real documents behind the near-copy corpus (as many as the first published runs had)."""


def corpus(args: argparse.Namespace, n_docs: int) -> tuple[Csr, Csr, dict[str, Any]]:
    """The documents, the queries and what the corpus is (with how redundant it is)."""
    if args.corpus == "resampled":
        docs, queries, info = resampled(n_docs, args.seed)
    elif args.corpus == "zipf":
        return zipf(n_docs, args.queries, args.seed)
    else:
        if args.wiki_git is None:
            raise SystemExit(f"--corpus {args.corpus} needs --wiki-git PATH (see _wiki_corpus)")
        source = f"Wikipedia paragraphs (jason-feng/wikiVisual {WIKI_COMMIT[:7]} text/)"
        queries = real_queries()
        if args.corpus == "wiki":
            docs = wiki_vectors(args.wiki_git, n_docs)
            info = {"corpus": f"real {source}, splade-tiny, truncate-256"}
        else:
            keep, borrow, n_bases = (
                (0.75, 0.25, args.wiki_bases)
                if args.corpus == "wiki-mixed"
                else (0.9, 0.1, NEAR_COPY_BASES)
            )
            bases = wiki_vectors(args.wiki_git, n_bases)
            tag = f"wiki{n_bases}-{keep}-{borrow}"
            docs = mix(bases, n_docs, keep, borrow, args.seed, tag)
            info = {
                "corpus": f"resampled from {n_bases:,} real {source}: "
                f"{keep:.0%} of one paragraph's terms + {borrow:.0%} of another's, "
                "weights x lognormal(0, 0.15)",
                "nn_cosine_bases": round(
                    nearest_cosine(matrix(bases), np.random.default_rng(args.seed)), 4
                ),
            }
    info["nn_cosine"] = round(nearest_cosine(matrix(docs), np.random.default_rng(args.seed)), 4)
    return docs, queries, info


def run(args: argparse.Namespace, n_docs: int) -> dict[str, Any]:
    docs, qcsr, info = corpus(args, n_docs)
    logger.info("corpus: %s", info)
    rng = np.random.default_rng(args.seed)
    n_q = qcsr[0].shape[0] - 1
    picked = np.sort(rng.choice(n_q, size=min(args.queries, n_q), replace=False))
    queries = [
        SparseVector._trusted(
            qcsr[1][qcsr[0][i] : qcsr[0][i + 1]], qcsr[2][qcsr[0][i] : qcsr[0][i + 1]]
        )
        for i in picked.tolist()
    ]
    queries = [q for q in queries if q.nnz]
    n_queries, k = len(queries), args.k
    ids = [str(i) for i in range(n_docs)]
    build_before = float("nan")
    if not args.no_before_build:
        legacy, build_before = build_index(docs, ids, legacy=True)
        del legacy
    index, build_ours = build_index(docs, ids)
    stats = index.stats()
    logger.info("built in %.1fs (before: %.1fs): %s", build_ours, build_before, stats)

    def local(alpha: float | None, prune: bool = True) -> Callable[[int], list[int]]:
        def go(i: int) -> list[int]:
            index._prune = prune
            try:
                if alpha is None:
                    hits = index.search(queries[i], k=k)
                else:
                    hits = index.search(queries[i], k=k, approximate=True, alpha=alpha)
            finally:
                index._prune = True
            return [int(h.id) for h in hits]

        return go

    systems: dict[str, Callable[[int], Any]] = {"exact": local(None), "scan": local(None, False)}
    for alpha in args.alphas:
        systems[f"approx a={alpha}"] = local(alpha)
    extra_build: dict[str, float] = {}
    splade = None
    if not args.no_splade_index:
        splade = make_splade_index(docs, queries)
        systems["splade_index"] = lambda i: [
            int(d)
            for d in splade.retrieve(
                [str(i)], k=k, show_progress=False, n_threads=1, return_as="doc_ids"
            )[0]
        ]
    seismic_index = None
    if args.seismic:
        seismic_index, extra_build["seismic"] = make_seismic(docs)
        logger.info("seismic built in %.1fs", extra_build["seismic"])
        tokens = np.array([str(t) for t in range(VOCAB)], dtype=seismic_index_string())
        for qc, hf in args.seismic_settings:

            def sq(i: int, qc: int = qc, hf: float = hf) -> list[int]:
                q = queries[i]
                found = seismic_index.search(
                    str(i), tokens[q.indices], q.values, k, query_cut=qc, heap_factor=hf
                )
                return [int(doc) for _, _, doc in found]

            systems[f"seismic qc={qc} hf={hf}"] = sq
    if args.bmp:
        bmp_dir = Path(tempfile.mkdtemp(prefix="bmp-"))
        searcher, extra_build["bmp"], q_scale = make_bmp(index, bmp_dir)
        logger.info("bmp built in %.1fs", extra_build["bmp"])
        names = np.array([str(t) for t in range(VOCAB)], dtype=object)
        bmp_queries = [
            dict(
                zip(
                    names[q.indices],
                    np.maximum(np.rint(q.values * q_scale), 1).astype(np.int64).tolist(),
                )
            )
            for q in queries
        ]
        for alpha in args.bmp_alphas:

            def bq(i: int, alpha: float = alpha) -> list[int]:
                found, _ = searcher.search(bmp_queries[i], k=k, alpha=alpha, beta=1.0)
                return [int(doc) for doc in found]

            systems[f"bmp a={alpha}"] = bq
    del docs
    times, results = in_passes(systems, n_queries)
    exact = results["exact"]
    latency = {}
    for name, samples in times.items():
        recall = np.mean(
            [len(set(r) & set(e)) / max(len(e), 1) for r, e in zip(results[name], exact)]
        )
        latency[name] = {**summarise(samples), "recall_at_10": round(float(recall), 4)}
    base = latency["scan"]["p50_ms"]
    for name in latency:
        latency[name]["speedup_vs_scan"] = round(base / latency[name]["p50_ms"], 2)

    equal_recall = versus_seismic(latency) if seismic_index is not None else []

    def scan_batch(threads: int) -> Any:
        index._prune = False
        try:
            return index.search_batch(queries, k=k, n_threads=threads)
        finally:
            index._prune = True

    batch = {
        "exact": throughput(lambda t: index.search_batch(queries, k=k, n_threads=t), n_queries),
        "scan": throughput(scan_batch, n_queries),
        f"approx a={args.batch_alpha}": throughput(
            lambda t: index.search_batch(
                queries, k=k, n_threads=t, approximate=True, alpha=args.batch_alpha
            ),
            n_queries,
        ),
    }
    if splade is not None:
        names = [str(i) for i in range(n_queries)]
        batch["splade_index"] = throughput(
            lambda t: splade.retrieve(
                names, k=k, show_progress=False, n_threads=t, return_as="doc_ids"
            ),
            n_queries,
        )
    return {
        "docs": n_docs,
        "queries": n_queries,
        "k": k,
        **info,
        "postings": stats["postings"],
        "avg_terms_per_doc": round(stats["postings"] / n_docs, 1),
        "avg_terms_per_query": round(float(np.mean([q.nnz for q in queries])), 1),
        "build_s": {"ours": round(build_ours, 2), "before_pruning": round(build_before, 2)}
        | {name: round(s, 1) for name, s in extra_build.items()},
        "bytes_per_posting": {
            "postings": stats["bytes_per_posting"],
            "block_bounds": round(stats["block_bytes_per_posting"], 3),
            "inverted_index_total": round(stats["bytes_per_posting_with_vocab"], 3),
            "forward_store": round(stats["forward_bytes_per_posting"], 3),
        },
        "latency": latency,
        "equal_recall": equal_recall,
        "batch": batch,
    }


SEISMIC_SETTINGS = [(10, 0.9), (20, 0.9), (20, 0.8), (30, 0.8), (20, 0.7), (30, 0.7)]
SEISMIC_SETTINGS += [(50, 0.7), (50, 0.6), (50, 0.5), (80, 0.4)]
"""(query_cut, heap_factor): from Seismic's fastest to its most exhaustive."""

RECALL_LEVELS = (0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)


def frontier(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (recall, p50) points no other point beats on both, by recall."""
    best: list[tuple[float, float]] = []
    for recall, p50 in sorted(points, key=lambda x: (-x[0], x[1])):
        if not best or p50 < best[-1][1]:
            best.append((recall, p50))
    return best[::-1]


def p50_at(points: Sequence[tuple[float, float]], recall: float) -> float | None:
    """A system's p50 at ``recall``, linearly interpolated on its frontier; its fastest
    point that reaches it when ``recall`` is below its range; None above its range."""
    curve = frontier(points)
    if not curve or recall > curve[-1][0]:
        return None
    if recall <= curve[0][0]:
        return curve[0][1]
    for (r0, t0), (r1, t1) in itertools.pairwise(curve):
        if r0 <= recall <= r1:
            return t0 + (t1 - t0) * (recall - r0) / (r1 - r0)
    return None


def versus_seismic(latency: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Ours (approximate and exact) and Seismic at equal recall@10, interpolated."""

    def points(prefix: tuple[str, ...]) -> list[tuple[float, float]]:
        return [
            (v["recall_at_10"], v["p50_ms"]) for n, v in latency.items() if n.startswith(prefix)
        ]

    ours, theirs = points(("approx", "exact")), points(("seismic",))
    scan = latency["scan"]["p50_ms"]
    rows = []
    for level in RECALL_LEVELS:
        a, b = p50_at(ours, level), p50_at(theirs, level)
        rows.append(
            {
                "recall_at_10": level,
                "ours_p50_ms": None if a is None else round(a, 3),
                "seismic_p50_ms": None if b is None else round(b, 3),
                "ours_vs_scan": None if a is None else round(scan / a, 2),
                "seismic_over_ours": None if a is None or b is None else round(b / a, 2),
            }
        )
    return rows


def seismic_index_string() -> Any:
    import seismic

    return seismic.get_seismic_string()


# -- report ----------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    lines = []
    for r in report["runs"]:
        b = r["bytes_per_posting"]
        lines += [
            f"**{r['docs']:,} documents, {r['corpus']}** ({r['postings']:,} postings, "
            f"{r['avg_terms_per_doc']} terms/doc, {r['queries']} queries of "
            f"{r['avg_terms_per_query']} terms; nearest-neighbour cosine "
            f"{r.get('nn_cosine', 'n/a')}"
            + (f", of its real bases {r['nn_cosine_bases']}" if "nn_cosine_bases" in r else "")
            + ")",
            "",
            "| system | p50 ms | p99 ms | QPS | recall@10 | p50 speed-up vs scan |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, lat in r["latency"].items():
            lines.append(
                f"| {name} | {lat['p50_ms']} | {lat['p99_ms']} | {lat['qps']} | "
                f"{lat['recall_at_10']} | {lat['speedup_vs_scan']}x |"
            )
        if r.get("equal_recall"):
            lines += [
                "",
                "| recall@10 | ours p50 ms | vs scan | Seismic p50 ms | Seismic / ours |",
                "|---:|---:|---:|---:|---:|",
            ]
            for e in r["equal_recall"]:
                lines.append(
                    f"| {e['recall_at_10']} | {e['ours_p50_ms']} | {e['ours_vs_scan']}x | "
                    f"{e['seismic_p50_ms']} | {e['seismic_over_ours']}x |"
                )
        batch = "; ".join(
            f"{name} {v['qps_1_threads']} / {v['qps_2_threads']}" for name, v in r["batch"].items()
        )
        lines += [
            "",
            f"- Batch QPS with 1 / 2 threads: {batch}.",
            f"- Build: {r['build_s']['ours']} s (before pruning: {r['build_s']['before_pruning']}"
            f" s, ratio {r['build_s']['ours'] / r['build_s']['before_pruning']:.2f})"
            + (f"; Seismic {r['build_s']['seismic']} s" if "seismic" in r["build_s"] else "")
            + (f"; bmp {r['build_s']['bmp']} s" if "bmp" in r["build_s"] else "")
            + ".",
            f"- Memory: {b['postings']} B/posting + {b['block_bounds']} B/posting of block "
            f"bounds = {b['inverted_index_total']} B/posting for the whole inverted index "
            f"(+{b['forward_store']} B/posting forward store for exact scores and vectors).",
            "",
        ]
    m, load = report["machine"], report["load_average_1m"]
    lines.append(
        f"Load average (1 min) {load['before']:.1f} before the run, {load['after']:.1f} after: "
        "the 2 cores are shared with other jobs, so absolute figures are noisy; systems ran "
        "measured in alternating passes (median of 3 per query), so ratios are comparable."
    )
    lines.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + f"; {m['date_utc']}."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--corpus",
        choices=["wiki", "wiki-mixed", "wiki-near-copies", "resampled", "zipf"],
        default="wiki",
    )
    parser.add_argument(
        "--wiki-git", type=Path, default=None, help="jason-feng/wikiVisual as a git directory"
    )
    parser.add_argument(
        "--wiki-bases", type=int, default=200_000, help="real paragraphs behind wiki-mixed"
    )
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument(
        "--alphas", type=float, nargs="*", default=[0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6]
    )
    parser.add_argument("--batch-alpha", type=float, default=0.8)
    parser.add_argument("--seismic", action="store_true", help="also build pyseismic-lsr")
    parser.add_argument(
        "--seismic-settings",
        type=lambda s: (int(s.split(",")[0]), float(s.split(",")[1])),
        nargs="*",
        default=SEISMIC_SETTINGS,
        help="query_cut,heap_factor pairs",
    )
    parser.add_argument("--bmp", action="store_true", help="also build a bmp index")
    parser.add_argument("--bmp-alphas", type=float, nargs="*", default=[1.0, 0.9])
    parser.add_argument("--no-splade-index", action="store_true")
    parser.add_argument(
        "--no-before-build", action="store_true", help="skip timing the pre-pruning build"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    load_before = os.getloadavg()
    runs = [run(args, n) for n in args.docs]
    report = {
        "benchmark": "search_latency",
        "command": "python benchmarks/search_latency.py " + " ".join(sys.argv[1:]),
        "machine": machine_info("numpy", "numba", "scipy", "splade-index", "pyseismic-lsr", "bmp"),
        "load_average_1m": {"before": load_before[0], "after": os.getloadavg()[0]},
        "runs": runs,
    }
    report["markdown"] = markdown(report)
    out = args.out or RESULTS / f"search_latency_{args.corpus}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(report["markdown"] + "\n")
    print(report["markdown"])


if __name__ == "__main__":
    main()
