"""Run retrieval modes over a BEIR dataset through the real retriever and score them.

This is what ``langchain-splade eval`` does: encode the corpus once, index it in
the chosen backend, then for each mode (sparse, bm25, hybrid) run every query
through :class:`~langchain_splade.retrievers.SpladeRetriever`, the same code path a
RAG chain uses, timing each query.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

from langchain_splade.errors import InvalidInputError
from langchain_splade.evaluation.beir import BeirDataset
from langchain_splade.evaluation.metrics import DEFAULT_METRICS, evaluate

logger = logging.getLogger(__name__)

MODES = ("sparse", "bm25", "hybrid")
DEPTH = 100


def parse_modes(text: str) -> list[str]:
    """``"sparse,bm25"`` -> ``["sparse", "bm25"]``, rejecting unknown modes."""
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise InvalidInputError(
            f"Unknown evaluation mode(s) {unknown or text!r}.",
            expected=f"a comma-separated subset of {', '.join(MODES)}",
            fix="pass e.g. --mode sparse,bm25,hybrid",
        )
    return modes


def run_evaluation(
    dataset: BeirDataset,
    encoder: Any,
    modes: Sequence[str] = MODES,
    *,
    backend: str = "local",
    opensearch_url: str | None = None,
    elasticsearch_url: str | None = None,
    method: str | None = None,
    show_progress: bool = True,
    vectors: Sequence[Any] | None = None,
    runs: dict[str, dict[str, list[tuple[str, float]]]] | None = None,
    **retriever_options: Any,
) -> dict[str, dict[str, float]]:
    """Metrics and timings per mode: ``{mode: {"ndcg@10": ..., "query_p50_ms": ...}}``.

    ``vectors`` (aligned with ``dataset.doc_ids``) skips document encoding, e.g. to
    compare backends on the same vectors; encode_docs_per_s is then absent.
    ``method`` picks OpenSearch's search method (``"seismic"``: approximate).
    ``runs``, when given, receives each mode's ranked ``(id, score)`` lists by query
    (what :func:`fusion_table` fuses). Progress bars go to stderr.
    """
    from langchain_splade.retrievers import SpladeRetriever

    start = time.perf_counter()
    encoded_here = vectors is None
    if vectors is None:
        vectors = encoder.embed_documents(dataset.doc_texts, show_progress=show_progress)
    encode_s = time.perf_counter() - start
    url = elasticsearch_url if backend == "elasticsearch" else opensearch_url
    with _index(backend, url, method) as index:
        index.check_encoder(encoder.fingerprint)
        metadatas = [{"title": doc.title} for doc in dataset.corpus.values()]
        start = time.perf_counter()
        index.add(dataset.doc_ids, vectors, dataset.doc_texts, metadatas)
        index_s = time.perf_counter() - start
        results = {}
        for mode in modes:
            retriever = SpladeRetriever(
                encoder=encoder, index=index, k=DEPTH, mode=mode, **retriever_options
            )
            run, latencies = {}, []
            for qid, text in tqdm(
                dataset.queries.items(),
                desc=mode,
                unit="query",
                disable=not show_progress,
                file=sys.stderr,
            ):
                t0 = time.perf_counter()
                documents = retriever.invoke(text)
                latencies.append(1000 * (time.perf_counter() - t0))
                run[qid] = {str(d.id): float(d.metadata["score"]) for d in documents}
            if runs is not None:
                runs[mode] = {qid: list(ranked.items()) for qid, ranked in run.items()}
            scores = evaluate(dataset.qrels, run, DEFAULT_METRICS).aggregate
            results[mode] = {
                **scores,
                **({"encode_docs_per_s": len(vectors) / encode_s} if encoded_here else {}),
                "index_docs_per_s": len(vectors) / index_s if index_s else float("inf"),
                "query_p50_ms": statistics.median(latencies) if latencies else 0.0,
                "query_p95_ms": _percentile(latencies, 95),
                "queries": float(len(latencies)),
            }
    return results


def fusion_table(
    dataset: BeirDataset,
    sparse: Mapping[str, Sequence[tuple[str, float]]],
    bm25: Mapping[str, Sequence[tuple[str, float]]],
    depth: int = DEPTH,
) -> dict[str, dict[str, float]]:
    """Metrics of every hybrid fusion candidate (:mod:`.candidates`) on the two runs,
    the same arithmetic ``SpladeRetriever(mode="hybrid")`` does on its candidates."""
    from langchain_splade.evaluation.candidates import candidates, fused_run

    return {
        candidate.name: evaluate(
            dataset.qrels,
            {q: dict(r) for q, r in fused_run(candidate, sparse, bm25, depth=depth).items()},
            DEFAULT_METRICS,
        ).aggregate
        for candidate in candidates()
    }


@contextmanager
def _index(backend: str, url: str | None, method: str | None = None) -> Iterator[Any]:
    """A fresh, empty index (the CLI's factory); a remote one is deleted afterwards."""
    from langchain_splade.stores.factory import open_index

    name = f"splade-eval-{uuid.uuid4().hex[:10]}"
    index = open_index(
        backend, None, url, name, create=True, elasticsearch_url=url, method=method
    )
    try:
        yield index
    finally:
        if backend != "local":
            index.clear()  # type: ignore[attr-defined]
        index.close()


def _percentile(values: Sequence[float], percent: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def format_table(results: dict[str, dict[str, float]]) -> str:
    """A plain-text table, one row per mode (or fusion candidate)."""
    columns = ["ndcg@10", "recall@100", "mrr@10", "map@100", "query_p50_ms", "query_p95_ms"]
    width = max([8, *map(len, results)])
    lines = [f"{'mode':<{width}} " + "  ".join(f"{c:>12}" for c in columns)]
    for mode, row in results.items():
        lines.append(
            f"{mode:<{width}} " + "  ".join(f"{row.get(c, float('nan')):>12.4f}" for c in columns)
        )
    first = next(iter(results.values()), {})
    if "encode_docs_per_s" in first:
        lines.append(f"(encoded {first['encode_docs_per_s']:.1f} docs/s)")
    return "\n".join(lines)
