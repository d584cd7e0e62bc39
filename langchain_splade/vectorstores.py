"""``SpladeVectorStore``: a LangChain ``VectorStore`` over any sparse index backend.

Users keep documents in a ``VectorStore`` (``add_documents``, ``delete``,
``get_by_ids``, ``as_retriever()``) and keep it in sync with their sources through
LangChain's indexing API (``langchain_core.indexing.index`` and a record manager). This
class gives them that over the one :class:`~langchain_splade.stores.base.SparseIndex`
contract, so the local index, OpenSearch and Elasticsearch behave the same.

Sparse semantics, stated once: a document sharing no term with the query scores 0 and
is not returned, so a search may return fewer than ``k`` documents (as Qdrant's sparse
mode and Elasticsearch's ``match``/``sparse_vector`` queries do). Scores are raw SPLADE
dot products (higher is better, unbounded), hence no ``[0, 1]`` relevance scores.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from langchain_splade.encoders.inputs import check_texts
from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.filters import parse_filter
from langchain_splade.mmr import check_lambda, mmr_order
from langchain_splade.retrievers import SpladeRetriever, check_search_kwargs
from langchain_splade.stores.base import Filter, SparseIndex, is_sparse_index
from langchain_splade.types import SearchHit, SparseVector
from langchain_splade.validation import check_ids, check_k, check_query, check_query_text

if TYPE_CHECKING:
    from langchain_splade.encoders import SpladeEncoder

# Keyword arguments LangChain passes to ``add_documents`` that mean nothing here: the
# indexing API sends ``batch_size``; the encoder batches by tokens itself.
_IGNORED_ADD_KWARGS = frozenset({"batch_size"})
_RETRIEVER_SEARCH_KWARGS = ("k", "filter", "score_threshold")


class SpladeVectorStore(VectorStore):
    """A LangChain ``VectorStore`` of SPLADE sparse vectors in any ``SparseIndex``.

    Example:
        .. code-block:: python

            store = SpladeVectorStore()                      # bundled model, local index
            ids = store.add_documents([Document("Paris is in France.", id="fr")])
            store.similarity_search_with_score("capital of France", k=2)
            retriever = store.as_retriever(mode="hybrid", search_kwargs={"k": 3})

    Args:
        index: any SparseIndex (default: a new in-memory ``LocalSparseIndex``).
        encoder: the SpladeEncoder for documents and queries (default: bundled model).
            An index already written with another encoder raises
            ``IncompatibleIndexError`` here, before anything is written.
    """

    def __init__(
        self, index: SparseIndex | None = None, encoder: SpladeEncoder | None = None
    ) -> None:
        if encoder is None:
            from langchain_splade.encoders import SpladeEncoder

            encoder = SpladeEncoder()
        if index is None:
            from langchain_splade.stores.local import LocalSparseIndex

            index = LocalSparseIndex()
        if not is_sparse_index(index):
            raise InvalidTypeError(
                f"index is a {type(index).__name__}, which is not a SparseIndex.",
                expected="LocalSparseIndex, OpenSearchSparseIndex, ElasticsearchSparseIndex",
                fix="pass index=LocalSparseIndex() or leave it out",
            )
        index.check_encoder(encoder.fingerprint)
        self.index = index
        self.encoder = encoder

    # -- writes ---------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Encode and upsert ``texts``; returns their ids (new UUIDs where none given).

        Everything is checked before the first write, so bad input stores nothing.
        """
        return self._add(*self._prepare(texts, metadatas, ids, kwargs))

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`."""
        return await self._aadd(*self._prepare(texts, metadatas, ids, kwargs))

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Upsert ``documents``; ``ids=`` wins over each ``Document.id``."""
        texts, metadatas, ids = _unpack(documents, kwargs.pop("ids", None))
        return self._add(*self._prepare(texts, metadatas, ids, kwargs))

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Async :meth:`add_documents`."""
        texts, metadatas, ids = _unpack(documents, kwargs.pop("ids", None))
        return await self._aadd(*self._prepare(texts, metadatas, ids, kwargs))

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Remove documents by id (unknown ids are ignored); ``True`` when done."""
        self.index.delete(_delete_ids(ids, kwargs))
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Async :meth:`delete`."""
        await self.index.adelete(_delete_ids(ids, kwargs))
        return True

    # -- reads ----------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents for ``ids`` (unknown ids skipped), each with its id."""
        return [_document(d.id, d.text, d.metadata) for d in self.index.get(check_ids(ids))]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        stored = await self.index.aget(check_ids(ids))
        return [_document(d.id, d.text, d.metadata) for d in stored]

    def similarity_search(
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[Document]:
        """Documents sharing terms with ``query``, best first (at most ``k``)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search`."""
        pairs = await self.asimilarity_search_with_score(query, k, filter, **kwargs)
        return [doc for doc, _ in pairs]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """``(Document, SPLADE dot product)`` pairs, best first; only scores > 0.

        ``kwargs`` are options of the index's ``search`` (e.g. ``approximate=True`` on
        ``LocalSparseIndex``).
        """
        self._check_search(k, filter, kwargs)
        vector = self.encoder.embed_query(check_query_text(query, "query"))
        return _scored(self._search(vector, k, filter, kwargs))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score`."""
        self._check_search(k, filter, kwargs)
        vector = await self.encoder.aembed_query(check_query_text(query, "query"))
        return _scored(await self._asearch(vector, k, filter, kwargs))

    def similarity_search_by_vector(  # type: ignore[override]
        self,
        embedding: SparseVector,
        k: int = 4,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Like :meth:`similarity_search` for an already encoded query vector."""
        self._check_search(k, filter, kwargs)
        return [doc for doc, _ in _scored(self._search(check_query(embedding), k, filter, kwargs))]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Up to ``k`` of the ``fetch_k`` best matches, chosen for relevance and diversity.

        MMR on the SPLADE vectors themselves (see :mod:`langchain_splade.mmr`):
        relevance is the dot product scaled by the best candidate's, redundancy the
        cosine between document vectors; ``lambda_mult=1`` is plain similarity order.
        """
        self._check_mmr(k, fetch_k, lambda_mult, filter, kwargs)
        vector = self.encoder.embed_query(check_query_text(query, "query"))
        hits = self._search(vector, fetch_k, filter, kwargs)
        return self._mmr(hits, self._vectors(hits), k, lambda_mult)

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search`."""
        self._check_mmr(k, fetch_k, lambda_mult, filter, kwargs)
        vector = await self.encoder.aembed_query(check_query_text(query, "query"))
        hits = await self._asearch(vector, fetch_k, filter, kwargs)
        return self._mmr(hits, await self._avectors(hits), k, lambda_mult)

    def max_marginal_relevance_search_by_vector(  # type: ignore[override]
        self,
        embedding: SparseVector,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """:meth:`max_marginal_relevance_search` for an already encoded query vector."""
        self._check_mmr(k, fetch_k, lambda_mult, filter, kwargs)
        hits = self._search(check_query(embedding), fetch_k, filter, kwargs)
        return self._mmr(hits, self._vectors(hits), k, lambda_mult)

    def _select_relevance_score_fn(self) -> Any:
        raise InvalidInputError(
            "SpladeVectorStore has no relevance scores in [0, 1]: SPLADE dot products "
            "are unbounded.",
            expected="similarity_search_with_score (raw dot products, higher is better)",
            fix="use similarity_search_with_score, or as_retriever(search_kwargs="
            "{'score_threshold': ...}) with a dot-product threshold",
        )

    # -- construction and retriever -------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Any = None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        index: SparseIndex | None = None,
        encoder: SpladeEncoder | None = None,
        **kwargs: Any,
    ) -> SpladeVectorStore:
        """A store over ``index`` (default: new local index) holding ``texts``.

        ``embedding`` is LangChain's positional slot for the model: pass a
        ``SpladeEncoder`` there or as ``encoder=`` (dense ``Embeddings`` do not fit).
        """
        if embedding is not None and encoder is not None:
            raise InvalidInputError(
                "Both embedding= and encoder= were given.", fix="pass the SpladeEncoder once"
            )
        encoder = encoder if encoder is not None else embedding
        if encoder is not None and not hasattr(encoder, "embed_documents"):
            raise InvalidTypeError(
                f"embedding is a {type(encoder).__name__}.",
                expected="a SpladeEncoder (or None for the bundled model)",
                fix="pass encoder=SpladeEncoder(...)",
            )
        store = cls(index=index, encoder=encoder)
        store.add_texts(texts, metadatas, ids=ids, **kwargs)
        return store

    def as_retriever(self, **kwargs: Any) -> SpladeRetriever:  # type: ignore[override]
        """A :class:`SpladeRetriever` over this store's index and encoder.

        Takes every ``SpladeRetriever`` field (``k``, ``filter``, ``mode``, ``fusion``,
        ``fusion_weights``, ``candidates``, ``score_threshold``, ``explain_terms``,
        ``search_kwargs``, ...) and LangChain's conventions: ``search_type`` is
        ``"similarity"`` or ``"similarity_score_threshold"``; ``k``, ``filter`` and
        ``score_threshold`` inside ``search_kwargs`` become retriever fields, the rest
        stay options of the index's ``search``.
        """
        search_type = kwargs.pop("search_type", "similarity")
        options = dict(kwargs.pop("search_kwargs", None) or {})
        fields = {name: options.pop(name) for name in _RETRIEVER_SEARCH_KWARGS if name in options}
        clash = sorted(set(fields) & set(kwargs))
        if clash:
            raise InvalidInputError(
                f"{clash} given both as arguments and in search_kwargs.",
                fix="give each once",
            )
        _check_search_type(search_type, {**fields, **kwargs})
        tags = [*(kwargs.pop("tags", None) or []), type(self).__name__, type(self.index).__name__]
        return SpladeRetriever(
            encoder=self.encoder,
            index=self.index,
            search_kwargs=options or None,
            tags=tags,
            **fields,
            **kwargs,
        )

    # -- helpers --------------------------------------------------------------------

    def _prepare(
        self,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
        kwargs: Mapping[str, Any],
    ) -> tuple[list[str], list[Mapping[str, Any] | None] | None, list[str]]:
        """Texts, metadatas and ids checked together, so bad input stores nothing."""
        unknown = sorted(set(kwargs) - _IGNORED_ADD_KWARGS)
        if unknown:
            raise InvalidInputError(
                f"Unknown keyword arguments {unknown}.",
                expected="texts, metadatas and ids (batch_size is accepted and ignored)",
                fix="drop them",
            )
        # The stored text is the caller's; the encoder cleans its own copy.
        given: Any = texts
        if isinstance(texts, Iterable) and not isinstance(texts, (str, bytes)):
            given = list(texts)  # once: texts may be a generator
        check_texts(given)  # a str or a non-sequence is an InvalidTypeError too
        text_list: list[str] = given
        if ids is None:
            id_list = [uuid.uuid4().hex for _ in text_list]
        elif isinstance(ids, (str, bytes)):
            id_list = check_ids(ids)  # raises: a bare string is not a list of ids
        else:  # a Document without an id gets a new one, as LangChain stores do
            id_list = check_ids([uuid.uuid4().hex if i is None else i for i in ids])
        metadata_list = None if metadatas is None else list(metadatas)
        if len(id_list) != len(text_list) or (
            metadata_list is not None and len(metadata_list) != len(text_list)
        ):
            raise InvalidInputError(
                f"Got {len(text_list)} texts, {len(id_list)} ids and "
                f"{'no' if metadata_list is None else len(metadata_list)} metadatas.",
                expected="one id and one metadata mapping per text",
                fix="pass lists of equal length",
            )
        return text_list, metadata_list, id_list

    def _add(
        self, texts: list[str], metadatas: list[Mapping[str, Any] | None] | None, ids: list[str]
    ) -> list[str]:
        if not texts:
            return []
        vectors = self.encoder.embed_documents(texts)
        return list(self.index.add(ids, vectors, texts, metadatas))

    async def _aadd(
        self, texts: list[str], metadatas: list[Mapping[str, Any] | None] | None, ids: list[str]
    ) -> list[str]:
        if not texts:
            return []
        vectors = await self.encoder.aembed_documents(texts)
        return list(await self.index.aadd(ids, vectors, texts, metadatas))

    def _check_search(self, k: int, filter: Filter | None, options: Mapping[str, Any]) -> None:
        check_k(k)
        parse_filter(filter)
        check_search_kwargs(self.index, options)

    def _check_mmr(
        self,
        k: int,
        fetch_k: int,
        lambda_mult: float,
        filter: Filter | None,
        options: Mapping[str, Any],
    ) -> None:
        self._check_search(k, filter, options)
        check_k(fetch_k, "fetch_k")
        check_lambda(lambda_mult)

    def _search(
        self, vector: SparseVector, k: int, filter: Filter | None, options: Mapping[str, Any]
    ) -> list[SearchHit]:
        if vector.nnz == 0:
            return []  # a query without terms matches nothing
        return list(self.index.search(vector, k=k, filter=filter, **options))

    async def _asearch(
        self, vector: SparseVector, k: int, filter: Filter | None, options: Mapping[str, Any]
    ) -> list[SearchHit]:
        if vector.nnz == 0:
            return []
        return list(await self.index.asearch(vector, k=k, filter=filter, **options))

    def _vectors(self, hits: Sequence[SearchHit]) -> list[SparseVector]:
        missing = [h.id for h in hits if h.vector is None]
        stored = {d.id: d.vector for d in self.index.get(missing)} if missing else {}
        return [h.vector if h.vector is not None else stored[h.id] for h in hits]

    async def _avectors(self, hits: Sequence[SearchHit]) -> list[SparseVector]:
        missing = [h.id for h in hits if h.vector is None]
        stored = {d.id: d.vector for d in await self.index.aget(missing)} if missing else {}
        return [h.vector if h.vector is not None else stored[h.id] for h in hits]

    @staticmethod
    def _mmr(
        hits: Sequence[SearchHit], vectors: Sequence[SparseVector], k: int, lambda_mult: float
    ) -> list[Document]:
        order = mmr_order([h.score for h in hits], vectors, k, lambda_mult)
        return [_document(hits[i].id, hits[i].text, hits[i].metadata) for i in order]


def _document(doc_id: str, text: str | None, metadata: Mapping[str, Any]) -> Document:
    return Document(id=doc_id, page_content=text or "", metadata=dict(metadata))


def _scored(hits: Sequence[SearchHit]) -> list[tuple[Document, float]]:
    return [(_document(h.id, h.text, h.metadata), float(h.score)) for h in hits]


def _unpack(
    documents: Sequence[Document], ids: Sequence[str] | None
) -> tuple[list[str], list[Mapping[str, Any] | None], list[str | None] | None]:
    """Texts, metadatas and ids of ``documents`` (``ids`` wins over ``Document.id``)."""
    if isinstance(documents, Document) or not isinstance(documents, Iterable):
        raise InvalidTypeError(
            f"documents is a {type(documents).__name__}.",
            expected="a list of Document",
            fix="wrap a single document in a list",
        )
    documents = list(documents)
    for position, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise InvalidTypeError(
                f"documents[{position}] is a {type(doc).__name__}.",
                expected="langchain_core.documents.Document objects",
                fix="wrap texts as Document(page_content=...) or call add_texts",
            )
    if ids is None:
        doc_ids = [doc.id for doc in documents]
        ids_out: list[str | None] | None = doc_ids if any(doc_ids) else None
    else:
        ids_out = list(ids)
    return [d.page_content for d in documents], [d.metadata for d in documents], ids_out


def _delete_ids(ids: list[str] | None, kwargs: Mapping[str, Any]) -> list[str]:
    if kwargs:
        raise InvalidInputError(
            f"delete got keyword arguments {sorted(kwargs)}.", expected="only ids"
        )
    if ids is None:
        raise InvalidInputError(
            "delete(ids=None) would remove every document.",
            expected="a list of ids",
            fix="pass the ids to remove; to empty a remote index call store.index.clear()",
        )
    return check_ids(ids)


def _check_search_type(search_type: Any, fields: Mapping[str, Any]) -> None:
    if search_type == "mmr":
        raise InvalidInputError(
            "as_retriever(search_type='mmr'): a SpladeRetriever ranks by score.",
            expected="search_type 'similarity' or 'similarity_score_threshold'",
            fix="use VectorStoreRetriever(vectorstore=store, search_type='mmr') from "
            "langchain_core.vectorstores, or store.max_marginal_relevance_search",
        )
    if search_type not in ("similarity", "similarity_score_threshold"):
        raise InvalidInputError(
            f"search_type={search_type!r}.",
            expected="'similarity' or 'similarity_score_threshold'",
        )
    if search_type == "similarity_score_threshold" and fields.get("score_threshold") is None:
        raise InvalidInputError(
            "search_type='similarity_score_threshold' without a score_threshold.",
            expected="search_kwargs={'score_threshold': <minimum SPLADE dot product>}",
            fix="add score_threshold (a raw dot product, not a value in [0, 1])",
        )

