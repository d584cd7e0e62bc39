"""Launchers of real search-engine nodes for tests, demos and notebooks (no Docker).

Each engine's node lives in its own subpackage (``testing.elasticsearch``, ...) and
shares the JVM plumbing of :mod:`langchain_splade.testing.jvm`.
"""

from langchain_splade.testing.elasticsearch import ElasticsearchTestNode
from langchain_splade.testing.opensearch import OpenSearchTestNode

__all__ = ["ElasticsearchTestNode", "OpenSearchTestNode"]
