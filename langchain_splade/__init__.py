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
    from langchain_splade.encoders import SpladeEncoder
    from langchain_splade.retrievers import SpladeRetriever
    from langchain_splade.stores.local import LocalSparseIndex
    from langchain_splade.stores.opensearch import OpenSearchSparseIndex

_LAZY = {
    "SpladeEncoder": "langchain_splade.encoders",
    "SpladeRetriever": "langchain_splade.retrievers",
    "LocalSparseIndex": "langchain_splade.stores.local",
    "OpenSearchSparseIndex": "langchain_splade.stores.opensearch",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'langchain_splade' has no attribute {name!r}")


__all__ = [
    "BackendError",
    "CorruptIndexError",
    "EncoderFingerprint",
    "FilterError",
    "IncompatibleIndexError",
    "IndexLockedError",
    "IndexNotFoundError",
    "InvalidInputError",
    "InvalidTypeError",
    "LocalSparseIndex",
    "MissingDependencyError",
    "ModelLoadError",
    "OpenSearchSparseIndex",
    "PartialWriteError",
    "SearchHit",
    "SparseVector",
    "SpladeEncoder",
    "SpladeError",
    "SpladeRetriever",
    "StoredDocument",
    "StoredIndexError",
    "TermContribution",
]
