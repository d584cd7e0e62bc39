"""The one JSON lines reader shared by the CLI loaders and the BEIR loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_splade.demo import sample_dataset, sample_documents
from langchain_splade.errors import InvalidInputError
from langchain_splade.evaluation import load_beir
from langchain_splade.loaders import load_passages, read_jsonl


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_records_keep_their_line_numbers_and_odd_characters(tmp_path: Path) -> None:
    # U+2028 and U+0085 are line breaks to str.splitlines() but legal inside JSON strings.
    records = [{"_id": "a", "text": "one\u2028two\x85three"}, {"_id": "b", "text": "café"}]
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    path = _write(tmp_path / "c.jsonl", ("\ufeff" + body.replace("\n", "\n\n  \r\n")).encode())
    assert list(read_jsonl(path)) == [(1, records[0]), (4, records[1])]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n', r"c\.jsonl:2: invalid JSON"),
        (b'{"_id": "a"}\n\n["a list"]\n', r"c\.jsonl:3: found a JSON list"),
        (b'{"_id": "a", "text": "caf\xe9"}\n', r"c\.jsonl:1: byte 26 is not UTF-8"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, data: bytes, message: str) -> None:
    path = _write(tmp_path / "c.jsonl", data)
    with pytest.raises(InvalidInputError, match=message) as info:
        list(read_jsonl(path))
    assert "Fix:" in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="Cannot read"):
        list(read_jsonl(tmp_path / "absent.jsonl"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            b'{"_id": "d2" "text": "no comma"}',
            "invalid JSON (Expecting ',' delimiter at column 14)",
        ),
        (b'{"_id": "d2", "text": "t", "metadata": [1]}', "'metadata' is a list"),
    ],
)
def test_cli_loader_and_beir_report_the_same_bad_line(
    tmp_path: Path, line: bytes, message: str
) -> None:
    _write(tmp_path / "corpus.jsonl", b'{"_id": "d1", "text": "fine"}\n' + line + b"\n")
    _write(tmp_path / "queries.jsonl", b'{"_id": "q1", "text": "q"}\n')
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    messages = []
    for load in (
        lambda: list(load_passages([tmp_path / "corpus.jsonl"])),
        lambda: load_beir(tmp_path),
    ):
        with pytest.raises(InvalidInputError) as info:
            load()
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert f"corpus.jsonl:2: {message}" in messages[0]


def test_cli_loader_requires_a_text_field(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", b'{"_id": "a", "text": "x"}\n{"_id": "b"}\n')
    with pytest.raises(InvalidInputError, match=r"c\.jsonl:2: no string 'text' field"):
        list(load_passages([path]))


def test_bundled_sample_reads_as_a_consistent_beir_dataset() -> None:
    dataset = sample_dataset()
    assert len(dataset.corpus) == 102 and len(dataset.queries) == 44
    assert [d.id for d in sample_documents()] == dataset.doc_ids
    judged = {doc for judgments in dataset.qrels.values() for doc in judgments}
    assert judged <= set(dataset.corpus) and set(dataset.queries) == set(dataset.qrels)
