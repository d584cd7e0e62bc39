"""Inference-free query encoding.

"Doc-only" SPLADE models (e.g. OpenSearch's ``opensearch-neural-sparse-encoding-
doc-*``) expand documents with the model but encode a query as its own tokenizer
ids, each weighted by an IDF table shipped with the model. Query latency is then
a tokenizer call: no forward pass, no GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from langchain_splade.types import SparseVector

logger = logging.getLogger(__name__)


class IdfQueryEncoder:
    """Encode a query as ``{token_id: idf[token]}`` over its distinct tokens."""

    def __init__(self, tokenizer: Any, idf: Mapping[str, float]) -> None:
        vocab: dict[str, int] = tokenizer.get_vocab()
        self._tokenizer = tokenizer
        self._weights = np.zeros(max(vocab.values()) + 1, dtype=np.float32)
        unknown = 0
        for token, weight in idf.items():
            token_id = vocab.get(token)
            if token_id is None:
                unknown += 1
            elif weight > 0 and np.isfinite(weight):
                self._weights[token_id] = weight
        if unknown:
            logger.warning("%d IDF tokens are not in the tokenizer vocabulary; ignored", unknown)
        for special in tokenizer.all_special_ids:
            self._weights[special] = 0.0

    def encode(self, text: str) -> SparseVector:
        """The query's distinct tokens that have a positive IDF weight."""
        ids = np.unique(
            np.asarray(self._tokenizer(text, add_special_tokens=False)["input_ids"], np.int64)
        )
        weights = self._weights[ids]
        keep = weights > 0
        return SparseVector._trusted(ids[keep].astype(np.int32), weights[keep])
