"""A real OpenSearch node (or a small cluster) for tests, demos and notebooks.

``OpenSearchTestNode`` and ``serve`` need only Maven and Java 17+ (2.x) or 21+ (3.x), not
opensearch-py. ``OpenSearchTestNode(version="3.9.0")`` runs a 3.x node;
``OpenSearchTestNode(version="3.6.0", neural_search=True)`` adds k-NN and neural-search.
"""

from langchain_splade.testing.opensearch.node import OpenSearchTestNode, opensearch_node, serve
from langchain_splade.testing.opensearch.versions import (
    NEURAL_SEARCH_VERSION,
    OPENSEARCH3_VERSION,
    OPENSEARCH_VERSION,
)

__all__ = [
    "NEURAL_SEARCH_VERSION",
    "OPENSEARCH3_VERSION",
    "OPENSEARCH_VERSION",
    "OpenSearchTestNode",
    "opensearch_node",
    "serve",
]
