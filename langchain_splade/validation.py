"""Argument checks shared by every backend and retriever, so they fail alike.

Each check raises an error from :mod:`langchain_splade.errors` that says what was
found, what was expected and how to fix it. The rule for every argument is one:

- a value of the wrong *type* is an ``InvalidTypeError`` (an id that is not a str,
  a vector that is not a ``SparseVector``, ``k=2.5``);
- a value of the right type that is not acceptable is an ``InvalidInputError``
  (an empty id, ``k=0``, four vectors for three ids, metadata holding ``NaN``).

Backends call these before anything is sent or stored, so a bad batch stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.filters import FilterNode, parse_filter
from langchain_splade.types import SparseVector


def check_k(value: Any, name: str = "k", fix: str | None = None) -> int:
    """A count (results, segments, rows): an int (numpy ints accepted, bools not) of at
    least 1; ``fix`` says what to pass instead (default: ``{name}=10``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidTypeError(
            f"{name} must be an int, got {value!r} ({type(value).__name__}).",
            fix=fix or f"pass {name}=10 (any integer >= 1)",
        )
    if value < 1:
        raise InvalidInputError(
            f"{name} is {value}.", expected=f"{name} >= 1", fix=fix or f"pass {name}=10"
        )
    return int(value)


def _as_list(value: Any, name: str) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidTypeError(
            f"{name} is a {type(value).__name__}.",
            expected=f"a list of {name}",
            fix=f"pass {name} as a list, e.g. {name}=[...]",
        )
    return list(value)


def check_ids(ids: Any) -> list[str]:
    """Document ids: a list (not a single str) of non-empty strings.

    A non-string id is an ``InvalidTypeError``; an empty string an ``InvalidInputError``.
    Repeats are allowed (in a write, the last occurrence wins).
    """
    id_list = _as_list(ids, "ids")
    for position, doc_id in enumerate(id_list):
        if not isinstance(doc_id, str):
            raise InvalidTypeError(
                f"ids[{position}] is a {type(doc_id).__name__} ({doc_id!r}).",
                expected="str ids",
                fix="convert ids with str() before adding, getting or deleting",
            )
        if not doc_id:
            raise InvalidInputError(
                f"ids[{position}] is the empty string.",
                expected="non-empty str ids",
                fix="give every document a non-empty id (e.g. its source path or a uuid)",
            )
    return id_list


def _check_length(items: list[Any], name: str, n: int) -> list[Any]:
    if len(items) != n:
        raise InvalidInputError(
            f"Got {n} ids but {len(items)} {name}.",
            expected=f"one entry of {name} per id",
            fix=f"pass {name} of the same length as ids",
        )
    return items


def check_vectors(vectors: Any, n: int) -> list[SparseVector]:
    """One ``SparseVector`` per id."""
    vector_list = _check_length(_as_list(vectors, "vectors"), "vectors", n)
    for position, vector in enumerate(vector_list):
        if not isinstance(vector, SparseVector):
            raise InvalidTypeError(
                f"vectors[{position}] is a {type(vector).__name__}.",
                expected="SparseVector instances",
                fix="build vectors with SparseVector(indices, values) or "
                "encoder.embed_documents(texts)",
            )
    return vector_list


def check_texts(texts: Any, n: int) -> list[str | None]:
    """One text (or ``None``) per id; ``None`` for all when ``texts`` is ``None``."""
    if texts is None:
        return [None] * n
    text_list = _check_length(_as_list(texts, "texts"), "texts", n)
    for position, text in enumerate(text_list):
        if text is not None and not isinstance(text, str):
            raise InvalidTypeError(
                f"texts[{position}] is a {type(text).__name__}.",
                expected="str or None",
                fix="convert texts with str() or pass None",
            )
    return text_list


def check_metadata(metadata: Any, doc_id: str) -> dict[str, Any]:
    """One document's metadata as plain JSON values (a copy); ``None`` gives ``{}``."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidTypeError(
            f"The metadata of {doc_id!r} is a {type(metadata).__name__}.",
            expected="a mapping (dict) or None",
            fix="pass a dict of JSON-serialisable values",
        )
    try:
        plain = json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"The metadata of {doc_id!r} is not JSON-serialisable ({exc}).",
            expected="str keys and str/finite number/bool/None/list/dict values",
            fix="convert values (e.g. dates to ISO strings) before adding",
        ) from exc
    return plain


def check_metadatas(metadatas: Any, ids: Sequence[str]) -> list[dict[str, Any]]:
    """One metadata mapping (or ``None``) per id, checked by :func:`check_metadata`."""
    if metadatas is None:
        return [{} for _ in ids]
    items = _check_length(_as_list(metadatas, "metadatas"), "metadatas", len(ids))
    return [check_metadata(metadata, doc_id) for doc_id, metadata in zip(ids, items)]


def check_batch(
    ids: Any, vectors: Any, texts: Any = None, metadatas: Any = None
) -> tuple[list[str], list[SparseVector], list[str | None], list[dict[str, Any]]]:
    """Everything ``add`` receives, checked together before anything is stored."""
    id_list = check_ids(ids)
    n = len(id_list)
    return (
        id_list,
        check_vectors(vectors, n),
        check_texts(texts, n),
        check_metadatas(metadatas, id_list),
    )


def check_query(query: Any) -> SparseVector:
    """A search query: an encoded ``SparseVector``."""
    if not isinstance(query, SparseVector):
        raise InvalidTypeError(
            f"The query is a {type(query).__name__}.",
            expected="a SparseVector",
            fix="encode the query first: encoder.embed_query(text)",
        )
    return query


def check_query_text(text: Any, name: str = "query_text") -> str:
    """A text query (BM25, retrievers): a str."""
    if not isinstance(text, str):
        raise InvalidTypeError(
            f"{name} is a {type(text).__name__} ({text!r}).",
            expected="a str",
            fix="pass the query text as a string",
        )
    return text


def check_filter(filter: Any) -> FilterNode | None:
    """A metadata filter parsed once (``FilterError`` on a bad one), ``None`` for none."""
    return parse_filter(filter)


def check_search(query: Any, k: Any, filter: Any) -> tuple[SparseVector, int, FilterNode | None]:
    """The arguments of ``search``, in the order every backend checks them."""
    return check_query(query), check_k(k), check_filter(filter)
