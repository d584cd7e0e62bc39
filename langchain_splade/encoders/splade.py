"""``SpladeEncoder``: texts in, :class:`~langchain_splade.types.SparseVector` out.

Follows the shape of LangChain's sparse embeddings (``embed_documents`` /
``embed_query``) so it drops into partner-package code, and adds what retrieval
over real documents needs: sliding windows so long documents keep their tail,
length-sorted batches, pruning, inference-free queries, and ``explain``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from langchain_splade.encoders import pooling
from langchain_splade.encoders.loading import (
    DEFAULT_MODEL,
    load_idf,
    load_model_and_tokenizer,
    read_idf,
    resolve_model,
    vocabulary_hash,
)
from langchain_splade.encoders.query import IdfQueryEncoder
from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.types import EncoderFingerprint, SparseVector, TermContribution

logger = logging.getLogger(__name__)

LongDocuments = Literal["window", "truncate"]
QueryEncoderKind = Literal["auto", "model", "idf"]
DType = Literal["float32", "bfloat16", "float16"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Texts encoded per outer step: bounds the (texts x vocab) fp32 maxima to ~60 MB.
_TEXTS_PER_STEP = 512
_SURROGATE = re.compile("[\ud800-\udfff]")


class SpladeEncoder:
    """Encode documents and queries into SPLADE sparse vectors.

    Args:
        model: bundled model name (default ``"splade-tiny"``, works offline), a local
            checkpoint folder, or a hub id (needs the network or a local cache).
        max_length: tokens per window (model limit: usually 512).
        long_documents: ``"window"`` max-pools over overlapping windows of
            ``max_length`` tokens, which equals SPLADE's max over *all* tokens, so a
            document's tail is never lost; ``"truncate"`` keeps the first window only.
        window_overlap: tokens shared by consecutive windows (context at the seams).
        device: ``"cpu"``, ``"cuda"``, ... Default: CUDA when available, else CPU.
        dtype: model precision; ``"bfloat16"``/``"float16"`` speed up GPUs.
            Default float32.
        batch_size: windows per forward pass.
        max_terms, min_weight: document pruning (keep the top-k weights; drop
            weights below the threshold).
        query_max_terms, query_min_weight: the same for queries.
        query_encoder: ``"model"`` runs the model on queries; ``"idf"`` weights the
            query's tokens by an IDF table with no forward pass (inference-free
            models); ``"auto"`` uses ``"idf"`` when the model folder has ``idf.json``.
        idf: an IDF table (``{token: weight}`` or a path to ``idf.json``) overriding
            the model folder's.
        show_progress: show a tqdm bar while encoding documents.
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        max_length: int = 256,
        long_documents: LongDocuments = "window",
        window_overlap: int = 32,
        device: str | torch.device | None = None,
        dtype: DType | None = None,
        batch_size: int = 32,
        max_terms: int | None = None,
        min_weight: float | None = None,
        query_max_terms: int | None = None,
        query_min_weight: float | None = None,
        query_encoder: QueryEncoderKind = "auto",
        idf: Mapping[str, float] | str | Path | None = None,
        show_progress: bool = False,
    ) -> None:
        _check_int("max_length", max_length, minimum=8)
        _check_int("batch_size", batch_size, minimum=1)
        _check_int("window_overlap", window_overlap, minimum=0)
        if window_overlap >= max_length // 2:
            raise InvalidInputError(
                f"window_overlap={window_overlap} is too large for max_length={max_length}.",
                expected="an overlap below half a window",
                fix="use window_overlap <= max_length // 4",
            )
        for name, value in (("max_terms", max_terms), ("query_max_terms", query_max_terms)):
            if value is not None:
                _check_int(name, value, minimum=1)
        if long_documents not in ("window", "truncate"):
            raise InvalidInputError(
                f"long_documents={long_documents!r}.",
                expected="'window' or 'truncate'",
                fix="use 'window' (default) to keep a document's tail",
            )
        if dtype is not None and dtype not in _DTYPES:
            raise InvalidInputError(
                f"dtype={dtype!r}.",
                expected=f"one of {sorted(_DTYPES)}",
                fix="use 'bfloat16' on GPU",
            )
        if query_encoder not in ("auto", "model", "idf"):
            raise InvalidInputError(
                f"query_encoder={query_encoder!r}.", expected="'auto', 'model' or 'idf'"
            )

        self._resolved = resolve_model(model)
        self._model, self._tokenizer = load_model_and_tokenizer(self._resolved)
        model_limit = int(getattr(self._model.config, "max_position_embeddings", 512))
        if max_length > model_limit:
            raise InvalidInputError(
                f"max_length={max_length} exceeds the model's {model_limit} positions.",
                fix=f"use max_length <= {model_limit}; long documents are windowed anyway",
            )
        self.max_length = max_length
        self.long_documents: LongDocuments = long_documents
        self.window_overlap = window_overlap
        self.batch_size = batch_size
        self.max_terms = max_terms
        self.min_weight = min_weight
        self.query_max_terms = query_max_terms
        self.query_min_weight = query_min_weight
        self.show_progress = show_progress

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = _DTYPES[dtype or "float32"]
        self._projection_weight, self._projection_bias = self._detach_vocab_projection()
        self._model.to(device=self.device, dtype=self.dtype)
        self._projection_weight = self._projection_weight.to(self.device, self.dtype)
        if self._projection_bias is not None:
            self._projection_bias = self._projection_bias.to(self.device, self.dtype)

        vocab: dict[str, int] = dict(self._tokenizer.get_vocab())
        self.vocabulary: Mapping[str, int] = vocab
        self.id_to_token: list[str] = [""] * (max(vocab.values()) + 1)
        for token, token_id in vocab.items():
            self.id_to_token[token_id] = token
        self.vocab_size = int(self._projection_weight.shape[0])

        idf_table = self._idf_table(idf)
        if query_encoder == "idf" and idf_table is None:
            raise InvalidInputError(
                "query_encoder='idf' but no IDF table was found.",
                expected=f"an idf.json in {self._resolved.source!r} or the idf= argument",
                fix="pass idf={'token': weight, ...} or idf='path/to/idf.json'",
            )
        use_idf = query_encoder == "idf" or (query_encoder == "auto" and idf_table is not None)
        self._idf_query = (
            IdfQueryEncoder(self._tokenizer, idf_table) if use_idf and idf_table else None
        )
        self.query_encoder: str = "idf" if self._idf_query else "model"
        self._vocab_hash = vocabulary_hash(vocab)
        # Special tokens ([CLS], [SEP], [PAD], [MASK], ...) never carry weight.
        self._special_ids = torch.tensor(sorted(set(self._tokenizer.all_special_ids)))
        self._pad_id = int(self._tokenizer.pad_token_id or 0)
        self._specials_per_window = int(self._tokenizer.num_special_tokens_to_add(pair=False))
        logger.info(
            "Loaded SPLADE model %s on %s (%s, query encoder: %s)",
            self._resolved.name,
            self.device,
            self.dtype,
            self.query_encoder,
        )

    # -- public API -----------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """The name indexes record: bundled name, folder name or hub id."""
        return self._resolved.name

    @property
    def fingerprint(self) -> EncoderFingerprint:
        """What an index checks before accepting this encoder's vectors."""
        return EncoderFingerprint(
            model_name=self.model_name,
            vocab_hash=self._vocab_hash,
            vocab_size=self.vocab_size,
            settings={
                "query_encoder": self.query_encoder,
                "max_length": self.max_length,
                "long_documents": self.long_documents,
                "max_terms": self.max_terms,
                "min_weight": self.min_weight,
            },
        )

    def embed_documents(
        self, texts: Sequence[str], *, show_progress: bool | None = None
    ) -> list[SparseVector]:
        """Encode documents (windowed or truncated, pruned with the document settings)."""
        texts = _check_texts(texts)
        progress = self.show_progress if show_progress is None else show_progress
        windowed = self.long_documents == "window"
        return self._encode(texts, windowed, self.max_terms, self.min_weight, progress)

    def embed_query(self, text: str) -> SparseVector:
        """Encode one query (model or IDF, pruned with the query settings)."""
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """Encode many queries in one pass (what ``retriever.batch`` uses)."""
        texts = _check_texts(texts)
        if self._idf_query is not None:
            vectors = [self._idf_query.encode(text) for text in texts]
            return [v.prune(self.query_max_terms, self.query_min_weight) for v in vectors]
        return self._encode(texts, True, self.query_max_terms, self.query_min_weight, False)

    async def aembed_documents(
        self, texts: Sequence[str], *, show_progress: bool | None = None
    ) -> list[SparseVector]:
        """Async twin of :meth:`embed_documents` (runs in a worker thread; torch frees the GIL)."""
        return await asyncio.to_thread(self.embed_documents, texts, show_progress=show_progress)

    async def aembed_query(self, text: str) -> SparseVector:
        """Async twin of :meth:`embed_query`."""
        return await asyncio.to_thread(self.embed_query, text)

    async def aembed_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """Async twin of :meth:`embed_queries`."""
        return await asyncio.to_thread(self.embed_queries, texts)

    def decode(self, vector: SparseVector, top_k: int | None = None) -> list[tuple[str, float]]:
        """The vector's terms as ``(token, weight)``, heaviest first."""
        return [(self._token(i), w) for i, w in vector.top(top_k)]

    def explain(
        self, query: SparseVector, document: SparseVector, top_k: int | None = None
    ) -> list[TermContribution]:
        """The terms shared by ``query`` and ``document``, by contribution ``q_w * d_w``.

        The contributions sum to ``query.dot(document)``: this *is* the score,
        split by term.
        """
        common, q_pos, d_pos = np.intersect1d(
            query.indices, document.indices, assume_unique=True, return_indices=True
        )
        q_w = query.values[q_pos].astype(np.float64)
        d_w = document.values[d_pos].astype(np.float64)
        contributions = q_w * d_w
        order = np.lexsort((common, -contributions))
        if top_k is not None:
            order = order[:top_k]
        return [
            TermContribution(
                token=self._token(int(common[i])),
                term_id=int(common[i]),
                query_weight=float(q_w[i]),
                document_weight=float(d_w[i]),
                contribution=float(contributions[i]),
            )
            for i in order
        ]

    def vector_from_tokens(self, weights: Mapping[str, float]) -> SparseVector:
        """Build a vector from ``{token: weight}`` with this model's vocabulary."""
        return SparseVector.from_tokens(weights, self.vocabulary)

    def tokens(self, vector: SparseVector) -> dict[str, float]:
        """``{token: weight}`` for a vector produced with this model's vocabulary."""
        return {self._token(i): w for i, w in vector.to_dict().items()}

    def __repr__(self) -> str:
        return (
            f"SpladeEncoder(model={self.model_name!r}, device={str(self.device)!r}, "
            f"max_length={self.max_length}, long_documents={self.long_documents!r}, "
            f"query_encoder={self.query_encoder!r})"
        )

    # -- internals ------------------------------------------------------------------

    def _token(self, term_id: int) -> str:
        if 0 <= term_id < len(self.id_to_token) and self.id_to_token[term_id]:
            return self.id_to_token[term_id]
        return f"[{term_id}]"

    def _idf_table(self, idf: Mapping[str, float] | str | Path | None) -> dict[str, float] | None:
        if idf is None:
            return load_idf(self._resolved.local_dir)
        if isinstance(idf, (str, Path)):
            return read_idf(Path(idf))
        if not isinstance(idf, Mapping):
            raise InvalidTypeError(
                f"idf must be a mapping or a path, got {type(idf).__name__}.",
                fix="pass {'token': weight} or 'path/to/idf.json'",
            )
        return {str(k): float(v) for k, v in idf.items()}

    def _detach_vocab_projection(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Take the vocabulary projection out of the model and replace it by identity.

        The model's forward then returns the states right before the projection
        (for BERT, DistilBERT and RoBERTa heads alike), and we apply the projection
        ourselves, fused with the max pooling.
        """
        projection = self._model.get_output_embeddings()
        if not isinstance(projection, torch.nn.Linear):
            raise InvalidInputError(
                f"Model {self.model_name!r} has no linear vocabulary projection "
                f"(found {type(projection).__name__}).",
                expected="a masked-LM checkpoint (e.g. BertForMaskedLM)",
                fix="load a SPLADE masked-LM checkpoint",
            )
        weight = projection.weight.detach().clone()
        bias = projection.bias.detach().clone() if projection.bias is not None else None
        for name, module in self._model.named_modules():
            for child_name, child in module.named_children():
                if child is projection:
                    setattr(module, child_name, torch.nn.Identity())
                    logger.debug("Detached vocabulary projection %s.%s", name, child_name)
        return weight, bias

    def _windows(self, texts: list[str], windowed: bool) -> tuple[list[list[int]], list[int]]:
        """Token ids of every window and the text each window belongs to."""
        encoded = self._tokenizer(
            texts,
            add_special_tokens=True,
            truncation=True,
            max_length=self.max_length,
            stride=self.window_overlap if windowed else 0,
            return_overflowing_tokens=windowed,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        owners = encoded["overflow_to_sample_mapping"] if windowed else range(len(texts))
        return list(encoded["input_ids"]), list(owners)

    def _encode(
        self,
        texts: list[str],
        windowed: bool,
        max_terms: int | None,
        min_weight: float | None,
        progress: bool,
    ) -> list[SparseVector]:
        vectors: list[SparseVector] = []
        with (
            tqdm(total=len(texts), desc="Encoding", unit="doc", disable=not progress) as bar,
            torch.inference_mode(),
        ):
            for start in range(0, len(texts), _TEXTS_PER_STEP):
                step = texts[start : start + _TEXTS_PER_STEP]
                weights = self._weights(step, windowed)
                vectors.extend(_to_sparse(weights, max_terms, min_weight))
                bar.update(len(step))
        return vectors

    def _weights(self, texts: list[str], windowed: bool) -> torch.Tensor:
        """``(len(texts), vocab)`` SPLADE weights on CPU, max-pooled over each text's windows."""
        windows, owners = self._windows(texts, windowed)
        maxima = torch.full((len(texts), self.vocab_size), -torch.inf, device=self.device)
        for batch_ids, batch_owners in self._batches(windows, owners):
            batch_max = self._max_logits(batch_ids).float()
            for row, owner in enumerate(batch_owners):
                torch.maximum(maxima[owner], batch_max[row], out=maxima[owner])
        maxima[:, self._special_ids] = -torch.inf
        # A text with no content token (empty, blank) has no terms: it matches nothing.
        has_content = [False] * len(texts)
        for window, owner in zip(windows, owners):
            has_content[owner] |= len(window) > self._specials_per_window
        maxima[~torch.tensor(has_content)] = -torch.inf
        return pooling.splade_activation(maxima).cpu()

    def _batches(
        self, windows: list[list[int]], owners: list[int]
    ) -> Iterator[tuple[list[list[int]], list[int]]]:
        """Windows in length-sorted batches, so padding is minimal."""
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            yield [windows[i] for i in chosen], [owners[i] for i in chosen]

    def _max_logits(self, windows: list[list[int]]) -> torch.Tensor:
        length = max(len(w) for w in windows)
        input_ids = torch.full((len(windows), length), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(windows), length), dtype=torch.long)
        for row, window in enumerate(windows):
            input_ids[row, : len(window)] = torch.tensor(window)
            attention[row, : len(window)] = 1
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)
        hidden = self._model(input_ids=input_ids, attention_mask=attention).logits
        valid = attention.bool()
        if self.device.type == "cpu":
            return pooling.max_logits_packed(
                hidden, valid, self._projection_weight, self._projection_bias
            )
        return pooling.max_logits_chunked(
            hidden, valid, self._projection_weight, self._projection_bias
        )


def _to_sparse(
    weights: torch.Tensor, max_terms: int | None, min_weight: float | None
) -> list[SparseVector]:
    """Rows of a dense weight matrix as pruned SparseVectors."""
    if min_weight is not None:
        weights = weights.masked_fill(weights < min_weight, 0.0)
    rows, cols = torch.nonzero(weights, as_tuple=True)
    values = weights[rows, cols].numpy()
    cols_np = cols.numpy().astype(np.int32)
    bounds = np.searchsorted(rows.numpy(), np.arange(weights.shape[0] + 1))
    vectors = []
    for i in range(weights.shape[0]):
        lo, hi = bounds[i], bounds[i + 1]
        vector = SparseVector._trusted(cols_np[lo:hi], values[lo:hi])
        vectors.append(vector.prune(max_terms=max_terms) if max_terms else vector)
    return vectors


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidTypeError(
            f"Expected a list of strings, got {type(texts).__name__}.",
            fix="wrap a single text in a list, or use embed_query for one query",
        )
    clean = []
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidTypeError(
                f"Text at position {position} is {type(text).__name__}, not str.",
                expected="every text a str (an empty string is allowed and matches nothing)",
                fix="convert or drop non-string entries",
            )
        clean.append(_valid_unicode(text))
    return clean


def _valid_unicode(text: str) -> str:
    """Replace lone surrogates, which the Rust tokenizer cannot take, with U+FFFD (which
    BERT-style normalisers drop: a stray surrogate must not become a '?' token)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
        raise InvalidInputError(f"{name}={value}.", expected=f"{name} >= {minimum}")
