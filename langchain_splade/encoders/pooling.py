"""SPLADE max pooling without materialising the batch x length x vocab logits.

SPLADE (Formal et al., "SPLADE v2", 2021, eq. 1) weights vocabulary term j as
``w_j = max_i log(1 + relu(logit_ij))`` over the token positions i of a text. Since
``log1p`` and ``relu`` are monotone non-decreasing, ``max_i log1p(relu(x_i)) =
log1p(relu(max_i x_i))``: we take the masked max of the *raw* logits, a few rows at
a time, and activate once per text. The full fp32 logits tensor of a batch
(32 x 256 x 30,522 x 4 B = 1 GB) never exists, and the element-wise activation runs
on vocab-sized vectors instead of on every token.

The same holds for the double log ``log1p(log1p(relu(x)))`` of OpenSearch's v3
doc-only models (``activation="log1p_relu"``). SPLADE v1's *sum* pooling
(Formal et al., SIGIR 2021) has no such shortcut: :func:`sum_activated_packed`
activates each row chunk and adds it up, with the same memory bound.

These are pure torch functions (no model, no tokenizer) so they can be tested
against the reference formula directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

Activation = Literal["relu", "log1p_relu"]
# The (vocab, hidden) projection matrix, or a module computing ``x @ W.T + b`` (e.g. an
# int8 dynamically quantized Linear, see :mod:`langchain_splade.encoders.quantized`).
Projection = torch.Tensor | torch.nn.Module


def _projector(
    weight: Projection, bias: torch.Tensor | None
) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    """``(rows -> logits, vocab size)`` for a matrix or a projection module."""
    if isinstance(weight, torch.Tensor):
        return (lambda rows: F.linear(rows, weight, bias)), int(weight.shape[0])
    out_features = weight.out_features
    assert isinstance(out_features, int)
    return weight, out_features


def splade_reference(
    logits: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    activation: Activation = "relu",
    pooling: Literal["max", "sum"] = "max",
) -> torch.Tensor:
    """The textbook formula, for tests and benchmarks: materialises every logit.

    Args:
        logits: ``(batch, length, vocab)`` MLM logits.
        attention_mask: ``(batch, length)``, 1 for real tokens.
        activation: ``"relu"`` or the double-log ``"log1p_relu"``.
        pooling: ``"max"`` (SPLADE v2) or ``"sum"`` (SPLADE v1) over positions.

    Returns:
        ``(batch, vocab)`` term weights.
    """
    activated = torch.log(1 + torch.relu(logits))
    if activation == "log1p_relu":
        activated = torch.log(1 + activated)
    activated = activated * attention_mask.unsqueeze(-1)
    return activated.sum(dim=1) if pooling == "sum" else activated.max(dim=1).values


def splade_activation(max_logits: torch.Tensor, activation: Activation = "relu") -> torch.Tensor:
    """``log(1 + relu(x))`` (or its double log) in fp32; ``-inf`` becomes weight 0."""
    weights = torch.log1p(torch.relu(max_logits.float()))
    return torch.log1p(weights) if activation == "log1p_relu" else weights


def max_logits_packed(
    hidden: torch.Tensor,
    valid: torch.Tensor,
    weight: Projection,
    bias: torch.Tensor | None,
    rows_per_step: int = 512,
) -> torch.Tensor:
    """Masked max over positions of ``hidden @ weight.T + bias``, one text at a time.

    Only the valid rows of each text enter the vocabulary projection, so padding and
    special tokens cost nothing; the fastest layout on CPU, where the projection
    dominates and per-call overhead is negligible.

    Args:
        hidden: ``(batch, length, hidden)`` states just before the vocabulary projection.
        valid: ``(batch, length)`` bool, positions that may carry weight.
        weight: ``(vocab, hidden)`` projection matrix.
        bias: ``(vocab,)`` or None.
        rows_per_step: positions projected at once (bounds peak memory to
            ``rows_per_step x vocab`` floats).

    Returns:
        ``(batch, vocab)`` raw maxima, ``-inf`` where a text has no valid position.
    """
    project, vocab = _projector(weight, bias)
    batch = hidden.shape[0]
    out = torch.full((batch, vocab), -torch.inf, dtype=hidden.dtype, device=hidden.device)
    for row in range(batch):
        rows = hidden[row][valid[row]]
        for start in range(0, rows.shape[0], rows_per_step):
            step_max = project(rows[start : start + rows_per_step]).amax(dim=0)
            torch.maximum(out[row], step_max, out=out[row])
    return out


def max_logits_chunked(
    hidden: torch.Tensor,
    valid: torch.Tensor,
    weight: Projection,
    bias: torch.Tensor | None,
    positions_per_step: int = 16,
) -> torch.Tensor:
    """Same result as :func:`max_logits_packed`, a sequence chunk of the whole batch
    at a time: few large kernels, the better layout on GPU."""
    project, vocab = _projector(weight, bias)
    batch, length, _ = hidden.shape
    out = torch.full((batch, vocab), -torch.inf, dtype=hidden.dtype, device=hidden.device)
    for start in range(0, length, positions_per_step):
        stop = start + positions_per_step
        logits = project(hidden[:, start:stop])
        logits.masked_fill_(~valid[:, start:stop, None], -torch.inf)
        torch.maximum(out, logits.amax(dim=1), out=out)
    return out


def sum_activated_packed(
    hidden: torch.Tensor,
    valid: torch.Tensor,
    weight: Projection,
    bias: torch.Tensor | None,
    activation: Activation = "relu",
    rows_per_step: int = 512,
) -> torch.Tensor:
    """``sum_i act(hidden_i @ weight.T + bias)`` over each text's valid positions.

    Sum pooling cannot take the max-before-activation shortcut, but it still needs
    only ``rows_per_step x vocab`` logits at a time.

    Returns:
        ``(batch, vocab)`` activated fp32 sums (0 where a text has no valid position).
    """
    project, vocab = _projector(weight, bias)
    batch = hidden.shape[0]
    out = torch.zeros((batch, vocab), dtype=torch.float32, device=hidden.device)
    for row in range(batch):
        rows = hidden[row][valid[row]]
        for start in range(0, rows.shape[0], rows_per_step):
            logits = project(rows[start : start + rows_per_step])
            out[row] += splade_activation(logits, activation).sum(dim=0)
    return out


def sum_activated_chunked(
    hidden: torch.Tensor,
    valid: torch.Tensor,
    weight: Projection,
    bias: torch.Tensor | None,
    activation: Activation = "relu",
    positions_per_step: int = 16,
) -> torch.Tensor:
    """Same result as :func:`sum_activated_packed`, a sequence chunk of the whole batch
    at a time (the GPU layout)."""
    project, vocab = _projector(weight, bias)
    batch, length, _ = hidden.shape
    out = torch.zeros((batch, vocab), dtype=torch.float32, device=hidden.device)
    for start in range(0, length, positions_per_step):
        stop = start + positions_per_step
        activated = splade_activation(project(hidden[:, start:stop]), activation)
        out += (activated * valid[:, start:stop, None]).sum(dim=1)
    return out
