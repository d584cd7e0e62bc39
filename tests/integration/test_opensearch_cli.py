"""`langchain-splade index/search --backend opensearch` against the real node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_splade.cli import main


def test_index_then_search_with_the_opensearch_backend(
    opensearch_url: str, index_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text(
        "Mercury is the planet closest to the Sun.\n\n"
        "Python is a programming language known for readable code."
    )
    backend = [
        "--backend",
        "opensearch",
        "--opensearch-url",
        opensearch_url,
        "--index-name",
        index_name,
    ]
    assert main(["index", str(tmp_path / "notes.txt"), *backend]) == 0
    capsys.readouterr()
    assert main(["search", "closest planet", *backend, "-k", "1", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 1 and "Mercury" in json.dumps(results)


def test_search_of_a_missing_index_fails_without_creating_it(
    opensearch_url: str, index_name: str, os_client: object, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = ["--backend", "opensearch", "--opensearch-url", opensearch_url]
    assert main(["search", "planet", *backend, "--index-name", index_name]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not os_client.indices.exists(index=index_name)  # type: ignore[attr-defined]
