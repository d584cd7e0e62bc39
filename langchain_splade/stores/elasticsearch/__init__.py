"""Elasticsearch backend: ``ElasticsearchSparseIndex`` on a ``sparse_vector`` field.

``elasticsearch`` (elasticsearch-py 8.12+ or 9.x) is optional
(``pip install 'langchain-splade[elasticsearch]'``) and is imported only when a
client is first needed. The local test node lives in
:mod:`langchain_splade.testing.elasticsearch`.
"""

from langchain_splade.stores.elasticsearch.index import ElasticsearchSparseIndex
from langchain_splade.stores.elasticsearch.query import Pruning

__all__ = ["ElasticsearchSparseIndex", "Pruning"]
