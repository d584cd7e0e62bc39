"""Load BEIR-format evaluation folders.

A BEIR folder (Thakur et al., 2021, "BEIR: A Heterogeneous Benchmark for Zero-shot
Evaluation of Information Retrieval Models") holds::

    corpus.jsonl        {"_id": ..., "title": ..., "text": ..., "metadata": {...}}
    queries.jsonl       {"_id": ..., "text": ...}
    qrels/<split>.tsv   query-id <TAB> corpus-id <TAB> score   (header optional)

Scores are graded relevance; ``0`` means judged *not* relevant. As BEIR's
``GenericDataLoader`` does, only queries that have judgments in the split are kept,
and a document's searchable text is ``(title + " " + text).strip()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_splade.errors import InvalidInputError
from langchain_splade.loaders import read_jsonl, record_metadata

Qrels = dict[str, dict[str, int]]
"""``{query_id: {doc_id: relevance}}``; relevance >= 1 is relevant, <= 0 is not."""

_LAYOUT = "a BEIR folder with corpus.jsonl, queries.jsonl and qrels/<split>.tsv"


@dataclass(frozen=True)
class BeirDocument:
    """One corpus entry."""

    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def contents(self) -> str:
        """Title and text joined as BEIR's retrieval models do: ``(title + " " + text).strip()``."""
        return f"{self.title} {self.text}".strip() if self.title else self.text.strip()


@dataclass(frozen=True)
class BeirDataset:
    """A loaded BEIR split: corpus, the queries judged in the split, and their qrels."""

    name: str
    split: str
    corpus: dict[str, BeirDocument]
    queries: dict[str, str]
    qrels: Qrels

    @property
    def doc_ids(self) -> list[str]:
        """Corpus ids in file order."""
        return list(self.corpus)

    @property
    def doc_texts(self) -> list[str]:
        """Searchable texts (title + text), aligned with :attr:`doc_ids`."""
        return [doc.contents for doc in self.corpus.values()]

    def __repr__(self) -> str:
        return (
            f"BeirDataset(name={self.name!r}, split={self.split!r}, docs={len(self.corpus)}, "
            f"queries={len(self.queries)}, judgments={sum(map(len, self.qrels.values()))})"
        )


def load_beir(path: str | Path, split: str = "test") -> BeirDataset:
    """Load the BEIR folder at ``path`` for ``split`` (``qrels/<split>.tsv``).

    Raises:
        InvalidInputError: a file is missing, or a line is malformed (the message names
            the file and line), or the qrels judge a query absent from queries.jsonl.
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(
            f"Dataset folder {str(root)!r} does not exist or is not a directory.",
            expected=_LAYOUT,
            fix="pass the path of an unpacked BEIR dataset folder",
        )
    corpus_path = _require(root / "corpus.jsonl")
    queries_path = _require(root / "queries.jsonl")
    qrels_path = _require(root / "qrels" / f"{split}.tsv")

    qrels = load_qrels(qrels_path)
    corpus: dict[str, BeirDocument] = {}
    for lineno, record in read_jsonl(corpus_path):
        doc_id = _field(record, "_id", corpus_path, lineno)
        if doc_id in corpus:
            raise InvalidInputError(
                f"{corpus_path}:{lineno}: document id {doc_id!r} appears twice.",
                expected="unique _id values",
                fix="remove or rename the duplicate document",
            )
        corpus[doc_id] = BeirDocument(
            id=doc_id,
            text=_field(record, "text", corpus_path, lineno, allow_empty=True),
            title=_optional_str(record, "title", corpus_path, lineno),
            metadata=record_metadata(record, f"{corpus_path}:{lineno}"),
        )

    all_queries: dict[str, str] = {}
    for lineno, record in read_jsonl(queries_path):
        query_id = _field(record, "_id", queries_path, lineno)
        all_queries[query_id] = _field(record, "text", queries_path, lineno, allow_empty=True)

    unknown = [qid for qid in qrels if qid not in all_queries]
    if unknown:
        raise InvalidInputError(
            f"{qrels_path} judges {len(unknown)} queries absent from {queries_path.name} "
            f"(e.g. {unknown[:3]!r}).",
            expected="every query id of the qrels in queries.jsonl",
            fix="add the missing queries or drop their judgments",
        )
    queries = {qid: text for qid, text in all_queries.items() if qid in qrels}
    return BeirDataset(name=root.name, split=split, corpus=corpus, queries=queries, qrels=qrels)


def load_qrels(path: str | Path) -> Qrels:
    """Read a BEIR qrels TSV (``query-id corpus-id score``), with or without a header.

    Raises:
        InvalidInputError: a line does not have three tab-separated columns, a score is
            not an integer, or a (query, document) pair is judged twice.
    """
    qrels_path = _require(Path(path))
    qrels: Qrels = {}
    with qrels_path.open(encoding="utf-8") as handle:
        first = True
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) != 3:
                raise InvalidInputError(
                    f"{qrels_path}:{lineno}: found {len(columns)} tab-separated columns "
                    f"in {line[:80]!r}.",
                    expected="query-id<TAB>corpus-id<TAB>score",
                    fix="write one judgment per line with tabs between the three columns",
                )
            query_id, doc_id, score_text = (c.strip() for c in columns)
            score = _parse_score(score_text)
            if score is None:
                if first:  # a header line such as "query-id corpus-id score"
                    first = False
                    continue
                raise InvalidInputError(
                    f"{qrels_path}:{lineno}: relevance {score_text!r} is not an integer.",
                    expected="an integer grade (0 = not relevant, >= 1 relevant)",
                    fix="fix the score column",
                )
            first = False
            judged = qrels.setdefault(query_id, {})
            if doc_id in judged:
                raise InvalidInputError(
                    f"{qrels_path}:{lineno}: ({query_id!r}, {doc_id!r}) is judged twice.",
                    expected="one judgment per query and document",
                    fix="remove the duplicate line",
                )
            judged[doc_id] = score
    return qrels


def _parse_score(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _require(path: Path) -> Path:
    if not path.is_file():
        raise InvalidInputError(
            f"Missing file {str(path)!r}.",
            expected=_LAYOUT,
            fix="check the dataset path and split name (qrels/<split>.tsv)",
        )
    return path


def _field(
    record: Mapping[str, Any], key: str, path: Path, lineno: int, *, allow_empty: bool = False
) -> str:
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and key == "_id":
        value = str(value)  # numeric ids are common in MS MARCO-derived files
    if not isinstance(value, str) or (not allow_empty and not value):
        raise InvalidInputError(
            f"{path}:{lineno}: field {key!r} is {value!r}.",
            expected=f"a {'string' if allow_empty else 'non-empty string'} {key!r}",
            fix=f"add {key!r} to every record",
        )
    return value


def _optional_str(record: Mapping[str, Any], key: str, path: Path, lineno: int) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{path}:{lineno}: field {key!r} is a {type(value).__name__}.",
            expected=f"a string {key!r} or none",
            fix=f"store {key!r} as a string",
        )
    return value
