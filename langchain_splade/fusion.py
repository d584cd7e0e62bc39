"""Rank fusion of several retrievers' results: pure functions over ``(id, score)`` lists.

Each component is a ranked list, best first, named by its retriever (e.g.
``{"sparse": [...], "bm25": [...]}``). Every fused entry keeps each component's
1-based rank and raw score, so a Document can carry them in its metadata.

Two families:

- Reciprocal rank fusion (Cormack, Clarke & Büttcher, 2009, "Reciprocal Rank Fusion
  outperforms Condorcet and individual Rank Learning Methods"):
  ``score(d) = sum_c w_c / (k + rank_c(d))`` with ``k = 60``; scores are not needed.
- Normalised linear combination, CombSUM of normalised scores (Fox & Shaw, 1994;
  normalisations compared by Lee, 1997, and Montague & Aslam, 2001):
  ``score(d) = sum_c w_c * norm_c(d)``, with min-max (``(s - min) / (max - min)``) or
  z-score (``(s - mean) / std``, population std) per component. A document a
  component did not return gets that component's floor: 0 for min-max (the value of
  its worst returned document), the lowest returned z-score for z-score. When all of
  a component's scores are equal, its documents get 1 (min-max) or 0 (z-score), and
  missing ones 0 or -1.

Ties in the fused score are broken by id (ascending), so output is deterministic;
sums use ``math.fsum`` so equal rank patterns give exactly equal scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_splade.errors import InvalidInputError, InvalidTypeError

RankedList = Sequence[tuple[str, float | None]]
"""One component's results, best first: ``(doc_id, score)``; RRF accepts ``score=None``."""
Normalization = Literal["minmax", "zscore", "max"]
FusionMethod = Literal["rrf", "minmax", "zscore", "max"]

RRF_K = 60
GAP_DEPTH = 10


@dataclass(frozen=True)
class ComponentHit:
    """Where one component placed a document: 1-based ``rank`` and raw ``score``."""

    rank: int
    score: float | None


@dataclass(frozen=True)
class FusedHit:
    """A fused result: its fused ``score`` and, per component that returned it, a hit."""

    id: str
    score: float
    components: Mapping[str, ComponentHit]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for Document metadata."""
        return {
            "id": self.id,
            "score": self.score,
            "components": {
                name: {"rank": hit.rank, "score": hit.score}
                for name, hit in self.components.items()
            },
        }


def reciprocal_rank_fusion(
    rankings: Mapping[str, RankedList],
    *,
    k: float = RRF_K,
    weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[FusedHit]:
    """Fuse by ``sum_c w_c / (k + rank_c)`` (Cormack et al., 2009).

    Args:
        rankings: component name -> ranked ``(id, score)`` list (scores are only carried).
        k: the smoothing constant (60 in the paper); must be >= 0.
        weights: optional per-component weights (default 1 each).
        limit: keep only the best ``limit`` results.
    """
    if not (isinstance(k, (int, float)) and math.isfinite(k) and k >= 0):
        raise InvalidInputError(f"RRF k is {k!r}.", expected="a finite k >= 0", fix="use k=60")
    hits = _component_hits(rankings, need_scores=False)
    w = _weights(rankings, weights, alpha=None)
    fused = {
        doc: math.fsum(w[name] / (k + hit.rank) for name, hit in per.items())
        for doc, per in hits.items()
    }
    return _ranked(fused, hits, limit)


def normalize_scores(
    scores: Sequence[float], method: Normalization = "minmax", *, bound: float | None = None
) -> list[float]:
    """Min-max, z-score or max normalisation of one component's scores (module notes).

    ``bound`` (``"max"`` only) is the component's upper bound for this query; default
    the observed maximum.
    """
    if method not in ("minmax", "zscore", "max"):
        raise InvalidInputError(
            f"Unknown normalization {method!r}.",
            expected="'minmax', 'zscore' or 'max'",
            fix="pass normalization='minmax'",
        )
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if method == "max":
        top = hi if bound is None else bound
        return [max(s, 0.0) / top if top > 0 else 0.0 for s in scores]
    if method == "minmax":
        return [1.0] * len(scores) if hi == lo else [(s - lo) / (hi - lo) for s in scores]
    mean = math.fsum(scores) / len(scores)
    std = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / len(scores))
    if hi == lo or std == 0:
        return [0.0] * len(scores)
    return [(s - mean) / std for s in scores]


def linear_fusion(
    rankings: Mapping[str, RankedList],
    *,
    normalization: Normalization = "minmax",
    weights: Mapping[str, float] | None = None,
    alpha: float | None = None,
    limit: int | None = None,
    bounds: Mapping[str, float] | None = None,
    adaptive: bool = False,
) -> list[FusedHit]:
    """Fuse by ``sum_c w_c * norm_c(score)`` (CombSUM of normalised scores, Fox & Shaw 1994).

    Args:
        rankings: component name -> ranked ``(id, score)`` list.
        normalization: ``"minmax"``, ``"zscore"`` or ``"max"``, applied per component.
        weights: per-component weights (default 1 each); exclusive with ``alpha``.
        alpha: with exactly two components, weight ``alpha`` for the first and
            ``1 - alpha`` for the second (in mapping order).
        limit: keep only the best ``limit`` results.
        bounds: with ``"max"``, per-component upper bounds of the score for this
            query (e.g. the best score any indexed document could reach), used
            instead of the observed maximum.
        adaptive: scale each weight per query by :func:`score_gap` of its list.
    """
    hits = _component_hits(rankings, need_scores=True)
    w = _weights(rankings, weights, alpha=alpha)
    if adaptive:
        w = adaptive_weights(rankings, w)
    limits = _bounds(rankings, bounds, normalization)
    normalized: dict[str, dict[str, float]] = {}
    floors: dict[str, float] = {}
    for name in rankings:
        docs = [(doc, per[name].score) for doc, per in hits.items() if name in per]
        values = normalize_scores(
            [float(s or 0.0) for _, s in docs], normalization, bound=limits.get(name)
        )
        normalized[name] = {doc: v for (doc, _), v in zip(docs, values)}
        floors[name] = _floor(values, normalization)
    fused = {
        doc: math.fsum(w[name] * normalized[name].get(doc, floors[name]) for name in rankings)
        for doc in hits
    }
    return _ranked(fused, hits, limit)


def score_gap(ranked: RankedList, depth: int = GAP_DEPTH) -> float:
    """How far a list's top score stands above its ``depth``-th: ``(s_1 - s_depth) / s_1``.

    In ``[0, 1]`` for non-negative scores; a flat list (no clear winner) gives 0, as
    does an empty one. A query-performance signal in the spirit of score-gap
    predictors (e.g. Shtok et al., 2012, "Predicting Query Performance by Query-Drift
    Estimation"), computable from the list alone.
    """
    scores = [float(s) for _, s in ranked if s is not None][:depth]
    if not scores or scores[0] <= 0:
        return 0.0
    return max(0.0, (scores[0] - scores[-1]) / scores[0])


def adaptive_weights(
    rankings: Mapping[str, RankedList], weights: Mapping[str, float]
) -> dict[str, float]:
    """Per-query weights ``w_c * gap_c``, rescaled to the same total as ``weights``; the
    given weights unchanged when every list is flat."""
    scaled = {name: weights[name] * score_gap(rankings[name]) for name in rankings}
    total, base = math.fsum(scaled.values()), math.fsum(weights[n] for n in rankings)
    if total <= 0:
        return {name: weights[name] for name in rankings}
    return {name: value * base / total for name, value in scaled.items()}


def fuse(
    rankings: Mapping[str, RankedList],
    method: FusionMethod = "rrf",
    *,
    weights: Mapping[str, float] | None = None,
    alpha: float | None = None,
    k: float = RRF_K,
    limit: int | None = None,
    bounds: Mapping[str, float] | None = None,
    adaptive: bool = False,
) -> list[FusedHit]:
    """Dispatch on ``method``: ``"rrf"``, or linear fusion with ``"minmax"``,
    ``"zscore"`` or ``"max"`` normalisation (``bounds`` only with ``"max"``;
    ``adaptive`` per-query weights only with linear fusion)."""
    if method == "rrf":
        if adaptive:
            raise InvalidInputError(
                "adaptive=True was given with method='rrf'.",
                expected="adaptive weights with linear fusion (minmax, zscore, max)",
                fix="use method='max' or drop adaptive",
            )
        if alpha is not None:
            weights = _weights(rankings, weights, alpha=alpha)
        return reciprocal_rank_fusion(rankings, k=k, weights=weights, limit=limit)
    if method in ("minmax", "zscore", "max"):
        return linear_fusion(
            rankings,
            normalization=method,
            weights=weights,
            alpha=alpha,
            limit=limit,
            bounds=bounds,
            adaptive=adaptive,
        )
    raise InvalidInputError(
        f"Unknown fusion method {method!r}.",
        expected="'rrf', 'minmax', 'zscore' or 'max'",
        fix="pass method='rrf'",
    )


# -- helpers -----------------------------------------------------------------------------


def _bounds(
    rankings: Mapping[str, RankedList],
    bounds: Mapping[str, float] | None,
    normalization: Normalization,
) -> dict[str, float]:
    if bounds is None:
        return {}
    if normalization != "max":
        raise InvalidInputError(
            f"bounds were given with normalization={normalization!r}.",
            expected="bounds only with normalization='max'",
            fix="pass normalization='max' or drop bounds",
        )
    unknown = sorted(set(bounds) - set(rankings))
    bad = {n: b for n, b in bounds.items() if not (isinstance(b, (int, float)) and b > 0)}
    if unknown or bad:
        raise InvalidInputError(
            f"Score bounds {dict(bounds)!r} name unknown components or are not positive.",
            expected=f"positive finite bounds for names among {list(rankings)!r}",
            fix="e.g. bounds={'sparse': 12.5, 'bm25': 31.0}",
        )
    return {name: float(b) for name, b in bounds.items()}


def _floor(values: list[float], normalization: Normalization) -> float:
    if normalization in ("minmax", "max") or not values:
        return 0.0
    low = min(values)
    return -1.0 if all(v == 0.0 for v in values) else low


def _component_hits(
    rankings: Mapping[str, RankedList], *, need_scores: bool
) -> dict[str, dict[str, ComponentHit]]:
    if not isinstance(rankings, Mapping):
        raise InvalidTypeError(
            f"rankings is a {type(rankings).__name__}.",
            expected="a mapping of component name to a ranked list of (id, score)",
            fix="e.g. {'sparse': [('d1', 3.2)], 'bm25': [('d2', 11.0)]}",
        )
    if not rankings:
        raise InvalidInputError(
            "No components to fuse.", expected="at least one ranked list", fix="pass rankings"
        )
    hits: dict[str, dict[str, ComponentHit]] = {}
    for name, ranked in rankings.items():
        if isinstance(ranked, (str, bytes, Mapping)) or not isinstance(ranked, Sequence):
            raise InvalidTypeError(
                f"Component {name!r} is a {type(ranked).__name__}.",
                expected="a list of (id, score) pairs, best first",
                fix="pass a list such as [('d1', 3.2), ('d2', 1.0)]",
            )
        rank = 0
        seen: set[str] = set()
        for entry in ranked:
            doc, score = _entry(name, entry, need_scores)
            if doc in seen:
                continue  # keep a document's best (first) rank
            seen.add(doc)
            rank += 1
            hits.setdefault(doc, {})[name] = ComponentHit(rank=rank, score=score)
    return hits


def _entry(name: str, entry: Any, need_scores: bool) -> tuple[str, float | None]:
    if not (isinstance(entry, Sequence) and len(entry) == 2 and isinstance(entry[0], str)):
        raise InvalidTypeError(
            f"Component {name!r} has the entry {entry!r}.",
            expected="(doc_id: str, score: float) pairs",
            fix="convert hits with [(hit.id, hit.score) for hit in hits]",
        )
    doc, score = entry
    if score is None:
        if need_scores:
            raise InvalidInputError(
                f"Component {name!r} gives document {doc!r} no score.",
                expected="a score for every entry in linear fusion",
                fix="use reciprocal_rank_fusion, which needs ranks only",
            )
        return doc, None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise InvalidInputError(
            f"Component {name!r} gives document {doc!r} the score {score!r}.",
            expected="a finite number or None",
            fix="drop or repair non-finite scores",
        )
    return doc, float(score)


def _alpha_error(count: int) -> InvalidInputError:
    return InvalidInputError(
        f"alpha was given for {count} components.",
        expected="exactly two components with alpha (or weights for any number)",
        fix="pass weights={'name': w, ...} instead",
    )


def _weights(
    rankings: Mapping[str, RankedList],
    weights: Mapping[str, float] | None,
    *,
    alpha: float | None,
) -> dict[str, float]:
    names = list(rankings)
    if alpha is not None:
        if weights is not None:
            raise InvalidInputError(
                "Both alpha and weights were given.",
                expected="one of them",
                fix="pass alpha for two components or weights for any number",
            )
        if len(names) != 2:
            raise _alpha_error(len(names))
        if not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
            raise InvalidInputError(
                f"alpha is {alpha!r}.", expected="0 <= alpha <= 1", fix="e.g. 0.5"
            )
        return {names[0]: float(alpha), names[1]: 1.0 - float(alpha)}
    if weights is None:
        return dict.fromkeys(names, 1.0)
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise InvalidInputError(
            f"Weights name unknown components {unknown!r}.",
            expected=f"names among {names!r}",
            fix="use the same names as in rankings",
        )
    result = {name: float(weights.get(name, 1.0)) for name in names}
    bad = {n: w for n, w in result.items() if not (math.isfinite(w) and w >= 0)}
    if bad:
        raise InvalidInputError(
            f"Fusion weights {bad!r} are negative or not finite.",
            expected="finite weights >= 0",
            fix="e.g. weights={'sparse': 0.7, 'bm25': 0.3}",
        )
    return result


def _ranked(
    fused: Mapping[str, float], hits: Mapping[str, Mapping[str, ComponentHit]], limit: int | None
) -> list[FusedHit]:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInputError(
            f"limit is {limit!r}.", expected="None or an int >= 1", fix="e.g. 10"
        )
    order = sorted(fused, key=lambda doc: (-fused[doc], doc))
    if limit is not None:
        order = order[:limit]
    return [FusedHit(id=doc, score=fused[doc], components=dict(hits[doc])) for doc in order]
