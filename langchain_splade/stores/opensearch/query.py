"""Search requests and their results, as pure functions.

A ``bool.should`` of ``rank_feature`` clauses, each with ``"linear": {}`` and
``boost`` = the query weight, scores ``sum_j q_j * d_j``: the exact sparse dot product
of SPLADE (Formal et al., 2021) up to the 9 significant bits that ``rank_features``
keeps per stored weight. Without ``linear`` the query silently uses ``saturation``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.stores.opensearch.keys import KeyCodec
from langchain_splade.stores.opensearch.mapping import (
    ID_FIELD,
    METADATA_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
)
from langchain_splade.types import SearchHit, SparseVector

FLOAT_MIN_NORMAL = 1.1754943508222875e-38
"""Lucene's FeatureField rejects a weight below Java's Float.MIN_NORMAL (HTTP 400)."""

DEFAULT_MAX_CLAUSES = 1024
CLAUSE_SETTING = "indices.query.bool.max_clause_count"


def storable_features(codec: KeyCodec, vector: SparseVector) -> dict[str, float]:
    """Feature names and weights that OpenSearch accepts (sub-normal weights dropped).

    A ``SparseVector`` already holds only positive finite weights, but one below
    ``Float.MIN_NORMAL`` would still make OpenSearch reject the whole document.
    """
    features = codec.encode(vector)
    if vector.nnz and float(vector.values.min()) < FLOAT_MIN_NORMAL:
        features = {k: w for k, w in features.items() if w >= FLOAT_MIN_NORMAL}
    return features


@dataclass(frozen=True)
class QueryTerms:
    """The clauses of one query after pruning.

    Attributes:
        terms: ``(feature name, weight)`` pairs, heaviest first.
        dropped: how many of the query's terms were pruned to fit the clause limit.
    """

    terms: list[tuple[str, float]]
    dropped: int


def query_terms(codec: KeyCodec, query: SparseVector, max_terms: int) -> QueryTerms:
    """The query's terms, pruned to its ``max_terms`` heaviest (ties: lower term id)."""
    pairs = [(i, w) for i, w in query.top() if w >= FLOAT_MIN_NORMAL]
    dropped = max(0, len(pairs) - max(0, max_terms))
    kept = pairs[: max(0, max_terms)]
    return QueryTerms([(codec.key(i), w) for i, w in kept], dropped)


def rank_feature_query(
    terms: Sequence[tuple[str, float]], filter_clause: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The exact dot-product query (``minimum_should_match: 1`` when filtering, or
    documents matching only the filter come back with score 0)."""
    should = [
        {"rank_feature": {"field": f"{VECTOR_FIELD}.{key}", "linear": {}, "boost": weight}}
        for key, weight in terms
    ]
    clause: dict[str, Any] = {"should": should}
    if filter_clause is not None:
        clause["filter"] = [filter_clause]
        clause["minimum_should_match"] = 1
    return {"bool": clause}


def neural_sparse_query(
    terms: Sequence[tuple[str, float]], filter_clause: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The same scoring through the neural-search plugin's ``neural_sparse`` query."""
    sparse = {"neural_sparse": {VECTOR_FIELD: {"query_tokens": dict(terms)}}}
    if filter_clause is None:
        return sparse
    return {"bool": {"must": [sparse], "filter": [filter_clause]}}


def search_body(query: Mapping[str, Any], size: int, *, with_vectors: bool) -> dict[str, Any]:
    """A search request: best score first, ties by id, only the fields a hit needs."""
    fields = [ID_FIELD, TEXT_FIELD, METADATA_FIELD]
    if with_vectors:
        fields.append(VECTOR_FIELD)
    return {
        "size": size,
        "query": dict(query),
        "sort": [{"_score": {"order": "desc"}}, {ID_FIELD: {"order": "asc"}}],
        "track_scores": True,
        "track_total_hits": False,
        "_source": {"includes": fields},
    }


def bm25_body(text: str, size: int, filter_clause: Mapping[str, Any] | None) -> dict[str, Any]:
    """A BM25 ``match`` query on the english-analysed text field."""
    match: dict[str, Any] = {"match": {TEXT_FIELD: {"query": text}}}
    query: dict[str, Any] = match
    if filter_clause is not None:
        query = {"bool": {"must": [match], "filter": [filter_clause]}}
    return search_body(query, size, with_vectors=False)


def parse_hits(response: Mapping[str, Any], codec: KeyCodec) -> list[SearchHit]:
    """``SearchHit``s from a search response (``vector`` when ``_source`` has it)."""
    hits = []
    for hit in response.get("hits", {}).get("hits", []):
        source = hit.get("_source", {}) or {}
        score = hit.get("_score")
        if score is None and hit.get("sort"):
            score = hit["sort"][0]
        features = source.get(VECTOR_FIELD)
        hits.append(
            SearchHit(
                id=str(hit["_id"]),
                score=float(score or 0.0),
                text=source.get(TEXT_FIELD),
                metadata=source.get(METADATA_FIELD) or {},
                vector=codec.decode(features) if features is not None else None,
            )
        )
    return hits


def rescore(hits: Sequence[SearchHit], query: SparseVector, k: int) -> list[SearchHit]:
    """Replace 9-bit scores by exact dot products from ``_source`` and keep the top ``k``."""
    exact = []
    for hit in hits:
        if hit.vector is None:
            raise InvalidInputError(
                f"Hit {hit.id!r} has no vector to re-score.",
                fix="request hits with their vectors (search_body(..., with_vectors=True))",
            )
        exact.append((hit, query.dot(hit.vector)))
    exact.sort(key=lambda pair: (-pair[1], pair[0].id))
    return [
        SearchHit(id=h.id, score=s, text=h.text, metadata=h.metadata, vector=h.vector)
        for h, s in exact[:k]
        if s > 0
    ]


def candidate_count(k: int, factor: float) -> int:
    """How many hits to fetch for exact re-scoring of the top ``k``."""
    return max(k, math.ceil(k * factor), k + 10)


def nine_bit(weight: float) -> float:
    """A weight as ``rank_features`` stores it: float32 truncated to 9 significant bits.

    Lucene's FeatureField stores ``floatToIntBits(w) >>> 15`` as a term frequency
    (sign, 8 exponent bits, 8 mantissa bits), so the lower 15 bits are lost: a
    relative error below 2**-8 (0.4 %), always toward zero.
    """
    bits = np.float32(weight).view(np.uint32) & np.uint32(0xFFFF8000)
    return float(np.uint32(bits).view(np.float32))


def read_clause_limit(settings: Mapping[str, Any]) -> int:
    """``indices.query.bool.max_clause_count`` from a flat ``get_settings`` answer."""
    for section in ("transient", "persistent", "defaults"):
        value = (settings.get(section) or {}).get(CLAUSE_SETTING)
        if value is not None:
            return int(value)
    return DEFAULT_MAX_CLAUSES


def has_neural_search(plugins: Any) -> bool:
    return any("neural-search" in str(row.get("component", "")) for row in plugins or [])


def check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidTypeError(f"query_text is a {type(text).__name__}.", fix="pass a str")
    return text
