"""Read files into passages for indexing: plain text, Markdown and JSON lines.

Text and Markdown files are split into passages (a RAG chain wants answers of a
paragraph or two, not whole files) with LangChain's recursive splitter; JSON lines
records are documents already, kept whole (long ones are windowed by the encoder).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
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
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.as_posix()}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(
                    f"Line {where} is not valid JSON ({exc.msg}).",
                    expected='one JSON object per line, e.g. {"_id": "1", "text": "..."}',
                    fix="fix or remove that line",
                ) from exc
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise InvalidInputError(
                    f"Line {where} has no string 'text' field.",
                    expected='{"_id": "...", "text": "...", "title": "...", "metadata": {...}}',
                    fix="add a 'text' field to every record",
                )
            metadata = record.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise InvalidInputError(
                    f"Line {where}: 'metadata' is a {type(metadata).__name__}, not an object.",
                    fix='use "metadata": {"key": "value"}',
                )
            title = record.get("title") or ""
            text = f"{title}\n{record['text']}" if title else record["text"]
            doc_id = record.get("_id", record.get("id", where))
            metadata = {**metadata, "source": path.as_posix()}
            if title:
                metadata.setdefault("title", title)
            yield Passage(id=str(doc_id), text=text, metadata=metadata)
