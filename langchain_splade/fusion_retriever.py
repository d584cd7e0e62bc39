"""``FusionRetriever``: fuse any LangChain retrievers, keeping each one's rank and score.

LangChain's ``EnsembleRetriever`` returns fused documents but hides why they were
ranked so. Here every document carries ``metadata["fusion"]`` with the fused
score and, per component, its rank and score: a dense vector-store retriever, BM25
and SPLADE can be compared query by query.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_splade.errors import InvalidInputError
from langchain_splade.fusion import RRF_K, FusedHit, FusionMethod, fuse
from langchain_splade.validation import check_k


class FusionRetriever(BaseRetriever):
    """Fuse the ranked outputs of several retrievers (RRF or normalised linear).

    Attributes:
        retrievers: name -> retriever; each is invoked with the query as is.
        method: ``"rrf"`` (reciprocal rank fusion, k=60), ``"minmax"`` or ``"zscore"``
            (linear fusion of normalised ``metadata["score"]`` values).
        weights: per-retriever weights (default 1 each).
        k: documents returned.
    """

    retrievers: dict[str, BaseRetriever]
    method: FusionMethod = "rrf"
    weights: dict[str, float] | None = None
    rrf_k: float = RRF_K
    k: int = 4

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        check_k(self.k)
        if not self.retrievers:
            raise InvalidInputError(
                "FusionRetriever got no retrievers.",
                expected="a mapping of at least one name to a retriever",
                fix="pass retrievers={'splade': splade_retriever, 'dense': dense_retriever}",
            )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        callbacks = run_manager.get_child()
        results = {
            name: retriever.invoke(query, config={"callbacks": callbacks})
            for name, retriever in self.retrievers.items()
        }
        return self._fuse(results, k)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        callbacks = run_manager.get_child()
        outputs = await asyncio.gather(
            *(r.ainvoke(query, config={"callbacks": callbacks}) for r in self.retrievers.values())
        )
        return self._fuse(dict(zip(self.retrievers, outputs)), k)

    def _fuse(self, results: Mapping[str, Sequence[Document]], k: int | None) -> list[Document]:
        k = check_k(self.k if k is None else k)
        by_id: dict[str, Document] = {}
        rankings: dict[str, list[tuple[str, float | None]]] = {}
        for name, documents in results.items():
            ranking = []
            for document in documents:
                key = document_key(document)
                by_id.setdefault(key, document)
                score = document.metadata.get("score")
                ranking.append((key, float(score) if score is not None else None))
            rankings[name] = ranking
        fused = fuse(rankings, self.method, weights=self.weights, k=self.rrf_k, limit=k)
        return [with_fusion_metadata(by_id[hit.id], hit) for hit in fused]


def document_key(document: Document) -> str:
    """A document's id, or a hash of its text when it has none."""
    if document.id:
        return str(document.id)
    return "sha1:" + hashlib.sha1(document.page_content.encode("utf-8", "replace")).hexdigest()


def with_fusion_metadata(document: Document, hit: FusedHit) -> Document:
    """A copy of ``document`` whose metadata records the fused score and components."""
    fusion = hit.to_dict()
    metadata = {**document.metadata, "score": hit.score, "fusion": fusion["components"]}
    return Document(id=document.id, page_content=document.page_content, metadata=metadata)
