"""Rank fusion: hand-checked RRF and normalised linear combinations."""

from __future__ import annotations

import math
import re

import pytest

from langchain_splade.errors import InvalidInputError
from langchain_splade.fusion import (
    ComponentHit,
    FusedHit,
    adaptive_weights,
    fuse,
    linear_fusion,
    normalize_scores,
    reciprocal_rank_fusion,
    score_gap,
)

SPARSE = [("a", 9.0), ("b", 6.0), ("c", 3.0)]
BM25 = [("b", 20.0), ("d", 15.0), ("a", 10.0)]


def _scores(hits: list[FusedHit]) -> dict[str, float]:
    return {h.id: h.score for h in hits}


def test_rrf_hand_checked() -> None:
    fused = reciprocal_rank_fusion({"sparse": SPARSE, "bm25": BM25})
    assert [h.id for h in fused] == ["b", "a", "d", "c"]
    assert _scores(fused) == pytest.approx(
        {"a": 1 / 61 + 1 / 63, "b": 1 / 62 + 1 / 61, "c": 1 / 63, "d": 1 / 62}
    )
    b = fused[0]
    assert b.components == {
        "sparse": ComponentHit(rank=2, score=6.0),
        "bm25": ComponentHit(rank=1, score=20.0),
    }
    assert b.to_dict()["components"]["bm25"] == {"rank": 1, "score": 20.0}


def test_rrf_ties_are_exact_and_broken_by_id() -> None:
    # Each document holds ranks 1, 2 and 3 once (in different components): the sums are
    # exactly equal whatever the addition order, so id order decides.
    fused = reciprocal_rank_fusion(
        {
            "x": [("c", 1), ("b", 1), ("a", 1)],
            "y": [("b", 1), ("a", 1), ("c", 1)],
            "z": [("a", 1), ("c", 1), ("b", 1)],
        }
    )
    assert [h.id for h in fused] == ["a", "b", "c"]
    assert fused[0].score == fused[1].score == fused[2].score == math.fsum([1 / 61, 1 / 62, 1 / 63])


def test_rrf_weights_k_limit_and_missing_scores() -> None:
    fused = reciprocal_rank_fusion(
        {"dense": [("a", None), ("b", None)], "bm25": [("b", 2.0)]},
        k=0,
        weights={"dense": 2.0},
        limit=1,
    )
    assert len(fused) == 1 and fused[0].id == "a"  # 2/1 beats 2/2 + 1/1 = 2 ... tie -> id
    assert fused[0].score == 2.0
    assert fused[0].components["dense"].score is None


def test_duplicates_keep_the_first_rank() -> None:
    fused = reciprocal_rank_fusion({"s": [("a", 3.0), ("b", 2.0), ("a", 1.0), ("c", 0.5)]})
    assert {h.id: h.components["s"].rank for h in fused} == {"a": 1, "b": 2, "c": 3}


def test_normalize_scores() -> None:
    assert normalize_scores([3.0, 1.0, 2.0]) == [1.0, 0.0, 0.5]
    assert normalize_scores([2.0, 2.0]) == [1.0, 1.0]
    assert normalize_scores([]) == []
    z = normalize_scores([1.0, 2.0, 3.0], "zscore")
    std = math.sqrt(2 / 3)
    assert z == pytest.approx([-1 / std, 0.0, 1 / std])
    assert normalize_scores([5.0], "zscore") == [0.0]


def test_minmax_fusion_hand_checked() -> None:
    # sparse -> a 1, b 0.5, c 0; bm25 -> b 1, d 0.5, a 0; missing -> 0.
    fused = linear_fusion({"sparse": SPARSE, "bm25": BM25}, alpha=0.6)
    assert _scores(fused) == pytest.approx(
        {"a": 0.6, "b": 0.6 * 0.5 + 0.4, "c": 0.0, "d": 0.4 * 0.5}
    )
    assert [h.id for h in fused] == ["b", "a", "d", "c"]
    assert fused[2].components == {"bm25": ComponentHit(rank=2, score=15.0)}


def test_zscore_fusion_hand_checked() -> None:
    std_s = math.sqrt(6.0)  # sparse scores 9, 6, 3: mean 6
    std_b = math.sqrt(50 / 3)  # bm25 scores 20, 15, 10: mean 15
    fused = linear_fusion({"sparse": SPARSE, "bm25": BM25}, normalization="zscore")
    floor_s, floor_b = -3 / std_s, -5 / std_b
    assert _scores(fused) == pytest.approx(
        {
            "a": 3 / std_s - 5 / std_b,
            "b": 0.0 + 5 / std_b,
            "c": -3 / std_s + floor_b,
            "d": floor_s + 0.0,
        }
    )


def test_degenerate_components() -> None:
    # One result only: min-max gives it 1 (missing 0); z-score gives 0 (missing -1).
    rankings = {"s": [("a", 5.0)], "b": [("b", 1.0), ("a", 0.5)]}
    assert _scores(linear_fusion(rankings)) == pytest.approx({"a": 1.0, "b": 1.0})
    assert _scores(linear_fusion(rankings, normalization="zscore")) == pytest.approx(
        {"a": -1.0, "b": 1.0 - 1.0}
    )
    # An empty component contributes nothing.
    fused = linear_fusion({"s": [], "b": [("x", 1.0), ("y", 0.0)]}, normalization="zscore")
    assert [h.id for h in fused] == ["x", "y"]


def test_fuse_dispatch() -> None:
    rankings = {"sparse": SPARSE, "bm25": BM25}
    assert fuse(rankings) == reciprocal_rank_fusion(rankings)
    assert fuse(rankings, "minmax", alpha=0.3) == linear_fusion(rankings, alpha=0.3)
    assert fuse(rankings, "zscore", weights={"bm25": 2.0}) == linear_fusion(
        rankings, normalization="zscore", weights={"bm25": 2.0}
    )
    assert fuse(rankings, "rrf", alpha=1.0)[0].id == "a"  # only sparse counts


def test_many_components() -> None:
    fused = reciprocal_rank_fusion({f"c{i}": [(str(i), 1.0), ("all", 0.5)] for i in range(5)})
    assert fused[0].id == "all" and len(fused[0].components) == 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: reciprocal_rank_fusion({}), "No components"),
        (lambda: reciprocal_rank_fusion({"s": "abc"}), "is a str"),  # type: ignore[dict-item]
        (lambda: reciprocal_rank_fusion({"s": [("a",)]}), "has the entry"),  # type: ignore[list-item]
        (lambda: reciprocal_rank_fusion({"s": SPARSE}, k=-1), "RRF k is -1"),
        (lambda: reciprocal_rank_fusion({"s": SPARSE}, weights={"x": 1}), "unknown components"),
        (lambda: reciprocal_rank_fusion({"s": SPARSE}, weights={"s": -1}), "negative"),
        (lambda: reciprocal_rank_fusion({"s": SPARSE}, limit=0), "limit is 0"),
        (lambda: linear_fusion({"s": [("a", None)]}), "no score"),
        (lambda: linear_fusion({"s": [("a", math.nan)]}), "the score nan"),
        (lambda: linear_fusion({"s": SPARSE}, alpha=0.5), "alpha was given for 1"),
        (lambda: linear_fusion({"s": SPARSE, "b": BM25}, alpha=1.5), "alpha is 1.5"),
        (lambda: linear_fusion({"s": SPARSE, "b": BM25}, alpha=0.5, weights={}), "Both"),
        (lambda: normalize_scores([1.0], "sum"), "Unknown normalization"),  # type: ignore[arg-type]
        (lambda: fuse({"s": SPARSE}, "borda"), "Unknown fusion method"),  # type: ignore[arg-type]
    ],
)
def test_input_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((InvalidInputError, TypeError), match=message):
        call()


def test_max_normalization_keeps_zero_as_the_floor() -> None:
    assert normalize_scores([8.0, 4.0, 2.0], "max") == [1.0, 0.5, 0.25]
    assert normalize_scores([8.0, 4.0], "max", bound=16.0) == [0.5, 0.25]
    assert normalize_scores([0.0, 0.0], "max") == [0.0, 0.0]
    assert normalize_scores([2.0, -1.0], "max") == [1.0, 0.0]  # negatives clamp to the floor


def test_max_fusion_hand_checked() -> None:
    # sparse / 9, bm25 / 20; missing documents count 0.
    fused = linear_fusion({"sparse": SPARSE, "bm25": BM25}, normalization="max", alpha=0.5)
    expected = {
        "a": 0.5 * 1.0 + 0.5 * 0.5,
        "b": 0.5 * 6 / 9 + 0.5 * 1.0,
        "c": 0.5 * 3 / 9,
        "d": 0.5 * 0.75,
    }
    assert _scores(fused) == pytest.approx(expected)
    assert [h.id for h in fused] == ["b", "a", "d", "c"]
    assert fuse({"sparse": SPARSE, "bm25": BM25}, "max", alpha=0.5) == fused


def test_bounds_replace_the_observed_maximum() -> None:
    # A weak BM25 list (top 20 of a possible 80) counts less than a strong one would.
    fused = linear_fusion(
        {"sparse": SPARSE, "bm25": BM25},
        normalization="max",
        alpha=0.5,
        bounds={"sparse": 9.0, "bm25": 80.0},
    )
    assert _scores(fused)["b"] == pytest.approx(0.5 * 6 / 9 + 0.5 * 20 / 80)
    assert fused[0].id == "a"


def test_score_gap_and_adaptive_weights() -> None:
    assert score_gap([("a", 10.0), ("b", 5.0), ("c", 2.5)]) == pytest.approx(0.75)
    assert score_gap([("a", 10.0), ("b", 5.0), ("c", 2.5)], depth=2) == pytest.approx(0.5)
    assert score_gap([("a", 3.0), ("b", 3.0)]) == 0.0
    assert score_gap([]) == 0.0
    flat = [("x", 1.0), ("y", 1.0)]
    steep = [("x", 4.0), ("y", 1.0)]
    weights = adaptive_weights({"s": steep, "b": flat}, {"s": 0.5, "b": 0.5})
    assert weights == {"s": 1.0, "b": 0.0}  # all weight to the confident list, same total
    both_flat = adaptive_weights({"s": flat, "b": flat}, {"s": 0.7, "b": 0.3})
    assert both_flat == {"s": 0.7, "b": 0.3}


def test_adaptive_fusion_follows_the_confident_component() -> None:
    sparse = [("a", 5.0), ("b", 4.9), ("d", 4.8)]  # flat: unsure
    bm25 = [("c", 30.0), ("b", 6.0), ("a", 3.0)]  # steep: sure about c
    fixed = fuse({"sparse": sparse, "bm25": bm25}, "max", alpha=0.75)
    adaptive = fuse({"sparse": sparse, "bm25": bm25}, "max", alpha=0.75, adaptive=True)
    assert fixed[0].id == "b"  # 0.75 * 0.98 + 0.25 * 0.2
    assert adaptive[0].id == "c"  # weights 0.75 * 0.04 and 0.25 * 0.9, rescaled


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fuse({"s": SPARSE, "b": BM25}, "rrf", adaptive=True), "adaptive=True"),
        (
            lambda: linear_fusion({"s": SPARSE, "b": BM25}, bounds={"s": 1.0}),
            "bounds were given with normalization='minmax'",
        ),
        (
            lambda: linear_fusion({"s": SPARSE}, normalization="max", bounds={"x": 1.0}),
            "name unknown components or are not positive",
        ),
        (
            lambda: linear_fusion({"s": SPARSE}, normalization="max", bounds={"s": 0.0}),
            "not positive",
        ),
    ],
)
def test_new_option_errors(call: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        call()  # type: ignore[operator]
