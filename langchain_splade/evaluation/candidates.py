"""The hybrid fusion candidates that ``langchain-splade eval`` and
``benchmarks/quality.py`` compare, and leave-one-dataset-out selection among them.

A candidate fuses one query's SPLADE and BM25 ranked lists (``{"sparse": ...,
"bm25": ...}``, best first) with a function of :mod:`langchain_splade.fusion`;
``alpha`` is always SPLADE's weight (BM25 gets ``1 - alpha``). Families:

- ``rrf_k<k>``: reciprocal rank fusion, weighted by alpha (Cormack et al., 2009);
- ``minmax`` / ``zscore``: linear fusion of min-max or z-score normalised scores;
- ``max``: linear fusion of scores divided by the list's top score (the lower bound
  is the theoretical 0 of both scores, not the observed minimum);
- ``gap_minmax`` / ``gap_max``: the same with per-query weights scaled by each
  list's relative score gap (top score vs. the 10th), a confidence signal both
  components provide;
- ``bound``: scores divided by the best score any indexed document could reach for
  the query (sum over query terms of weight x the term's largest document score),
  when those bounds are known.

Selection (:func:`leave_one_out`): for each held-out dataset, the candidate with
the largest *worst-case margin* over the better single method on the other
datasets is chosen and scored on the held-out one, so no number in the
held-out column was tuned on that dataset.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_splade.fusion import fuse

Ranked = Sequence[tuple[str, float]]
Bounds = Mapping[str, float]
ALPHAS: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)
RRF_KS: tuple[int, ...] = (10, 30, 60, 100)
SINGLES = ("sparse", "bm25")


@dataclass(frozen=True)
class Candidate:
    """One fusion configuration: ``family`` and SPLADE weight ``alpha`` (``k`` for RRF)."""

    family: str
    alpha: float
    k: int = 60

    @property
    def name(self) -> str:
        return f"{self.family}_a{self.alpha}"

    @property
    def needs_bounds(self) -> bool:
        return self.family == "bound"

    def fuse(
        self, rankings: Mapping[str, Ranked], bounds: Bounds | None = None, limit: int = 100
    ) -> list[tuple[str, float]]:
        """The fused ``(id, score)`` list for one query."""
        if self.family.startswith("rrf"):
            hits = fuse(rankings, "rrf", alpha=self.alpha, k=self.k, limit=limit)
        elif self.family.startswith("gap_"):
            method = self.family.removeprefix("gap_")
            hits = fuse(rankings, method, alpha=self.alpha, limit=limit, adaptive=True)  # type: ignore[arg-type]
        elif self.family == "bound":
            usable = {n: b for n, b in (bounds or {}).items() if b > 0}
            hits = fuse(rankings, "max", alpha=self.alpha, limit=limit, bounds=usable or None)
        else:
            hits = fuse(rankings, self.family, alpha=self.alpha, limit=limit)  # type: ignore[arg-type]
        return [(hit.id, hit.score) for hit in hits]


def candidates(with_bounds: bool = False) -> list[Candidate]:
    """Every configuration compared (``bound`` ones only when bounds are known)."""
    out = [Candidate(f"rrf_k{k}", a, k) for k in RRF_KS for a in ALPHAS]
    families = ("minmax", "zscore", "max", "gap_minmax", "gap_max")
    for family in families + (("bound",) if with_bounds else ()):
        out.extend(Candidate(family, a) for a in ALPHAS)
    return out


def fused_run(
    candidate: Candidate,
    sparse: Mapping[str, Ranked],
    bm25: Mapping[str, Ranked],
    bounds: Mapping[str, Bounds] | None = None,
    depth: int = 100,
) -> dict[str, list[tuple[str, float]]]:
    """A candidate applied to every query of two runs, each cut to ``depth``."""
    out: dict[str, list[tuple[str, float]]] = {}
    for qid in sorted(set(sparse) | set(bm25)):
        rankings = {
            "sparse": list(sparse.get(qid, []))[:depth],
            "bm25": list(bm25.get(qid, []))[:depth],
        }
        if not rankings["sparse"] and not rankings["bm25"]:
            out[qid] = []
            continue
        out[qid] = candidate.fuse(rankings, (bounds or {}).get(qid), limit=depth)
    return out


def leave_one_out(
    table: Mapping[str, Mapping[str, float]],
    families: Mapping[str, str],
    criterion: str = "worst_margin",
) -> dict[str, Any]:
    """Leave-one-dataset-out selection over ``table[dataset][candidate] = nDCG@10``.

    ``table`` also holds the single methods ``"sparse"`` and ``"bm25"``;
    ``families`` maps each candidate name to its family. ``criterion``:
    ``"worst_margin"`` maximises the smallest margin over the better single method
    across the training datasets; ``"mean"`` maximises their mean nDCG@10.
    Returns, per held-out dataset, the overall choice and each family's choice.
    """
    datasets = list(table)
    score = _criterion(table, criterion)
    folds: dict[str, Any] = {}
    for held in datasets:
        train = [d for d in datasets if d != held]
        best_single = max(table[held][s] for s in SINGLES)
        per_family = {}
        for family in dict.fromkeys(families.values()):
            members = [c for c, f in families.items() if f == family]
            chosen = max(members, key=lambda c: (score(c, train), -abs(_alpha(c) - 0.5)))
            per_family[family] = {"chosen": chosen, "held_out": table[held][chosen]}
        overall = max(families, key=lambda c: (score(c, train), -abs(_alpha(c) - 0.5)))
        folds[held] = {
            "trained_on": train,
            "chosen": overall,
            "held_out": table[held][overall],
            "best_single": best_single,
            "margin": table[held][overall] - best_single,
            "families": per_family,
        }
    return folds


def _criterion(
    table: Mapping[str, Mapping[str, float]], criterion: str
) -> Callable[[str, Sequence[str]], float]:
    def worst_margin(name: str, train: Sequence[str]) -> float:
        return min(table[d][name] - max(table[d][s] for s in SINGLES) for d in train)

    def mean(name: str, train: Sequence[str]) -> float:
        return statistics.fmean(table[d][name] for d in train)

    if criterion not in ("worst_margin", "mean"):
        raise ValueError(f"unknown criterion {criterion!r}")
    return worst_margin if criterion == "worst_margin" else mean


def _alpha(name: str) -> float:
    return float(name.rsplit("_a", 1)[1])
