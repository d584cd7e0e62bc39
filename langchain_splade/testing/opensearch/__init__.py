"""A real OpenSearch node (or a small cluster) for tests, demos and notebooks.

``OpenSearchTestNode`` and ``serve`` need only Java 17+ and Maven, not opensearch-py.
"""

from langchain_splade.testing.opensearch.node import (
    OPENSEARCH_VERSION,
    OpenSearchTestNode,
    opensearch_node,
    serve,
)

__all__ = ["OPENSEARCH_VERSION", "OpenSearchTestNode", "opensearch_node", "serve"]
