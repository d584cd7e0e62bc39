"""BM25 as a second sparse field of the local index, kept current by every write.

Why not bm25s here: bm25s scores eagerly (every term-document score precomputed),
so one changed document means rebuilding the whole matrix, and the first BM25 query
after any write paid for it (seconds at 50k passages). BM25 is itself a sparse dot
product whose document side depends on three corpus statistics: the number of live
documents, their total length, and each term's document frequency. This field keeps
a document's term frequencies as a forward CSR row aligned with the SPLADE rows
(same base segment and delta, same merges and tombstones), and keeps the statistics
up to date on every write, in time proportional to the write (as Lucene keeps norms
and term statistics). Scores are computed at query time from the current statistics
(``bm25_search``), so they always equal a from-scratch BM25 of the live documents.

Terms are bm25s' tokens (``langchain_splade.bm25.Tokenizer``) numbered in order of
first appearance by an append-only lexicon; a term no live document holds any more
keeps its number with a document frequency of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_splade.bm25 import BM25Params, Tokenizer
from langchain_splade.stores.local.layout import ForwardStore
from langchain_splade.stores.local.segments import GrowableArray, GrowableCSR, concat

PARAMS = BM25Params()
"""The local index's BM25 settings: k1=0.9, b=0.4, Lucene variant, English stopwords
and stemming."""


@dataclass(frozen=True)
class LexicalPostings:
    """Term -> rows: ``rows/tf[term_indptr[t]:term_indptr[t+1]]`` (rows ascending)."""

    term_indptr: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int32]
    tf: npt.NDArray[np.float32]

    @property
    def vocab_size(self) -> int:
        return int(self.term_indptr.shape[0]) - 1

    @property
    def nnz(self) -> int:
        return int(self.rows.shape[0])


@dataclass(frozen=True)
class LexicalSegment:
    """The BM25 field of the base segment: per-row term frequencies (``values`` are
    counts), their postings, and each row's length in tokens."""

    forward: ForwardStore
    postings: LexicalPostings
    lengths: npt.NDArray[np.float64]

    @classmethod
    def build(cls, forward: ForwardStore, vocab_size: int) -> LexicalSegment:
        """Postings and lengths of ``forward`` (rows already in their final order)."""
        return cls(forward, build_postings(forward, vocab_size), row_sums(forward))


@dataclass(frozen=True)
class LexicalView:
    """What one snapshot sees of the field: immutable arrays and statistics."""

    base: LexicalSegment
    delta: ForwardStore
    delta_lengths: npt.NDArray[np.float64]
    df: npt.NDArray[np.int64]
    n_docs: int
    total_length: float
    lexicon: dict[str, int]
    vocab_size: int

    def term_ids(self, tokens: Sequence[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
        """Known query terms and how often each occurs in the query (a repeated
        query term counts once per occurrence, as in bm25s)."""
        known = [self.lexicon.get(token, -1) for token in tokens]
        ids = np.array([t for t in known if 0 <= t < self.vocab_size], dtype=np.int64)
        terms, counts = np.unique(ids, return_counts=True)
        live = self.df[terms] > 0
        return terms[live], counts[live]


def build_postings(forward: ForwardStore, vocab_size: int) -> LexicalPostings:
    """The transpose of ``forward``: rows grouped by term, ascending within a term."""
    rows = np.repeat(np.arange(forward.n_rows, dtype=np.int32), np.diff(forward.indptr))
    terms = np.asarray(forward.terms[: forward.nnz])
    order = np.argsort(terms, kind="stable")
    indptr = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=vocab_size), out=indptr[1:])
    return LexicalPostings(
        indptr, rows[order], np.asarray(forward.values[: forward.nnz])[order].astype(np.float32)
    )


def row_sums(forward: ForwardStore) -> npt.NDArray[np.float64]:
    """Each row's total term frequency: its length in tokens."""
    cumulative = np.zeros(forward.nnz + 1, dtype=np.float64)
    np.cumsum(forward.values[: forward.nnz], out=cumulative[1:])
    return cumulative[forward.indptr[1:]] - cumulative[forward.indptr[:-1]]


@dataclass(frozen=True)
class Analyzed:
    """A batch of texts as term frequencies, before their terms are numbered."""

    words: list[str]
    """The batch's distinct terms; ``local`` indexes into it."""
    lengths: npt.NDArray[np.int64]
    """Distinct terms per text."""
    local: npt.NDArray[np.int64]
    counts: npt.NDArray[np.float32]


class LexicalField:
    """The mutable BM25 field of a local index (every mutation under the index lock).

    Args:
        params: how texts become terms and how they are scored (fixed for the life of
            an index).
    """

    def __init__(self, params: BM25Params = PARAMS) -> None:
        self.params = params
        self.tokenizer = Tokenizer(stemmer=params.stemmer, stopwords=params.stopwords)
        self._lexicon: dict[str, int] = {}
        self._words: list[str] = []
        self.reset(LexicalSegment.build(ForwardStore.empty(), 0), [])

    @property
    def words(self) -> list[str]:
        """The lexicon: term ``i`` is ``words[i]``."""
        return self._words

    @property
    def settings(self) -> dict[str, Any]:
        """What a saved field records, so a loader can tell whether it still applies."""
        p = self.params
        return {
            "k1": p.k1,
            "b": p.b,
            "method": p.method,
            "stemmer": p.stemmer,
            "stopwords": p.stopwords,
            "tokenizer": "bm25s",
        }

    def rebuild(self, texts: Sequence[str | None]) -> None:
        """Start over from ``texts`` (rows 0..n-1, all live): an index saved before
        the field existed, or with other settings."""
        self.reset(LexicalSegment.build(ForwardStore.empty(), 0), [])
        self.append(self.analyze(texts))
        self.merge(np.arange(len(texts), dtype=np.int64))

    def reset(self, base: LexicalSegment, words: list[str]) -> None:
        """Install a base whose rows are all live (after a merge or a load)."""
        if words is not self._words:
            self._words = list(words)
            self._lexicon = {word: i for i, word in enumerate(self._words)}
        self._base = base
        self._delta = GrowableCSR()
        self._delta_lengths = GrowableArray()
        df = np.zeros(len(self._words), dtype=np.int64)
        counted = np.diff(base.postings.term_indptr)
        df[: counted.shape[0]] = counted
        self._df = df
        self._n_docs = base.forward.n_rows
        self._total_length = float(base.lengths.sum())

    def analyze(self, texts: Sequence[str | None]) -> Analyzed:
        """Tokenize ``texts`` (no state touched, so it runs outside the index lock)."""
        if not any(texts):  # no text at all (vectors only): nothing for the tokenizer
            zeros = np.zeros(len(texts), dtype=np.int64)
            return Analyzed([], zeros, np.zeros(0, np.int64), np.zeros(0, np.float32))
        tokenized = self.tokenizer.batch([text or "" for text in texts])
        words = [""] * len(tokenized.vocab)
        for word, local in tokenized.vocab.items():
            words[local] = word
        n = len(tokenized.ids)
        tokens_per_text = np.fromiter((len(doc) for doc in tokenized.ids), np.int64, count=n)
        flat = np.fromiter(
            (token for doc in tokenized.ids for token in doc),
            np.int64,
            count=int(tokens_per_text.sum()),
        )
        text_of = np.repeat(np.arange(n, dtype=np.int64), tokens_per_text)
        width = max(len(words), 1)
        keys, counts = np.unique(text_of * width + flat, return_counts=True)
        lengths = np.bincount(keys // width, minlength=n).astype(np.int64)
        return Analyzed(words, lengths, keys % width, counts.astype(np.float32))

    def append(self, analyzed: Analyzed) -> None:
        """Add the analyzed texts as new rows at the end of the delta."""
        number = np.empty(len(analyzed.words), dtype=np.int64)
        for local, word in enumerate(analyzed.words):
            term = self._lexicon.get(word)
            if term is None:
                term = self._lexicon[word] = len(self._words)
                self._words.append(word)
            number[local] = term
        terms = number[analyzed.local]
        # sort each row's terms (local numbers follow the batch, not the lexicon)
        row_of = np.repeat(np.arange(analyzed.lengths.shape[0]), analyzed.lengths)
        order = np.lexsort((terms, row_of))
        terms, counts = terms[order], analyzed.counts[order]
        self._delta.extend(analyzed.lengths, terms.astype(np.int32), counts)
        n_texts = analyzed.lengths.shape[0]
        self._delta_lengths.extend(np.bincount(row_of, weights=counts, minlength=n_texts))
        df = np.zeros(len(self._words), dtype=np.int64)  # a copy: snapshots keep theirs
        df[: self._df.shape[0]] = self._df
        np.add.at(df, terms, 1)
        self._df = df
        self._n_docs += int(analyzed.lengths.shape[0])
        self._total_length += float(counts.sum(dtype=np.float64))

    def remove(self, rows: Sequence[int]) -> None:
        """Take rows that are being tombstoned out of the statistics."""
        if not len(rows):
            return
        n_base = self._base.forward.n_rows
        delta = self._delta.view()
        stored = [self._base.forward.row(r) if r < n_base else delta.row(r - n_base) for r in rows]
        terms = np.concatenate([row_terms for row_terms, _ in stored]).astype(np.int64)
        tf = np.concatenate([row_tf for _, row_tf in stored])
        df = self._df.copy()
        np.subtract.at(df, terms, 1)
        self._df = df
        self._n_docs -= len(rows)
        self._total_length -= float(tf.sum(dtype=np.float64))

    def merge(self, rows: npt.NDArray[np.int64]) -> None:
        """Fold the delta into a new base holding ``rows`` (of base + delta) in order."""
        delta = self._delta.view()
        forward = concat(self._base.forward, delta) if delta.n_rows else self._base.forward
        self.reset(LexicalSegment.build(forward.take(rows), len(self._words)), self._words)

    def view(self) -> LexicalView:
        return LexicalView(
            base=self._base,
            delta=self._delta.view(),
            delta_lengths=self._delta_lengths.view(),
            df=self._df,
            n_docs=self._n_docs,
            total_length=self._total_length,
            lexicon=self._lexicon,
            vocab_size=len(self._words),
        )
