"""The embedded local backend: an exact SPLADE inverted index with no server.

``LocalSparseIndex`` is the default index of the retriever; see its docstring and
``index.py`` for how search stays exact, and ``format.py`` for the on-disk layout.
"""

from langchain_splade.stores.local.index import LocalSparseIndex

__all__ = ["LocalSparseIndex"]
