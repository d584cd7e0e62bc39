"""Read files into passages for indexing: plain text, Markdown and JSON lines.

Text and Markdown files are split into passages (a RAG chain wants answers of a
paragraph or two, not whole files) with LangChain's recursive splitter; JSON lines
records are documents already, kept whole (long ones are windowed by the encoder).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_splade.errors import InvalidInputError

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})


@dataclass(frozen=True)
class Passage:
    """One unit to index: an id, its text and metadata."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def iter_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    """Every supported file under ``paths`` (folders are walked, sorted for stable ids)."""
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InvalidInputError(
                f"Path {str(path)!r} does not exist.",
                expected="existing .txt, .md or .jsonl files, or folders of them",
                fix="check the path (globs are expanded by your shell)",
            )
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES | JSONL_SUFFIXES
            )
            yield from found
        elif path.suffix.lower() in TEXT_SUFFIXES | JSONL_SUFFIXES:
            yield path
        else:
            raise InvalidInputError(
                f"Unsupported file type {path.suffix!r} ({str(path)!r}).",
                expected="one of " + ", ".join(sorted(TEXT_SUFFIXES | JSONL_SUFFIXES)),
                fix="convert the file to text, or pass a folder to pick supported files only",
            )


def load_passages(
    paths: Sequence[str | Path], chunk_size: int = 1200, chunk_overlap: int = 150
) -> Iterator[Passage]:
    """Passages from every supported file under ``paths``.

    Args:
        paths: files or folders.
        chunk_size: characters per passage for text and Markdown files.
        chunk_overlap: characters shared by consecutive passages.
    """
    for path in iter_files(paths):
        if path.suffix.lower() in JSONL_SUFFIXES:
            yield from _jsonl_passages(path)
        else:
            yield from _text_passages(path, chunk_size, chunk_overlap)


def _text_passages(path: Path, chunk_size: int, chunk_overlap: int) -> Iterator[Passage]:
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".md", ".markdown"):
        splitter = RecursiveCharacterTextSplitter.from_language(
            Language.MARKDOWN, chunk_size=chunk_size, chunk_overlap=chunk_overlap
        )
    else:
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap
        )
    for number, chunk in enumerate(splitter.split_text(text)):
        yield Passage(
            id=f"{path.as_posix()}#{number}",
            text=chunk,
            metadata={"source": path.as_posix(), "chunk": number},
        )


def _jsonl_passages(path: Path) -> Iterator[Passage]:
    for line_number, record in read_jsonl(path):
        where = f"{path.as_posix()}:{line_number}"
        if not isinstance(record.get("text"), str):
            raise InvalidInputError(
                f"{where}: no string 'text' field.",
                expected='{"_id": "...", "text": "...", "title": "...", "metadata": {...}}',
                fix="add a 'text' field to every record",
            )
        metadata = record_metadata(record, where)
        title = record.get("title") or ""
        text = f"{title}\n{record['text']}" if title else record["text"]
        doc_id = record.get("_id", record.get("id", where))
        metadata = {**metadata, "source": path.as_posix()}
        if title:
            metadata.setdefault("title", title)
        yield Passage(id=str(doc_id), text=text, metadata=metadata)


def record_metadata(record: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A corpus record's optional ``"metadata"`` object (``{}`` when absent or null)."""
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidInputError(
            f"{where}: 'metadata' is a {type(metadata).__name__}.",
            expected="a JSON object or no 'metadata' key",
            fix='store metadata as an object: "metadata": {"key": "value"}',
        )
    return metadata


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for every non-blank line of a JSON lines file.

    The one reader behind the CLI loaders and :func:`~langchain_splade.evaluation.load_beir`.
    Lines split at ``\\n`` only (JSON leaves U+2028 and friends unescaped inside strings)
    and are decoded as strict UTF-8 (a leading byte-order mark is allowed), so a bad
    byte is reported with its line instead of silently becoming U+FFFD.

    Raises:
        InvalidInputError: the file cannot be read, or a line is not UTF-8, not JSON, or
            not a JSON object; the message names ``path:line``.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot read {str(path)!r} ({exc.strerror or exc}).",
            expected="a readable JSON lines file",
            fix="check the path and its permissions",
        ) from exc
    with handle:
        for line_number, raw in enumerate(handle, start=1):
            where = f"{path.as_posix()}:{line_number}"
            try:
                line = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"{where}: byte {exc.start + 1} is not UTF-8 ({exc.reason}).",
                    expected="a UTF-8 encoded file",
                    fix="re-save the file as UTF-8",
                ) from exc
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(
                    f"{where}: invalid JSON ({exc.msg} at column {exc.colno}).",
                    expected='one JSON object per line, e.g. {"_id": "1", "text": "..."}',
                    fix="repair or remove that line",
                ) from exc
            if not isinstance(record, dict):
                raise InvalidInputError(
                    f"{where}: found a JSON {type(record).__name__}.",
                    expected='one JSON object per line, e.g. {"_id": "1", "text": "..."}',
                    fix="wrap the record in an object with _id and text",
                )
            yield line_number, record
