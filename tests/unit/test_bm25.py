"""The build-once bm25s-backed BM25 index: scoring, exact filtered top-k, input errors."""

from __future__ import annotations

import random

import bm25s
import numpy as np
import pytest
import Stemmer

from langchain_splade.bm25 import BM25Index
from langchain_splade.errors import InvalidInputError, InvalidTypeError

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


def test_none_text_is_an_empty_document() -> None:
    index = BM25Index(["a", "b"], [None, "a cat"])
    assert len(index) == 2 and index.search("cat")[0] == ["b"]


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


def test_texts_are_not_kept_and_params_apply() -> None:
    index = BM25Index(
        ["a", "b"], ["The Dogs", "a cat"], k1=1.2, b=0.75, stemmer=None, stopwords=None
    )
    assert index.ids == ["a", "b"] and "a" in index and "z" not in index
    assert not hasattr(index, "_docs")  # the holder of the texts keeps them, not a copy here
    assert index.params.k1 == 1.2 and index.tokenize("The Dogs") == ["the", "dogs"]
    assert index.search("dog") == ([], [])  # no stemming
    assert index.search("the dogs")[0] == ["a"]


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


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda i: i.search("cat", k=0), "k is 0"),
        (lambda i: i.search("cat", allowed=np.ones(2, dtype=bool)), "allowed mask"),
        (lambda i: i.search("cat", allowed="a"), "single string"),
        (lambda i: i.search(b"cat"), "query is a bytes"),
    ],
)
def test_search_errors(index: BM25Index, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((InvalidInputError, TypeError), match=message):
        call(index)


@pytest.mark.parametrize(
    ("ids", "texts", "error", "message"),
    [
        (["x", "y"], ["one"], InvalidInputError, "2 ids but 1 texts"),
        (["y", "x", "x"], ["one", "two", "3"], InvalidInputError, "'x' appears more than once"),
        (["x", ""], ["one", "two"], InvalidInputError, r"ids\[1\] is the empty string"),
        ([1], ["one"], InvalidTypeError, r"ids\[0\] is a int"),
        ("x", ["one"], InvalidTypeError, "ids is a str"),
        (["x"], "one", InvalidTypeError, "texts is a str"),
        (["x"], [b"one"], InvalidTypeError, r"texts\[0\] is a bytes"),
    ],
)
def test_document_errors(ids: object, texts: object, error: type[Exception], message: str) -> None:
    """Ids fail as they do on every backend (langchain_splade.validation.check_ids)."""
    with pytest.raises(error, match=message):
        BM25Index(ids, texts)  # type: ignore[arg-type]


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
