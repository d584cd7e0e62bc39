"""Inference-free query encoding.

"Doc-only" SPLADE models (e.g. OpenSearch's ``opensearch-neural-sparse-encoding-
doc-*``) expand documents with the model but encode a query as its own tokenizer
ids, each weighted by a static table shipped with the model: an ``idf.json``
(``{token: weight}``) or a sentence-transformers ``SparseStaticEmbedding`` (a weight
per vocabulary id). Query latency is then a tokenizer call: no forward pass, no GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from langchain_splade.encoders.loading import load_idf
from langchain_splade.encoders.st_format import read_idf
from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.types import SparseVector

logger = logging.getLogger(__name__)


class IdfQueryEncoder:
    """Encode a query as ``{token_id: weight[token_id]}`` over its distinct tokens.

    Args:
        tokenizer: the model's (fast) tokenizer.
        idf: ``{token: weight}`` or a weight per vocabulary id (``(vocab,)`` array).
    """

    def __init__(self, tokenizer: object, idf: Mapping[str, float] | np.ndarray) -> None:
        vocab: dict[str, int] = tokenizer.get_vocab()  # type: ignore[attr-defined]
        self._tokenizer = tokenizer
        size = max(vocab.values()) + 1
        if isinstance(idf, np.ndarray):
            if idf.ndim != 1 or idf.shape[0] < size:
                raise InvalidInputError(
                    f"Static query weights of shape {idf.shape} for a {size}-entry vocabulary.",
                    expected=f"one weight per vocabulary id, shape ({size},)",
                    fix="use the weights saved with this model's tokenizer",
                )
            weights = np.asarray(idf, dtype=np.float32).copy()
            weights[~np.isfinite(weights) | (weights < 0)] = 0.0
        else:
            weights = np.zeros(size, dtype=np.float32)
            unknown = 0
            for token, weight in idf.items():
                token_id = vocab.get(token)
                if token_id is None:
                    unknown += 1
                elif weight > 0 and np.isfinite(weight):
                    weights[token_id] = weight
            if unknown:
                logger.warning("%d IDF tokens are not in the vocabulary; ignored", unknown)
        for special in tokenizer.all_special_ids:  # type: ignore[attr-defined]
            weights[special] = 0.0
        self._weights = weights
        limit = getattr(tokenizer, "model_max_length", None)
        # Like sentence-transformers' SparseStaticEmbedding: truncate at the tokenizer's limit.
        self._max_length = limit if isinstance(limit, int) and limit < 1_000_000 else None

    def encode(self, text: str) -> SparseVector:
        """The query's distinct tokens that have a positive weight."""
        encoded = self._tokenizer(  # type: ignore[operator]
            text,
            add_special_tokens=False,
            truncation=self._max_length is not None,
            max_length=self._max_length,
        )
        ids = np.unique(np.asarray(encoded["input_ids"], np.int64))
        ids = ids[ids < self._weights.shape[0]]
        weights = self._weights[ids]
        keep = weights > 0
        return SparseVector._trusted(ids[keep].astype(np.int32), weights[keep])


def query_weights(
    idf: Mapping[str, float] | str | Path | None, static: np.ndarray | None, folder: Path
) -> Mapping[str, float] | np.ndarray | None:
    """The inference-free query weights: the caller's ``idf`` (mapping or path), else the
    model's static query module, else the folder's ``idf.json``; None if there are none."""
    if idf is None:
        return static if static is not None else load_idf(folder)
    if isinstance(idf, (str, Path)):
        return read_idf(Path(idf))
    if not isinstance(idf, Mapping):
        raise InvalidTypeError(
            f"idf must be a mapping or a path, got {type(idf).__name__}.",
            fix="pass {'token': weight} or 'path/to/idf.json'",
        )
    return {str(k): float(v) for k, v in idf.items()}
