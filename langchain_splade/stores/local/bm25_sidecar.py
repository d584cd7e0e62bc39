"""BM25 over the local index's stored texts: the lexical half of hybrid retrieval.

Why derived state: the BM25 index is built from the stored texts on first use and
after writes, and never written to disk, so it can never disagree with them.
"""

from __future__ import annotations

import numpy as np

from langchain_splade.filters import parse_filter
from langchain_splade.stores.local.search import Filter, SearchMixin, copy_json, vector
from langchain_splade.types import SearchHit
from langchain_splade.validation import check_k


class Bm25Mixin(SearchMixin):
    """``bm25_search`` of :class:`LocalSparseIndex`."""

    def bm25_search(self, query: str, k: int = 10, filter: Filter | None = None) -> list[SearchHit]:
        """Top-``k`` documents by BM25 over their texts (bm25s, English stemming,
        k1=0.9, b=0.4), with the same filter semantics as :meth:`search`."""
        from langchain_splade.bm25 import BM25Index

        check_k(k)
        node = parse_filter(filter)
        with self._bm25_lock:
            snap = self._current()
            if self._bm25_cache is None or self._bm25_cache[0] is not snap:
                live = np.flatnonzero(snap.alive).tolist()
                ids = [snap.ids[row] for row in live]
                bm25 = BM25Index.from_texts(ids, [snap.texts[row] or "" for row in live])
                self._bm25_cache = (snap, bm25, dict(zip(ids, live)))
            _, bm25, row_of = self._bm25_cache
            allowed = None
            if node is not None:
                mask = self._mask(snap, node)
                if mask is None:
                    return []
                allowed = {snap.ids[row] for row in np.flatnonzero(mask).tolist()}
            found, scores = bm25.search(query, k=k, allowed=allowed)
        return [
            SearchHit(
                id=doc_id,
                score=score,
                text=snap.texts[row_of[doc_id]],
                metadata=copy_json(snap.metadatas[row_of[doc_id]]),
                vector=vector(snap, row_of[doc_id]),
            )
            for doc_id, score in zip(found, scores)
        ]
