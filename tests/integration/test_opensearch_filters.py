"""Filter parity: OpenSearch's answer equals ``filters.matches`` (the reference semantics).

A fixed corpus covers the corners (lists, nested objects, None, missing fields, ints
beside floats, booleans beside numbers); hypothesis draws filters, including values of
the wrong type, and every one must select exactly the documents ``matches`` selects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_splade.filters import matches, parse_filter
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.types import SparseVector

SOURCES = ["wiki", "web", "news", "Wiki", "é"]
TAGS = ["a", "b", "c", ""]


def _corpus(n: int = 60) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    docs: list[dict[str, Any]] = []
    for _i in range(n):
        meta: dict[str, Any] = {}
        if rng.random() < 0.8:
            meta["source"] = SOURCES[int(rng.integers(len(SOURCES)))]
        if rng.random() < 0.8:
            # ints and floats in one field, as users write them
            meta["year"] = int(rng.integers(2018, 2024)) if rng.random() < 0.7 else 2020.5
        if rng.random() < 0.7:
            meta["draft"] = bool(rng.random() < 0.5)
        if rng.random() < 0.7:
            meta["tags"] = [TAGS[int(j)] for j in rng.integers(0, len(TAGS), rng.integers(0, 3))]
        if rng.random() < 0.6:
            meta["nums"] = [int(x) for x in rng.integers(0, 5, rng.integers(1, 3))]
        if rng.random() < 0.6:
            author: dict[str, Any] = {"name": SOURCES[int(rng.integers(3))]}
            if rng.random() < 0.5:
                author["age"] = int(rng.integers(20, 60))
            meta["author"] = author
        roll = rng.random()
        if roll < 0.3:
            meta["maybe"] = None
        elif roll < 0.6:
            meta["maybe"] = "set"
        elif roll < 0.7:
            meta["maybe"] = ["set", None]
        docs.append(meta)
    return docs


CORPUS = _corpus()
IDS = [f"doc{i:03d}" for i in range(len(CORPUS))]
FIELDS = [
    "source",
    "year",
    "draft",
    "tags",
    "nums",
    "author",
    "author.name",
    "author.age",
    "maybe",
    "nothing",
    "nothing.deeper",
]
SCALARS = st.one_of(
    st.sampled_from(SOURCES + TAGS + ["set", "zzz"]),
    st.integers(2017, 2025),
    st.integers(0, 5),
    st.sampled_from([2020.5, 0.0, 1.0, 59.5]),
    st.booleans(),
    st.none(),
)
RANGE_VALUES = st.one_of(
    st.sampled_from([*SOURCES, "m", "x", ""]), st.integers(0, 2025), st.just(2020.5)
)


def _conditions() -> st.SearchStrategy[dict[str, Any]]:
    field = st.sampled_from(FIELDS)
    eq = st.builds(lambda f, v: {f: v}, field, SCALARS)
    op = st.builds(lambda f, o, v: {f: {o: v}}, field, st.sampled_from(["$eq", "$ne"]), SCALARS)
    members = st.lists(SCALARS, max_size=3)
    inn = st.builds(lambda f, o, v: {f: {o: v}}, field, st.sampled_from(["$in", "$nin"]), members)
    rng = st.builds(
        lambda f, o, v: {f: {o: v}},
        field,
        st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
        RANGE_VALUES,
    )
    return st.one_of(eq, op, inn, rng)


FILTERS = st.recursive(
    _conditions(),
    lambda children: st.one_of(
        st.builds(lambda cs: {"$and": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda cs: {"$or": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda a, b: {**a, **b}, children, children),
    ),
    max_leaves=5,
)
MATCH_ALL = SparseVector([0], [1.0])


@pytest.fixture(scope="module")
def corpus_index(opensearch_url: str, os_client: Any) -> Iterator[OpenSearchSparseIndex]:
    name = f"test-filters-{uuid.uuid4().hex[:8]}"
    index = OpenSearchSparseIndex(name, url=opensearch_url)
    index.add(IDS, [MATCH_ALL] * len(IDS), metadatas=CORPUS)
    yield index
    os_client.indices.delete(index=name, ignore_unavailable=True)


def _expected(filter: Mapping[str, Any]) -> set[str]:
    node = parse_filter(filter)
    return {i for i, meta in zip(IDS, CORPUS) if matches(node, meta)}


def _found(index: OpenSearchSparseIndex, filter: Mapping[str, Any]) -> set[str]:
    return {h.id for h in index.search(MATCH_ALL, k=len(IDS) + 5, filter=filter)}


CASES = [
    {"source": "wiki"},
    {"source": "Wiki"},  # case-sensitive
    {"year": 2020},
    {"year": 2020.0},  # int == float
    {"year": 2020.5},
    {"year": "2020"},  # wrong type: no match, no error
    {"year": True},
    {"draft": True},
    {"draft": 1},  # True != 1
    {"draft": {"$ne": False}},  # includes documents without draft
    {"tags": "a"},  # any element
    {"tags": ""},
    {"tags": {"$ne": "a"}},  # no element, or missing
    {"tags": {"$nin": ["a", "b"]}},
    {"tags": {"$in": []}},
    {"tags": {"$nin": []}},
    {"nums": {"$gt": 3}},
    {"nums": {"$lte": 0}},
    {"year": {"$gte": 2019, "$lt": 2021}},
    {"year": {"$gt": "2019"}},  # string vs number: no match
    {"source": {"$gt": "n"}},  # code-point order
    {"source": {"$lt": "é"}},
    {"author.name": "web"},
    {"author.age": {"$gte": 40}},
    {"author": "wiki"},  # an object never equals a scalar
    {"author": {"$ne": "wiki"}},
    {"maybe": None},  # explicit None, also inside a list
    {"maybe": {"$ne": None}},
    {"maybe": {"$in": [None, "zzz"]}},
    {"maybe": {"$nin": [None]}},
    {"maybe": "set"},
    {"nothing": {"$ne": 1}},  # missing satisfies $ne
    {"nothing": None},  # but not $eq None
    {"nothing.deeper": {"$nin": ["x"]}},
    {"$or": [{"source": "wiki"}, {"draft": True}]},
    {"$and": [{"source": {"$ne": "wiki"}}, {"tags": {"$in": ["b", "c"]}}]},
    {"$or": [{"year": {"$lt": 2019}}, {"$and": [{"draft": False}, {"maybe": None}]}]},
]


@pytest.mark.parametrize("filter", CASES, ids=[str(c) for c in CASES])
def test_filter_table(corpus_index: OpenSearchSparseIndex, filter: dict[str, Any]) -> None:
    assert _found(corpus_index, filter) == _expected(filter)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(filter=FILTERS)
def test_filter_parity_property(
    corpus_index: OpenSearchSparseIndex, filter: dict[str, Any]
) -> None:
    assert _found(corpus_index, filter) == _expected(filter)
