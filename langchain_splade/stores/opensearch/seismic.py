"""Native sparse ANN: the neural-search plugin's ``sparse_vector`` field with SEISMIC.

SEISMIC (Bruch, Nardini, Rulli, Venturini, SIGIR 2024) keeps, per term, only the
``n_postings`` heaviest postings, groups them into clusters with a summary vector, and
at query time visits only clusters whose summary promises a high score. OpenSearch 3.3+
ships it in the neural-search plugin; these pure functions build its mapping and query
and guard the engine's pitfalls, measured on 3.6.0 (``../shared/docs/
opensearch-3x-sparse-ann.md``):

- keys must be integer token ids, and an id of 32,768 or more breaks every search
  (the engine keeps ids in a signed 16-bit short): such documents are refused, and
  query terms at such ids (which no stored document can hold) are dropped;
- weights are quantized to 8 bits under a ceiling (default 3.0 at ingest, 16 at
  search) and a weight above it is silently clipped: documents above the index's
  ingest ceiling are refused, and each query is scaled by a power of two so its
  heaviest weight lands just under the search ceiling (ranking is unchanged by a
  positive scale, the scores are scaled back exactly, and the query uses the 8-bit
  range);
- ``method_parameters.filter`` is exact only in a segment where at most ``k``
  documents pass it (others are post-filtered candidates, which can give fewer
  hits), a segment where *no* document passes returns unfiltered hits, and
  ``terms``/``ids`` clauses fail with HTTP 500: so ``k`` is raised to the number of
  passing documents when that is small, the same filter is also applied outside the
  query, and only clause types the engine handles are pushed down.

Segments smaller than ``approximate_threshold`` documents are searched exactly (the
plugin's fallback scores ``rank_features``-like postings with 9-bit weights).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_splade.errors import FilterError, InvalidInputError
from langchain_splade.stores.opensearch.mapping import VECTOR_FIELD
from langchain_splade.types import SparseVector

METHOD = "seismic"
EXACT = "rank_features"
METHODS = (EXACT, METHOD)
FIELD_TYPE = "sparse_vector"
MAX_TOKEN_ID = 32_767
"""The largest token id the 3.6 engine handles (a signed 16-bit short)."""
ENGINE_INGEST_CEILING = 3.0
ENGINE_SEARCH_CEILING = 16.0
DEFAULT_WEIGHT_CEILING = 6.0
"""Default ingest ceiling: SPLADE weights are log(1 + relu(logit)), rarely above 4
(splade-tiny's largest on its bundled corpora is under 4); 8-bit steps of 6/255 = 0.024."""
PUSHABLE = frozenset({"bool", "term", "range", "exists", "match_all", "match_none"})
"""Filter clause types ``method_parameters.filter`` evaluates (``terms``/``ids``: HTTP 500)."""


@dataclass(frozen=True)
class SeismicOptions:
    """SEISMIC's index and query parameters; ``None`` leaves the engine's default.

    Attributes:
        n_postings: postings kept per term (engine default: 0.0005 x documents).
        cluster_ratio: clusters per posting list, as a fraction of its length (0.1).
        summary_prune_ratio: mass of a cluster summary kept (0.4).
        approximate_threshold: segments with fewer documents are searched exactly
            (engine default 1,000,000).
        weight_ceiling: the largest document weight the index stores (8-bit steps of
            ``weight_ceiling / 255``); a heavier weight is refused, never clipped.
        query_weight_ceiling: the query quantization ceiling (queries are scaled to it).
        top_n: query terms kept at search time (engine default 10).
        heap_factor: cluster-skipping slack, above 1 visits more clusters (1.0).
        filter_exact_limit: a filtered search is exact when at most this many
            documents pass the filter (they are all scored); above it, SEISMIC scores
            candidates that pass the filter, and falls back to scoring all of them when
            that gives fewer than ``k`` hits.
    """

    n_postings: int | None = None
    cluster_ratio: float | None = None
    summary_prune_ratio: float | None = None
    approximate_threshold: int | None = None
    weight_ceiling: float = DEFAULT_WEIGHT_CEILING
    query_weight_ceiling: float = ENGINE_SEARCH_CEILING
    top_n: int | None = None
    heap_factor: float | None = None
    filter_exact_limit: int = 10_000

    def __post_init__(self) -> None:
        for name in ("n_postings", "approximate_threshold", "top_n", "filter_exact_limit"):
            _check_number(name, getattr(self, name), integer=True)
        for name in ("cluster_ratio", "summary_prune_ratio", "weight_ceiling", "heap_factor"):
            _check_number(name, getattr(self, name), integer=False)
        _check_number("query_weight_ceiling", self.query_weight_ceiling, integer=False)
        for name in ("cluster_ratio", "summary_prune_ratio"):
            value = getattr(self, name)
            if value is not None and value > 1:
                raise InvalidInputError(
                    f"{name}={value} is above 1.", expected="a fraction in (0, 1]"
                )


def _check_number(name: str, value: Any, *, integer: bool) -> None:
    if value is None:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise InvalidInputError(
            f"{name}={value!r} is not a finite {'integer' if integer else 'number'}.",
            expected=f"a positive {'int' if integer else 'float'} (or None for the default)",
        )
    if value <= 0:
        raise InvalidInputError(f"{name}={value!r} is not positive.", expected="a value > 0")


def field_mapping(options: SeismicOptions) -> dict[str, Any]:
    """The ``vector`` field of a SEISMIC index (needs ``index.sparse: true``)."""
    parameters: dict[str, Any] = {
        "quantization_ceiling_ingest": options.weight_ceiling,
        "quantization_ceiling_search": options.query_weight_ceiling,
    }
    for name in ("n_postings", "cluster_ratio", "summary_prune_ratio", "approximate_threshold"):
        value = getattr(options, name)
        if value is not None:
            parameters[name] = value
    return {"type": FIELD_TYPE, "method": {"name": METHOD, "parameters": parameters}}


@dataclass(frozen=True)
class Ceilings:
    """The quantization ceilings an existing index was created with."""

    ingest: float = ENGINE_INGEST_CEILING
    search: float = ENGINE_SEARCH_CEILING


def read_ceilings(vector_field: Mapping[str, Any]) -> Ceilings:
    """The ceilings of a ``sparse_vector`` field mapping (engine defaults when absent)."""
    parameters = (vector_field.get("method") or {}).get("parameters") or {}
    return Ceilings(
        float(parameters.get("quantization_ceiling_ingest", ENGINE_INGEST_CEILING)),
        float(parameters.get("quantization_ceiling_search", ENGINE_SEARCH_CEILING)),
    )


def check_documents(
    ids: Sequence[str], vectors: Sequence[SparseVector], ceiling: float, index_name: str
) -> None:
    """Refuse, before anything is written, a document the engine would clip or break on."""
    for doc_id, vector in zip(ids, vectors):
        if not vector.nnz:
            continue
        top = float(vector.values.max())
        if top > ceiling:
            raise InvalidInputError(
                f"Document {doc_id!r} has a weight of {top:.4g}, above the quantization "
                f"ceiling {ceiling:g} of SEISMIC index {index_name!r} (the engine would "
                "silently clip it to the ceiling).",
                expected=f"weights <= {ceiling:g}",
                fix="create the index with a larger weight_ceiling (8-bit steps of "
                "weight_ceiling/255), e.g. the encoder's largest weight on a sample",
            )
        largest = int(vector.indices.max())
        if largest > MAX_TOKEN_ID:
            raise InvalidInputError(
                f"Document {doc_id!r} has token id {largest}; OpenSearch's sparse_vector "
                f"field breaks every search on ids above {MAX_TOKEN_ID}.",
                expected=f"token ids <= {MAX_TOKEN_ID} (BERT-vocabulary SPLADE models)",
                fix="use method='rank_features' for models with larger vocabularies",
            )


@dataclass(frozen=True)
class SparseQuery:
    """A ``neural_sparse`` query and the factor its scores must be divided by."""

    tokens: dict[str, float]
    scale: float


def query_tokens(query: SparseVector, ceiling: float) -> SparseQuery:
    """The query's terms as ``query_tokens``, scaled by a power of two so the heaviest
    lands in ``(ceiling / 2, ceiling]`` (8-bit query quantization at full range).

    Terms above :data:`MAX_TOKEN_ID` are dropped: no stored document can hold them.
    """
    pairs = [(i, w) for i, w in query.top() if i <= MAX_TOKEN_ID and w > 0]
    if not pairs:
        return SparseQuery({}, 1.0)
    # A power of two: scaling and unscaling are exact in binary floating point.
    scale = 2.0 ** math.floor(math.log2(ceiling / max(w for _, w in pairs)))
    return SparseQuery({str(i): w * scale for i, w in pairs}, scale)


def check_pushable(clause: Any, path: str = "filter") -> None:
    """Raise ``FilterError`` if ``clause`` holds a query type the engine cannot push down."""
    if not isinstance(clause, Mapping):
        return
    for kind, body in clause.items():
        if kind not in PUSHABLE:
            raise FilterError(
                f"The filter compiles to a {kind!r} clause ({path}), which SEISMIC's "
                "method_parameters.filter cannot evaluate (OpenSearch 3.6 answers HTTP 500).",
                expected=f"only {sorted(PUSHABLE)} clauses",
                fix="express the filter with $eq/$ne/$in/$nin/ranges/$and/$or",
            )
        if kind == "bool" and isinstance(body, Mapping):
            for occur in ("must", "should", "filter", "must_not"):
                for i, child in enumerate(body.get(occur, [])):
                    check_pushable(child, f"{path}.bool.{occur}[{i}]")


def method_k(size: int, passing: int | None, options: SeismicOptions) -> int:
    """``method_parameters.k``: all passing documents when few enough (exact), else
    ``size``."""
    if passing is not None and passing <= options.filter_exact_limit:
        return max(size, passing)
    return size


def query_clause(
    tokens: Mapping[str, float],
    k: int,
    options: SeismicOptions,
    filter_clause: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``neural_sparse`` clause with ``method_parameters``; the filter goes both inside
    (scored among passing documents) and outside (a segment where none passes would
    otherwise return unfiltered hits)."""
    parameters: dict[str, Any] = {"k": k}
    if options.top_n is not None:
        parameters["top_n"] = options.top_n
    if options.heap_factor is not None:
        parameters["heap_factor"] = options.heap_factor
    if filter_clause is not None:
        parameters["filter"] = dict(filter_clause)
    sparse = {
        "neural_sparse": {
            VECTOR_FIELD: {"query_tokens": dict(tokens), "method_parameters": parameters}
        }
    }
    if filter_clause is None:
        return sparse
    return {"bool": {"must": [sparse], "filter": [dict(filter_clause)]}}
