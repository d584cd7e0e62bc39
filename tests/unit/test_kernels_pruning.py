"""Block-max pruning (exact and approximate) against brute force and the full scan."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_local_index import (
    apply,
    as_pairs,
    brute_force,
    filters,
    operations,
    random_vector,
    vectors,
)

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.stores.local import LocalSparseIndex, layout, search
from langchain_splade.stores.local.kernels import build_blockmax_numpy, numba_kernels
from langchain_splade.stores.local.layout import BOUND_STEP
from langchain_splade.types import SparseVector

pytestmark = pytest.mark.skipif(numba_kernels() is None, reason="numba not installed")
_numba_order = pytest.importorskip("langchain_splade.stores.local._numba_order")
_numba_pruned = pytest.importorskip("langchain_splade.stores.local._numba_pruned")


def tiny_blocks(index: LocalSparseIndex, monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    """Blocks of ``rows`` rows, so small corpora have many blocks to prune (and exact
    searches prune however loose tiny random corpora make the bounds)."""
    monkeypatch.setattr(layout, "MIN_BLOCK_ROWS", rows)
    monkeypatch.setattr(search, "LOOSE_BOUNDS", float("inf"))
    index._merge_min_postings = 10**9  # writes stay in the delta until optimize()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=operations,
    query=vectors(12),
    k=st.integers(1, 12),
    flt=st.none() | filters(),
    block=st.sampled_from([1, 2, 4, 8]),
    first=st.sampled_from([1, 2, 64]),
    scan_share=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_pruned_search_equals_brute_force(
    ops: list[Any],
    query: SparseVector,
    k: int,
    flt: dict[str, Any] | None,
    block: int,
    first: int,
    scan_share: float,
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        index, model = LocalSparseIndex(kernel="numba"), {}
        tiny_blocks(index, monkeypatch, block)
        monkeypatch.setattr(_numba_pruned, "FIRST_BLOCKS", first)  # both passes score
        monkeypatch.setattr(_numba_pruned, "SCAN_SHARE", scan_share)  # and the fallback
        apply(index, model, ops)
        assert index._snap.base.blockmax is not None
        assert as_pairs(index.search(query, k=k, filter=flt)) == brute_force(model, query, k, flt)
        exact = index.search(query, k=k, filter=flt, approximate=True, alpha=1.0)
        assert as_pairs(exact) == brute_force(model, query, k, flt)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(vectors(), min_size=1, max_size=80),
    query=vectors(12),
    k=st.integers(1, 10),
    alpha=st.floats(0.05, 1.0),
    flt=st.none() | filters(),
)
def test_approximate_hits_are_exactly_scored_and_filtered(
    docs: list[SparseVector], query: SparseVector, k: int, alpha: float, flt: Any
) -> None:
    """Approximate mode may miss documents, never invent or mis-score them."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        index = LocalSparseIndex(kernel="numba")
        tiny_blocks(index, monkeypatch, 2)
        ids = [f"{i:03d}" for i in range(len(docs))]
        metas = [{"g": i % 3, "n": i % 2} for i in range(len(docs))]
        index.add(ids, docs, metadatas=metas)
        index.optimize()
        model = {i: (v, m) for i, v, m in zip(ids, docs, metas)}
        full = dict(brute_force(model, query, len(docs), flt))
        got = as_pairs(index.search(query, k=k, filter=flt, approximate=True, alpha=alpha))
        assert len(got) <= k
        assert all(full[doc_id] == score for doc_id, score in got)  # in filter, exact
        assert got == sorted(got, key=lambda item: (-item[1], item[0]))
        assert bool(got) == bool(full)  # the first block is always scored


@settings(max_examples=60, deadline=None)
@given(query=vectors(16), share=st.floats(0.01, 1.0))
def test_heavy_terms_are_the_fewest_holding_the_share(query: SparseVector, share: float) -> None:
    """The approximate mode's query cut: the heaviest terms by possible contribution,
    no more than needed to hold ``share`` of the query's possible score."""
    rng = np.random.default_rng(0)
    index = LocalSparseIndex(kernel="numba")
    index.add([str(i) for i in range(60)], [random_vector(rng) for _ in range(60)])
    index.optimize()
    postings = index._snap.base.postings
    terms, weights = search.heavy_terms(postings, query, share)
    inside = query.indices < postings.vocab_size
    potential = dict(
        zip(
            query.indices[inside].tolist(),
            (query.values[inside] * postings.term_scale[query.indices[inside]]).tolist(),
        )
    )
    assert terms.tolist() == sorted(terms.tolist())
    assert dict(zip(terms.tolist(), weights.tolist())) == {
        t: float(w) for t, w in zip(query.indices.tolist(), query.values.tolist()) if t in terms
    }
    if not potential:
        assert terms.shape[0] == 0
        return
    if sum(potential.values()) == 0.0:  # no term occurs: one is kept, scoring nothing
        assert terms.shape[0] == 1
        return
    total, kept = sum(potential.values()), [potential[t] for t in terms.tolist()]
    dropped = [v for t, v in potential.items() if t not in set(terms.tolist())]
    assert sum(kept) >= share * total * (1 - 1e-9)
    assert not dropped or max(dropped) <= min(kept)  # the heaviest, in order
    assert sum(kept) - min(kept) < share * total * (1 + 1e-9)  # and no more than needed


def test_approximate_search_finds_k_hits_when_the_heavy_terms_match_too_few() -> None:
    """A filter that keeps only documents matching the query's light terms: the heavy
    terms select no candidate, and the whole query answers instead of no hits."""
    heavy, light = 100, 200
    index = LocalSparseIndex(kernel="numba")
    docs = [SparseVector([heavy], [5.0]) for _ in range(20)]
    docs += [SparseVector([light], [0.1 + i / 100]) for i in range(20)]
    metas = [{"kind": "heavy"}] * 20 + [{"kind": "light"}] * 20
    index.add([f"d{i:02d}" for i in range(40)], docs, metadatas=metas)
    index.optimize()
    query = SparseVector([heavy, light], [1.0, 0.01])
    assert search.heavy_terms(index._snap.base.postings, query, 0.5)[0].tolist() == [heavy]
    hits = index.search(query, k=5, filter={"kind": "light"}, approximate=True, alpha=0.5)
    assert [h.id for h in hits] == ["d39", "d38", "d37", "d36", "d35"]
    everything = index.search(query, k=5, approximate=True, alpha=0.5)
    assert {h.id for h in everything} <= {f"d{i:02d}" for i in range(20)}


def clustered_corpus(
    n: int, seed: int = 0, vocab: int = 3000, topics: int = 60
) -> tuple[sp.csr_matrix, list[SparseVector]]:
    """Documents drawn around topics (shared term sets), in random order: like SPLADE
    vectors, and unlike independent draws, they co-occur, so pruning has work to skip."""
    rng = np.random.default_rng(seed)
    topic_terms = [rng.choice(vocab, size=40, replace=False) for _ in range(topics)]
    rows, cols, vals = [], [], []
    for r in range(n):
        own = topic_terms[int(rng.integers(topics))]
        terms = np.union1d(rng.choice(own, size=20, replace=False), rng.choice(vocab, size=6))
        rows.append(np.full(terms.shape[0], r))
        cols.append(terms)
        vals.append(rng.lognormal(0.0, 0.6, size=terms.shape[0]).astype(np.float32))
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, vocab)
    )
    matrix.sort_indices()
    queries = []
    for _ in range(30):
        own = topic_terms[int(rng.integers(topics))]
        terms = np.union1d(rng.choice(own, size=12, replace=False), rng.choice(vocab, size=4))
        queries.append(SparseVector(terms, rng.lognormal(0.0, 0.5, size=terms.shape[0])))
    return matrix, queries


@pytest.mark.slow
def test_exact_on_100k_documents_and_approximate_recall() -> None:
    n = 100_000
    matrix, queries = clustered_corpus(n)
    index = LocalSparseIndex(kernel="numba")
    index._prune = True
    ids = [f"doc{i:06d}" for i in range(n)]
    index.add_csr(ids, matrix.indptr, matrix.indices, matrix.data)
    index.optimize()
    assert search._bounds_prune(index._snap.base)  # exact searches below do prune
    dense = matrix.astype(np.float64).T.tocsr()
    recall = []
    for query in queries:
        q = np.zeros(matrix.shape[1])
        q[query.indices] = query.values.astype(np.float64)
        scores = dense.T @ q
        top = np.argsort(-scores, kind="stable")[:10]
        hits = index.search(query, k=10)
        assert [h.score for h in hits] == pytest.approx(scores[top].tolist(), rel=1e-12)
        assert {h.id for h in hits} == {ids[i] for i in top}  # no ties in continuous weights
        index._prune = False
        assert as_pairs(index.search(query, k=10)) == as_pairs(hits)  # the full scan agrees
        index._prune = True
        approx = index.search(query, k=10, approximate=True, alpha=0.8)
        recall.append(len({h.id for h in approx} & {h.id for h in hits}) / len(hits))
    assert np.mean(recall) >= 0.8


def test_blockmax_bounds_cover_every_posting_and_kernels_agree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(layout, "MIN_BLOCK_ROWS", 8)
    rng = np.random.default_rng(3)
    index = LocalSparseIndex(kernel="numba")
    index.add([str(i) for i in range(700)], [random_vector(rng) for _ in range(700)])
    index.optimize()
    base = index._snap.base
    assert base.blockmax is not None and base.blockmax.block_rows == 8
    reference = build_blockmax_numpy(base.postings, base.forward.n_rows)
    for name in ("bm_indptr", "bm_block", "bm_bound", "bm_start"):
        np.testing.assert_array_equal(getattr(base.blockmax, name), getattr(reference, name))
    postings, bm = base.postings, base.blockmax
    for t in range(postings.vocab_size):
        lo, hi = postings.term_indptr[t], postings.term_indptr[t + 1]
        blocks = postings.post_docs[lo:hi] // 8
        bound_of = dict(
            zip(
                bm.bm_block[bm.bm_indptr[t] : bm.bm_indptr[t + 1]].tolist(),
                bm.bm_bound[bm.bm_indptr[t] : bm.bm_indptr[t + 1]].tolist(),
            )
        )
        assert set(bound_of) == set(blocks.tolist())
        best: dict[int, int] = {}
        for block, code in zip(blocks.tolist(), postings.post_q[lo:hi].tolist()):
            best[block] = max(best.get(block, 0), code)
        for block, code in best.items():  # the tightest uint8 bound above the block max
            assert code <= bound_of[block] * BOUND_STEP < code + BOUND_STEP


def near_duplicate_families(
    n_families: int, size: int, seed: int = 0
) -> tuple[list[str], list[SparseVector]]:
    """``n_families`` x ``size`` documents, shuffled: each keeps ~90 % of its family's
    40 terms with jittered weights (how resampled SPLADE corpora look)."""
    rng = np.random.default_rng(seed)
    ids, vecs = [], []
    for f in range(n_families):
        terms = np.sort(rng.choice(5_000, size=40, replace=False))
        weights = rng.lognormal(0.0, 0.6, size=40)
        for i in range(size):
            keep = rng.random(40) < 0.9
            jitter = rng.lognormal(0.0, 0.15, size=int(keep.sum()))
            ids.append(f"f{f:02d}-{i:03d}")
            vecs.append(SparseVector(terms[keep], (weights[keep] * jitter).astype(np.float32)))
    order = rng.permutation(len(ids))
    return [ids[i] for i in order], [vecs[i] for i in order]


def test_merge_clusters_similar_documents_into_blocks() -> None:
    """The compiled merge order puts each family in few blocks: the (term, block)
    entries, which block-max search reads, drop well below an arbitrary order's."""
    ids, vecs = near_duplicate_families(24, 64)
    clustered = LocalSparseIndex(kernel="numba")
    clustered.add(ids, vecs)
    clustered.optimize()
    arbitrary = LocalSparseIndex(kernel="numba")
    arbitrary._kernels = dataclasses.replace(
        arbitrary._kernels, document_order=lambda f: np.arange(f.n_rows, dtype=np.int64)
    )
    arbitrary.add(ids, vecs)
    arbitrary.optimize()
    ordered, shuffled = clustered._snap.base.blockmax, arbitrary._snap.base.blockmax
    assert ordered is not None and shuffled is not None
    assert ordered.n_entries < 0.5 * shuffled.n_entries
    families_per_block = [
        len({doc_id[:3] for doc_id in clustered.ids()[b : b + 64]}) for b in range(0, len(ids), 64)
    ]
    assert np.mean(families_per_block) <= 2.5  # 24 families of 64 in 24 blocks
    assert sorted(clustered.ids()) == sorted(ids)
    forward = clustered._snap.base.forward
    np.testing.assert_array_equal(  # deterministic
        _numba_order.document_order(forward), _numba_order.document_order(forward)
    )
    query = vecs[5]
    assert as_pairs(clustered.search(query, k=10)) == as_pairs(arbitrary.search(query, k=10))


def test_numpy_merge_groups_documents_by_their_heaviest_term() -> None:
    """The numpy fallback never prunes, so it keeps a cheap order."""
    index = LocalSparseIndex(kernel="numpy")
    vecs = [SparseVector([i % 5, 10 + i % 7], [2.0, 1.0]) for i in range(40)]
    index.add([f"d{i:02d}" for i in range(40)], vecs)
    index.optimize()
    heaviest = [int(doc.vector.indices[0]) for doc in index.get(index.ids())]
    assert heaviest == sorted(heaviest)
    assert sorted(index.ids()) == [f"d{i:02d}" for i in range(40)]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"approximate": True, "alpha": 0.0}, InvalidInputError),
        ({"approximate": True, "alpha": 1.5}, InvalidInputError),
        ({"approximate": True, "alpha": "high"}, InvalidTypeError),
        ({"approximate": "yes"}, InvalidTypeError),
    ],
)
def test_bad_approximate_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    index = LocalSparseIndex()
    index.add(["a"], [SparseVector([1], [1.0])])
    with pytest.raises(error):
        index.search(SparseVector([1], [1.0]), **kwargs)
    with pytest.raises(error):
        index.search_batch([SparseVector([1], [1.0])], **kwargs)


def test_retriever_passes_approximate_search_kwargs() -> None:
    """``SpladeRetriever(search_kwargs={"approximate": True, ...})`` reaches the index."""
    from langchain_splade import SpladeRetriever

    texts = ["heart disease and diet", "the stock market fell", "diet and exercise"]
    exact = SpladeRetriever.from_texts(texts, k=2)
    approx = SpladeRetriever.from_texts(
        texts, k=2, search_kwargs={"approximate": True, "alpha": 1.0}
    )
    assert [d.page_content for d in approx.invoke("diet")] == [
        d.page_content for d in exact.invoke("diet")
    ]
    broken = SpladeRetriever.from_texts(texts, k=2, search_kwargs={"approximate": "yes"})
    with pytest.raises(InvalidTypeError):
        broken.invoke("diet")


@pytest.mark.parametrize(
    ("options", "says"),
    [({"aproximate": True}, "do not fit LocalSparseIndex.search"), ({"k": 3}, "k= and filter=")],
)
def test_retriever_refuses_search_kwargs_the_index_cannot_take(
    options: dict[str, Any], says: str
) -> None:
    """A typo (or an option of another backend) fails at construction, typed."""
    from langchain_splade import SpladeRetriever

    with pytest.raises(InvalidInputError, match=says):
        SpladeRetriever.from_texts(["heart disease and diet"], search_kwargs=options)
