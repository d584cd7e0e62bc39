"""``LlamaIndexSparseEmbedding``: SPLADE as a LlamaIndex sparse embedding model.

It is a LlamaIndex ``BaseSparseEmbedding`` (``{term_id: weight}`` dicts) and also
provides the two callables LlamaIndex's ``QdrantVectorStore`` takes for hybrid
search, ``sparse_doc_fn`` and ``sparse_query_fn`` (a batch of texts in, parallel
lists of indices and values out). Pass *both*: a store given only one falls back
to downloading a default model for the other.

Needs the ``llamaindex`` extra (``pip install 'langchain-splade[llamaindex]'``);
for the Qdrant store, ``pip install 'langchain-splade[llamaindex-qdrant]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_splade.errors import require

require("llama_index.core", "llamaindex")

from llama_index.core.base.embeddings.base_sparse import (  # noqa: E402
    BaseSparseEmbedding,
    SparseEmbedding,
)
from llama_index.core.bridge.pydantic import PrivateAttr  # noqa: E402

from langchain_splade.adapters._core import (  # noqa: E402
    AdapterMixin,
    EncoderCore,
    to_sparse_dict,
)
from langchain_splade.encoders import SpladeEncoder  # noqa: E402
from langchain_splade.types import SparseVector  # noqa: E402

BatchSparseEncoding = tuple[list[list[int]], list[list[float]]]


class LlamaIndexSparseEmbedding(AdapterMixin, BaseSparseEmbedding):
    """A LlamaIndex sparse embedding model backed by a :class:`SpladeEncoder`.

    Example:
        .. code-block:: python

            from llama_index.vector_stores.qdrant import QdrantVectorStore
            from langchain_splade.adapters import LlamaIndexSparseEmbedding

            splade = LlamaIndexSparseEmbedding()
            store = QdrantVectorStore(
                "docs", client=client, enable_hybrid=True,
                sparse_doc_fn=splade.sparse_doc_fn, sparse_query_fn=splade.sparse_query_fn,
            )

    Args:
        encoder: the encoder; ``None`` loads the bundled offline model. Its pruning
            settings and long-document windows apply to every vector.
        embed_batch_size: texts per call of ``_get_text_embeddings`` (LlamaIndex's
            batching; also the encoder's step).
        show_progress: force our progress bar on/off; ``None`` shows it for long
            inputs (LlamaIndex's own ``show_progress=`` arguments work as usual).
        **kwargs: other ``BaseSparseEmbedding`` fields (e.g. ``num_workers``).
    """

    _core: EncoderCore = PrivateAttr()

    def __init__(
        self,
        encoder: SpladeEncoder | None = None,
        *,
        embed_batch_size: int = 64,
        show_progress: bool | None = None,
        **kwargs: Any,
    ) -> None:
        core = EncoderCore(encoder, embed_batch_size, show_progress)
        kwargs.setdefault("model_name", core.encoder.model_name)
        super().__init__(embed_batch_size=embed_batch_size, **kwargs)
        self._core = core

    @classmethod
    def class_name(cls) -> str:
        return "LlamaIndexSparseEmbedding"

    # -- BaseSparseEmbedding ----------------------------------------------------------

    def _get_query_embedding(self, query: str) -> SparseEmbedding:
        return to_sparse_dict(self._core.query(query))

    async def _aget_query_embedding(self, query: str) -> SparseEmbedding:
        return await self._core.run(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> SparseEmbedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> SparseEmbedding:
        return await self._core.run(self._get_text_embedding, text)

    def _get_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return [to_sparse_dict(vector) for vector in self._core.documents(texts)]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return await self._core.run(self._get_text_embeddings, texts)

    # -- LlamaIndex QdrantVectorStore hybrid callables --------------------------------

    def sparse_doc_fn(self, texts: list[str]) -> BatchSparseEncoding:
        """Document vectors as ``(indices per text, values per text)``: ``sparse_doc_fn``."""
        return to_batch(self._core.documents(texts))

    def sparse_query_fn(self, texts: list[str]) -> BatchSparseEncoding:
        """Query vectors as ``(indices per text, values per text)``: ``sparse_query_fn``."""
        return to_batch(self._core.queries(texts))

    def qdrant_kwargs(self) -> dict[str, Any]:
        """``enable_hybrid`` and both callables, to unpack into ``QdrantVectorStore(...)``."""
        return {
            "enable_hybrid": True,
            "sparse_doc_fn": self.sparse_doc_fn,
            "sparse_query_fn": self.sparse_query_fn,
        }

    def __repr__(self) -> str:
        return f"LlamaIndexSparseEmbedding(encoder={self.encoder!r})"


def to_batch(vectors: Sequence[SparseVector]) -> BatchSparseEncoding:
    """SparseVectors as LlamaIndex's batch encoding: parallel lists of plain ints/floats."""
    return [v.indices.tolist() for v in vectors], [v.values.tolist() for v in vectors]
