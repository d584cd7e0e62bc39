"""OpenSearch backend: ``OpenSearchSparseIndex`` and a local test node.

``opensearch-py`` is optional (``pip install 'langchain-splade[opensearch]'``) and is
imported only when a client is first needed; the test node needs only Java and Maven.
"""

from langchain_splade.stores.opensearch.index import ClauseLimitWarning, OpenSearchSparseIndex
from langchain_splade.stores.opensearch.node import OpenSearchTestNode, serve

__all__ = ["ClauseLimitWarning", "OpenSearchSparseIndex", "OpenSearchTestNode", "serve"]
