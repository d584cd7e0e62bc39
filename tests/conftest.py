"""Shared fixtures: the real bundled encoder and real OpenSearch nodes (a version matrix)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.testing.opensearch import (
    NEURAL_SEARCH_VERSION,
    OPENSEARCH_VERSION,
    OpenSearchTestNode,
)
from langchain_splade.testing.opensearch.versions import version_matrix

OPENSEARCH_MATRIX = version_matrix()
"""The OpenSearch versions the integration and contract tests run on (2.19.6 and the
newest 3.x by default; ``LANGCHAIN_SPLADE_OPENSEARCH_VERSIONS=2.19.6`` narrows it)."""


@pytest.fixture(scope="session")
def encoder() -> SpladeEncoder:
    """The bundled splade-tiny model on CPU (offline, ~1 s to load)."""
    return SpladeEncoder(device="cpu")


class OpenSearchNodes:
    """The session's OpenSearch nodes, one per version, each started on first use.

    ``$OPENSEARCH_URL`` (a user's own cluster) stands in for every version. Nodes stay
    up until the session ends (~300-400 MB each), so tests that alternate versions do
    not restart them.
    """

    def __init__(self) -> None:
        self.external = os.environ.get("OPENSEARCH_URL", "").rstrip("/") or None
        self._nodes: dict[tuple[str, bool], OpenSearchTestNode] = {}

    def url(self, version: str = OPENSEARCH_VERSION, *, neural_search: bool = False) -> str:
        if self.external and not neural_search:
            return self.external
        key = (version, neural_search)
        if key not in self._nodes:
            node = OpenSearchTestNode(version=version, neural_search=neural_search)
            node.start()  # fails with the node's log: these tests are never skipped
            self._nodes[key] = node
        return self._nodes[key].url

    def close(self) -> None:
        for node in self._nodes.values():
            node.stop()
        self._nodes.clear()


@pytest.fixture(scope="session")
def opensearch_nodes() -> Iterator[OpenSearchNodes]:
    nodes = OpenSearchNodes()
    yield nodes
    nodes.close()


@pytest.fixture(scope="session", params=OPENSEARCH_MATRIX)
def opensearch_version(request: pytest.FixtureRequest) -> str:
    """The OpenSearch version under test: every test that takes ``opensearch_url`` runs
    once per version of ``OPENSEARCH_MATRIX`` (``"external"`` for ``$OPENSEARCH_URL``)."""
    return str(request.param)


@pytest.fixture(scope="session")
def opensearch_url(opensearch_version: str, opensearch_nodes: OpenSearchNodes) -> str:
    """The URL of a running OpenSearch of ``opensearch_version``: ``$OPENSEARCH_URL`` or
    a node started here from Maven jars (``langchain_splade.testing.opensearch``)."""
    return opensearch_nodes.url(opensearch_version)


@pytest.fixture(scope="session")
def opensearch_neural_url(opensearch_nodes: OpenSearchNodes) -> str:
    """OpenSearch 3.6.0 with the k-NN and neural-search plugins (SEISMIC sparse ANN):
    ``$OPENSEARCH_NEURAL_URL`` or a node started here."""
    return os.environ.get("OPENSEARCH_NEURAL_URL", "").rstrip("/") or opensearch_nodes.url(
        NEURAL_SEARCH_VERSION, neural_search=True
    )


@pytest.fixture(scope="session")
def opensearch_default_url(opensearch_nodes: OpenSearchNodes) -> str:
    """The default version's node only, for tests that need not run on every version."""
    return opensearch_nodes.url(OPENSEARCH_VERSION)


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    """The URL of a running Elasticsearch: ``$ELASTICSEARCH_URL`` or a node started here.

    The node is Elasticsearch 9.2 from Maven jars on a JDK 21+
    (``langchain_splade/testing/elasticsearch``). If it cannot start, the tests fail
    with the node's log: they are never skipped.
    """
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        yield url.rstrip("/")
        return
    from langchain_splade.testing.elasticsearch import ElasticsearchTestNode

    with ElasticsearchTestNode() as node:
        yield node.url
