"""Elasticsearch search requests, as pure functions.

Exact search (the default) is a ``bool.should`` of ``term`` clauses on the
``sparse_vector`` field, each boosted by the query weight. The field scores a term
linearly (``boost x stored weight``), so the sum is the SPLADE dot product (Formal
et al., 2021) up to the 9 significant bits a stored weight keeps. It needs no x-pack
and works on every 8.11+ cluster.

The ``sparse_vector`` query (x-pack, 8.15+) scores the same sum and can *prune* the
query: tokens that are frequent in the index (more than ``tokens_freq_ratio_threshold``
times the average token frequency) and light (below ``tokens_weight_threshold`` times
the query's best weight) are dropped, which is faster but approximate. It is opt-in.

Request bodies, hit parsing and exact re-scoring are the OpenSearch backend's: the
two engines share the query DSL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_splade.errors import InvalidInputError
from langchain_splade.stores.opensearch.mapping import VECTOR_FIELD

_CLAUSE_LIMIT = re.compile(r"maxClauseCount is set to (\d+)")


def rank_feature_terms(query: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The ``(key, weight)`` pairs of an OpenSearch ``rank_feature`` query
    (:func:`langchain_splade.stores.opensearch.query.rank_feature_query`), in order."""
    prefix = f"{VECTOR_FIELD}."
    return [
        (clause["rank_feature"]["field"][len(prefix) :], float(clause["rank_feature"]["boost"]))
        for clause in query["bool"]["should"]
    ]


def term_query(
    terms: Sequence[tuple[str, float]], filter_clause: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The exact dot-product query (``minimum_should_match: 1`` when filtering, or
    documents matching only the filter come back with score 0)."""
    should = [{"term": {VECTOR_FIELD: {"value": key, "boost": weight}}} for key, weight in terms]
    clause: dict[str, Any] = {"should": should}
    if filter_clause is not None:
        clause["filter"] = [filter_clause]
        clause["minimum_should_match"] = 1
    return {"bool": clause}


@dataclass(frozen=True)
class Pruning:
    """Token pruning of the ``sparse_vector`` query (Elasticsearch's defaults).

    Attributes:
        tokens_freq_ratio_threshold: drop a query token whose document frequency is
            more than this many times the field's average (1 to 100).
        tokens_weight_threshold: ... and whose weight is below this fraction of the
            query's heaviest weight (0 to 1).
    """

    tokens_freq_ratio_threshold: float = 5.0
    tokens_weight_threshold: float = 0.4

    def __post_init__(self) -> None:
        if not 1 <= self.tokens_freq_ratio_threshold <= 100:
            raise InvalidInputError(
                f"tokens_freq_ratio_threshold={self.tokens_freq_ratio_threshold}.",
                expected="a number from 1 to 100",
                fix="leave it at 5 (Elasticsearch's default)",
            )
        if not 0 <= self.tokens_weight_threshold <= 1:
            raise InvalidInputError(
                f"tokens_weight_threshold={self.tokens_weight_threshold}.",
                expected="a number from 0 to 1",
                fix="leave it at 0.4 (Elasticsearch's default)",
            )


def sparse_vector_query(
    terms: Sequence[tuple[str, float]],
    filter_clause: Mapping[str, Any] | None,
    pruning: Pruning | None,
) -> dict[str, Any]:
    """The x-pack ``sparse_vector`` query with raw weights; ``pruning=None`` keeps it
    exact (``prune: false`` overrides any ``index_options`` of the field)."""
    body: dict[str, Any] = {
        "field": VECTOR_FIELD,
        "query_vector": dict(terms),
        "prune": pruning is not None,
    }
    if pruning is not None:
        body["pruning_config"] = {
            "tokens_freq_ratio_threshold": pruning.tokens_freq_ratio_threshold,
            "tokens_weight_threshold": pruning.tokens_weight_threshold,
            "only_score_pruned_tokens": False,
        }
    query = {"sparse_vector": body}
    if filter_clause is None:
        return query
    return {"bool": {"must": [query], "filter": [filter_clause]}}


def clause_limit_in(error: Any) -> int | None:
    """The cluster's clause limit named in a ``too_many_clauses`` error, if it is one.

    Elasticsearch 8+ sizes Lucene's limit from the heap and the search thread pool
    (``indices.query.bool.max_clause_count`` is deprecated and ignored), so the limit
    is learned from the first query that exceeds it.
    """
    match = _CLAUSE_LIMIT.search(str(error))
    return int(match.group(1)) if match else None


def lacks_sparse_vector_query(error: Any) -> bool:
    """Whether an error says the cluster has no ``sparse_vector`` query (no x-pack)."""
    text = str(error)
    return (
        "unknown query [sparse_vector]" in text
        or "no [query] registered for [sparse_vector]" in text
    )
