"""The metadata filter dialect shared by every backend.

A filter is a JSON-like mapping, close to MongoDB's and to what LangChain vector
stores accept, so users need not learn a new syntax::

    {"source": "wiki"}                                   # equality
    {"year": {"$gte": 2020, "$lt": 2024}}                # range (both must hold)
    {"lang": {"$in": ["en", "fr"]}, "draft": {"$ne": True}}   # keys are ANDed
    {"$or": [{"source": "wiki"}, {"stars": {"$gt": 4}}]}

Operators: ``$eq $ne $in $nin $gt $gte $lt $lte`` on a field; ``$and $or`` over a
list of filters. A field name with dots reaches into nested metadata
(``"author.name"``). When a metadata value is a list, a positive condition holds if
any element satisfies it (as in OpenSearch and MongoDB) and ``$ne``/``$nin`` hold
if no element matches. A missing field satisfies only ``$ne`` and ``$nin``. Ranges
compare numbers with numbers and strings with strings; other pairs do not match.

:func:`parse_filter` validates once and returns a small tree that each backend
compiles (a mask over documents locally, a ``bool`` query in OpenSearch); an
unknown operator is a :class:`~langchain_splade.errors.FilterError`, never an
empty result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_splade.errors import FilterError

Scalar = str | int | float | bool | None

FIELD_OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"})
RANGE_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})
LOGICAL_OPERATORS = frozenset({"$and", "$or"})
_FIX = "see the filter dialect in langchain_splade.filters (e.g. {'year': {'$gte': 2020}})"


@dataclass(frozen=True)
class Condition:
    """``field <op> value``; ``value`` is a tuple for ``$in``/``$nin``."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class And:
    children: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[FilterNode, ...]


FilterNode = Condition | And | Or


def parse_filter(filter: Mapping[str, Any] | None) -> FilterNode | None:
    """Validate ``filter`` and return its tree (``None`` or ``{}`` means no filter)."""
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise FilterError(f"A filter must be a mapping, got {type(filter).__name__}.", fix=_FIX)
    if not filter:
        return None
    return _parse_mapping(filter)


def _parse_mapping(filter: Mapping[str, Any]) -> FilterNode:
    if not isinstance(filter, Mapping) or not filter:
        raise FilterError(f"Expected a non-empty filter mapping, found {filter!r}.", fix=_FIX)
    nodes: list[FilterNode] = []
    for key, value in filter.items():
        if not isinstance(key, str):
            raise FilterError(f"Filter keys must be strings, found {key!r}.", fix=_FIX)
        if key.startswith("$"):
            nodes.append(_parse_logical(key, value))
        else:
            nodes.extend(_parse_field(key, value))
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _parse_logical(op: str, value: Any) -> FilterNode:
    if op not in LOGICAL_OPERATORS:
        raise FilterError(
            f"Unknown filter operator {op!r} at the top level.",
            expected=f"one of {sorted(LOGICAL_OPERATORS)} or a metadata field name",
            fix=_FIX,
        )
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise FilterError(f"{op} takes a non-empty list of filters, found {value!r}.", fix=_FIX)
    children = tuple(_parse_mapping(child) for child in value)
    return And(children) if op == "$and" else Or(children)


def _parse_field(field: str, value: Any) -> list[FilterNode]:
    if not field or field.startswith(".") or field.endswith(".") or ".." in field:
        raise FilterError(f"Invalid metadata field name {field!r}.", fix=_FIX)
    if not isinstance(value, Mapping):
        return [Condition(field, "$eq", _scalar(field, "$eq", value))]
    if not value:
        raise FilterError(f"Empty operator mapping for field {field!r}.", fix=_FIX)
    conditions: list[FilterNode] = []
    for op, operand in value.items():
        if op not in FIELD_OPERATORS:
            raise FilterError(
                f"Unknown filter operator {op!r} on field {field!r}.",
                expected=f"one of {sorted(FIELD_OPERATORS)}",
                fix=_FIX,
            )
        if op in ("$in", "$nin"):
            if isinstance(operand, (str, bytes, Mapping)) or not isinstance(operand, Sequence):
                raise FilterError(
                    f"{op} on field {field!r} takes a list, found {operand!r}.", fix=_FIX
                )
            conditions.append(Condition(field, op, tuple(_scalar(field, op, v) for v in operand)))
        elif op in RANGE_OPERATORS:
            operand = _scalar(field, op, operand)
            if operand is None or isinstance(operand, bool):
                raise FilterError(
                    f"{op} on field {field!r} needs a number or a string, found {operand!r}.",
                    fix=_FIX,
                )
            conditions.append(Condition(field, op, operand))
        else:
            conditions.append(Condition(field, op, _scalar(field, op, operand)))
    return conditions


def _scalar(field: str, op: str, value: Any) -> Scalar:
    if value is None or isinstance(value, (str, int, float, bool)):
        if isinstance(value, float) and value != value:
            raise FilterError(f"NaN is not a valid filter value ({field!r} {op}).", fix=_FIX)
        return value
    raise FilterError(
        f"Filter value for {field!r} {op} must be a string, number, bool or None, "
        f"found {type(value).__name__}.",
        fix=_FIX,
    )


# -- evaluation on one metadata mapping (the reference semantics) --------------------

_MISSING = object()


def lookup(metadata: Mapping[str, Any], field: str) -> Any:
    """The value at a dotted ``field`` path, or a sentinel when absent."""
    current: Any = metadata
    for part in field.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _equal(a: Any, b: Any) -> bool:
    # bool is an int in Python; keep True != 1 as OpenSearch does.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _compare(a: Any, op: str, b: Any) -> bool:
    numeric = (int, float)
    comparable = (isinstance(a, numeric) and isinstance(b, numeric)) or (
        isinstance(a, str) and isinstance(b, str)
    )
    if isinstance(a, bool) or not comparable:
        return False
    left: Any = a
    right: Any = b
    if op == "$gt":
        return bool(left > right)
    if op == "$gte":
        return bool(left >= right)
    if op == "$lt":
        return bool(left < right)
    return bool(left <= right)


def _condition_holds(value: Any, cond: Condition) -> bool:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if cond.op == "$eq":
        return any(_equal(v, cond.value) for v in values)
    if cond.op == "$ne":
        return not any(_equal(v, cond.value) for v in values)
    if cond.op == "$in":
        return any(_equal(v, c) for v in values for c in cond.value)
    if cond.op == "$nin":
        return not any(_equal(v, c) for v in values for c in cond.value)
    return any(_compare(v, cond.op, cond.value) for v in values)


def matches(node: FilterNode | None, metadata: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` satisfies the parsed filter (``None`` matches everything)."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(matches(child, metadata) for child in node.children)
    if isinstance(node, Or):
        return any(matches(child, metadata) for child in node.children)
    value = lookup(metadata, node.field)
    if value is _MISSING:
        return node.op in ("$ne", "$nin")
    return _condition_holds(value, node)
