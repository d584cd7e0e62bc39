"""Elasticsearch request builders and launcher helpers, as pure functions (offline).

The test node has no x-pack, so the ``sparse_vector`` query is checked here by its
request body; its scoring is Elasticsearch's and is not exercised in this suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from langchain_splade.errors import InvalidInputError, MissingDependencyError
from langchain_splade.stores.elasticsearch import layout
from langchain_splade.stores.elasticsearch import query as q
from langchain_splade.stores.opensearch.query import rank_feature_query
from langchain_splade.testing.elasticsearch.node import SPEC
from langchain_splade.testing.jvm import LauncherSpec, find_java_home, java_version

TERMS = [("2054", 1.5), ("u%2Es%2E", 0.25)]
FILTER = {"term": {"metadata.topic": "law"}}


def test_term_query_is_a_boosted_should_with_the_filter_required() -> None:
    assert q.term_query(TERMS, None) == {
        "bool": {
            "should": [
                {"term": {"vector": {"value": "2054", "boost": 1.5}}},
                {"term": {"vector": {"value": "u%2Es%2E", "boost": 0.25}}},
            ]
        }
    }
    filtered = q.term_query(TERMS, FILTER)["bool"]
    # without minimum_should_match, filter-only matches would come back with score 0
    assert filtered["filter"] == [FILTER] and filtered["minimum_should_match"] == 1


def test_rank_feature_terms_round_trip_the_shared_builder() -> None:
    assert q.rank_feature_terms(rank_feature_query(TERMS, FILTER)) == TERMS


def test_sparse_vector_query_exact_by_default_and_with_pruning() -> None:
    exact = q.sparse_vector_query(TERMS, None, None)
    assert exact == {
        "sparse_vector": {
            "field": "vector",
            "query_vector": {"2054": 1.5, "u%2Es%2E": 0.25},
            "prune": False,
        }
    }
    pruned = q.sparse_vector_query(TERMS, FILTER, q.Pruning(10, 0.2))
    inner = pruned["bool"]["must"][0]["sparse_vector"]
    assert pruned["bool"]["filter"] == [FILTER]
    assert inner["prune"] is True
    assert inner["pruning_config"] == {
        "tokens_freq_ratio_threshold": 10,
        "tokens_weight_threshold": 0.2,
        "only_score_pruned_tokens": False,
    }


@pytest.mark.parametrize("args", [(0.5, 0.4), (101, 0.4), (5, -0.1), (5, 1.5)])
def test_pruning_thresholds_are_checked(args: tuple[float, float]) -> None:
    with pytest.raises(InvalidInputError):
        q.Pruning(*args)


def test_clause_limit_and_missing_query_are_read_from_errors() -> None:
    error = "query_shard_exception: failed to create query: maxClauseCount is set to 8192"
    assert q.clause_limit_in(error) == 8192
    assert q.clause_limit_in("parsing_exception") is None
    assert q.lacks_sparse_vector_query("parsing_exception: unknown query [sparse_vector]")
    assert not q.lacks_sparse_vector_query("unknown query [neural_sparse]")


def test_index_body_keeps_source_vectors_only_where_the_setting_exists() -> None:
    body = layout.index_body("term_id", shards=3, replicas=1, keep_source_vectors=True)
    assert body["mappings"]["properties"]["vector"] == {"type": "sparse_vector"}
    assert body["mappings"]["properties"]["text"]["analyzer"] == "english"
    assert body["settings"]["index"]["mapping"] == {"exclude_source_vectors": False}
    assert body["settings"]["index"]["number_of_shards"] == 3
    assert body["mappings"]["_meta"]["langchain_splade"]["key_encoding"] == "term_id"
    old = layout.index_body("term_id", keep_source_vectors=False)
    assert "mapping" not in old["settings"]["index"]
    assert layout.parse_version("9.2.0") == (9, 2)
    assert layout.parse_version("8.15.0-SNAPSHOT") == (8, 15)
    assert layout.has_source_vector_setting((9, 1))
    assert not layout.has_source_vector_setting((8, 19))


def _jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("")
    (home / "bin" / "javac").write_text("")
    (home / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return home


def test_java_version_reads_the_release_file(tmp_path: Path) -> None:
    assert java_version(_jdk(tmp_path, "a", "25.0.3")) == 25
    assert java_version(_jdk(tmp_path, "b", "1.8.0_402")) == 8
    assert java_version(tmp_path / "missing") is None


def test_find_java_home_skips_old_jdks_and_says_what_it_saw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _jdk(tmp_path, "old", "17.0.15")
    new = _jdk(tmp_path, "new", "21.0.4")
    spec = LauncherSpec(**{**SPEC.__dict__, "java_home_envs": ("TEST_ES_JAVA_HOME",)})
    monkeypatch.setattr("langchain_splade.testing.jvm._JDK_ROOTS", ())
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setenv("TEST_ES_JAVA_HOME", str(old))
    with pytest.raises(MissingDependencyError, match="Java 17"):
        find_java_home(spec)
    monkeypatch.setenv("TEST_ES_JAVA_HOME", str(new))
    assert find_java_home(spec, need_javac=True) == new
