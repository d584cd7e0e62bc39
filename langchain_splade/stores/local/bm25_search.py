"""BM25 search of the local index: the lexical half of hybrid retrieval.

Scores are computed per query from the BM25 field's current statistics (``lexical``),
so no write ever triggers a rebuild: bm25s' Lucene variant (Kamphuis et al., 2020,
"Which BM25 Do You Mean? A Large-Scale Reproducibility Study of Scoring Variants"),

    score(d, q) = sum over query terms t of  idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

with N the live documents (a blank text counts, with length 0), ``avgdl`` their
mean length and ``df`` the live documents holding ``t``. The work is the postings of
the query's terms in the base segment plus one pass over the unmerged delta, like
the SPLADE search.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from langchain_splade.bm25 import BM25Params
from langchain_splade.filters import parse_filter
from langchain_splade.stores.local.layout import Ranked
from langchain_splade.stores.local.lexical import LexicalView
from langchain_splade.stores.local.search import Filter, SearchMixin, gather, hits
from langchain_splade.types import SearchHit
from langchain_splade.validation import check_k, check_query_text


class Bm25Mixin(SearchMixin):
    """``bm25_search`` of :class:`LocalSparseIndex`."""

    def bm25_search(self, query: str, k: int = 10, filter: Filter | None = None) -> list[SearchHit]:
        """Top-``k`` documents by BM25 over their texts (bm25s' tokenizer and Lucene
        variant, English stemming, k1=0.9, b=0.4), with the same filter semantics as
        :meth:`search`: exact top-k among the documents the filter allows, ties by id,
        and only documents sharing a term with the query."""
        query = check_query_text(query, "query")
        check_k(k)
        node = parse_filter(filter)
        snap = self._current()
        tokens = self._lexical.tokenizer.tokens(query)
        mask = self._mask(snap, node)
        if mask is None or not tokens:
            return []
        scores = bm25_scores(snap.lexical, tokens, snap.n_rows, self._lexical.params)
        rows = np.flatnonzero((scores > 0) & mask)
        if rows.size > k:  # keep everything tied with the k-th score: hits() orders by id
            kth = np.partition(scores[rows], rows.size - k)[rows.size - k]
            rows = rows[scores[rows] >= kth]
        rows = rows[np.lexsort((rows, -scores[rows]))]
        stored = gather(snap, rows)
        return hits(snap, Ranked(rows, scores[rows], stored.indptr, stored.terms, stored.values), k)


def bm25_scores(
    view: LexicalView, tokens: list[str], n_rows: int, params: BM25Params
) -> npt.NDArray[np.float64]:
    """BM25 of every row (dead rows included: the caller masks them) for ``tokens``."""
    terms, repeats = view.term_ids(tokens)
    if terms.size == 0 or view.n_docs == 0:
        return np.zeros(n_rows, dtype=np.float64)
    df = view.df[terms].astype(np.float64)
    weights = np.log1p((view.n_docs - df + 0.5) / (df + 0.5)) * repeats
    avg_length = view.total_length / view.n_docs
    base = view.base.postings
    # a term newer than the base has no postings there: an empty range at its end
    starts = base.term_indptr[np.minimum(terms, base.vocab_size)]
    sizes = base.term_indptr[np.minimum(terms + 1, base.vocab_size)] - starts
    positions = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
    rows = base.rows[positions].astype(np.int64)
    tf = base.tf[positions].astype(np.float64)
    weight = np.repeat(weights, sizes)
    lengths = view.base.lengths[rows]
    delta = view.delta
    if delta.nnz:  # one pass over the unmerged rows' postings
        wanted = np.zeros(view.vocab_size + 1, dtype=np.bool_)
        wanted[terms] = True
        found = np.flatnonzero(wanted[delta.terms])
        if found.size:
            delta_rows = np.searchsorted(delta.indptr, found, side="right") - 1
            rows = np.concatenate([rows, delta_rows + view.base.forward.n_rows])
            tf = np.concatenate([tf, delta.values[found].astype(np.float64)])
            weight = np.concatenate([weight, weights[np.searchsorted(terms, delta.terms[found])]])
            lengths = np.concatenate([lengths, view.delta_lengths[delta_rows]])
    norm = params.k1 * (1.0 - params.b + params.b * lengths / avg_length)
    contributions = weight * tf / (tf + norm)
    return np.bincount(rows, weights=contributions, minlength=n_rows).astype(np.float64)
