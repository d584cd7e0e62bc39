"""A build-once BM25 index on top of ``bm25s``, with exact filtered top-k.

Scores are Okapi BM25 (Robertson & Zaragoza, 2009, "The Probabilistic Relevance
Framework: BM25 and Beyond") in bm25s' Lucene variant by default, with its
tokenizer: lower-cased ``\\w\\w+`` tokens, English stopwords removed, Snowball
stemming (PyStemmer). ``k1=0.9, b=0.4`` are Anserini's defaults and measured best
on this project's data.

bm25s scores eagerly (Lù, 2024, "BM25S: Orders of magnitude faster lexical search
via eager sparse scoring"): every (term, document) score is precomputed into one
sparse matrix, so a changed document means a rebuild of the whole matrix. This index
is therefore immutable: right for a fixed corpus (evaluation runs, the quality
benchmark) and as the reference the local index's incremental BM25 is tested
against. The local index keeps its own BM25 field, updated per write
(``stores.local.lexical``), with the same :class:`Tokenizer`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.validation import check_ids, check_k, check_query_text, check_texts

if TYPE_CHECKING:
    import bm25s

logger = logging.getLogger(__name__)

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


@dataclass(frozen=True)
class BM25Params:
    """Scoring and tokenization settings."""

    k1: float = 0.9
    b: float = 0.4
    method: str = "lucene"
    stemmer: str | None = "english"
    stopwords: str | None = "english"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.k1) and self.k1 >= 0):
            raise InvalidInputError(f"k1 is {self.k1}.", expected="k1 >= 0", fix="e.g. k1=0.9")
        if not (np.isfinite(self.b) and 0 <= self.b <= 1):
            raise InvalidInputError(f"b is {self.b}.", expected="0 <= b <= 1", fix="e.g. b=0.4")
        if self.method not in METHODS:
            raise InvalidInputError(
                f"Unknown BM25 method {self.method!r}.",
                expected=f"one of {list(METHODS)}",
                fix="use method='lucene'",
            )


class BM25Index:
    """BM25 over a fixed set of ``(id, text)`` documents, with exact filtered top-k.

    Example:
        >>> index = BM25Index(["a", "b"], ["the cat sat", "dogs run"])
        >>> index.search("running dog", k=1)[0]
        ['b']

    Args:
        ids: unique, non-empty document ids.
        texts: one text per id (``None`` or ``""`` for none).
        k1, b, method: BM25 parameters and bm25s variant (one of :data:`METHODS`).
        stemmer: a PyStemmer language, or ``None`` for no stemming.
        stopwords: a bm25s stopword language, or ``None`` to keep every word.
    """

    def __init__(
        self,
        ids: Sequence[str] = (),
        texts: Sequence[str | None] = (),
        *,
        k1: float = 0.9,
        b: float = 0.4,
        method: str = "lucene",
        stemmer: str | None = "english",
        stopwords: str | None = "english",
    ) -> None:
        self.params = BM25Params(k1=k1, b=b, method=method, stemmer=stemmer, stopwords=stopwords)
        self._tokenizer = Tokenizer(stemmer=stemmer, stopwords=stopwords)
        ids, texts = _check_documents(ids, texts)
        self._positions = {doc_id: row for row, doc_id in enumerate(ids)}
        self._ids: npt.NDArray[np.str_] = np.array(ids, dtype=str)
        self._model = self._build(texts)

    @classmethod
    def from_texts(
        cls, ids: Sequence[str], texts: Sequence[str | None], **params: Any
    ) -> BM25Index:
        """The constructor under LangChain's name: ``BM25Index.from_texts(ids, texts)``."""
        return cls(ids, texts, **params)

    @property
    def ids(self) -> list[str]:
        """Document ids in index order (the order a boolean ``allowed`` mask follows)."""
        return list(self._positions)

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._positions

    def __repr__(self) -> str:
        p = self.params
        return f"BM25Index(docs={len(self)}, k1={p.k1}, b={p.b}, method={p.method!r})"

    # -- search --------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """The terms BM25 sees for ``text`` (lower-cased, stopped, stemmed)."""
        return self._tokenizer.tokens(text)

    def search(
        self,
        query: str,
        k: int = 10,
        allowed: Collection[str] | npt.NDArray[np.bool_] | None = None,
    ) -> tuple[list[str], list[float]]:
        """Exact top-``k`` documents sharing at least one term with ``query``.

        Args:
            query: free text, tokenized like the documents.
            k: how many results at most.
            allowed: restrict to these ids, or a boolean mask aligned with :attr:`ids`;
                the top-k is exact within the allowed set (not a post-filter).

        Returns:
            ``(ids, scores)`` best first; equal scores are ordered by id. Empty when the
            index is empty or no query term survives tokenization.
        """
        query = check_query_text(query, "query")
        k = check_k(k)
        mask = self._allowed_mask(allowed)
        model = self._model
        if model is None:
            return [], []
        token_ids = model.get_tokens_ids(self.tokenize(query))
        if not token_ids:
            return [], []
        scores = model.get_scores_from_ids(token_ids)
        indptr, indices = model.scores["indptr"], model.scores["indices"]
        matched = np.zeros(len(self._ids), dtype=bool)
        for token in set(token_ids):
            matched[indices[indptr[token] : indptr[token + 1]]] = True
        if mask is not None:
            matched &= mask
        candidates = np.flatnonzero(matched)
        if candidates.size > k:
            # Keep everything tied with the k-th score, then order exactly below.
            kth = np.partition(scores[candidates], candidates.size - k)[candidates.size - k]
            candidates = candidates[scores[candidates] >= kth]
        order = np.lexsort((self._ids[candidates], -scores[candidates]))[:k]
        top = candidates[order]
        return self._ids[top].tolist(), scores[top].astype(float).tolist()

    def _allowed_mask(
        self, allowed: Collection[str] | npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.bool_] | None:
        if allowed is None:
            return None
        if isinstance(allowed, np.ndarray):
            if allowed.dtype != np.bool_ or allowed.shape != (len(self),):
                raise InvalidInputError(
                    f"The allowed mask has dtype {allowed.dtype} and shape {allowed.shape}.",
                    expected=f"a boolean array of shape ({len(self)},) aligned with .ids",
                    fix="build it from index.ids, or pass a collection of allowed ids",
                )
            return allowed
        if isinstance(allowed, str):
            raise InvalidTypeError(
                "allowed is a single string.",
                expected="a collection of ids",
                fix="wrap it in a list",
            )
        mask = np.zeros(len(self), dtype=bool)
        rows = [self._positions[doc_id] for doc_id in allowed if doc_id in self._positions]
        mask[rows] = True
        return mask

    def _build(self, texts: list[str]) -> bm25s.BM25 | None:
        import bm25s

        if not texts:
            return None
        tokens = self._tokenizer.batch(texts)
        if not tokens.vocab:  # every text is blank or punctuation: nothing can match
            return None
        p = self.params
        model = bm25s.BM25(k1=p.k1, b=p.b, method=p.method)
        model.index(tokens, show_progress=False)
        logger.debug("Built a BM25 index over %d documents", len(texts))
        return model


class Tokenizer:
    """bm25s' tokenizer with fixed settings: lower-cased ``\\w\\w+`` tokens, stopwords
    removed, Snowball stemming. One object per setting, shared by the build-once
    :class:`BM25Index` and the local index's incremental BM25, so both see the same
    terms.

    Args:
        stemmer: a PyStemmer language, or ``None`` for no stemming.
        stopwords: a bm25s stopword language, or ``None`` to keep every word.
    """

    def __init__(self, stemmer: str | None = "english", stopwords: str | None = "english") -> None:
        self.stemmer_language = stemmer
        self.stopwords = stopwords
        self._stemmer = _load_stemmer(stemmer)
        self.tokens("")  # fail now, not at the first search, on unknown stopwords

    def tokens(self, text: str) -> list[str]:
        """The terms of one text, in order, repeats kept."""
        tokenized = self.batch([text], return_ids=False)
        return list(tokenized[0])

    def batch(self, texts: Sequence[str], return_ids: bool = True) -> Any:
        """``bm25s.tokenize`` of many texts: a ``Tokenized`` (per-text ids into a
        batch-local ``vocab``), or lists of strings with ``return_ids=False``."""
        import bm25s

        try:
            return bm25s.tokenize(
                list(texts),
                stopwords=self.stopwords or [],
                stemmer=self._stemmer,
                return_ids=return_ids,
                show_progress=False,
            )
        except ValueError as exc:  # bm25s rejects unknown stopword languages this way
            raise InvalidInputError(
                f"bm25s could not tokenize with stopwords={self.stopwords!r} ({exc}).",
                expected="a stopword language bm25s knows (e.g. 'english') or None",
                fix="pass stopwords='english' or stopwords=None",
            ) from exc


def _check_documents(
    ids: Sequence[str], texts: Sequence[str | None]
) -> tuple[list[str], list[str]]:
    """Unique ids and one text per id, checked as every backend checks them."""
    id_list = check_ids(ids)
    text_list = check_texts(texts, len(id_list))
    if len(set(id_list)) != len(id_list):
        repeated = next(doc_id for doc_id, n in Counter(id_list).items() if n > 1)
        raise InvalidInputError(
            f"Document id {repeated!r} appears more than once.",
            expected="unique ids (a BM25 index holds one text per id)",
            fix="drop or merge the duplicate documents",
        )
    return id_list, [text or "" for text in text_list]


def _load_stemmer(language: str | None) -> Any:
    if language is None:
        return None
    import Stemmer

    try:
        return Stemmer.Stemmer(language)
    except KeyError as exc:
        raise InvalidInputError(
            f"PyStemmer has no stemmer for {language!r}.",
            expected=f"one of {sorted(Stemmer.algorithms())}",
            fix="pass stemmer='english' or stemmer=None",
        ) from exc
