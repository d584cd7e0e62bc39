"""Parity: OpenSearch and a brute-force dot product (and the local index) agree on top-10.

Without re-scoring, the only allowed differences are between documents whose exact
scores lie within the 9-bit storage precision (each stored weight is truncated by less
than 2**-8, relative); with ``rescore=True`` the results are identical.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.types import SparseVector

VOCAB, N_DOCS, N_QUERIES, K = 3000, 600, 25, 10
RELATIVE = 2.0**-8


def _random_vector(rng: np.random.Generator, nnz: int) -> SparseVector:
    # Zipf-like term ids, so that queries share many terms with many documents.
    ids = np.unique(np.minimum(rng.zipf(1.3, nnz * 2), VOCAB) - 1)[:nnz]
    return SparseVector(ids, rng.gamma(1.5, 0.6, ids.size).astype(np.float32) + 1e-3)


RNG = np.random.default_rng(2024)
DOCS = [_random_vector(RNG, int(RNG.integers(20, 120))) for _ in range(N_DOCS)]
IDS = [f"d{i:04d}" for i in range(N_DOCS)]
QUERIES = [_random_vector(RNG, int(RNG.integers(3, 30))) for _ in range(N_QUERIES)]


def _brute_force(query: SparseVector, k: int) -> list[tuple[str, float]]:
    scored = [(doc_id, query.dot(doc)) for doc_id, doc in zip(IDS, DOCS)]
    scored = [s for s in scored if s[1] > 0]
    return sorted(scored, key=lambda s: (-s[1], s[0]))[:k]


@pytest.fixture(scope="module")
def names(opensearch_url: str, os_client: Any) -> Iterator[list[str]]:
    name = f"test-parity-{uuid.uuid4().hex[:8]}"
    OpenSearchSparseIndex(name, url=opensearch_url, chunk_size=200).add(IDS, DOCS)
    yield [name]
    os_client.indices.delete(index=name, ignore_unavailable=True)


def test_top10_matches_brute_force_within_nine_bits(opensearch_url: str, names: list[str]) -> None:
    index = OpenSearchSparseIndex(names[0], url=opensearch_url)
    for query in QUERIES:
        expected = _brute_force(query, N_DOCS)
        exact_score = dict(expected)
        found = [h.id for h in index.search(query, k=K)]
        top = [doc_id for doc_id, _ in expected[:K]]
        assert len(found) == len(top)
        missing = set(top) - set(found)
        extra = set(found) - set(top)
        for doc_id in extra:
            # A document above the exact top-10 may only displace one within 9 bits of it.
            assert exact_score[doc_id] >= min(exact_score[m] for m in missing) * (1 - RELATIVE)
        hits = index.search(query, k=K)
        for hit in hits:
            assert exact_score[hit.id] * (1 - RELATIVE) - 1e-6 <= hit.score
            assert hit.score <= exact_score[hit.id] * (1 + 1e-6) + 1e-6


def test_top10_is_exact_with_rescore(opensearch_url: str, names: list[str]) -> None:
    index = OpenSearchSparseIndex(names[0], url=opensearch_url, rescore=True)
    for query in QUERIES:
        expected = _brute_force(query, K)
        hits = index.search(query, k=K)
        assert [h.id for h in hits] == [doc_id for doc_id, _ in expected]
        assert [h.score for h in hits] == pytest.approx([s for _, s in expected], rel=1e-9)


def test_same_top10_as_the_local_index(opensearch_url: str, names: list[str]) -> None:
    from langchain_splade.stores.local import LocalSparseIndex

    local = LocalSparseIndex()
    local.add(IDS, DOCS)
    index = OpenSearchSparseIndex(names[0], url=opensearch_url, rescore=True)
    for query in QUERIES:
        ours = [(h.id, h.score) for h in index.search(query, k=K)]
        theirs = [(h.id, h.score) for h in local.search(query, k=K)]
        assert [i for i, _ in ours] == [i for i, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-5)
