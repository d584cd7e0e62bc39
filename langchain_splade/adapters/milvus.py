"""``MilvusSparseEmbedding``: SPLADE in langchain-milvus's sparse vector field.

A Milvus ``SPARSE_FLOAT_VECTOR`` field with ``metric_type="IP"`` scores the dot
product, SPLADE's score (Formal et al., 2021). Two settings matter for exact
results: langchain-milvus's default sparse index drops the smallest 20 % of each
vector's weights at build time (``drop_ratio_build=0.2``) and reuses that option
as a search parameter, which milvus-lite rejects. Pass :data:`INDEX_PARAMS` and
:data:`SEARCH_PARAMS` (no pruning) instead, and prune in the encoder if you want
smaller vectors (``SpladeEncoder(max_terms=...)``).

Needs the ``milvus`` extra: ``pip install 'langchain-splade[milvus]'``.
"""

from __future__ import annotations

from typing import Any

from langchain_splade.errors import InvalidInputError, require

require("langchain_milvus", "milvus")

from langchain_milvus.utils.sparse import BaseSparseEmbedding  # noqa: E402

from langchain_splade.adapters._core import (  # noqa: E402
    AdapterMixin,
    EncoderCore,
    to_sparse_dict,
)
from langchain_splade.encoders import SpladeEncoder  # noqa: E402

INDEX_PARAMS: dict[str, Any] = {
    "index_type": "SPARSE_INVERTED_INDEX",
    "metric_type": "IP",
    "params": {"drop_ratio_build": 0.0},
}
"""Milvus index parameters for exact SPLADE scores (no weights dropped)."""

SEARCH_PARAMS: dict[str, Any] = {"metric_type": "IP", "params": {}}
"""Milvus search parameters for exact SPLADE scores."""


class MilvusSparseEmbedding(AdapterMixin, BaseSparseEmbedding):
    """langchain-milvus ``BaseSparseEmbedding`` backed by a :class:`SpladeEncoder`.

    Example:
        .. code-block:: python

            from langchain_milvus import Milvus
            from langchain_splade.adapters import MilvusSparseEmbedding

            splade = MilvusSparseEmbedding()
            store = Milvus(
                embedding_function=splade, connection_args={"uri": "./milvus.db"},
                index_params=splade.index_params, search_params=splade.search_params,
                auto_id=True,
            )

    Args:
        encoder: the encoder; ``None`` loads the bundled offline model. Its pruning
            settings and long-document windows apply to every vector.
        batch_size: texts per encoding step (and progress-bar step).
        show_progress: force the progress bar on/off; ``None`` shows it for long inputs.
    """

    index_params: dict[str, Any]
    """Pass to ``Milvus(index_params=...)``: a copy of :data:`INDEX_PARAMS`."""
    search_params: dict[str, Any]
    """Pass to ``Milvus(search_params=...)``: a copy of :data:`SEARCH_PARAMS`."""

    def __init__(
        self,
        encoder: SpladeEncoder | None = None,
        *,
        batch_size: int = 256,
        show_progress: bool | None = None,
    ) -> None:
        self._core = EncoderCore(encoder, batch_size, show_progress)
        self.index_params = dict(INDEX_PARAMS, params=dict(INDEX_PARAMS["params"]))
        self.search_params = dict(SEARCH_PARAMS, params={})

    def embed_documents(self, texts: list[str]) -> list[dict[int, float]]:
        """``{term_id: weight}`` per document.

        Raises:
            InvalidInputError: a text has no terms (empty or blank). Milvus rejects a
                sparse row without a weight; raising here, before anything is sent,
                keeps a batch all-or-nothing.
        """
        vectors = self._core.documents(texts)
        empty = [position for position, vector in enumerate(vectors) if vector.nnz == 0]
        if empty:
            raise InvalidInputError(
                f"{len(empty)} text(s) have no terms to index (positions {empty[:10]}).",
                expected="texts with at least one word (Milvus stores no empty sparse rows)",
                fix="drop empty or blank texts before adding them",
            )
        return [to_sparse_dict(vector) for vector in vectors]

    def embed_query(self, query: str) -> dict[int, float]:
        """``{term_id: weight}`` of the query (an empty query matches nothing)."""
        return to_sparse_dict(self._core.query(query))

    async def aembed_documents(self, texts: list[str]) -> list[dict[int, float]]:
        """Async :meth:`embed_documents` (a worker thread; one encoding at a time)."""
        return await self._core.run(self.embed_documents, texts)

    async def aembed_query(self, query: str) -> dict[int, float]:
        """Async :meth:`embed_query`."""
        return await self._core.run(self.embed_query, query)

    def __repr__(self) -> str:
        return f"MilvusSparseEmbedding(encoder={self.encoder!r})"
