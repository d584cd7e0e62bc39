"""``SpladeLlamaIndexRetriever``: SPLADE retrieval as a LlamaIndex retriever.

It wraps a :class:`~langchain_splade.retrievers.SpladeRetriever`, so LlamaIndex
users get the same encoder, backends (local or OpenSearch), filters, scores and
``matched_terms`` explanations as LangChain users, from one implementation.
Results are ``NodeWithScore`` objects whose ``TextNode`` keeps the document id,
text and metadata (including ``matched_terms``).

Needs the ``llamaindex`` extra: ``pip install 'langchain-splade[llamaindex]'``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_splade.errors import InvalidTypeError, require

require("llama_index.core", "llamaindex")

from llama_index.core.base.base_retriever import BaseRetriever  # noqa: E402
from llama_index.core.callbacks import CallbackManager  # noqa: E402
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode  # noqa: E402

from langchain_splade.filters import parse_filter  # noqa: E402
from langchain_splade.retrievers import SpladeRetriever  # noqa: E402
from langchain_splade.validation import check_k  # noqa: E402

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from langchain_splade.encoders import SpladeEncoder
    from langchain_splade.stores.base import Filter, SparseIndex

# Retrieval diagnostics: useful to show or log, noise in an LLM prompt or an embedding.
_DIAGNOSTIC_KEYS = ["score", "matched_terms", "fusion"]
# SpladeRetriever fields that are not retrieval options of the adapter.
_NOT_OPTIONS = frozenset({"name", "tags", "metadata", "encoder", "index", "k"})


class SpladeLlamaIndexRetriever(BaseRetriever):
    """Retrieve LlamaIndex nodes by SPLADE sparse dot product.

    Example:
        .. code-block:: python

            retriever = SpladeLlamaIndexRetriever.from_texts(texts, similarity_top_k=3)
            hits = retriever.retrieve("capital of France")
            hits[0].score, hits[0].node.metadata["matched_terms"]

    Args:
        encoder: the SpladeEncoder that encodes queries (and documents added here).
        index: any SparseIndex (LocalSparseIndex, OpenSearchSparseIndex, ...), already
            filled or to be filled with :meth:`add_texts` / :meth:`add_nodes`.
        similarity_top_k: number of nodes to return (LlamaIndex's name for ``k``).
        filter: metadata filter (:mod:`langchain_splade.filters` dialect) applied to
            every search.
        score_threshold: drop hits scoring below this value.
        explain_terms: how many matched terms to keep in ``metadata["matched_terms"]``.
        callback_manager, verbose: as for any LlamaIndex retriever.
        **options: further :class:`~langchain_splade.retrievers.SpladeRetriever`
            settings (e.g. ``mode="hybrid"``, ``fusion="rrf"``), so both adapters
            expose the same retrieval features.
    """

    def __init__(
        self,
        encoder: SpladeEncoder,
        index: SparseIndex,
        *,
        similarity_top_k: int = 4,
        filter: Filter | None = None,
        score_threshold: float | None = None,
        explain_terms: int = 10,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
        **options: Any,
    ) -> None:
        # SpladeRetriever validates every argument with the project's typed errors.
        self._retriever = SpladeRetriever(
            encoder=encoder,
            index=index,
            k=similarity_top_k,
            filter=dict(filter) if filter is not None else None,
            score_threshold=score_threshold,
            explain_terms=explain_terms,
            **options,
        )
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_langchain(cls, retriever: SpladeRetriever, **kwargs: Any) -> SpladeLlamaIndexRetriever:
        """Share an existing LangChain ``SpladeRetriever``'s encoder, index and settings."""
        if not isinstance(retriever, SpladeRetriever):
            raise InvalidTypeError(
                f"retriever is a {type(retriever).__name__}, not a SpladeRetriever.",
                fix="pass a SpladeRetriever, or use SpladeLlamaIndexRetriever(encoder, index)",
            )
        settings: dict[str, Any] = {
            name: getattr(retriever, name)
            for name in type(retriever).model_fields
            if name not in _NOT_OPTIONS
        }
        settings["similarity_top_k"] = retriever.k
        settings.update(kwargs)
        return cls(retriever.encoder, retriever.index, **settings)

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        *,
        encoder: SpladeEncoder | None = None,
        index: SparseIndex | None = None,
        similarity_top_k: int = 4,
        filter: Filter | None = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> SpladeLlamaIndexRetriever:
        """Encode ``texts`` and index them (a new LocalSparseIndex unless ``index`` is given).

        ``encoder`` defaults to the bundled offline model; other keyword arguments go
        to the constructor.
        """
        # Validate the cheap arguments before paying for encoding.
        check_k(similarity_top_k, "similarity_top_k")
        parse_filter(filter)
        wrapped = SpladeRetriever.from_texts(
            texts, metadatas, ids, encoder=encoder, index=index, show_progress=show_progress
        )
        return cls(
            wrapped.encoder,
            wrapped.index,
            similarity_top_k=similarity_top_k,
            filter=filter,
            **kwargs,
        )

    @classmethod
    def from_nodes(
        cls,
        nodes: Iterable[BaseNode],
        *,
        encoder: SpladeEncoder | None = None,
        index: SparseIndex | None = None,
        **kwargs: Any,
    ) -> SpladeLlamaIndexRetriever:
        """Index LlamaIndex nodes or ``Document``s, keeping their ids and metadata."""
        texts, metadatas, ids = _unpack_nodes(nodes)
        return cls.from_texts(texts, metadatas, ids, encoder=encoder, index=index, **kwargs)

    # -- writes ---------------------------------------------------------------------

    def add_texts(
        self,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        *,
        show_progress: bool = False,
    ) -> list[str]:
        """Encode and store ``texts``; returns their ids (new UUIDs where none given)."""
        return self._retriever.add_texts(texts, metadatas, ids, show_progress=show_progress)

    def add_nodes(self, nodes: Iterable[BaseNode], *, show_progress: bool = False) -> list[str]:
        """Encode and store LlamaIndex nodes under their ``node_id``."""
        texts, metadatas, ids = _unpack_nodes(nodes)
        return self.add_texts(texts, metadatas, ids, show_progress=show_progress)

    def delete(self, ids: Sequence[str]) -> int:
        """Remove nodes by id; returns how many were removed."""
        return self._retriever.delete(ids)

    # -- settings -------------------------------------------------------------------

    @property
    def langchain_retriever(self) -> SpladeRetriever:
        """The wrapped LangChain retriever (same index), for use in LangChain chains."""
        return self._retriever

    @property
    def encoder(self) -> SpladeEncoder:
        """The encoder used for queries."""
        encoder: SpladeEncoder = self._retriever.encoder
        return encoder

    @property
    def index(self) -> SparseIndex:
        """The sparse index searched."""
        index: SparseIndex = self._retriever.index
        return index

    @property
    def similarity_top_k(self) -> int:
        """Number of nodes returned per query."""
        return self._retriever.k

    @similarity_top_k.setter
    def similarity_top_k(self, value: int) -> None:
        self._retriever.k = check_k(value, "similarity_top_k")

    # -- retrieval ------------------------------------------------------------------

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """Encode the query and search the index (LlamaIndex's sync entry point)."""
        return _to_nodes(self._retriever.invoke(query_bundle.query_str))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """Async search: the index's native ``asearch`` when it has one, else a thread."""
        return _to_nodes(await self._retriever.ainvoke(query_bundle.query_str))

    def __repr__(self) -> str:
        return (
            f"SpladeLlamaIndexRetriever(encoder={self.encoder!r}, "
            f"index={type(self.index).__name__}, similarity_top_k={self.similarity_top_k})"
        )


def _to_nodes(documents: Sequence[Document]) -> list[NodeWithScore]:
    """LangChain ``Document``s (with ``score`` metadata) as scored LlamaIndex nodes."""
    nodes = []
    for document in documents:
        node = TextNode(
            text=document.page_content,
            metadata=dict(document.metadata),
            excluded_llm_metadata_keys=list(_DIAGNOSTIC_KEYS),
            excluded_embed_metadata_keys=list(_DIAGNOSTIC_KEYS),
        )
        if document.id is not None:
            node.id_ = document.id
        nodes.append(NodeWithScore(node=node, score=float(document.metadata["score"])))
    return nodes


def _unpack_nodes(
    nodes: Iterable[BaseNode],
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Texts, metadata and ids of LlamaIndex nodes (their plain content, no metadata)."""
    texts, metadatas, ids = [], [], []
    for node in nodes:
        if not isinstance(node, BaseNode):
            raise InvalidTypeError(
                f"Expected LlamaIndex nodes, found a {type(node).__name__}.",
                expected="TextNode or llama_index.core.Document objects",
                fix="use from_texts(...) for plain strings",
            )
        texts.append(node.get_content())
        metadatas.append(dict(node.metadata))
        ids.append(node.node_id)
    return texts, metadatas, ids
