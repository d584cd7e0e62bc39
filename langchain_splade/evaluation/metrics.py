"""Ranking metrics with trec_eval / ir-measures semantics.

Per query, values equal ``ir_measures`` (``nDCG@10``, ``R@100``, ``RR@10``,
``AP@100``, backed by trec_eval through pytrec_eval):

- a judgment >= 1 is relevant; 0 or negative is judged non-relevant;
- nDCG uses linear gains (the grade) and a log2(rank + 1) discount
  (Järvelin & Kekäläinen, 2002, "Cumulated gain-based evaluation of IR techniques"),
  normalised by the ideal DCG of the judged grades (trec_eval ``ndcg_cut``);
- AP@k divides by *all* relevant documents, not min(R, k) (trec_eval ``map_cut``);
- a scored run is ranked by score descending, ties by document id descending
  (trec_eval's order); a run given as a list keeps its order. (ir-measures computes
  ``RR@k`` with MS MARCO's script, which breaks ties by id *ascending*; we keep
  trec_eval's order for every metric, so only tied runs can differ there.)

Averages are taken over the queries with at least one relevant judgment; such a
query absent from the run scores 0 on every metric (as in ir-measures).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from langchain_splade.errors import InvalidInputError

Judgments = Mapping[str, int]
"""``{doc_id: relevance}`` for one query."""
Ranking = Mapping[str, float] | Sequence[str]
"""One query's run: ``{doc_id: score}`` (ranked trec_eval-style) or doc ids, best first."""

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10", "map@100")


def ranked_ids(ranking: Ranking) -> list[str]:
    """Doc ids best first: scores descending with ties by id descending (trec_eval),
    or the given order for a sequence (later duplicates dropped)."""
    if isinstance(ranking, Mapping):
        return [doc for doc, _ in sorted(ranking.items(), key=lambda x: (x[1], x[0]), reverse=True)]
    if isinstance(ranking, str):
        raise InvalidInputError(
            f"A ranking is the string {ranking[:40]!r}.",
            expected="a list of doc ids (best first) or a {doc_id: score} mapping",
            fix="wrap a single id in a list",
        )
    return list(dict.fromkeys(ranking))


def ndcg_at_k(ranking: Sequence[str], judgments: Judgments, k: int = 10) -> float:
    """nDCG@k with linear gains and log2 discount (Järvelin & Kekäläinen, 2002)."""
    dcg = sum(
        max(judgments.get(doc, 0), 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k])
    )
    ideal = sorted((g for g in judgments.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], judgments: Judgments, k: int = 100) -> float:
    """Fraction of the relevant documents found in the top ``k``."""
    relevant = _num_relevant(judgments)
    if relevant == 0:
        return 0.0
    return sum(1 for doc in ranking[:k] if judgments.get(doc, 0) >= 1) / relevant


def reciprocal_rank_at_k(ranking: Sequence[str], judgments: Judgments, k: int = 10) -> float:
    """1 / rank of the first relevant document within the top ``k`` (0 if none)."""
    for rank, doc in enumerate(ranking[:k], start=1):
        if judgments.get(doc, 0) >= 1:
            return 1.0 / rank
    return 0.0


def average_precision_at_k(ranking: Sequence[str], judgments: Judgments, k: int = 100) -> float:
    """Sum of precision at each relevant rank <= ``k``, over *all* relevant documents
    (trec_eval ``map_cut``; Buckley & Voorhees, 2000)."""
    relevant = _num_relevant(judgments)
    if relevant == 0:
        return 0.0
    hits, total = 0, 0.0
    for rank, doc in enumerate(ranking[:k], start=1):
        if judgments.get(doc, 0) >= 1:
            hits += 1
            total += hits / rank
    return total / relevant


_METRICS: dict[str, Callable[[Sequence[str], Judgments, int], float]] = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "mrr": reciprocal_rank_at_k,
    "map": average_precision_at_k,
}
_SPEC = re.compile(r"^(ndcg|recall|mrr|map)@([1-9][0-9]*)$")


def parse_metric(name: str) -> tuple[Callable[[Sequence[str], Judgments, int], float], int]:
    """``"ndcg@10"`` -> (function, 10)."""
    match = _SPEC.match(name.strip().lower())
    if match is None:
        raise InvalidInputError(
            f"Unknown metric {name!r}.",
            expected="one of ndcg@K, recall@K, mrr@K, map@K with K >= 1",
            fix="e.g. metrics=('ndcg@10', 'recall@100')",
        )
    return _METRICS[match.group(1)], int(match.group(2))


@dataclass(frozen=True)
class Evaluation:
    """Metric means over the evaluated queries, and the values per query."""

    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]

    @property
    def num_queries(self) -> int:
        return len(self.per_query)


def evaluate(
    qrels: Mapping[str, Judgments],
    run: Mapping[str, Ranking],
    metrics: Iterable[str] = DEFAULT_METRICS,
) -> Evaluation:
    """Score ``run`` against ``qrels``.

    Args:
        qrels: ``{query_id: {doc_id: relevance}}``.
        run: ``{query_id: {doc_id: score}}`` or ``{query_id: [doc_id, ...]}`` (best first).
        metrics: names such as ``"ndcg@10"``, ``"recall@100"``, ``"mrr@10"``, ``"map@100"``.

    Returns:
        Means over the queries with at least one relevant judgment (a missing query
        scores 0), and per-query values keyed by metric name.
    """
    names = [name.strip().lower() for name in ([metrics] if isinstance(metrics, str) else metrics)]
    if not names:
        raise InvalidInputError("No metrics were asked for.", fix="pass e.g. ('ndcg@10',)")
    parsed = [parse_metric(name) for name in names]
    evaluated = [qid for qid, judged in qrels.items() if _num_relevant(judged) > 0]
    if not evaluated:
        raise InvalidInputError(
            f"The qrels hold {len(qrels)} queries and none has a relevant judgment.",
            expected="at least one query with a judgment >= 1",
            fix="check the qrels file and split",
        )
    per_query: dict[str, dict[str, float]] = {}
    for qid in evaluated:
        ranking = ranked_ids(run.get(qid, ()))
        per_query[qid] = {name: fn(ranking, qrels[qid], k) for name, (fn, k) in zip(names, parsed)}
    aggregate = {
        name: math.fsum(values[name] for values in per_query.values()) / len(per_query)
        for name in names
    }
    return Evaluation(aggregate=aggregate, per_query=per_query)


def _num_relevant(judgments: Judgments) -> int:
    return sum(1 for grade in judgments.values() if grade >= 1)
