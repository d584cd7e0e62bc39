"""``QdrantSparseEmbeddings``: SPLADE in langchain-qdrant's sparse slot.

``QdrantVectorStore(..., sparse_embedding=QdrantSparseEmbeddings(),
retrieval_mode=RetrievalMode.SPARSE or RetrievalMode.HYBRID)`` stores and searches
our vectors; Qdrant scores a sparse query by the dot product over shared indices,
so its sparse ranking is SPLADE's exact ranking (Formal et al., 2021, "SPLADE v2").
Keep the collection's sparse vectors without an ``IDF`` modifier: SPLADE weights
already carry term importance.

Needs the ``qdrant`` extra: ``pip install 'langchain-splade[qdrant]'``.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_splade.errors import require

require("langchain_qdrant", "qdrant")

from langchain_qdrant import SparseEmbeddings  # noqa: E402
from langchain_qdrant import SparseVector as QdrantSparseVector  # noqa: E402

from langchain_splade.adapters._core import AdapterMixin, EncoderCore  # noqa: E402
from langchain_splade.encoders import SpladeEncoder  # noqa: E402
from langchain_splade.types import SparseVector  # noqa: E402


class QdrantSparseEmbeddings(AdapterMixin, SparseEmbeddings):
    """langchain-qdrant ``SparseEmbeddings`` backed by a :class:`SpladeEncoder`.

    Example:
        .. code-block:: python

            from langchain_qdrant import QdrantVectorStore, RetrievalMode
            from langchain_splade.adapters import QdrantSparseEmbeddings

            store = QdrantVectorStore.from_texts(
                texts, embedding=None, sparse_embedding=QdrantSparseEmbeddings(),
                retrieval_mode=RetrievalMode.SPARSE, location=":memory:",
            )

    Args:
        encoder: the encoder; ``None`` loads the bundled offline model. Its pruning
            settings (``max_terms``, ``min_weight``, ``query_max_terms``, ...) and long
            document windows apply to every vector.
        batch_size: texts per encoding step (and progress-bar step).
        show_progress: force the progress bar on/off; ``None`` shows it for long inputs.
    """

    def __init__(
        self,
        encoder: SpladeEncoder | None = None,
        *,
        batch_size: int = 256,
        show_progress: bool | None = None,
    ) -> None:
        self._core = EncoderCore(encoder, batch_size, show_progress)

    def embed_documents(self, texts: list[str]) -> list[QdrantSparseVector]:
        """Document vectors as Qdrant ``SparseVector``s (plain int/float lists)."""
        return [to_qdrant(vector) for vector in self._core.documents(texts)]

    def embed_query(self, text: str) -> QdrantSparseVector:
        """The query vector (model or IDF, pruned with the query settings)."""
        return to_qdrant(self._core.query(text))

    async def aembed_documents(self, texts: list[str]) -> list[QdrantSparseVector]:
        """Async :meth:`embed_documents` (a worker thread; one encoding at a time)."""
        return await self._core.run(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> QdrantSparseVector:
        """Async :meth:`embed_query`."""
        return await self._core.run(self.embed_query, text)

    def __repr__(self) -> str:
        return f"QdrantSparseEmbeddings(encoder={self.encoder!r})"


def to_qdrant(vector: SparseVector) -> QdrantSparseVector:
    """A SparseVector as langchain-qdrant's model (validated by construction already)."""
    return QdrantSparseVector.model_construct(
        indices=vector.indices.tolist(), values=vector.values.tolist()
    )


def from_qdrant(vectors: Sequence[QdrantSparseVector]) -> list[SparseVector]:
    """Qdrant sparse vectors back as SparseVectors (validated: Qdrant accepts more)."""
    return [SparseVector(vector.indices, vector.values) for vector in vectors]
