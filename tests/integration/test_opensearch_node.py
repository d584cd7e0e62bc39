"""The test node is a real OpenSearch, and the rank_features facts our design rests on.

Each fact below is a pitfall the index guards against; these tests pin the raw
behaviour on the real engine so a change in OpenSearch shows up here first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from langchain_splade.stores.opensearch.query import nine_bit


def _raw_index(client: Any, name: str) -> None:
    client.indices.create(
        index=name,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {"properties": {"v": {"type": "rank_features"}}},
        },
    )


def _feature_search(client: Any, name: str, clause: dict[str, Any]) -> list[tuple[str, float]]:
    response = client.search(index=name, body={"query": {"rank_feature": clause}})
    return [(h["_id"], h["_score"]) for h in response["hits"]["hits"]]


def test_node_runs_the_requested_version_with_rank_features(
    os_client: Any, opensearch_version: str
) -> None:
    info = os_client.info()
    if opensearch_version != "external":
        assert info["version"]["number"] == opensearch_version
    # The mapper-extras module under the name its version gives it: the 2.x launcher
    # names plugins by class (MapperExtrasPlugin), 3.x by name (mapper-extras).
    components = {row["component"] for row in os_client.cat.plugins(format="json")}
    assert any("mapper-extras" in c or "MapperExtras" in c for c in components), components
    assert os_client.cluster.health()["status"] in ("green", "yellow")


def test_non_positive_weight_rejects_the_whole_document(os_client: Any, index_name: str) -> None:
    from opensearchpy.exceptions import RequestError

    _raw_index(os_client, index_name)
    for weight in (0.0, -1.0, 1e-40):
        with pytest.raises(RequestError) as info:
            os_client.index(index=index_name, body={"v": {"good": 1.0, "bad": weight}})
        assert info.value.status_code == 400


def test_dot_in_feature_name_silently_matches_nothing(os_client: Any, index_name: str) -> None:
    _raw_index(os_client, index_name)
    os_client.index(index=index_name, id="1", body={"v": {"e.g": 1.0, "eg": 1.0}}, refresh=True)
    assert _feature_search(os_client, index_name, {"field": "v.e.g", "linear": {}}) == []
    assert [i for i, _ in _feature_search(os_client, index_name, {"field": "v.eg"})] == ["1"]


def test_score_is_boost_times_nine_bit_weight_only_with_linear(
    os_client: Any, index_name: str
) -> None:
    _raw_index(os_client, index_name)
    weight, boost = 1.2345678, 0.7654321
    os_client.index(index=index_name, id="1", body={"v": {"t": weight}}, refresh=True)
    linear = _feature_search(os_client, index_name, {"field": "v.t", "linear": {}, "boost": boost})
    assert linear[0][1] == pytest.approx(boost * nine_bit(weight), rel=1e-6)
    assert nine_bit(weight) < weight
    # With no function the query uses saturation: not a dot product.
    default = _feature_search(os_client, index_name, {"field": "v.t", "boost": boost})
    assert default[0][1] != pytest.approx(linear[0][1], rel=1e-3)


def test_more_than_the_clause_limit_is_an_error(os_client: Any, index_name: str) -> None:
    from opensearchpy.exceptions import RequestError, TransportError

    _raw_index(os_client, index_name)
    os_client.index(index=index_name, id="1", body={"v": {"0": 1.0}}, refresh=True)
    should = [{"rank_feature": {"field": f"v.{i}", "linear": {}}} for i in range(1100)]
    with pytest.raises((RequestError, TransportError)) as info:
        os_client.search(index=index_name, body={"query": {"bool": {"should": should}}})
    assert "too_many" in str(info.value) or "maxClauseCount" in str(info.value)


def test_filter_without_minimum_should_match_returns_score_zero_hits(
    os_client: Any, index_name: str
) -> None:
    _raw_index(os_client, index_name)
    os_client.index(index=index_name, id="1", body={"v": {"a": 1.0}})
    os_client.index(index=index_name, id="2", body={"v": {"b": 1.0}}, refresh=True)
    query = {
        "bool": {
            "should": [{"rank_feature": {"field": "v.a", "linear": {}}}],
            "filter": [{"match_all": {}}],
        }
    }
    hits = os_client.search(index=index_name, body={"query": query})["hits"]["hits"]
    assert {h["_id"] for h in hits} == {"1", "2"}
    query["bool"]["minimum_should_match"] = 1
    hits = os_client.search(index=index_name, body={"query": query})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["1"]


@pytest.mark.skipif(bool(os.environ.get("OPENSEARCH_URL")), reason="tests the local node")
def test_serve_prints_url_and_stops_on_sigterm() -> None:
    """`serve()` (the CLI's opensearch-node) runs in the foreground and exits cleanly."""
    import urllib.request

    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from langchain_splade.testing.opensearch import serve; raise SystemExit(serve())",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url or (
            process.stderr and process.stderr.read()
        )
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=10) as response:
            assert b'"status"' in response.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{url}/", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_memory_is_read_from_the_running_jvm(
    opensearch_nodes: Any, opensearch_version: str
) -> None:
    if opensearch_version == "external":
        pytest.skip("the node is not ours: $OPENSEARCH_URL")
    memory = opensearch_nodes.node(opensearch_version).memory_mib()
    assert memory is not None and 100 < memory["rss"] <= memory["peak"]
