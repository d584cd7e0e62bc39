"""``SpladeRetriever``: a LangChain retriever over any sparse index backend.

Every returned ``Document`` carries its score and the terms that drove the match
(``metadata["matched_terms"]``, ``{token: query_weight * doc_weight}``): SPLADE's
interpretability promise, delivered where a RAG chain can log or show it.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict, Field

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.filters import parse_filter
from langchain_splade.fusion import RRF_K, FusionMethod, fuse
from langchain_splade.stores.base import Filter, SparseIndex, is_sparse_index
from langchain_splade.types import SearchHit, SparseVector
from langchain_splade.validation import check_k

if TYPE_CHECKING:
    from langchain_splade.encoders import SpladeEncoder

# Query vectors pre-computed by ``batch``; a context variable, so LangChain's
# context-copying thread pool hands them to each ``invoke`` of that batch only.
# Hybrid default, chosen by leave-one-dataset-out on msmarco-5k, dbpedia-5k and nfcorpus
# (benchmarks/quality.py): each score divided by its list's top score (floor 0, both
# scores' theoretical minimum), weighted SPLADE 0.8 / BM25 0.2. Held out, it is within
# 0.005 of the better single method on every dataset and above both on the mean.
DEFAULT_FUSION: FusionMethod = "max"
DEFAULT_FUSION_WEIGHTS = {"sparse": 0.8, "bm25": 0.2}

_PRECOMPUTED_QUERIES: contextvars.ContextVar[Mapping[str, SparseVector] | None] = (
    contextvars.ContextVar("splade_precomputed_queries", default=None)
)


class SpladeRetriever(BaseRetriever):
    """Retrieve documents by SPLADE sparse dot product.

    Example:
        .. code-block:: python

            retriever = SpladeRetriever.from_texts(["Paris is in France.", "..."], k=2)
            docs = retriever.invoke("capital of France")
            docs[0].metadata["matched_terms"]   # {'france': 4.1, 'paris': 2.3, ...}

    Attributes:
        encoder: the SpladeEncoder used for queries (and documents added here).
        index: any SparseIndex (LocalSparseIndex, OpenSearchSparseIndex, ...).
        k: number of documents to return; ``invoke(query, k=...)`` overrides it.
        filter: metadata filter applied to every search; ``invoke(query, filter=...)``
            overrides it.
        score_threshold: drop hits scoring below this value.
        explain_terms: how many matched terms to keep in ``metadata["matched_terms"]``.
        mode: ``"sparse"`` (SPLADE), ``"bm25"`` (the index's BM25 over the same
            texts) or ``"hybrid"`` (both, fused; each Document then records both
            components' rank and score in ``metadata["fusion"]``).
        fusion: how hybrid mode fuses: ``"max"`` (default), ``"minmax"`` or ``"zscore"``
            (normalised linear combination), or ``"rrf"`` (reciprocal rank fusion, k=60).
        fusion_weights: per-component weights; default ``{"sparse": 0.8, "bm25": 0.2}``
            for linear fusion, equal weights for RRF.
        candidates: results fetched from each component before fusing.
        search_kwargs: extra keyword arguments for the index's ``search``, e.g.
            ``{"approximate": True, "alpha": 0.9}`` for LocalSparseIndex's approximate
            mode (faster, recall@10 about 0.95-0.99; see its ``search``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    encoder: Any = Field(description="SpladeEncoder")
    index: Any = Field(description="SparseIndex backend")
    k: int = 4
    filter: Any = None  # validated by parse_filter in __init__ (typed FilterError)
    score_threshold: float | None = None
    explain_terms: int = 10
    mode: Literal["sparse", "bm25", "hybrid"] = "sparse"
    fusion: FusionMethod = DEFAULT_FUSION
    fusion_weights: dict[str, float] | None = None
    candidates: int = 100
    search_kwargs: dict[str, Any] | None = None

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Checked here, not in a validator, so users get our typed errors unwrapped.
        check_k(self.k)
        check_k(self.explain_terms, "explain_terms")
        parse_filter(self.filter)
        if not is_sparse_index(self.index):
            raise InvalidTypeError(
                f"index is a {type(self.index).__name__}, which is not a SparseIndex.",
                expected="LocalSparseIndex, OpenSearchSparseIndex or another SparseIndex",
                fix="pass index=LocalSparseIndex() or leave it out in from_texts",
            )
        check_k(self.candidates, "candidates")
        if self.mode not in ("sparse", "bm25", "hybrid"):
            raise InvalidInputError(f"mode={self.mode!r}.", expected="'sparse', 'bm25' or 'hybrid'")
        check_search_kwargs(self.index, self.search_kwargs)
        self.index.check_encoder(self.encoder.fingerprint)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        *,
        encoder: SpladeEncoder | None = None,
        index: SparseIndex | None = None,
        k: int = 4,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> SpladeRetriever:
        """Encode ``texts`` and index them (a new LocalSparseIndex unless ``index`` is given)."""
        if encoder is None:
            from langchain_splade.encoders import SpladeEncoder

            encoder = SpladeEncoder()
        if index is None:
            from langchain_splade.stores.local import LocalSparseIndex

            index = LocalSparseIndex()
        retriever = cls(encoder=encoder, index=index, k=k, **kwargs)
        retriever.add_texts(list(texts), metadatas, ids, show_progress=show_progress)
        return retriever

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Document],
        ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> SpladeRetriever:
        """Like :meth:`from_texts`, taking ``Document`` ids when they have one."""
        documents = list(documents)
        return cls.from_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids if ids is not None else _document_ids(documents),
            **kwargs,
        )

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
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
            raise InvalidTypeError(
                f"texts is a {type(texts).__name__}.",
                expected="a list of str",
                fix="wrap a single text in a list: add_texts(['...'])",
            )
        texts = list(texts)
        ids = list(ids) if ids is not None else [uuid.uuid4().hex for _ in texts]
        if len(ids) != len(texts) or (metadatas is not None and len(metadatas) != len(texts)):
            raise InvalidInputError(
                f"Got {len(texts)} texts, {len(ids)} ids and "
                f"{'no' if metadatas is None else len(metadatas)} metadatas.",
                expected="one id and one metadata mapping per text",
                fix="pass lists of equal length",
            )
        vectors = self.encoder.embed_documents(texts, show_progress=show_progress)
        return list(self.index.add(ids, vectors, texts, metadatas))

    def add_documents(self, documents: Sequence[Document], **kwargs: Any) -> list[str]:
        """Store LangChain documents; ``ids=`` or each ``Document.id`` is kept."""
        ids = kwargs.pop("ids", None)
        return self.add_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids if ids is not None else _document_ids(documents),
            **kwargs,
        )

    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents by id; returns how many were removed."""
        return int(self.index.delete(list(ids)))

    # -- retrieval ------------------------------------------------------------------

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: Filter | None = None,
        score_threshold: float | None = None,
    ) -> list[Document]:
        k, filter = self._call_options(k, filter)
        vector = None
        if self.mode != "bm25":
            vector = self._precomputed(query)
            if vector is None:
                vector = self.encoder.embed_query(query)
        sparse = self._sparse_hits(vector, k, filter)
        lexical = self._bm25_hits(query, k, filter)
        return self._documents(vector, sparse, lexical, k, score_threshold)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: Filter | None = None,
        score_threshold: float | None = None,
    ) -> list[Document]:
        k, filter = self._call_options(k, filter)
        vector = None
        if self.mode != "bm25":
            vector = self._precomputed(query)
            if vector is None:
                vector = await self.encoder.aembed_query(query)
        sparse, lexical = await asyncio.gather(
            self._asparse_hits(vector, k, filter), self._abm25_hits(query, k, filter)
        )
        return self._documents(vector, sparse, lexical, k, score_threshold)

    def batch(
        self,
        inputs: list[str],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Encode all queries in one pass, then search each (callbacks as usual)."""
        if not inputs:
            return []
        queries = [_check_query(q) for q in inputs]
        vectors = dict(zip(queries, self.encoder.embed_queries(queries)))
        token = _PRECOMPUTED_QUERIES.set(vectors)
        try:
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        finally:
            _PRECOMPUTED_QUERIES.reset(token)

    # -- helpers --------------------------------------------------------------------

    def _call_options(self, k: int | None, filter: Filter | None) -> tuple[int, Filter | None]:
        k = check_k(self.k if k is None else k)
        filter = self.filter if filter is None else filter
        parse_filter(filter)
        return k, filter

    @staticmethod
    def _precomputed(query: str) -> SparseVector | None:
        """The vector ``batch`` already encoded for ``query``, if any."""
        query = _check_query(query)
        precomputed = _PRECOMPUTED_QUERIES.get()
        return None if precomputed is None else precomputed.get(query)

    def _depth(self, k: int) -> int:
        return max(k, self.candidates) if self.mode == "hybrid" else k

    def _sparse_hits(
        self, vector: SparseVector | None, k: int, filter: Filter | None
    ) -> list[SearchHit] | None:
        if vector is None:
            return None
        if vector.nnz == 0:
            return []
        options = self.search_kwargs or {}
        return list(self.index.search(vector, k=self._depth(k), filter=filter, **options))

    def _bm25_hits(self, query: str, k: int, filter: Filter | None) -> list[SearchHit] | None:
        if self.mode == "sparse":
            return None
        if not query.strip():
            return []
        return list(self.index.bm25_search(query, k=self._depth(k), filter=filter))

    async def _asparse_hits(
        self, vector: SparseVector | None, k: int, filter: Filter | None
    ) -> list[SearchHit] | None:
        if vector is None or vector.nnz == 0:
            return self._sparse_hits(vector, k, filter)  # no I/O
        options = self.search_kwargs or {}
        return list(await self.index.asearch(vector, k=self._depth(k), filter=filter, **options))

    async def _abm25_hits(
        self, query: str, k: int, filter: Filter | None
    ) -> list[SearchHit] | None:
        if self.mode == "sparse" or not query.strip():
            return self._bm25_hits(query, k, filter)  # no I/O
        return list(await self.index.abm25_search(query, k=self._depth(k), filter=filter))

    def _documents(
        self,
        vector: SparseVector | None,
        sparse: list[SearchHit] | None,
        lexical: list[SearchHit] | None,
        k: int,
        score_threshold: float | None,
    ) -> list[Document]:
        threshold = self.score_threshold if score_threshold is None else score_threshold
        if sparse is not None and lexical is not None:
            hits, fusion = self._fuse(sparse, lexical, k)
        else:
            hits, fusion = (sparse if sparse is not None else lexical or []), {}
        documents = []
        for hit in hits:
            if threshold is not None and hit.score < threshold:
                continue
            metadata = dict(hit.metadata)
            metadata["score"] = float(hit.score)
            if hit.id in fusion:
                metadata["fusion"] = fusion[hit.id]
            if vector is not None and hit.vector is not None:
                metadata["matched_terms"] = {
                    term.token: round(term.contribution, 6)
                    for term in self.encoder.explain(vector, hit.vector, top_k=self.explain_terms)
                }
            documents.append(Document(id=hit.id, page_content=hit.text or "", metadata=metadata))
        return documents

    def _fusion_weights(self) -> dict[str, float] | None:
        if self.fusion_weights is not None or self.fusion == "rrf":
            return self.fusion_weights
        return DEFAULT_FUSION_WEIGHTS

    def _fuse(
        self, sparse: list[SearchHit], lexical: list[SearchHit], k: int
    ) -> tuple[list[SearchHit], dict[str, Any]]:
        """Fused hits (score = fused score) and each one's component ranks and scores."""
        by_id = {hit.id: hit for hit in lexical}
        by_id.update({hit.id: hit for hit in sparse})
        fused = fuse(
            {
                "sparse": [(h.id, h.score) for h in sparse],
                "bm25": [(h.id, h.score) for h in lexical],
            },
            self.fusion,
            weights=self._fusion_weights(),
            k=RRF_K,
            limit=k,
        )
        hits = [
            SearchHit(
                id=f.id,
                score=f.score,
                text=by_id[f.id].text,
                metadata=by_id[f.id].metadata,
                vector=by_id[f.id].vector,
            )
            for f in fused
        ]
        return hits, {f.id: f.to_dict()["components"] for f in fused}


def _check_query(query: Any) -> str:
    if not isinstance(query, str):
        raise InvalidTypeError(
            f"The query is a {type(query).__name__}, not a str.", fix="pass the query text"
        )
    return query


def _document_ids(documents: Sequence[Document]) -> list[str] | None:
    ids = [d.id for d in documents]
    if all(i is None for i in ids):
        return None
    return [i if i is not None else uuid.uuid4().hex for i in ids]


def check_search_kwargs(index: SparseIndex, options: Mapping[str, Any] | None) -> None:
    """Refuse ``search_kwargs`` the index's ``search`` cannot take, at construction
    rather than at the first query (e.g. ``approximate`` on a remote index)."""
    if not options:
        return
    name = type(index).__name__
    reserved = sorted({"query", "k", "filter"} & set(options))
    if reserved:
        raise InvalidInputError(
            f"search_kwargs sets {reserved}, which the retriever passes itself.",
            expected="options of the index's search other than query, k and filter",
            fix="set k= and filter= on the retriever instead",
        )
    try:
        inspect.signature(index.search).bind(None, **options)
    except TypeError as exc:
        raise InvalidInputError(
            f"search_kwargs {sorted(options)} do not fit {name}.search ({exc}).",
            expected=f"keyword arguments of {name}.search",
            fix="drop them: approximate=/alpha= are options of LocalSparseIndex.search",
        ) from None
