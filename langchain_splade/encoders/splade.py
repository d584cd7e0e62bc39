"""``SpladeEncoder``: texts in, :class:`~langchain_splade.types.SparseVector` out.

Follows the shape of LangChain's sparse embeddings (``embed_documents`` /
``embed_query``) so it drops into partner-package code, and adds what retrieval
over real documents needs: sliding windows so long documents keep their tail,
length-sorted batches, pruning, inference-free queries, and ``explain``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from langchain_splade.encoders import pooling
from langchain_splade.encoders.inputs import check_int, check_texts, with_prompt
from langchain_splade.encoders.lanes import run_short
from langchain_splade.encoders.loading import (
    DEFAULT_MODEL,
    load_splade,
    resolve_model,
    vocabulary_hash,
)
from langchain_splade.encoders.quantized import check_quantizable, quantize_int8
from langchain_splade.encoders.query import IdfQueryEncoder, query_weights
from langchain_splade.encoders.windows import (
    WindowPolicy,
    build_windows,
    check_policy,
    special_affixes,
    window_factors,
)
from langchain_splade.errors import InvalidInputError
from langchain_splade.types import EncoderFingerprint, SparseVector, TermContribution

logger = logging.getLogger(__name__)

LongDocuments = Literal["window", "truncate"]
QueryEncoderKind = Literal["auto", "model", "idf"]
DType = Literal["float32", "bfloat16", "float16"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Texts encoded per outer step: bounds the (texts x vocab) fp32 maxima to ~60 MB.
_TEXTS_PER_STEP = 512
# Query batches up to this size run on a single-threaded lane (see encoders/lanes.py).
_LANE_TEXTS = 8


class SpladeEncoder:
    """Encode documents and queries into SPLADE sparse vectors.

    Args:
        model: bundled model name (default ``"splade-tiny"``, works offline), a local
            folder (a masked-LM checkpoint or a sentence-transformers ``SparseEncoder``
            folder: its pooling, activation, prompts, max length and query route are
            read from it), or a hub id (needs the network or a local cache).
        max_length: tokens per window. Default: what the model folder records
            (``max_seq_length``, else the tokenizer's ``model_max_length``; 256 for
            the bundled model), capped by the model's position table.
        long_documents: ``"window"`` pools overlapping windows of ``max_length``
            tokens (how: ``window_policy``), so a document's tail is never lost;
            ``"truncate"`` keeps the first window only.
        window_overlap: tokens shared by consecutive windows (context at the seams).
            Default ``min(32, max_length // 4)``.
        window_policy: how ``"window"`` places and pools windows
            (:class:`~langchain_splade.encoders.windows.WindowPolicy`); default
            ``DEFAULT_WINDOW_POLICY``, chosen in ``benchmarks/long_documents.py``.
        device: ``"cpu"``, ``"cuda"``, ... Default: CUDA when available, else CPU.
        dtype: model precision; ``"bfloat16"``/``"float16"`` speed up GPUs.
            Default float32.
        quantize: ``"int8"`` (CPU, opt-in) runs the linear layers and the vocabulary
            projection as int8 dynamic-quantized GEMMs: faster (1.3-1.6x measured),
            weights within ~0.3 of the exact ones, nDCG@10 +0.0004 to +0.0053 on
            three datasets (see benchmarks/README.md). Default: exact.
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
        isolate_queries: encode queries (up to 8 at a time, on CPU) on single-threaded
            worker threads, so query latency holds when other processes keep cores
            busy (:mod:`~langchain_splade.encoders.lanes`); False uses torch's
            intra-op pool in the calling thread.
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        max_length: int | None = None,
        long_documents: LongDocuments = "window",
        window_overlap: int | None = None,
        window_policy: WindowPolicy | None = None,
        device: str | torch.device | None = None,
        dtype: DType | None = None,
        quantize: Literal["int8"] | None = None,
        batch_size: int = 32,
        max_terms: int | None = None,
        min_weight: float | None = None,
        query_max_terms: int | None = None,
        query_min_weight: float | None = None,
        query_encoder: QueryEncoderKind = "auto",
        idf: Mapping[str, float] | str | Path | None = None,
        show_progress: bool = False,
        isolate_queries: bool = True,
    ) -> None:
        if max_length is not None:
            check_int("max_length", max_length, minimum=8)
        check_int("batch_size", batch_size, minimum=1)
        if window_overlap is not None:
            check_int("window_overlap", window_overlap, minimum=0)
        for name, value in (("max_terms", max_terms), ("query_max_terms", query_max_terms)):
            if value is not None:
                check_int(name, value, minimum=1)
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
        loaded = load_splade(self._resolved)
        self._model, self._tokenizer, self.layout = loaded.model, loaded.tokenizer, loaded.layout
        self._folder = loaded.folder
        max_length = loaded.default_max_length if max_length is None else max_length
        limit = loaded.position_limit
        if max_length > limit:
            raise InvalidInputError(
                f"max_length={max_length} exceeds the model's {limit} positions.",
                fix=f"use max_length <= {limit}; long documents are windowed anyway",
            )
        if window_overlap is None:
            window_overlap = min(32, max_length // 4)
        if window_overlap >= max_length // 2:
            raise InvalidInputError(
                f"window_overlap={window_overlap} is too large for max_length={max_length}.",
                expected="an overlap below half a window",
                fix="use window_overlap <= max_length // 4",
            )
        if max_terms is None and query_max_terms is None and self.layout.max_active_dims:
            max_terms = query_max_terms = int(self.layout.max_active_dims)
        self.max_length = max_length
        self.long_documents: LongDocuments = long_documents
        self.window_overlap = window_overlap
        self.window_policy = check_policy(window_policy)
        self.batch_size = batch_size
        self.max_terms = max_terms
        self.min_weight = min_weight
        self.query_max_terms = query_max_terms
        self.query_min_weight = query_min_weight
        self.show_progress = show_progress
        self.isolate_queries = isolate_queries

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = _DTYPES[dtype or "float32"]
        self._projection_weight: pooling.Projection = loaded.weight
        self._projection_bias = loaded.bias
        self._model.to(device=self.device, dtype=self.dtype)
        self._projection_weight = self._projection_weight.to(self.device, self.dtype)
        if self._projection_bias is not None:
            self._projection_bias = self._projection_bias.to(self.device, self.dtype)
        self.quantize = quantize
        if quantize is not None:
            check_quantizable(quantize, self.device, self.dtype)
            self._model, self._projection_weight = quantize_int8(
                self._model, loaded.weight, loaded.bias
            )
            self._projection_bias = None

        vocab: dict[str, int] = dict(self._tokenizer.get_vocab())
        self.vocabulary: Mapping[str, int] = vocab
        self.id_to_token: list[str] = [""] * (max(vocab.values()) + 1)
        for token, token_id in vocab.items():
            self.id_to_token[token_id] = token
        self.vocab_size = int(loaded.weight.shape[0])

        idf_table = query_weights(idf, self.layout.query_weights, self._folder)
        if query_encoder == "idf" and idf_table is None:
            raise InvalidInputError(
                "query_encoder='idf' but no IDF table was found.",
                expected=f"an idf.json in {self._resolved.source!r} or the idf= argument",
                fix="pass idf={'token': weight, ...} or idf='path/to/idf.json'",
            )
        use_idf = query_encoder == "idf" or (query_encoder == "auto" and idf_table is not None)
        self._idf_query = (
            IdfQueryEncoder(loaded.query_tokenizer or self._tokenizer, idf_table)
            if use_idf and idf_table is not None
            else None
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
                "window_policy": self.window_policy.to_json(),
                "max_terms": self.max_terms,
                "min_weight": self.min_weight,
                "quantize": self.quantize,
                "pooling": self.layout.pooling,
                "activation": self.layout.activation,
            },
        )

    def embed_documents(
        self, texts: Sequence[str], *, show_progress: bool | None = None
    ) -> list[SparseVector]:
        """Encode documents (windowed or truncated, pruned with the document settings)."""
        texts = with_prompt(self.layout.document_prompt, check_texts(texts))
        progress = self.show_progress if show_progress is None else show_progress
        windowed = self.long_documents == "window"
        return self._encode(texts, windowed, self.max_terms, self.min_weight, progress)

    def embed_query(self, text: str) -> SparseVector:
        """Encode one query (model or IDF, pruned with the query settings)."""
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """Encode many queries in one pass (what ``retriever.batch`` uses)."""
        texts = with_prompt(self.layout.query_prompt, check_texts(texts))
        if self._idf_query is not None:
            vectors = [self._idf_query.encode(text) for text in texts]
            return [v.prune(self.query_max_terms, self.query_min_weight) for v in vectors]
        encode = functools.partial(
            self._encode, texts, True, self.query_max_terms, self.query_min_weight, False
        )
        if self.isolate_queries and self.device.type == "cpu" and len(texts) <= _LANE_TEXTS:
            return run_short(encode)
        return encode()

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

    def _windows(self, texts: list[str], windowed: bool) -> tuple[list[list[int]], list[int]]:
        """Token ids of every window and the text each window belongs to."""
        if windowed and self.window_policy.align_last:
            return self._aligned_windows(texts)
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

    def _aligned_windows(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Windows whose last one is right-aligned on the text's end (full length)."""
        tokens = self._tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        prefix, suffix = special_affixes(
            self._tokenizer("a")["input_ids"],
            self._tokenizer("a", add_special_tokens=False)["input_ids"],
        )
        size = self.max_length - len(prefix) - len(suffix)
        return build_windows(tokens, prefix, suffix, size, self.window_overlap, align_last=True)

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
        factors = window_factors(owners, self.window_policy)
        maxima = torch.zeros((len(texts), self.vocab_size), device=self.device)
        for batch_ids, batch_rows in self._batches(windows, list(range(len(windows)))):
            batch_max = self._window_weights(batch_ids)
            for row, i in enumerate(batch_rows):
                weights = batch_max[row] if factors[i] == 1.0 else batch_max[row] * factors[i]
                torch.maximum(maxima[owners[i]], weights, out=maxima[owners[i]])
        maxima[:, self._special_ids] = 0.0
        # A text with no content token (empty, blank) has no terms: it matches nothing.
        has_content = [False] * len(texts)
        for window, owner in zip(windows, owners):
            has_content[owner] |= len(window) > self._specials_per_window
        maxima[~torch.tensor(has_content)] = 0.0
        return maxima.cpu()

    def _batches(
        self, windows: list[list[int]], owners: list[int]
    ) -> Iterator[tuple[list[list[int]], list[int]]]:
        """Windows in length-sorted batches, so padding is minimal."""
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            yield [windows[i] for i in chosen], [owners[i] for i in chosen]

    def _window_weights(self, windows: list[list[int]]) -> torch.Tensor:
        """``(len(windows), vocab)`` activated fp32 SPLADE weights, one row per window."""
        activation = self.layout.activation
        if self.layout.pooling == "max":
            return pooling.splade_activation(self._max_logits(windows), activation)
        hidden, valid = self._forward(windows)
        pool = (
            pooling.sum_activated_packed
            if self.device.type == "cpu"
            else pooling.sum_activated_chunked
        )
        return pool(hidden, valid, self._projection_weight, self._projection_bias, activation)

    def _max_logits(self, windows: list[list[int]]) -> torch.Tensor:
        """``(len(windows), vocab)`` masked max of the raw logits (max pooling)."""
        hidden, valid = self._forward(windows)
        if self.device.type == "cpu":
            return pooling.max_logits_packed(
                hidden, valid, self._projection_weight, self._projection_bias
            )
        return pooling.max_logits_chunked(
            hidden, valid, self._projection_weight, self._projection_bias
        )

    def _forward(self, windows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad ``windows``, run the model up to the vocabulary projection: states, mask."""
        length = max(len(w) for w in windows)
        input_ids = torch.full((len(windows), length), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(windows), length), dtype=torch.long)
        for row, window in enumerate(windows):
            input_ids[row, : len(window)] = torch.tensor(window)
            attention[row, : len(window)] = 1
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)
        hidden = self._model(input_ids=input_ids, attention_mask=attention).logits
        return hidden, attention.bool()


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
