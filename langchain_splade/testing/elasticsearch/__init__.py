"""A real single-node Elasticsearch for tests, demos and notebooks.

``ElasticsearchTestNode`` and ``serve`` need only a JDK 21+ and Maven, not
elasticsearch-py.
"""

from langchain_splade.testing.elasticsearch.node import (
    ELASTICSEARCH_VERSION,
    ElasticsearchTestNode,
    elasticsearch_node,
    serve,
)

__all__ = ["ELASTICSEARCH_VERSION", "ElasticsearchTestNode", "elasticsearch_node", "serve"]
