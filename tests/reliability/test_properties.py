"""Property-based: a saved and reloaded index is exactly the index that was saved, and
its searches still equal a brute-force dot product, filters included.

tests/unit/test_local_index.py already checks search == brute force on random write
sequences (60 cases); here the same law must survive save/load (mmap or not) after
random adds, upserts and deletes, with odd-Unicode texts and nested metadata."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_splade.filters import matches, parse_filter
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

CASES = 100

weights = st.integers(1, 400).map(lambda x: x / 8)  # exact in float32: ties are real ties
vectors = st.dictionaries(st.integers(0, 40), weights, max_size=8).map(
    lambda d: SparseVector(list(d), list(d.values()))
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.text(max_size=6),
    st.floats(allow_nan=False, allow_infinity=False),
)
metadatas = st.fixed_dictionaries(
    {"g": st.integers(0, 3), "tag": st.sampled_from(["a", "b", "c"])},
    optional={
        "x": json_scalars,
        "nested": st.dictionaries(st.text(max_size=3), json_scalars, max_size=2),
    },
)
texts = st.one_of(st.none(), st.text(max_size=20))  # any code point, lone surrogates included
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.integers(0, 25), min_size=1, max_size=5), st.data()),
        st.tuples(st.just("delete"), st.lists(st.integers(0, 30), max_size=4)),
    ),
    max_size=12,
)
filters = st.one_of(
    st.none(),
    st.builds(lambda g: {"g": g}, st.integers(0, 3)),
    st.builds(lambda t: {"tag": {"$in": t}}, st.lists(st.sampled_from("abc"), min_size=1)),
    st.builds(
        lambda g, t: {"$or": [{"g": {"$gte": g}}, {"tag": t}]},
        st.integers(0, 3),
        st.sampled_from("abc"),
    ),
)


def _brute(model: dict[str, Any], query: SparseVector, k: int, flt: Any) -> list[Any]:
    node = parse_filter(flt)
    scored = [
        (doc_id, vector.dot(query))
        for doc_id, (vector, _, meta) in model.items()
        if node is None or matches(node, meta)
    ]
    ranked = sorted(((i, s) for i, s in scored if s > 0), key=lambda x: (-x[1], x[0]))
    return [(i, round(s, 3)) for i, s in ranked[:k]]


def _dump(index: LocalSparseIndex) -> list[Any]:
    return sorted(
        (
            d.id,
            d.vector.indices.tolist(),
            d.vector.values.tobytes(),
            d.text,
            json.dumps(d.metadata, sort_keys=True),
        )
        for d in index.get(index.ids())
    )


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, query=vectors, k=st.integers(1, 12), flt=filters, mmap=st.booleans())
def test_save_load_round_trips_exactly_and_stays_exact(
    ops: list[Any], query: SparseVector, k: int, flt: Any, mmap: bool
) -> None:
    index = LocalSparseIndex()
    model: dict[str, Any] = {}
    for op in ops:
        if op[0] == "add":
            ids = [f"d{i}" for i in op[1]]
            vecs = [op[2].draw(vectors) for _ in ids]
            txts = [op[2].draw(texts) for _ in ids]
            metas = [op[2].draw(metadatas) for _ in ids]
            index.add(ids, vecs, texts=txts, metadatas=metas)
            for doc_id, v, t, m in zip(ids, vecs, txts, metas):
                model[doc_id] = (v, t, json.loads(json.dumps(m)))
        else:
            ids = [f"d{i}" for i in op[1]]
            index.delete(ids)
            for doc_id in ids:
                model.pop(doc_id, None)
    before = _dump(index)
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp))
        loaded = LocalSparseIndex.load(Path(tmp), mmap=mmap, verify=True)
        assert _dump(loaded) == before
        assert sorted(loaded.ids()) == sorted(model)
        expected = _brute(model, query, k, flt)
        for candidate in (index, loaded):
            hits = candidate.search(query, k=k, filter=flt)
            assert [(h.id, round(h.score, 3)) for h in hits] == expected
        loaded.add(["fresh"], [SparseVector([41], [1.0])])  # a loaded index stays writable
        assert "fresh" in loaded and len(loaded) == len(model) + 1
    assert np.isfinite([h.score for h in index.search(query, k=k)]).all()
