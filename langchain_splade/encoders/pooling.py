"""SPLADE max pooling without materialising the batch x length x vocab logits.

SPLADE (Formal et al., "SPLADE v2", 2021, eq. 1) weights vocabulary term j as
``w_j = max_i log(1 + relu(logit_ij))`` over the token positions i of a text. Since
``log1p`` and ``relu`` are monotone non-decreasing, ``max_i log1p(relu(x_i)) =
log1p(relu(max_i x_i))``: we take the masked max of the *raw* logits, a few rows at
a time, and activate once per text. The full fp32 logits tensor of a batch
(32 x 256 x 30,522 x 4 B = 1 GB) never exists, and the element-wise activation runs
on vocab-sized vectors instead of on every token.

These are pure torch functions (no model, no tokenizer) so they can be tested
against the reference formula directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def splade_reference(logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The textbook formula, for tests and benchmarks: materialises every logit.

    Args:
        logits: ``(batch, length, vocab)`` MLM logits.
        attention_mask: ``(batch, length)``, 1 for real tokens.

    Returns:
        ``(batch, vocab)`` term weights.
    """
    activated = torch.log(1 + torch.relu(logits)) * attention_mask.unsqueeze(-1)
    return activated.max(dim=1).values


def splade_activation(max_logits: torch.Tensor) -> torch.Tensor:
    """``log(1 + relu(x))`` in fp32; ``-inf`` (no valid token) becomes weight 0."""
    return torch.log1p(torch.relu(max_logits.float()))


def max_logits_packed(
    hidden: torch.Tensor,
    valid: torch.Tensor,
    weight: torch.Tensor,
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
    batch = hidden.shape[0]
    out = torch.full((batch, weight.shape[0]), -torch.inf, dtype=hidden.dtype, device=hidden.device)
    for row in range(batch):
        rows = hidden[row][valid[row]]
        for start in range(0, rows.shape[0], rows_per_step):
            step_max = F.linear(rows[start : start + rows_per_step], weight, bias).amax(dim=0)
            torch.maximum(out[row], step_max, out=out[row])
    return out


def max_logits_chunked(
    hidden: torch.Tensor,
    valid: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    positions_per_step: int = 16,
) -> torch.Tensor:
    """Same result as :func:`max_logits_packed`, a sequence chunk of the whole batch
    at a time: few large kernels, the better layout on GPU."""
    batch, length, _ = hidden.shape
    out = torch.full((batch, weight.shape[0]), -torch.inf, dtype=hidden.dtype, device=hidden.device)
    for start in range(0, length, positions_per_step):
        stop = start + positions_per_step
        logits = F.linear(hidden[:, start:stop], weight, bias)
        logits.masked_fill_(~valid[:, start:stop, None], -torch.inf)
        torch.maximum(out, logits.amax(dim=1), out=out)
    return out
