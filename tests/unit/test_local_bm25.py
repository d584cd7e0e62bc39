"""The local index's incremental BM25 equals a from-scratch bm25s index of the live
documents, after any sequence of adds, upserts, deletes, merges and save/load."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_splade.bm25 import BM25Index
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

WORDS = [
    "heart", "hearts", "attack", "blood", "flow", "running", "runs", "dog", "dogs", "the",
    "cat", "a", "finance", "bank", "banks", "river", "x", "quantum", "engine", "engines",
]  # fmt: skip
"""Stems that collide (heart/hearts), stopwords (the, a) and a 1-letter token (x)."""

QUERIES = ["heart attack", "running dogs dog", "the", "bank river banks", "quantum", "zzz"]


def text_of(seed: int) -> str | None:
    rng = random.Random(seed)
    if rng.random() < 0.1:
        return None  # a document without text still counts in N, with length 0
    return " ".join(rng.choices(WORDS, k=rng.randint(0, 14)))


def vector_of(seed: int) -> SparseVector:
    rng = np.random.default_rng(seed)
    return SparseVector(rng.choice(50, 3, replace=False), rng.random(3) + 0.1)


def oracle(model: dict[str, tuple[str | None, dict[str, Any]]]) -> BM25Index:
    ids = sorted(model)
    return BM25Index(ids, [model[i][0] for i in ids])


def assert_matches(
    index: LocalSparseIndex,
    model: dict[str, tuple[str | None, dict[str, Any]]],
    k: int,
    flt: dict[str, Any] | None = None,
) -> None:
    reference = oracle(model)
    allowed = None
    if flt is not None:
        allowed = [i for i, (_, meta) in model.items() if meta["g"] in flt["g"]["$in"]]
    for query in QUERIES:
        hits = index.bm25_search(query, k=k, filter=flt)
        ids, scores = reference.search(query, k=k, allowed=allowed)
        assert [hit.id for hit in hits] == ids, query
        assert [hit.score for hit in hits] == pytest.approx(scores, rel=1e-5), query
        for hit in hits:
            assert hit.text == model[hit.id][0]


operation = st.one_of(
    st.tuples(st.just("add"), st.lists(st.integers(0, 40), min_size=1, max_size=8), st.integers()),
    st.tuples(st.just("delete"), st.lists(st.integers(0, 40), min_size=1, max_size=5)),
    st.tuples(st.just("optimize")),
    st.tuples(st.just("reload")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(operation, min_size=1, max_size=12),
    k=st.integers(1, 12),
    merge_min=st.sampled_from([20, 10**9]),
    filtered=st.booleans(),
)
def test_scores_equal_a_from_scratch_bm25_after_any_writes(
    tmp_path_factory: pytest.TempPathFactory,
    ops: list[Any],
    k: int,
    merge_min: int,
    filtered: bool,
) -> None:
    index = LocalSparseIndex(kernel="numpy")
    index._merge_min_postings = merge_min  # 20: the writes themselves merge now and then
    model: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for op in ops:
        if op[0] == "add":
            ids = [f"d{n}" for n in op[1]]
            texts = [text_of(op[2] + n) for n in op[1]]
            metas = [{"g": (op[2] + n) % 3} for n in op[1]]
            index.add(ids, [vector_of(n) for n in op[1]], texts=texts, metadatas=metas)
            model.update(zip(ids, zip(texts, metas)))
        elif op[0] == "delete":
            index.delete([f"d{n}" for n in op[1]])
            for n in op[1]:
                model.pop(f"d{n}", None)
        elif op[0] == "optimize":
            index.optimize()
        else:
            path = tmp_path_factory.mktemp("bm25")
            index.save(path)
            index = LocalSparseIndex.load(path, mmap=bool(len(model) % 2))
            index._merge_min_postings = merge_min
    assert len(index) == len(model)
    assert_matches(index, model, k, {"g": {"$in": [0, 2]}} if filtered else None)


def test_a_write_leaves_the_base_alone_and_the_next_search_is_current() -> None:
    """No rebuild: a small write goes to the delta, and is searchable at once."""
    index = LocalSparseIndex()
    ids = [f"d{i}" for i in range(300)]
    index.add(ids, [vector_of(i) for i in range(300)], texts=[text_of(i) for i in range(300)])
    index.optimize()
    base = index._snap.lexical.base
    model = {i: (text_of(n), {}) for n, i in enumerate(ids)}
    index.add(["new"], [vector_of(1)], texts=["quantum engines quantum zebra"])
    assert index._snap.lexical.base is base
    assert [hit.id for hit in index.bm25_search("zebra")] == ["new"]
    assert_matches(index, {**model, "new": ("quantum engines quantum zebra", {})}, k=300)
    index.delete(["new"])
    assert index._snap.lexical.base is base
    assert_matches(index, model, k=10)


def test_statistics_follow_upserts_and_deletes() -> None:
    index = LocalSparseIndex()
    index.add(["a", "b"], [vector_of(0), vector_of(1)], texts=["heart heart", "dog"])
    index.add(["a"], [vector_of(0)], texts=["dog dog dog"])  # upsert: heart leaves
    view = index._snap.lexical
    assert (view.n_docs, view.total_length) == (2, 4)
    assert index.bm25_search("heart") == []
    index.delete(["b"])
    view = index._snap.lexical
    assert (view.n_docs, view.total_length) == (1, 3)
    index.delete(["a"])
    assert index.bm25_search("dog") == []
    assert index._snap.lexical.n_docs == 0


def test_an_index_saved_before_the_bm25_field_gets_it_at_load(tmp_path: Path) -> None:
    """Format 2 saved no BM25 field: loading tokenizes the stored texts."""
    import json

    index = LocalSparseIndex()
    ids = [f"d{i}" for i in range(50)]
    index.add(ids, [vector_of(i) for i in range(50)], texts=[text_of(i) for i in range(50)])
    index.save(tmp_path)
    manifest_path = tmp_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data_dir = tmp_path / manifest["data_dir"]
    for name in [name for name in manifest["files"] if name.startswith("lex")]:
        (data_dir / name).unlink()
        del manifest["files"][name]
    manifest.pop("bm25")
    manifest_path.write_text(json.dumps({**manifest, "format_version": 2}))
    loaded = LocalSparseIndex.load(tmp_path)
    assert_matches(loaded, {i: (text_of(n), {}) for n, i in enumerate(ids)}, k=10)


def test_the_bm25_delta_alone_triggers_merges_and_the_writer_pays() -> None:
    """Documents with one SPLADE term but long texts: the BM25 postings must not pile
    up unmerged (searches scan the delta), and no merge is left for a search."""
    index = LocalSparseIndex()
    index._merge_min_postings = 2_000
    words = [f"w{i}" for i in range(400)]
    rng = random.Random(0)
    for batch in range(10):
        ids = [f"b{batch}-{i}" for i in range(50)]
        texts = [" ".join(rng.choices(words, k=40)) for _ in ids]
        index.add(ids, [SparseVector([1], [1.0])] * len(ids), texts=texts)
        assert not index._needs_merge(index._snap)  # the write merged, if it had to
    assert index.stats()["pending_documents"] < 500
