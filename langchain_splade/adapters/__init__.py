"""The SPLADE encoder in the sparse slots of stores users already run.

Each adapter wraps a :class:`~langchain_splade.encoders.SpladeEncoder` (default: the
bundled offline model) and speaks its store's sparse type:

* :class:`QdrantSparseEmbeddings`: langchain-qdrant ``SparseEmbeddings``
  (``pip install 'langchain-splade[qdrant]'``);
* :class:`MilvusSparseEmbedding`: langchain-milvus ``BaseSparseEmbedding``
  (``pip install 'langchain-splade[milvus]'``);
* :class:`LlamaIndexSparseEmbedding`: LlamaIndex ``BaseSparseEmbedding`` plus the
  ``sparse_doc_fn`` / ``sparse_query_fn`` of LlamaIndex's Qdrant store
  (``pip install 'langchain-splade[llamaindex-qdrant]'``).

Each store's package is imported only when its adapter is first used; a missing one
raises :class:`~langchain_splade.errors.MissingDependencyError` with the install line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_splade.adapters.llama_index import LlamaIndexSparseEmbedding
    from langchain_splade.adapters.milvus import MilvusSparseEmbedding
    from langchain_splade.adapters.qdrant import QdrantSparseEmbeddings

_LAZY = {
    "QdrantSparseEmbeddings": "langchain_splade.adapters.qdrant",
    "MilvusSparseEmbedding": "langchain_splade.adapters.milvus",
    "LlamaIndexSparseEmbedding": "langchain_splade.adapters.llama_index",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'langchain_splade.adapters' has no attribute {name!r}")


__all__ = ["LlamaIndexSparseEmbedding", "MilvusSparseEmbedding", "QdrantSparseEmbeddings"]
