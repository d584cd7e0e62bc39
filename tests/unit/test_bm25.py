"""The mutable bm25s-backed BM25 index: scoring, updates, exact filtered top-k, disk format."""

from __future__ import annotations

import json
import random
from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer

from langchain_splade.bm25 import BM25Index
from langchain_splade.errors import CorruptIndexError, IncompatibleIndexError, InvalidInputError

DOCS = {
    "a": "The cat sat on the mat.",
    "b": "Dogs run in the park; a dog runs fast.",
    "c": "Running shoes for dogs and cats",
    "d": "Completely unrelated text about finance.",
}


@pytest.fixture
def index() -> BM25Index:
    return BM25Index.from_texts(list(DOCS), list(DOCS.values()))


def _random_corpus(seed: int, n: int = 300) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(40)]
    ids = [f"doc{i:04d}" for i in range(n)]
    return ids, [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in ids]


def test_scores_match_bm25s(index: BM25Index) -> None:
    stemmer = Stemmer.Stemmer("english")
    reference = bm25s.BM25(k1=0.9, b=0.4)
    reference.index(
        bm25s.tokenize(list(DOCS.values()), stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    query = bm25s.tokenize(["running dog"], stemmer=stemmer, return_ids=False, show_progress=False)
    # bm25s also returns non-matching documents with score 0; two documents match here.
    docs, scores = reference.retrieve(query, k=2, show_progress=False)
    ids, ours = index.search("running dog", k=3)
    assert ids == [list(DOCS)[i] for i in docs[0]]
    assert ours == pytest.approx(scores[0].tolist(), rel=1e-6)
    assert ids[0] == "b"  # stemming: "running"/"runs" -> "run", "dogs" -> "dog"


def test_only_matching_documents_are_returned(index: BM25Index) -> None:
    ids, scores = index.search("cat", k=10)
    assert set(ids) == {"a", "c"}
    assert all(s > 0 for s in scores)


@pytest.mark.parametrize("query", ["", "the and of", "zzzunknownzzz", "!!"])
def test_query_without_known_terms_is_empty(index: BM25Index, query: str) -> None:
    assert index.search(query) == ([], [])


def test_empty_index() -> None:
    index = BM25Index()
    assert len(index) == 0
    assert index.search("cat") == ([], [])
    assert index.search("cat", allowed=np.zeros(0, dtype=bool)) == ([], [])


def test_ties_are_ordered_by_id() -> None:
    index = BM25Index.from_texts(["z", "m", "a"], ["same words", "same words", "same words"])
    ids, scores = index.search("words", k=2)
    assert ids == ["a", "m"]
    assert scores[0] == scores[1]


def test_add_upserts_and_rebuilds_lazily(index: BM25Index) -> None:
    index.add(["e"], ["a parrot talks"])
    assert index.search("parrot")[0] == ["e"]
    index.add(["a"], ["now about parrots"])  # replace keeps the position
    assert index.ids == ["a", "b", "c", "d", "e"]
    assert index.get_text("a") == "now about parrots"
    assert index.search("parrot")[0] == ["a", "e"] or index.search("parrot")[0] == ["e", "a"]
    assert "cat" not in index.tokenize(index.get_text("a") or "")
    assert index.search("mat") == ([], [])


def test_delete(index: BM25Index) -> None:
    assert index.delete(["a", "nope", "a"]) == 1
    assert "a" not in index and len(index) == 3
    assert index.search("cat")[0] == ["c"]
    assert index.delete([]) == 0


@pytest.mark.parametrize("seed", range(3))
def test_filtered_top_k_is_exact(seed: int) -> None:
    ids, texts = _random_corpus(seed)
    index = BM25Index.from_texts(ids, texts)
    rng = random.Random(seed)
    allowed = set(rng.sample(ids, 40))
    mask = np.array([i in allowed for i in index.ids])
    for query in ["w1 w2", "w3", "w5 w5 w7 w30"]:
        full_ids, full_scores = index.search(query, k=len(ids))
        expected = [(i, s) for i, s in zip(full_ids, full_scores) if i in allowed][:7]
        by_ids = index.search(query, k=7, allowed=allowed)
        by_mask = index.search(query, k=7, allowed=mask)
        assert by_ids == by_mask
        assert list(zip(*by_ids)) == expected
        # Full ranking: score descending, then id ascending.
        keys = [(-s, i) for i, s in zip(full_ids, full_scores)]
        assert keys == sorted(keys)


def test_allowed_nothing(index: BM25Index) -> None:
    assert index.search("cat", allowed=[]) == ([], [])
    assert index.search("cat", allowed=["unknown"]) == ([], [])


def test_save_and_load(tmp_path: Path, index: BM25Index) -> None:
    index.add(["e"], ["émigré café,\u2028naïve\x85 line\rbreaks"])
    index.delete(["d"])
    index.save(tmp_path / "bm25")
    files = {p.relative_to(tmp_path / "bm25").as_posix() for p in (tmp_path / "bm25").rglob("*")}
    assert {"manifest.json", "documents.jsonl", "bm25s"} <= files
    assert not any(f.endswith((".pkl", ".pickle", ".tmp")) for f in files)
    for mmap in (False, True):
        loaded = BM25Index.load(tmp_path / "bm25", mmap=mmap)
        assert loaded.ids == index.ids
        assert loaded.params == index.params
        assert loaded.get_text("e") == index.get_text("e")
        for query in ["running dog", "cat", "café"]:
            assert loaded.search(query, k=5) == index.search(query, k=5)
    loaded.add(["f"], ["a cat again"])  # a loaded index stays mutable
    assert "f" in loaded.search("cat")[0]


def test_save_and_load_empty_and_custom_params(tmp_path: Path) -> None:
    BM25Index(k1=1.2, b=0.75, stemmer=None, stopwords=None).save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    assert len(loaded) == 0 and loaded.params.k1 == 1.2 and loaded.params.stemmer is None
    assert loaded.tokenize("The Dogs") == ["the", "dogs"]


def test_load_errors(tmp_path: Path, index: BM25Index) -> None:
    with pytest.raises(CorruptIndexError, match=r"No manifest\.json"):
        BM25Index.load(tmp_path)
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(IncompatibleIndexError, match="format version 99"):
        BM25Index.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "num_documents": 5}))
    with pytest.raises(CorruptIndexError, match="the manifest 5"):
        BM25Index.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "documents.jsonl").write_text('{"id": "a"\n')
    with pytest.raises(CorruptIndexError, match="Could not read"):
        BM25Index.load(tmp_path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda i: i.search("cat", k=0), "k is 0"),
        (lambda i: i.search("cat", allowed=np.ones(2, dtype=bool)), "allowed mask"),
        (lambda i: i.search("cat", allowed="a"), "single string"),
        (lambda i: i.add(["x", "y"], ["one"]), "2 ids and 1 texts"),
        (lambda i: i.add([1], ["one"]), "not a non-empty string"),
        (lambda i: i.search(b"cat"), "query is a bytes"),
    ],
)
def test_input_errors(index: BM25Index, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((InvalidInputError, TypeError), match=message):
        call(index)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "bm99"}, "Unknown BM25 method"),
        ({"b": 1.5}, "b is 1.5"),
        ({"stemmer": "klingon"}, "no stemmer for 'klingon'"),
        ({"stopwords": "klingon"}, "could not tokenize"),
    ],
)
def test_bad_params(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        BM25Index(**params)  # type: ignore[arg-type]
