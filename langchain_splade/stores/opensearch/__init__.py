"""OpenSearch backend: ``OpenSearchSparseIndex``.

``opensearch-py`` is optional (``pip install 'langchain-splade[opensearch]'``) and is
imported only when a client is first needed. The local test node that the tests and
notebooks use lives in :mod:`langchain_splade.testing.opensearch`.
"""

from langchain_splade.stores.opensearch.index import ClauseLimitWarning, OpenSearchSparseIndex

__all__ = ["ClauseLimitWarning", "OpenSearchSparseIndex"]
