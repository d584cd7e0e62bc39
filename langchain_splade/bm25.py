"""A small mutable BM25 index on top of ``bm25s``.

Scores are Okapi BM25 (Robertson & Zaragoza, 2009, "The Probabilistic Relevance
Framework: BM25 and Beyond") in bm25s' Lucene variant by default, with its
tokenizer: lower-cased ``\\w\\w+`` tokens, English stopwords removed, Snowball
stemming (PyStemmer). ``k1=0.9, b=0.4`` are Anserini's defaults and measured best
on this project's data.

bm25s builds a static matrix of precomputed scores, so ``add`` and ``delete`` only
record the change; the next ``search`` rebuilds the index from the kept texts
(O(corpus), about a second per 10k short passages).

On disk (``save``/``load``): ``manifest.json`` (format, parameters, counts),
``documents.jsonl`` (``{"id", "text"}`` per line, in index order) and bm25s' own
files under ``bm25s/`` (``.npy`` arrays and JSON; no pickle).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from langchain_splade.errors import (
    CorruptIndexError,
    IncompatibleIndexError,
    InvalidInputError,
    InvalidTypeError,
)
from langchain_splade.validation import check_k

if TYPE_CHECKING:
    import bm25s

logger = logging.getLogger(__name__)

FORMAT = "langchain-splade/bm25"
FORMAT_VERSION = 1
METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
_MANIFEST = "manifest.json"
_DOCUMENTS = "documents.jsonl"
_BM25S_DIR = "bm25s"


@dataclass(frozen=True)
class BM25Params:
    """Scoring and tokenization settings (saved in the manifest)."""

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
    """BM25 over ``(id, text)`` documents with upsert, delete and exact filtered top-k.

    Example:
        >>> index = BM25Index.from_texts(["a", "b"], ["the cat sat", "dogs run"])
        >>> index.search("running dog", k=1)[0]
        ['b']
    """

    def __init__(
        self,
        *,
        k1: float = 0.9,
        b: float = 0.4,
        method: str = "lucene",
        stemmer: str | None = "english",
        stopwords: str | None = "english",
    ) -> None:
        self.params = BM25Params(k1=k1, b=b, method=method, stemmer=stemmer, stopwords=stopwords)
        self._stemmer = _load_stemmer(stemmer)
        self.tokenize("")  # fail now, not at the first search, on unknown stopwords
        self._docs: dict[str, str] = {}
        self._model: bm25s.BM25 | None = None
        self._ids: npt.NDArray[np.str_] = np.empty(0, dtype=str)
        self._dirty = False

    @classmethod
    def from_texts(cls, ids: Sequence[str], texts: Sequence[str], **params: Any) -> BM25Index:
        """A new index holding ``texts`` under ``ids`` (``params`` as in the constructor)."""
        index = cls(**params)
        index.add(ids, texts)
        return index

    # -- documents -----------------------------------------------------------------

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Insert or replace documents (a replaced id keeps its position)."""
        if isinstance(ids, str) or isinstance(texts, str):
            raise InvalidTypeError(
                "ids or texts is a single string.",
                expected="sequences of ids and texts",
                fix="wrap single values in lists",
            )
        if len(ids) != len(texts):
            raise InvalidInputError(
                f"Got {len(ids)} ids and {len(texts)} texts.",
                expected="one text per id",
                fix="pass sequences of the same length",
            )
        batch: dict[str, str] = {}
        for doc_id, text in zip(ids, texts):
            if not isinstance(doc_id, str) or not doc_id:
                raise InvalidTypeError(
                    f"Document id {doc_id!r} is not a non-empty string.",
                    fix="convert ids to str",
                )
            if not isinstance(text, str):
                raise InvalidTypeError(
                    f"Text of {doc_id!r} is a {type(text).__name__}.",
                    expected="str",
                    fix="pass the document text (use '' for none)",
                )
            batch[doc_id] = text
        if batch:
            self._docs.update(batch)
            self._dirty = True

    def delete(self, ids: Iterable[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        removed = sum(1 for doc_id in set(ids) if self._docs.pop(doc_id, None) is not None)
        if removed:
            self._dirty = True
        return removed

    @property
    def ids(self) -> list[str]:
        """Document ids in index order (the order a boolean ``allowed`` mask follows)."""
        return list(self._docs)

    def get_text(self, doc_id: str) -> str | None:
        """The stored text of ``doc_id``, or ``None`` if absent."""
        return self._docs.get(doc_id)

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def __repr__(self) -> str:
        p = self.params
        return f"BM25Index(docs={len(self)}, k1={p.k1}, b={p.b}, method={p.method!r})"

    # -- search --------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """The terms BM25 sees for ``text`` (lower-cased, stopped, stemmed)."""
        import bm25s

        try:
            tokens = bm25s.tokenize(
                [text],
                stopwords=self.params.stopwords or [],
                stemmer=self._stemmer,
                return_ids=False,
                show_progress=False,
            )
        except ValueError as exc:  # bm25s rejects unknown stopword languages this way
            raise InvalidInputError(
                f"bm25s could not tokenize with stopwords={self.params.stopwords!r} ({exc}).",
                expected="a stopword language bm25s knows (e.g. 'english') or None",
                fix="pass stopwords='english' or stopwords=None",
            ) from exc
        return list(tokens[0])

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
        if not isinstance(query, str):
            raise InvalidTypeError(
                f"The query is a {type(query).__name__}.", expected="str", fix="pass text"
            )
        k = check_k(k)
        mask = self._allowed_mask(allowed)
        model = self._ensure_model()
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
            if allowed.dtype != np.bool_ or allowed.shape != (len(self._docs),):
                raise InvalidInputError(
                    f"The allowed mask has dtype {allowed.dtype} and shape {allowed.shape}.",
                    expected=f"a boolean array of shape ({len(self._docs)},) aligned with .ids",
                    fix="build it from index.ids, or pass a collection of allowed ids",
                )
            return allowed
        if isinstance(allowed, str):
            raise InvalidTypeError(
                "allowed is a single string.",
                expected="a collection of ids",
                fix="wrap it in a list",
            )
        wanted = set(allowed)
        return np.fromiter((doc_id in wanted for doc_id in self._docs), bool, len(self._docs))

    def _ensure_model(self) -> bm25s.BM25 | None:
        if self._dirty:
            self._rebuild()
        return self._model

    def _rebuild(self) -> None:
        import bm25s

        self._ids = np.array(list(self._docs), dtype=str)
        self._dirty = False
        if not self._docs:
            self._model = None
            return
        tokens = bm25s.tokenize(
            list(self._docs.values()),
            stopwords=self.params.stopwords or [],
            stemmer=self._stemmer,
            show_progress=False,
        )
        if not tokens.vocab:  # every text is blank or punctuation: nothing can match
            self._model = None
            return
        p = self.params
        model = bm25s.BM25(k1=p.k1, b=p.b, method=p.method)
        model.index(tokens, show_progress=False)
        self._model = model
        logger.debug("Rebuilt the BM25 index over %d documents", len(self._docs))

    # -- persistence ---------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the index to the directory ``path`` (created if needed).

        The manifest is written last, so a directory without one is incomplete.
        """
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        model = self._ensure_model()
        manifest_path = root / _MANIFEST
        manifest_path.unlink(missing_ok=True)
        _atomic_write(
            root / _DOCUMENTS,
            "".join(
                json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                for i, t in self._docs.items()
            ),
        )
        if model is not None:
            model.save(str(root / _BM25S_DIR), show_progress=False)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": asdict(self.params),
            "num_documents": len(self._docs),
            "bm25s_version": _version("bm25s"),
        }
        _atomic_write(manifest_path, json.dumps(manifest, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, *, mmap: bool = False) -> BM25Index:
        """Read an index written by :meth:`save` (``mmap`` maps bm25s' arrays lazily)."""
        import bm25s

        root = Path(path)
        manifest = _read_manifest(root)
        index = cls(**manifest["params"])
        documents = root / _DOCUMENTS
        try:
            # Not splitlines(): JSON leaves U+2028, U+0085 etc. unescaped inside strings.
            lines = [ln for ln in documents.read_text(encoding="utf-8").split("\n") if ln]
        except OSError as exc:
            raise CorruptIndexError(
                f"Could not read {documents} ({exc}).", fix="rebuild the index and save it again"
            ) from exc
        for lineno, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
                index._docs[str(record["id"])] = str(record["text"])
            except (ValueError, KeyError, TypeError) as exc:
                raise CorruptIndexError(
                    f"Could not read {documents}:{lineno} ({exc!r}).",
                    expected="one JSON object with 'id' and 'text' per line",
                    fix="rebuild the index and save it again",
                ) from exc
        if len(index._docs) != manifest["num_documents"]:
            raise CorruptIndexError(
                f"{documents} holds {len(index._docs)} documents, the manifest "
                f"{manifest['num_documents']}.",
                fix="rebuild the index and save it again",
            )
        index._ids = np.array(list(index._docs), dtype=str)
        if index._docs:
            try:
                model = bm25s.BM25.load(str(root / _BM25S_DIR), mmap=mmap, show_progress=False)
            except (OSError, ValueError, KeyError) as exc:
                raise CorruptIndexError(
                    f"Could not load the bm25s files in {root / _BM25S_DIR} ({exc}).",
                    expected="the files bm25s.BM25.save writes",
                    fix="rebuild the index and save it again",
                ) from exc
            if int(model.scores["num_docs"]) != len(index._docs):
                raise CorruptIndexError(
                    f"The bm25s index has {model.scores['num_docs']} documents, "
                    f"{documents.name} {len(index._docs)}.",
                    fix="rebuild the index and save it again",
                )
            index._model = model
        return index


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / _MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CorruptIndexError(
            f"No {_MANIFEST} in {str(root)!r}.",
            expected="a directory written by BM25Index.save",
            fix="check the path, or save the index again (an interrupted save leaves none)",
        ) from exc
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(
            f"Could not read {path} ({exc}).", fix="save the index again"
        ) from exc
    if not isinstance(manifest, Mapping) or manifest.get("format") != FORMAT:
        raise IncompatibleIndexError(
            f"{path} is not a BM25 index manifest.",
            expected=f"format {FORMAT!r}",
            fix="point to the directory BM25Index.save wrote",
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IncompatibleIndexError(
            f"{path} has format version {manifest.get('format_version')!r}.",
            expected=f"version {FORMAT_VERSION}",
            fix="rebuild the index with this version of langchain-splade",
        )
    return dict(manifest)


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


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
