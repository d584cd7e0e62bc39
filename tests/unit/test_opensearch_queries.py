"""Pure builders of the OpenSearch backend: keys, mapping, filters, queries (offline)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_splade.errors import InvalidInputError, InvalidTypeError, PartialWriteError
from langchain_splade.filters import parse_filter
from langchain_splade.stores.opensearch import bulk, mapping, query
from langchain_splade.stores.opensearch.filtering import compile_filter, count_clauses, fields_of
from langchain_splade.stores.opensearch.index import OpenSearchSparseIndex
from langchain_splade.stores.opensearch.keys import KeyCodec, escape_key, unescape_key
from langchain_splade.types import SearchHit, SparseVector

# -- keys --------------------------------------------------------------------------


@given(st.text())
def test_escape_is_reversible_and_dot_free(name: str) -> None:
    key = escape_key(name)
    assert "." not in key
    assert unescape_key(key) == name


@pytest.mark.parametrize(
    ("name", "key"),
    [("paris", "paris"), ("##ing", "##ing"), ("e.g", "e%2Eg"), ("%", "%25"), ("%2E", "%252E")],
)
def test_escape_examples(name: str, key: str) -> None:
    assert escape_key(name) == key


def test_term_id_codec_round_trip() -> None:
    codec = KeyCodec()
    vector = SparseVector([7, 2054], [0.1, 1.5])
    encoded = codec.encode(vector)
    assert encoded == {"7": pytest.approx(0.1), "2054": 1.5}
    assert codec.decode(encoded) == vector  # float32 survives the JSON float


def test_token_codec_round_trip_and_errors() -> None:
    codec = KeyCodec("token", {"e.g": 0, "paris": 1})
    vector = SparseVector([0, 1], [1.0, 2.0])
    assert codec.encode(vector) == {"e%2Eg": 1.0, "paris": 2.0}
    assert codec.decode(codec.encode(vector)) == vector
    with pytest.raises(InvalidInputError, match="not in the vocabulary"):
        codec.key(5)
    with pytest.raises(InvalidInputError):
        KeyCodec("token")
    with pytest.raises(InvalidInputError):
        KeyCodec("hash")


# -- mapping -----------------------------------------------------------------------


def test_index_body_maps_vectors_text_and_typed_metadata() -> None:
    body = mapping.index_body("term_id", {"model_name": "m"})
    props = body["mappings"]["properties"]
    assert props["vector"] == {"type": "rank_features"}
    assert props["text"]["analyzer"] == "english"
    assert body["mappings"]["_meta"]["langchain_splade"]["key_encoding"] == "term_id"
    assert body["mappings"]["date_detection"] is False
    templates = {
        next(iter(t)): next(iter(t.values())) for t in body["mappings"]["dynamic_templates"]
    }
    assert templates["metadata_integers"]["mapping"] == {"type": "double"}
    assert templates["metadata_strings"]["mapping"] == {"type": "keyword"}


def test_null_paths_and_document_source() -> None:
    meta = {"a": None, "b": {"c": None, "d": 1}, "e": [1, None], "f": [1]}
    assert mapping.null_paths(meta) == ["a", "b.c", "e"]
    source = mapping.document_source("x", {"1": 1.0}, None, meta)
    assert source["null_fields"] == ["a", "b.c", "e"] and "text" not in source
    assert "null_fields" not in mapping.document_source("x", {}, "t", {"a": 1})


def test_metadata_kinds_and_meta_from_a_mapping_response() -> None:
    response = {
        "idx": {
            "mappings": {
                "_meta": {"langchain_splade": {"format_version": 1, "key_encoding": "token"}},
                "properties": {
                    "metadata": {
                        "properties": {
                            "a": {"type": "keyword"},
                            "n": {"type": "double"},
                            "o": {"properties": {"b": {"type": "boolean"}}},
                        }
                    }
                },
            }
        }
    }
    assert mapping.metadata_kinds(response, "idx") == {
        "a": "keyword",
        "n": "number",
        "o": "object",
        "o.b": "boolean",
    }
    assert mapping.read_meta(response, "idx") == {"format_version": 1, "key_encoding": "token"}
    assert mapping.read_meta({"idx": {"mappings": {}}}, "idx") is None


# -- filters -----------------------------------------------------------------------

KINDS = {"s": "keyword", "n": "number", "b": "boolean", "o": "object"}


def _compile(filter: dict[str, Any]) -> dict[str, Any]:
    node = parse_filter(filter)
    assert node is not None
    return compile_filter(node, KINDS)


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"s": "x"}, {"term": {"metadata.s": "x"}}),
        ({"n": 3}, {"term": {"metadata.n": 3}}),
        ({"n": "3"}, {"match_none": {}}),
        ({"b": 1}, {"match_none": {}}),
        ({"n": True}, {"match_none": {}}),
        ({"missing": 1}, {"match_none": {}}),
        ({"s": None}, {"term": {"null_fields": "s"}}),
        ({"s": {"$ne": "x"}}, {"bool": {"must_not": [{"term": {"metadata.s": "x"}}]}}),
        ({"s": {"$ne": 3}}, {"match_all": {}}),
        ({"n": {"$gte": 2}}, {"range": {"metadata.n": {"gte": 2}}}),
        ({"n": {"$lt": "z"}}, {"match_none": {}}),
        ({"b": {"$gt": 0}}, {"match_none": {}}),
        ({"s": {"$in": []}}, {"match_none": {}}),
        ({"s": {"$nin": []}}, {"match_all": {}}),
        ({"s": {"$in": ["a", 1]}}, {"term": {"metadata.s": "a"}}),
        (
            {"s": {"$in": ["a", None]}},
            {
                "bool": {
                    "should": [{"term": {"metadata.s": "a"}}, {"term": {"null_fields": "s"}}],
                    "minimum_should_match": 1,
                }
            },
        ),
    ],
)
def test_condition_compilation(filter: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _compile(filter) == expected


def test_logical_compilation_and_clause_count() -> None:
    compiled = _compile({"$or": [{"s": "a"}, {"n": {"$gt": 1, "$lt": 5}}], "b": True})
    assert compiled["bool"]["filter"][0]["bool"]["minimum_should_match"] == 1
    assert count_clauses(compiled) == 4
    assert count_clauses(None) == 0
    node = parse_filter({"$or": [{"s": "a"}, {"x.y": 1}]})
    assert node is not None and fields_of(node) == {"s", "x.y"}


# -- queries -----------------------------------------------------------------------


def test_rank_feature_query_is_linear_with_boosts() -> None:
    terms = query.query_terms(KeyCodec(), SparseVector([3, 1], [0.5, 2.0]), 10)
    assert terms.terms == [("1", 2.0), ("3", 0.5)] and terms.dropped == 0
    body = query.rank_feature_query(terms.terms, None)
    assert body["bool"]["should"][0] == {
        "rank_feature": {"field": "vector.1", "linear": {}, "boost": 2.0}
    }
    assert "minimum_should_match" not in body["bool"]
    filtered = query.rank_feature_query(terms.terms, {"term": {"metadata.s": "a"}})
    assert filtered["bool"]["minimum_should_match"] == 1
    assert filtered["bool"]["filter"] == [{"term": {"metadata.s": "a"}}]


def test_pruning_keeps_the_heaviest_terms() -> None:
    vector = SparseVector(np.arange(6), [0.1, 0.6, 0.3, 0.6, 0.5, 0.2])
    terms = query.query_terms(KeyCodec(), vector, 3)
    assert terms.terms == [
        ("1", pytest.approx(0.6)),
        ("3", pytest.approx(0.6)),
        ("4", pytest.approx(0.5)),
    ]
    assert terms.dropped == 3


def test_neural_sparse_query_uses_raw_tokens() -> None:
    body = query.neural_sparse_query([("1", 2.0)], {"match_all": {}})
    assert body["bool"]["must"][0] == {"neural_sparse": {"vector": {"query_tokens": {"1": 2.0}}}}


def test_search_body_sorts_by_score_then_id() -> None:
    body = query.search_body({"match_all": {}}, 7, with_vectors=False)
    assert body["size"] == 7
    assert body["sort"] == [{"_score": {"order": "desc"}}, {"doc_id": {"order": "asc"}}]
    assert "vector" not in body["_source"]["includes"]


def test_subnormal_weights_are_not_storable() -> None:
    vector = SparseVector([1, 2], np.array([1.0, 1e-40], dtype=np.float32))
    assert query.storable_features(KeyCodec(), vector) == {"1": 1.0}


def test_nine_bit_truncation() -> None:
    assert query.nine_bit(1.0) == 1.0
    for w in np.random.default_rng(0).uniform(1e-3, 10, 100):
        stored = query.nine_bit(float(w))
        assert stored <= w < stored * (1 + 2**-8)


def test_parse_hits_and_rescore() -> None:
    response = {
        "hits": {
            "hits": [
                {"_id": "a", "_score": 1.99, "_source": {"vector": {"1": 1.0}, "text": "t"}},
                {
                    "_id": "b",
                    "_score": 1.99,
                    "_source": {"vector": {"1": 1.001}, "metadata": {"m": 1}},
                },
            ]
        }
    }
    hits = query.parse_hits(response, KeyCodec())
    assert [h.id for h in hits] == ["a", "b"] and hits[0].text == "t"
    assert hits[1].metadata == {"m": 1}
    rescored = query.rescore(hits, SparseVector([1], [2.0]), 1)
    assert [h.id for h in rescored] == ["b"]
    assert rescored[0].score == pytest.approx(2.002, rel=1e-6)
    with pytest.raises(InvalidInputError):
        query.rescore([SearchHit("x", 1.0)], SparseVector([1], [1.0]), 1)
    assert query.candidate_count(10, 4.0) == 40
    assert query.candidate_count(1, 1.0) == 11


# -- index helpers (no cluster) ----------------------------------------------------


def test_clause_limit_and_plugin_probe() -> None:
    assert query.read_clause_limit({"defaults": {query_limit(): "1024"}}) == 1024
    assert (
        query.read_clause_limit(
            {"persistent": {query_limit(): "4096"}, "defaults": {query_limit(): "1024"}}
        )
        == 4096
    )
    assert query.read_clause_limit({}) == 1024
    assert query.has_neural_search([{"component": "opensearch-neural-search"}])
    assert not query.has_neural_search([{"component": "analysis-common"}])


def query_limit() -> str:
    return "indices.query.bool.max_clause_count"


def test_bulk_failures_become_partial_write_error() -> None:
    results = [
        (True, {"index": {"_id": "a", "status": 201}}),
        (
            False,
            {
                "index": {
                    "_id": "b",
                    "status": 400,
                    "error": {"type": "mapper_parsing_exception", "reason": "bad"},
                }
            },
        ),
    ]
    with pytest.raises(PartialWriteError) as info:
        bulk.check_written(results, ["a", "b"])
    assert info.value.failed_ids == ["b"] and info.value.stored_ids == ["a"]
    assert "mapper_parsing_exception" in info.value.failed["b"]
    assert bulk.check_written(results[:1], ["a"]) == ["a"]


def test_constructor_needs_a_url_or_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    with pytest.raises(InvalidInputError, match="OPENSEARCH_URL"):
        OpenSearchSparseIndex("x")
    with pytest.raises(InvalidInputError):
        OpenSearchSparseIndex("", url="http://127.0.0.1:9")
    with pytest.raises(InvalidInputError):
        OpenSearchSparseIndex("x", url="http://127.0.0.1:9", key_encoding="bytes")


def test_bulk_retries_429_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the HTTP layer is replaced: the first bulk request gets a 429."""
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import TransportError

    client = OpenSearch()
    calls: list[int] = []

    def perform_request(method: str, url: str, **kwargs: Any) -> Any:
        if method == "HEAD":  # indices.exists: the index is there
            return True
        if url.endswith("/_mapping"):  # adopting the index
            from langchain_splade.stores.opensearch import mapping

            return {"x": {"mappings": mapping.index_body("term_id")["mappings"]}}
        assert url.endswith("_bulk"), url
        calls.append(1)
        if len(calls) == 1:
            raise TransportError(429, "es_rejected_execution_exception", {})
        body = kwargs["body"]
        lines = [line for line in (body if isinstance(body, list) else body.splitlines()) if line]
        items = [{"index": {"_id": str(i), "status": 201}} for i in range(len(lines) // 2)]
        return {"errors": False, "items": items}

    monkeypatch.setattr(client.transport, "perform_request", perform_request)
    index = OpenSearchSparseIndex("x", client=client, initial_backoff=0.01, refresh=False)
    assert index.add(["0", "1"], [SparseVector([1], [1.0])] * 2) == ["0", "1"]
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_segments": 0}, InvalidInputError, "max_segments is 0"),
        ({"max_segments": True}, InvalidTypeError, "max_segments must be an int"),
        ({"max_segments": 1.0}, InvalidTypeError, "max_segments must be an int"),
        ({"poll_seconds": 0}, InvalidInputError, "poll_seconds is 0"),
        ({"poll_seconds": float("nan")}, InvalidInputError, "poll_seconds is nan"),
        ({"poll_seconds": "5"}, InvalidTypeError, "poll_seconds must be a number"),
    ],
)
def test_force_merge_refuses_bad_arguments_before_any_request(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    index = OpenSearchSparseIndex("x", url="http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(error, match=match):
        index.force_merge(**kwargs)
    index.close()
