"""SPLADE learned-sparse retrieval for LangChain and LlamaIndex."""

from langchain_splade.errors import (
    BackendError,
    CorruptIndexError,
    FilterError,
    IncompatibleIndexError,
    IndexLockedError,
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

__all__ = [
    "BackendError",
    "CorruptIndexError",
    "EncoderFingerprint",
    "FilterError",
    "IncompatibleIndexError",
    "IndexLockedError",
    "InvalidInputError",
    "InvalidTypeError",
    "MissingDependencyError",
    "ModelLoadError",
    "PartialWriteError",
    "SearchHit",
    "SparseVector",
    "SpladeError",
    "StoredDocument",
    "StoredIndexError",
    "TermContribution",
]
