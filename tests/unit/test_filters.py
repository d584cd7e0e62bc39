"""The shared metadata filter dialect: parsing and reference semantics."""

from __future__ import annotations

import pytest

from langchain_splade import FilterError
from langchain_splade.filters import And, Condition, Or, matches, parse_filter

DOC = {
    "source": "wiki",
    "year": 2021,
    "tags": ["space", "nasa"],
    "author": {"name": "Ada"},
    "ok": True,
}


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"source": "wiki"}, True),
        ({"source": "blog"}, False),
        ({"year": {"$gte": 2021, "$lt": 2022}}, True),
        ({"year": {"$gt": 2021}}, False),
        ({"year": {"$lte": 2021.0}}, True),
        ({"source": {"$in": ["blog", "wiki"]}}, True),
        ({"source": {"$nin": ["blog", "wiki"]}}, False),
        ({"source": {"$ne": "blog"}}, True),
        ({"tags": "nasa"}, True),
        ({"tags": {"$nin": ["nasa"]}}, False),
        ({"tags": {"$ne": "esa"}}, True),
        ({"author.name": "Ada"}, True),
        ({"missing": {"$ne": 1}}, True),
        ({"missing": {"$nin": [1]}}, True),
        ({"missing": 1}, False),
        ({"missing": {"$gt": 1}}, False),
        ({"year": {"$gt": "2000"}}, False),
        ({"ok": True}, True),
        ({"ok": 1}, False),
        ({"$or": [{"source": "blog"}, {"year": 2021}]}, True),
        ({"$and": [{"source": "wiki"}, {"year": 2020}]}, False),
        ({"source": "wiki", "year": 2020}, False),
        ({}, True),
        (None, True),
    ],
)
def test_semantics(filter, expected) -> None:  # type: ignore[no-untyped-def]
    assert matches(parse_filter(filter), DOC) is expected


def test_tree_shape() -> None:
    node = parse_filter({"a": 1, "$or": [{"b": {"$in": [1, 2]}}, {"c": {"$gt": 3}}]})
    assert node == And(
        (Condition("a", "$eq", 1), Or((Condition("b", "$in", (1, 2)), Condition("c", "$gt", 3))))
    )


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ({"year": {"$regex": "x"}}, "Unknown filter operator '\\$regex'"),
        ({"$not": {"a": 1}}, "Unknown filter operator '\\$not'"),
        ({"a": {"$in": "abc"}}, "takes a list"),
        ({"$or": []}, "non-empty list"),
        ({"$and": {"a": 1}}, "non-empty list"),
        ({"a": {"$gt": None}}, "number or a string"),
        ({"a": {"$gt": True}}, "number or a string"),
        ({"a": {}}, "Empty operator"),
        ({"a": [1, 2]}, "must be a string, number"),
        ({"a": float("nan")}, "NaN"),
        ({"a..b": 1}, "Invalid metadata field"),
        ({1: 1}, "keys must be strings"),
        ("source=wiki", "must be a mapping"),
    ],
)
def test_malformed_filters_raise(filter, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FilterError, match=message):
        parse_filter(filter)
