"""SPLADE learned-sparse retrieval for LangChain and LlamaIndex.

Light names are imported eagerly; the encoder, retrievers and backends load on
first use (torch and transformers take seconds to import).
"""

from typing import TYPE_CHECKING, Any

from langchain_splade.errors import (
    BackendError,
    CorruptIndexError,
    FilterError,
    IncompatibleIndexError,
    IndexLockedError,
    IndexNotFoundError,
    InvalidInputError,
    InvalidTypeError,
    MissingDependencyError,
    ModelLoadError,
    PartialWriteError,
    SpladeError,
    StoredIndexError,
)
from langchain_splade.types import (
    EncoderFingerprint,
    SearchHit,
    SparseVector,
    StoredDocument,
    TermContribution,
)

if TYPE_CHECKING:
    from langchain_splade.adapters import (
        LlamaIndexSparseEmbedding,
        MilvusSparseEmbedding,
        QdrantSparseEmbeddings,
    )
    from langchain_splade.bm25 import BM25Index
    from langchain_splade.distributed import SpladeBatchEncoder
    from langchain_splade.encoders import IdfQueryEncoder, SpladeEncoder, WindowPolicy
    from langchain_splade.fusion_retriever import FusionRetriever
    from langchain_splade.llama_index import SpladeLlamaIndexRetriever
    from langchain_splade.retrievers import SpladeRetriever
    from langchain_splade.stores.base import SparseIndex
    from langchain_splade.stores.elasticsearch import ElasticsearchSparseIndex
    from langchain_splade.stores.local import LocalSparseIndex
    from langchain_splade.stores.opensearch import ClauseLimitWarning, OpenSearchSparseIndex
    from langchain_splade.vectorstores import SpladeVectorStore

# Public classes whose modules import torch, LangChain, bm25s or an optional extra.
_LAZY = {
    "BM25Index": "langchain_splade.bm25",
    "ClauseLimitWarning": "langchain_splade.stores.opensearch",
    "ElasticsearchSparseIndex": "langchain_splade.stores.elasticsearch",  # extra: elasticsearch
    "FusionRetriever": "langchain_splade.fusion_retriever",
    "IdfQueryEncoder": "langchain_splade.encoders",
    "LlamaIndexSparseEmbedding": "langchain_splade.adapters",  # extra: llamaindex
    "LocalSparseIndex": "langchain_splade.stores.local",
    "MilvusSparseEmbedding": "langchain_splade.adapters",  # extra: milvus
    "OpenSearchSparseIndex": "langchain_splade.stores.opensearch",
    "QdrantSparseEmbeddings": "langchain_splade.adapters",  # extra: qdrant
    "SparseIndex": "langchain_splade.stores.base",
    "SpladeBatchEncoder": "langchain_splade.distributed",  # extra: ray
    "SpladeEncoder": "langchain_splade.encoders",
    "SpladeLlamaIndexRetriever": "langchain_splade.llama_index",  # extra: llamaindex
    "SpladeRetriever": "langchain_splade.retrievers",
    "SpladeVectorStore": "langchain_splade.vectorstores",
    "WindowPolicy": "langchain_splade.encoders",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module 'langchain_splade' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Lazy names too, so tab completion in a notebook shows them."""
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "BM25Index",
    "BackendError",
    "ClauseLimitWarning",
    "CorruptIndexError",
    "ElasticsearchSparseIndex",
    "EncoderFingerprint",
    "FilterError",
    "FusionRetriever",
    "IdfQueryEncoder",
    "IncompatibleIndexError",
    "IndexLockedError",
    "IndexNotFoundError",
    "InvalidInputError",
    "InvalidTypeError",
    "LlamaIndexSparseEmbedding",
    "LocalSparseIndex",
    "MilvusSparseEmbedding",
    "MissingDependencyError",
    "ModelLoadError",
    "OpenSearchSparseIndex",
    "PartialWriteError",
    "QdrantSparseEmbeddings",
    "SearchHit",
    "SparseIndex",
    "SparseVector",
    "SpladeBatchEncoder",
    "SpladeEncoder",
    "SpladeError",
    "SpladeLlamaIndexRetriever",
    "SpladeRetriever",
    "SpladeVectorStore",
    "StoredDocument",
    "StoredIndexError",
    "TermContribution",
    "WindowPolicy",
]
