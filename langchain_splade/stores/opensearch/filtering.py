"""Compile the shared filter dialect into an OpenSearch ``bool`` query.

The reference semantics are :func:`langchain_splade.filters.matches`; this compiler
reproduces them with the mapping's knowledge of each field's kind:

- a list value matches a positive condition if any element does: OpenSearch indexes
  arrays as multi-valued fields, so ``term``/``range`` already behave that way, and
  ``must_not`` gives "no element matches" for ``$ne``/``$nin``;
- a missing field satisfies only ``$ne``/``$nin``: ``must_not`` matches documents
  without the field;
- a value of another kind than the field (``"3"`` on a number field, ``1`` on a
  boolean) never equals anything - sending it would be a 400 - so it compiles to
  ``match_none`` (and its negation to everything);
- ``None`` lives in ``null_fields`` (see :mod:`.mapping`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_splade.filters import And, Condition, FilterNode, Or
from langchain_splade.stores.opensearch.mapping import (
    BOOLEAN,
    KEYWORD,
    METADATA_FIELD,
    NULLS_FIELD,
    NUMBER,
)

MATCH_NONE: dict[str, Any] = {"match_none": {}}
MATCH_ALL: dict[str, Any] = {"match_all": {}}


def _none() -> dict[str, Any]:
    return {"match_none": {}}


_RANGE = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def compile_filter(node: FilterNode, kinds: Mapping[str, str]) -> dict[str, Any]:
    """One query clause equivalent to ``node``; ``kinds`` maps metadata paths to kinds."""
    if isinstance(node, And):
        return {"bool": {"filter": [compile_filter(c, kinds) for c in node.children]}}
    if isinstance(node, Or):
        return {
            "bool": {
                "should": [compile_filter(c, kinds) for c in node.children],
                "minimum_should_match": 1,
            }
        }
    return _condition(node, kinds.get(node.field))


def fields_of(node: FilterNode) -> set[str]:
    """The metadata paths a filter mentions (to know whether the mapping is current)."""
    if isinstance(node, (And, Or)):
        return set().union(*(fields_of(c) for c in node.children))
    return {node.field}


def count_clauses(query: Any) -> int:
    """Leaf clauses in a query (Lucene's clause limit counts them across the tree)."""
    if isinstance(query, Mapping):
        if "bool" in query and isinstance(query["bool"], Mapping):
            return sum(
                count_clauses(c)
                for key in ("must", "should", "filter", "must_not")
                for c in query["bool"].get(key, [])
            )
        if "terms" in query:
            return max(1, sum(len(v) for v in query["terms"].values() if isinstance(v, list)))
        return 1
    return 0


def _kind_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return KEYWORD
    return None


def _equals(field: str, kind: str | None, value: Any) -> dict[str, Any]:
    if value is None:
        return {"term": {NULLS_FIELD: field}}
    if kind is None or _kind_of(value) != kind:
        return _none()
    return {"term": {f"{METADATA_FIELD}.{field}": value}}


def _any_of(field: str, kind: str | None, values: tuple[Any, ...]) -> dict[str, Any]:
    clauses = [c for c in (_equals(field, kind, v) for v in values) if c != MATCH_NONE]
    if not clauses:
        return _none()
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _negate(clause: dict[str, Any]) -> dict[str, Any]:
    if clause == MATCH_NONE:
        return {"match_all": {}}
    return {"bool": {"must_not": [clause]}}


def _condition(cond: Condition, kind: str | None) -> dict[str, Any]:
    if cond.op == "$eq":
        return _equals(cond.field, kind, cond.value)
    if cond.op == "$ne":
        return _negate(_equals(cond.field, kind, cond.value))
    if cond.op == "$in":
        return _any_of(cond.field, kind, cond.value)
    if cond.op == "$nin":
        return _negate(_any_of(cond.field, kind, cond.value))
    # A range compares numbers with numbers and strings with strings, never booleans.
    value_kind = _kind_of(cond.value)
    if kind is None or value_kind != kind or kind not in (NUMBER, KEYWORD):
        return _none()
    return {"range": {f"{METADATA_FIELD}.{cond.field}": {_RANGE[cond.op]: cond.value}}}
