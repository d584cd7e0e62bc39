"""Input records of a distributed indexing job: checked and normalised per batch.

A record is ``{"id" (or "_id"), "text", optional "title", optional "metadata"}``, as
the JSON lines corpora of the CLI hold them. Every batch is normalised to three string
columns (``id``, ``text``, ``metadata`` as JSON) so blocks from any Ray source have
one Arrow schema: free-form metadata objects would otherwise be inferred as structs
whose fields differ from block to block. Pure pyarrow: no Ray needed here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.validation import check_k

ID_COLUMNS = ("id", "_id")

ROWS_PER_WRITE = 10_000
"""Encoded rows a sink's write task receives at least (Ray bundles blocks up to it):
every write task runs in a worker process that imports the package and the backend
client, 2-3 s of CPU; left to Ray, a 2-actor job of 2,000 documents started 8 of
them, on the cores the encoders needed."""


def check_rows_per_write(value: Any) -> int:
    """A sink's ``rows_per_write``: a positive int."""
    return check_k(
        value,
        "rows_per_write",
        fix=f"leave it out (default {ROWS_PER_WRITE:,}) or pass a smaller count",
    )


RECORD_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("metadata", pa.string())])


def prepare_records(batch: pa.Table) -> pa.Table:
    """``batch`` as ``id``, ``text`` (title first, as the CLI loader does) and
    ``metadata`` (a JSON object, ``"{}"`` when absent).

    Raises:
        InvalidInputError: a record without an id or a string text, or a metadata value
            that is not an object.
        InvalidTypeError: a non-string id.
    """
    n = batch.num_rows
    id_name = next((name for name in ID_COLUMNS if name in batch.column_names), None)
    if id_name is None:
        raise InvalidInputError(
            f"The records have no id field (columns: {batch.column_names}).",
            expected="an 'id' (or '_id') string field in every record",
            fix="add a unique string id to every record",
        )
    if "text" not in batch.column_names:
        raise InvalidInputError(
            f"The records have no 'text' field (columns: {batch.column_names}).",
            expected="a 'text' string field in every record",
            fix="add the document text as 'text'",
        )
    ids = batch.column(id_name).to_pylist()
    texts = batch.column("text").to_pylist()
    titles = _column(batch, "title", n)
    metadatas = _column(batch, "metadata", n)
    out_texts: list[str] = []
    out_meta: list[str] = []
    for doc_id, text, title, metadata in zip(ids, texts, titles, metadatas):
        _check_id(doc_id)
        if not isinstance(text, str):
            raise InvalidInputError(
                f"Record {doc_id!r} has text {text!r}.",
                expected="a string 'text' in every record",
                fix="drop or repair that record",
            )
        meta = _metadata(doc_id, metadata)
        if title:
            text = f"{title}\n{text}"
            meta.setdefault("title", title)
        out_texts.append(text)
        out_meta.append(json.dumps(meta, ensure_ascii=False))
    return pa.Table.from_arrays(
        [pa.array(ids, pa.string()), pa.array(out_texts, pa.string()), pa.array(out_meta)],
        schema=RECORD_SCHEMA,
    )


def record_ids(batch: pa.Table) -> pa.Table:
    """The validation pass's map: the checked ``id`` column, or one row whose ``error``
    describes the first bad record.

    The error travels as data because Ray wraps an exception raised in a task and drops
    its cause: the driver re-raises it, typed, with :func:`check_unique`.
    """
    try:
        ids = prepare_records(batch).column("id")
    except (InvalidInputError, InvalidTypeError) as exc:
        described = {"type": type(exc).__name__, "found": exc.found}
        described |= {"expected": exc.expected, "fix": exc.fix}
        return pa.table({"id": pa.array([None], pa.string()), "error": [json.dumps(described)]})
    return pa.table({"id": ids, "error": pa.nulls(len(ids), pa.string())})


def check_unique(batches: Iterable[pa.Table]) -> int:
    """The number of ids in :func:`record_ids` batches; raises the first bad record's
    error, or ``InvalidInputError`` naming a repeated id.

    Within one job a repeat is a mistake (two records would race for one ``_id``), and
    it would make "every id exactly once" uncheckable, so it is refused before writing.
    """
    seen: set[str] = set()
    for batch in batches:
        for error in batch.column("error").drop_null().to_pylist():
            described = json.loads(error)
            kind = InvalidTypeError if described.pop("type") == "InvalidTypeError" else None
            raise (kind or InvalidInputError)(**described)
        for doc_id in batch.column("id").to_pylist():
            if doc_id in seen:
                raise InvalidInputError(
                    f"The id {doc_id!r} occurs more than once in the input.",
                    expected="unique ids within one indexing job",
                    fix="deduplicate the records (or give each a distinct id) before indexing",
                )
            seen.add(doc_id)
    return len(seen)


def _column(batch: pa.Table, name: str, n: int) -> list[Any]:
    return batch.column(name).to_pylist() if name in batch.column_names else [None] * n


def _check_id(doc_id: Any) -> None:
    if doc_id is None or doc_id == "":
        raise InvalidInputError(
            "A record has no id.",
            expected="a non-empty string 'id' (or '_id') in every record",
            fix="give every record a unique string id",
        )
    if not isinstance(doc_id, str):
        raise InvalidTypeError(
            f"A record has the id {doc_id!r}, a {type(doc_id).__name__}.",
            expected="string ids",
            fix="convert ids to strings before indexing (e.g. str(id))",
        )


def _metadata(doc_id: str, metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata else {}
    if not isinstance(metadata, dict):
        raise InvalidInputError(
            f"Record {doc_id!r} has metadata of type {type(metadata).__name__}.",
            expected="a JSON object, a JSON string of one, or no metadata",
            fix='store metadata as an object: {"key": "value"}',
        )
    return {key: value for key, value in metadata.items() if value is not None}
