"""Take the vocabulary projection out of a masked-LM head, for every supported family.

A masked-LM head is ``transform(states) @ W.T + b`` with ``W`` of shape
``(vocab, hidden)``: the transform is BERT's ``cls.predictions.transform`` (dense,
GELU, LayerNorm), DistilBERT's ``vocab_transform`` + ``vocab_layer_norm``, RoBERTa's /
XLM-R's ``lm_head`` dense + LayerNorm, ModernBERT's ``head``. Replacing the final
linear layer (``get_output_embeddings()``) by the identity makes the model return
the transformed states; the encoder then applies ``W`` itself a few rows at a time,
fused with the pooling, so the ``batch x length x vocab`` logits never exist
(see :mod:`langchain_splade.encoders.pooling`).

Whether a head really ends in that one linear layer is *checked*, not assumed: the
model's own logits on a short text must equal ``states @ W.T + b`` after the split.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F

from langchain_splade.errors import ModelLoadError

logger = logging.getLogger(__name__)

# model_type -> the head's layout (tested in tests/unit/test_model_families.py).
KNOWN_HEADS: dict[str, str] = {
    "bert": "cls.predictions: transform (dense, GELU, LayerNorm) + decoder",
    "distilbert": "vocab_transform + vocab_layer_norm + vocab_projector",
    "roberta": "lm_head: dense, GELU, layer_norm + decoder",
    "xlm-roberta": "lm_head: dense, GELU, layer_norm + decoder",
    "modernbert": "head (dense, GELU, norm) + decoder",
}
_CHECK_TEXT = "sparse retrieval checks the vocabulary head once"
_CHECK_TOLERANCE = 1e-4


def split_vocab_projection(model: Any, tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Detach ``model``'s vocabulary projection (in place) and return its ``(W, b)``.

    Args:
        model: a ``*ForMaskedLM`` model in eval mode, float32.
        tokenizer: its tokenizer (for the check).

    Returns:
        ``weight`` ``(vocab, hidden)`` and ``bias`` ``(vocab,)`` or None; afterwards
        ``model(...).logits`` are the states just before the projection.

    Raises:
        ModelLoadError: the head has no linear projection, or more than a linear
            projection after it (the check failed).
    """
    model_type = str(getattr(model.config, "model_type", type(model).__name__))
    projection = model.get_output_embeddings()
    if not isinstance(projection, torch.nn.Linear):
        raise ModelLoadError(
            f"Model type {model_type!r} ({type(model).__name__}) has no linear vocabulary "
            f"projection (found {type(projection).__name__}).",
            expected=f"a masked-LM checkpoint; tested families: {', '.join(KNOWN_HEADS)}",
            fix="load a SPLADE masked-LM checkpoint",
        )
    sample = tokenizer(_CHECK_TEXT, return_tensors="pt")
    inputs = {"input_ids": sample["input_ids"], "attention_mask": sample["attention_mask"]}
    with torch.inference_mode():
        expected = model(**inputs).logits.float()
    weight = projection.weight.detach().clone()
    bias = projection.bias.detach().clone() if projection.bias is not None else None
    replaced = 0
    for name, module in model.named_modules():
        for child_name, child in module.named_children():
            if child is projection:
                setattr(module, child_name, torch.nn.Identity())
                replaced += 1
                logger.debug("Detached vocabulary projection %s.%s", name, child_name)
    with torch.inference_mode():
        states = model(**inputs).logits
        got = F.linear(states.float(), weight.float(), None if bias is None else bias.float())
    if replaced == 0 or got.shape != expected.shape or not _close(got, expected):
        raise ModelLoadError(
            f"The masked-LM head of model type {model_type!r} does more than one linear "
            "projection after its last layer, so it cannot be pooled without "
            "materialising every logit.",
            expected=f"one of the tested heads: {', '.join(KNOWN_HEADS)}",
            fix="open an issue with the model name; sentence-transformers' SparseEncoder "
            "can encode it meanwhile",
        )
    if model_type not in KNOWN_HEADS:
        logger.warning(
            "Model type %r is not among the tested SPLADE heads (%s); its head checked out "
            "as transform + linear projection, so it is used as such.",
            model_type,
            ", ".join(KNOWN_HEADS),
        )
    return weight, bias


def _close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    scale = max(1.0, float(expected.abs().max()))
    return bool((got - expected).abs().max() <= _CHECK_TOLERANCE * scale)
