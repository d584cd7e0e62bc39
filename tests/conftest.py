"""Shared fixtures: the real bundled encoder and a real OpenSearch node, once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.testing.opensearch import OpenSearchTestNode


@pytest.fixture(scope="session")
def encoder() -> SpladeEncoder:
    """The bundled splade-tiny model on CPU (offline, ~1 s to load)."""
    return SpladeEncoder(device="cpu")


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    """The URL of a running OpenSearch: ``$OPENSEARCH_URL`` or a node started here.

    The node is OpenSearch 2.19 from Maven jars (``langchain_splade.testing.opensearch``).
    If it cannot start, the tests fail with the node's log: they are never skipped.
    """
    url = os.environ.get("OPENSEARCH_URL")
    if url:
        yield url.rstrip("/")
        return
    node = OpenSearchTestNode()
    node.start()
    try:
        yield node.url
    finally:
        node.stop()


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
