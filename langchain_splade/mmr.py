"""Maximal marginal relevance over sparse vectors.

MMR (Carbonell & Goldstein, 1998) picks, one at a time, the candidate maximising
``lambda * Sim1(query, d) - (1 - lambda) * max_{s in selected} Sim2(d, s)``. The paper
defines it on bag-of-words vectors with any two similarity measures, so it needs no
dense embedding: SPLADE vectors are bags of weighted vocabulary terms.

- ``Sim1`` is the SPLADE dot product divided by the best candidate's, so ``lambda=1``
  gives exactly the similarity-search order (LangChain's dense MMR uses cosine here,
  which would reorder the candidates even without any diversity).
- ``Sim2`` is the cosine of two documents' vectors: SPLADE weights are positive, so it
  lies in [0, 1], 1 for the same bag of terms, 0 for documents sharing no term.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.types import SparseVector
from langchain_splade.validation import check_k


def check_lambda(lambda_mult: object) -> float:
    """``lambda_mult`` as a float in [0, 1] (0: most diverse, 1: pure relevance)."""
    if isinstance(lambda_mult, bool) or not isinstance(lambda_mult, (int, float)):
        raise InvalidTypeError(
            f"lambda_mult is a {type(lambda_mult).__name__}.",
            expected="a number in [0, 1]",
            fix="pass e.g. lambda_mult=0.5",
        )
    if not 0.0 <= float(lambda_mult) <= 1.0:
        raise InvalidInputError(
            f"lambda_mult is {lambda_mult!r}.",
            expected="a number in [0, 1] (1: relevance only, 0: diversity only)",
            fix="pass e.g. lambda_mult=0.5",
        )
    return float(lambda_mult)


def cosine(a: SparseVector, b: SparseVector) -> float:
    """Cosine of two sparse vectors; 0 when either is empty."""
    norms = math.sqrt(a.dot(a)) * math.sqrt(b.dot(b))
    return a.dot(b) / norms if norms > 0 else 0.0


def mmr_order(
    scores: Sequence[float], vectors: Sequence[SparseVector], k: int, lambda_mult: float
) -> list[int]:
    """Indices of up to ``k`` candidates in MMR order.

    Args:
        scores: each candidate's dot product with the query (the search scores).
        vectors: each candidate's document vector.
        k: how many to select.
        lambda_mult: weight of relevance against diversity, in [0, 1].
    """
    k = check_k(k)
    lambda_mult = check_lambda(lambda_mult)
    if len(scores) != len(vectors):
        raise InvalidInputError(
            f"Got {len(scores)} scores and {len(vectors)} vectors.",
            expected="one score per candidate vector",
        )
    top = max(scores, default=0.0)
    relevance = [s / top if top > 0 else 0.0 for s in scores]
    redundancy = [0.0] * len(scores)  # max cosine with the selected documents so far
    selected: list[int] = []
    remaining = list(range(len(scores)))
    while remaining and len(selected) < k:
        best = max(
            remaining,
            key=lambda i: (lambda_mult * relevance[i] - (1 - lambda_mult) * redundancy[i], -i),
        )
        selected.append(best)
        remaining.remove(best)
        for i in remaining:
            redundancy[i] = max(redundancy[i], cosine(vectors[i], vectors[best]))
    return selected
