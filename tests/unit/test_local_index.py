"""LocalSparseIndex: exactness against brute force, writes, filters, bad input."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_splade.errors import (
    FilterError,
    IncompatibleIndexError,
    InvalidInputError,
    InvalidTypeError,
)
from langchain_splade.filters import matches, parse_filter
from langchain_splade.stores.base import SparseIndex
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.stores.local.filtering import ColumnCache
from langchain_splade.stores.local.kernels import build_postings_numpy, numba_kernels
from langchain_splade.types import EncoderFingerprint, SparseVector

KERNELS = ["numpy"] + (["numba"] if numba_kernels() is not None else [])
VOCAB = 40


# -- reference model -------------------------------------------------------------------


def exact_dot(a: SparseVector, b: SparseVector) -> float:
    """Sequential float64 sum in term order: the same arithmetic the index promises."""
    bw = dict(zip(b.indices.tolist(), b.values.tolist()))
    total = 0.0
    for term, weight in zip(a.indices.tolist(), a.values.tolist()):
        if term in bw:
            total += float(np.float64(weight) * np.float64(bw[term]))
    return total


def brute_force(
    docs: dict[str, tuple[SparseVector, dict[str, Any]]],
    query: SparseVector,
    k: int,
    filter: dict[str, Any] | None = None,
) -> list[tuple[str, float]]:
    node = parse_filter(filter)
    scored = []
    for doc_id, (vector, metadata) in docs.items():
        score = exact_dot(query, vector)
        if score > 0 and matches(node, metadata):
            scored.append((doc_id, score))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:k]


def as_pairs(hits: list[Any]) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in hits]


# -- strategies ------------------------------------------------------------------------

weights = st.one_of(
    st.sampled_from([0.5, 1.0, 2.0]),  # repeated values make exact ties likely
    st.floats(min_value=0.0009765625, max_value=1024.0, allow_nan=False, width=32),
)


@st.composite
def vectors(draw: Any, max_terms: int = 8) -> SparseVector:
    terms = draw(st.lists(st.integers(0, VOCAB - 1), max_size=max_terms, unique=True))
    return SparseVector(terms, [draw(weights) for _ in terms])


metadata_values = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.5, "a", "b", "c", True, False, None]),
    st.lists(st.sampled_from([1, 2, "a", "b", True]), max_size=3),
)
metadatas = st.dictionaries(st.sampled_from(["g", "n", "tags"]), metadata_values, max_size=3)

scalar_operands = st.sampled_from([0, 1, 2, 2.5, -1, "a", "b", True, None])
range_operands = st.sampled_from([0, 1, 2, 2.5, -1, "a", "b"])


@st.composite
def filters(draw: Any, depth: int = 2) -> dict[str, Any]:
    field = draw(st.sampled_from(["g", "n", "tags", "missing"]))
    kind = draw(st.integers(0, 5 if depth > 0 else 3))
    if kind == 0:
        return {field: draw(scalar_operands)}
    if kind == 1:
        op = draw(st.sampled_from(["$eq", "$ne"]))
        return {field: {op: draw(scalar_operands)}}
    if kind == 2:
        op = draw(st.sampled_from(["$in", "$nin"]))
        return {field: {op: draw(st.lists(scalar_operands, max_size=3))}}
    if kind == 3:
        ops = draw(
            st.lists(
                st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), min_size=1, max_size=2, unique=True
            )
        )
        return {field: {op: draw(range_operands) for op in ops}}
    children = draw(st.lists(filters(depth - 1), min_size=1, max_size=3))
    return {"$and" if kind == 4 else "$or": children}


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 30), vectors(), metadatas),
        st.tuples(st.just("delete"), st.integers(0, 30)),
        st.tuples(st.just("optimize")),
    ),
    max_size=40,
)


def apply(index: LocalSparseIndex, model: dict[str, Any], ops: list[Any]) -> None:
    for op in ops:
        if op[0] == "add":
            doc_id = f"d{op[1]}"
            index.add([doc_id], [op[2]], texts=[f"text {op[1]}"], metadatas=[op[3]])
            model[doc_id] = (op[2], op[3])
        elif op[0] == "delete":
            doc_id = f"d{op[1]}"
            removed = index.delete([doc_id])
            assert removed == (1 if doc_id in model else 0)
            model.pop(doc_id, None)
        else:
            index.optimize()


def new_index(kernel: str, merge_min: int = 10**9) -> LocalSparseIndex:
    index = LocalSparseIndex(kernel=kernel)
    index._merge_min_postings = merge_min  # keep writes in the delta unless optimize() runs
    return index


# -- exactness -------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, query=vectors(12), k=st.integers(1, 12), flt=st.none() | filters())
def test_search_equals_brute_force(
    kernel: str, ops: list[Any], query: SparseVector, k: int, flt: dict[str, Any] | None
) -> None:
    index, model = new_index(kernel), {}
    apply(index, model, ops)
    assert len(index) == len(model)
    expected = brute_force(model, query, k, flt)
    hits = index.search(query, k=k, filter=flt)
    assert as_pairs(hits) == expected
    for hit in hits:
        vector, metadata = model[hit.id]
        assert hit.vector == vector
        assert hit.metadata == metadata
        assert hit.text == f"text {hit.id[1:]}"
        assert hit.score == pytest.approx(query.dot(vector), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    docs=st.lists(vectors(), min_size=1, max_size=60),
    queries=st.lists(vectors(12), min_size=1, max_size=4),
    k=st.integers(1, 8),
)
def test_quantised_postings_stay_exact_under_wide_weight_ranges(
    docs: list[SparseVector], queries: list[SparseVector], k: int
) -> None:
    """uint16 postings + float32 accumulation must never change the exact ranking."""
    index = LocalSparseIndex(kernel=KERNELS[-1])
    ids = [f"{i:03d}" for i in range(len(docs))]
    index.add(ids, docs)
    index.optimize()
    model = {i: (v, {}) for i, v in zip(ids, docs)}
    for query in queries:
        assert as_pairs(index.search(query, k=k)) == brute_force(model, query, k)


@pytest.mark.skipif(len(KERNELS) < 2, reason="numba not installed")
@settings(max_examples=30, deadline=None)
@given(ops=operations, query=vectors(12), k=st.integers(1, 10), flt=st.none() | filters())
def test_numba_and_numpy_kernels_agree(
    ops: list[Any], query: SparseVector, k: int, flt: dict[str, Any] | None
) -> None:
    results = []
    for kernel in ("numpy", "numba"):
        index = new_index(kernel)
        apply(index, {}, ops)
        results.append(as_pairs(index.search(query, k=k, filter=flt)))
        results.append(index.stats()["postings"])
    assert results[0:2] == results[2:4]


def test_numba_and_numpy_build_identical_postings() -> None:
    """The two transposes agree bit for bit on the same rows (their merge orders
    differ: only the compiled kernel prunes, so only it clusters)."""
    if numba_kernels() is None:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(1)
    index = LocalSparseIndex(kernel="numba")
    index.add([str(i) for i in range(500)], [random_vector(rng) for _ in range(500)])
    index.optimize()
    base = index._snap.base
    reference = build_postings_numpy(base.forward, base.postings.vocab_size)
    for name in ("term_indptr", "post_docs", "post_q", "term_scale"):
        np.testing.assert_array_equal(getattr(base.postings, name), getattr(reference, name))


def random_vector(rng: np.random.Generator, vocab: int = 300, terms: int = 20) -> SparseVector:
    idx = rng.choice(vocab, size=int(rng.integers(0, terms)), replace=False)
    return SparseVector(idx, rng.random(idx.size).astype(np.float32) * 3 + 0.01)


@pytest.mark.parametrize("kernel", KERNELS)
def test_larger_random_corpus_with_merges(kernel: str) -> None:
    rng = np.random.default_rng(7)
    index = LocalSparseIndex(kernel=kernel)
    index._merge_min_postings = 2000  # exercise lazy merges and compaction
    model: dict[str, Any] = {}
    for step in range(6):
        ids = [f"doc{rng.integers(0, 800)}" for _ in range(200)]
        vecs = [random_vector(rng) for _ in ids]
        metas = [{"g": int(rng.integers(0, 4)), "step": step} for _ in ids]
        index.add(ids, vecs, metadatas=metas)
        for doc_id, vec, meta in zip(ids, vecs, metas):
            model[doc_id] = (vec, meta)
        gone = [f"doc{rng.integers(0, 800)}" for _ in range(60)]
        index.delete(gone)
        for doc_id in gone:
            model.pop(doc_id, None)
        for _ in range(5):
            query = random_vector(rng, terms=40)
            for flt in (None, {"g": {"$in": [1, 2]}}, {"step": {"$gte": step}}):
                assert as_pairs(index.search(query, k=10, filter=flt)) == brute_force(
                    model, query, 10, flt
                )
    assert len(index) == len(model)


# -- writes ----------------------------------------------------------------------------


def test_upsert_replaces_and_delete_removes() -> None:
    index = LocalSparseIndex()
    query = SparseVector([1], [1.0])
    index.add(["a", "b"], [SparseVector([1], [1.0]), SparseVector([1], [2.0])])
    assert [h.id for h in index.search(query)] == ["b", "a"]
    index.add(["a"], [SparseVector([1], [3.0])], texts=["new"], metadatas=[{"v": 2}])
    assert len(index) == 2
    hits = index.search(query)
    assert [(h.id, h.score, h.text) for h in hits] == [("a", 3.0, "new"), ("b", 2.0, None)]
    assert index.delete(["a", "a", "zzz"]) == 1
    assert [h.id for h in index.search(query)] == ["b"]
    assert index.get(["a", "b"])[0].id == "b"
    assert index.delete([]) == 0
    assert "b" in index and "a" not in index


def test_duplicate_ids_in_one_batch_keep_the_last() -> None:
    index = LocalSparseIndex()
    returned = index.add(
        ["x", "y", "x"],
        [SparseVector([1], [1.0]), SparseVector([2], [1.0]), SparseVector([3], [5.0])],
        texts=["first", "y", "last"],
    )
    assert returned == ["x", "y", "x"]
    assert len(index) == 2
    (doc,) = index.get(["x"])
    assert doc.text == "last" and doc.vector == SparseVector([3], [5.0])
    assert index.search(SparseVector([1], [1.0])) == []


def test_get_returns_copies_in_request_order() -> None:
    index = LocalSparseIndex()
    index.add(["a", "b"], [SparseVector([1], [1.0])] * 2, metadatas=[{"t": [1]}, None])
    docs = index.get(["b", "nope", "a"])
    assert [d.id for d in docs] == ["b", "a"]
    assert docs[0].metadata == {}
    docs[1].metadata["t"].append(2)  # type: ignore[index]
    assert index.get(["a"])[0].metadata == {"t": [1]}


def test_empty_vectors_are_stored_but_never_match() -> None:
    index = LocalSparseIndex()
    index.add(["e", "f"], [SparseVector.empty(), SparseVector([3], [1.0])])
    assert len(index) == 2
    assert [h.id for h in index.search(SparseVector([3], [1.0]))] == ["f"]
    assert index.search(SparseVector.empty()) == []
    assert index.get(["e"])[0].vector.nnz == 0


def test_k_larger_than_corpus_and_empty_index() -> None:
    index = LocalSparseIndex()
    assert index.search(SparseVector([1], [1.0]), k=5) == []
    index.add(["a"], [SparseVector([1], [1.0])])
    assert len(index.search(SparseVector([1], [1.0]), k=1000)) == 1


def test_filtered_search_returns_k_when_k_match() -> None:
    """The filter applies before the top-k: rare matching docs are still found."""
    index = LocalSparseIndex()
    n = 2000
    ids = [f"{i:05d}" for i in range(n)]
    vecs = [SparseVector([1, 2], [float(n - i), 1.0]) for i in range(n)]
    index.add(ids, vecs, metadatas=[{"rare": i % 500 == 0} for i in range(n)])
    hits = index.search(SparseVector([1], [1.0]), k=4, filter={"rare": True})
    assert [h.id for h in hits] == ["00000", "00500", "01000", "01500"]


def test_add_csr_matches_add() -> None:
    rng = np.random.default_rng(3)
    vecs = [random_vector(rng) for _ in range(50)]
    a, b = LocalSparseIndex(), LocalSparseIndex()
    ids = [str(i) for i in range(50)]
    a.add(ids, vecs)
    indptr = np.concatenate([[0], np.cumsum([v.nnz for v in vecs])])
    b.add_csr(
        ids,
        indptr,
        np.concatenate([v.indices for v in vecs]),
        np.concatenate([v.values for v in vecs]),
    )
    query = random_vector(rng, terms=50)
    assert as_pairs(a.search(query, k=20)) == as_pairs(b.search(query, k=20))
    with pytest.raises(InvalidInputError, match="strictly increasing"):
        b.add_csr(["z"], [0, 2], [5, 5], [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="non-finite"):
        b.add_csr(["z"], [0, 1], [5], [float("nan")])


def test_search_batch_matches_search_and_threads() -> None:
    rng = np.random.default_rng(5)
    index = LocalSparseIndex()
    index.add([str(i) for i in range(300)], [random_vector(rng) for _ in range(300)])
    queries = [random_vector(rng, terms=30) for _ in range(20)]
    single = [as_pairs(index.search(q, k=7)) for q in queries]
    for threads in (1, 2, None):
        batch = index.search_batch(queries, k=7, n_threads=threads)
        assert [as_pairs(hits) for hits in batch] == single
    with pytest.raises(InvalidInputError):
        index.search_batch(queries, n_threads=0)


def test_concurrent_searches_during_writes_see_committed_states() -> None:
    """Each search sees either all or none of a two-document write."""
    index = LocalSparseIndex()
    index._merge_min_postings = 50  # merges happen while readers run
    query = SparseVector([1], [1.0])
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        for i in range(300):
            index.add([f"p{i}", f"q{i}"], [SparseVector([1, 2], [1.0, float(i + 1)])] * 2)
            if i % 3 == 0:
                index.delete([f"p{i}", f"q{i}"])
        stop.set()

    def reader() -> None:
        try:
            while not stop.is_set():
                hits = index.search(query, k=1000)
                ids = {h.id for h in hits}
                assert all(("q" + i[1:]) in ids for i in ids if i.startswith("p"))
                assert all(("p" + i[1:]) in ids for i in ids if i.startswith("q"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    writer()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert len(index) == 2 * 200


# -- filters: the columnar evaluation equals the reference semantics ------------------


@settings(max_examples=150, deadline=None)
@given(metas=st.lists(metadatas, max_size=30), flt=filters())
def test_columnar_filter_equals_reference(metas: list[dict[str, Any]], flt: dict[str, Any]) -> None:
    node = parse_filter(flt)
    assert node is not None
    mask = ColumnCache(metas, len(metas)).evaluate(node)
    assert mask.tolist() == [matches(node, m) for m in metas]


def test_nested_fields_and_big_ints() -> None:
    metas = [{"a": {"b": 2**60 + 1}}, {"a": {"b": float(2**60)}}, {"a": 3}, {}]
    for flt in ({"a.b": 2**60 + 1}, {"a.b": {"$gt": 2**60}}, {"a.b": {"$ne": 2**60}}):
        node = parse_filter(flt)
        assert node is not None
        assert ColumnCache(metas, 4).evaluate(node).tolist() == [matches(node, m) for m in metas]


def test_unknown_filter_operator_is_an_error() -> None:
    index = LocalSparseIndex()
    index.add(["a"], [SparseVector([1], [1.0])], metadatas=[{"x": 1}])
    with pytest.raises(FilterError):
        index.search(SparseVector([1], [1.0]), filter={"x": {"$regex": "a"}})
    with pytest.raises(FilterError):
        index.search(SparseVector([1], [1.0]), filter={"$not": [{"x": 1}]})


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -1])
def test_non_positive_k(k: int) -> None:
    with pytest.raises(InvalidInputError, match="k >= 1"):
        LocalSparseIndex().search(SparseVector([1], [1.0]), k=k)


@pytest.mark.parametrize("k", [2.0, "3", True, None])
def test_non_int_k(k: Any) -> None:
    with pytest.raises(InvalidTypeError):
        LocalSparseIndex().search(SparseVector([1], [1.0]), k=k)


def test_bad_add_inputs_store_nothing() -> None:
    index = LocalSparseIndex()
    vec = SparseVector([1], [1.0])
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"ids": ["a", "b"], "vectors": [vec]}, InvalidInputError),
        ({"ids": ["a"], "vectors": [vec], "texts": ["x", "y"]}, InvalidInputError),
        ({"ids": ["a"], "vectors": [vec], "metadatas": []}, InvalidInputError),
        ({"ids": "a", "vectors": [vec]}, InvalidTypeError),
        ({"ids": [1], "vectors": [vec]}, InvalidTypeError),
        ({"ids": [""], "vectors": [vec]}, InvalidInputError),
        ({"ids": ["a"], "vectors": [{1: 1.0}]}, InvalidTypeError),
        ({"ids": ["a"], "vectors": [vec], "texts": [b"bytes"]}, InvalidTypeError),
        ({"ids": ["a"], "vectors": [vec], "metadatas": ["x"]}, InvalidTypeError),
        ({"ids": ["a"], "vectors": [vec], "metadatas": [{"d": object()}]}, InvalidInputError),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            index.add(**kwargs)
    assert len(index) == 0
    with pytest.raises(InvalidTypeError):
        index.search({1: 1.0})  # type: ignore[arg-type]


def test_odd_unicode_round_trips() -> None:
    index = LocalSparseIndex()
    text = "caf\u00e9 \ud800 \U0001f600 \x00"
    index.add(["\u00fc"], [SparseVector([1], [1.0])], texts=[text], metadatas=[{"k": text}])
    (doc,) = index.get(["\u00fc"])
    assert doc.text == text and doc.metadata == {"k": text}


# -- encoder compatibility -------------------------------------------------------------


def fingerprint(name: str = "m", vocab: int = 100) -> EncoderFingerprint:
    return EncoderFingerprint(model_name=name, vocab_hash=f"h-{name}", vocab_size=vocab)


def test_check_encoder_records_then_rejects_mismatch() -> None:
    index = LocalSparseIndex()
    assert isinstance(index, SparseIndex)
    index.check_encoder(fingerprint())
    index.check_encoder(fingerprint())
    assert index.fingerprint == fingerprint()
    with pytest.raises(IncompatibleIndexError, match="model_name"):
        index.check_encoder(fingerprint("other"))
    with pytest.raises(InvalidInputError, match="vocabulary"):
        index.add(["a"], [SparseVector([100], [1.0])])


def test_check_encoder_rejects_vocab_too_small_for_stored_vectors() -> None:
    index = LocalSparseIndex()
    index.add(["a"], [SparseVector([500], [1.0])])
    with pytest.raises(IncompatibleIndexError):
        index.check_encoder(fingerprint(vocab=100))


def test_stats_report_six_bytes_per_posting() -> None:
    rng = np.random.default_rng(0)
    index = LocalSparseIndex()
    index.add([str(i) for i in range(100)], [random_vector(rng) for _ in range(100)])
    index.optimize()
    stats = index.stats()
    assert stats["documents"] == 100 and stats["postings"] > 0
    assert stats["bytes_per_posting"] == 6.0
    assert 0 < stats["block_bytes_per_posting"] <= 7.5  # 7 B per (term, block) entry at most
    assert stats["pending_documents"] == 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_near_ties_under_coarse_quantisation_rank_exactly(kernel: str) -> None:
    """A huge outlier weight makes the uint16 step coarse (~0.015); thousands of near-tied
    documents must still come back in exact order (this fails without the error band)."""
    rng = np.random.default_rng(11)
    n = 3000
    vecs = [SparseVector([0, 1, 2], rng.uniform(0.4, 0.6, 3).astype(np.float32)) for _ in range(n)]
    vecs.append(SparseVector([0, 1, 2], [1000.0, 1000.0, 1000.0]))
    ids = [f"{i:05d}" for i in range(n + 1)]
    index = LocalSparseIndex(kernel=kernel)
    index.add(ids, vecs)
    index.optimize()
    model = {i: (v, {}) for i, v in zip(ids, vecs)}
    for _ in range(20):
        query = SparseVector([0, 1, 2], rng.uniform(0.1, 2.0, 3).astype(np.float32))
        assert as_pairs(index.search(query, k=10)) == brute_force(model, query, 10)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("vocab", [30, 5000])  # frequent terms (dense scan) / rare (sparse)
def test_many_queries_reuse_scratch_buffers(kernel: str, vocab: int) -> None:
    rng = np.random.default_rng(vocab)
    n = 1500
    vecs = [random_vector(rng, vocab=vocab, terms=12) for _ in range(n)]
    ids = [f"{i:05d}" for i in range(n)]
    index = LocalSparseIndex(kernel=kernel)
    index.add(ids[:1000], vecs[:1000], metadatas=[{"odd": i % 2} for i in range(1000)])
    index.optimize()
    index.add(ids[1000:], vecs[1000:], metadatas=[{"odd": i % 2} for i in range(1000, n)])
    model = {i: (v, {"odd": j % 2}) for j, (i, v) in enumerate(zip(ids, vecs))}
    for _ in range(40):
        query = random_vector(rng, vocab=vocab, terms=8)
        for flt in (None, {"odd": 1}):
            assert as_pairs(index.search(query, k=5, filter=flt)) == brute_force(
                model, query, 5, flt
            )


def test_blocked_accumulation_matches_brute_force(monkeypatch: Any) -> None:
    """The exhaustive compiled scan's cache blocking (2**15 rows) with tiny blocks."""
    if numba_kernels() is None:
        pytest.skip("numba not installed")
    from langchain_splade.stores.local import _numba_exhaustive

    monkeypatch.setattr(_numba_exhaustive, "BLOCK_ROWS", 97)
    monkeypatch.setattr(_numba_exhaustive, "BLOCK_MIN_ROWS", 0)
    rng = np.random.default_rng(2)
    n = 1200
    vecs = [random_vector(rng, vocab=25, terms=10) for _ in range(n)]
    ids = [f"{i:05d}" for i in range(n)]
    index = LocalSparseIndex(kernel="numba")
    index.add(ids, vecs, metadatas=[{"m": i % 3} for i in range(n)])
    index.optimize()
    index.delete(ids[:50])
    model = {i: (v, {"m": j % 3}) for j, (i, v) in enumerate(zip(ids, vecs)) if j >= 50}
    for _ in range(30):
        query = random_vector(rng, vocab=25, terms=10)
        for flt in (None, {"m": 0}):
            assert as_pairs(index.search(query, k=7, filter=flt)) == brute_force(
                model, query, 7, flt
            )
