"""`langchain-splade index/search/eval --backend elasticsearch` against the real node."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langchain_splade.cli import main

pytest.importorskip("elasticsearch")


@pytest.fixture
def es_index(elasticsearch_url: str) -> Iterator[tuple[str, Any]]:
    from elasticsearch import Elasticsearch

    client = Elasticsearch(elasticsearch_url)
    name = f"test-es-cli-{uuid.uuid4().hex[:10]}"
    yield name, client
    client.indices.delete(index=name, ignore_unavailable=True)
    client.close()


def test_index_then_search(
    elasticsearch_url: str,
    es_index: tuple[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notes.txt").write_text(
        "Mercury is the planet closest to the Sun.\n\n"
        "Python is a programming language known for readable code."
    )
    backend = ["--backend", "elasticsearch", "--elasticsearch-url", elasticsearch_url]
    backend += ["--index-name", es_index[0]]
    assert main(["index", str(tmp_path / "notes.txt"), *backend]) == 0
    capsys.readouterr()
    assert main(["search", "closest planet", *backend, "-k", "1", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 1 and "Mercury" in results[0]["text"]
    assert results[0]["matched_terms"]


def test_search_of_a_missing_index_fails_without_creating_it(
    elasticsearch_url: str, es_index: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name, client = es_index
    backend = ["--backend", "elasticsearch", "--elasticsearch-url", elasticsearch_url]
    assert main(["search", "planet", *backend, "--index-name", name]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not client.indices.exists(index=name)


def test_eval_runs_on_elasticsearch(
    elasticsearch_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = [
        {"_id": "d1", "title": "Mercury", "text": "Mercury is the planet closest to the Sun."},
        {"_id": "d2", "title": "Python", "text": "Python is a programming language."},
        {"_id": "d3", "title": "Snakes", "text": "The ball python is a snake from Africa."},
    ]
    queries = [{"_id": "q1", "text": "closest planet"}, {"_id": "q2", "text": "snake"}]
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus))
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n"
    )
    backend = ["--backend", "elasticsearch", "--elasticsearch-url", elasticsearch_url]
    assert main(["eval", str(tmp_path), *backend, "--mode", "sparse,hybrid", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["sparse"]["ndcg@10"] == pytest.approx(1.0)
    assert set(results) >= {"sparse", "hybrid"}
