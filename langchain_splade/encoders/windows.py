"""Where a long document's windows lie and how their SPLADE vectors are pooled.

SPLADE (Formal et al., 2021, "SPLADE v2") max-pools term weights over a passage's
tokens; a model sees at most ``max_length`` tokens, so a longer document is cut
into overlapping windows and their vectors are pooled into one. Two choices matter
(measured in ``benchmarks/long_documents.py``):

- **Placement.** Tokenizer-style windows step by ``size - overlap`` from the start,
  so the last one is often a short tail, which the model (trained on full
  passages) expands with many weak terms. ``align_last=True`` right-aligns the
  last window on the document's end instead, so every window is full length.
- **Pooling.** ``max`` is SPLADE's own max over all tokens. Weighting window
  ``k`` by ``gamma ** k`` (``"decay"``), or every window after the first by
  ``gamma`` (``"first"``), before the max keeps a term that appears only late in
  the document while letting the first window, which most often holds what the
  document is about (title, abstract), dominate the weights.

MaxP (Dai & Callan, 2019, "Deeper Text Understanding for IR with Contextual
Neural Language Modeling") instead keeps one vector per window and scores a
document by its best window; it needs an index that groups vectors per document.

All functions are pure: token counts in, spans or tensors out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from langchain_splade.errors import InvalidInputError, InvalidTypeError

WindowPooling = Literal["max", "decay", "first"]
POOLINGS: tuple[str, ...] = ("max", "decay", "first")


@dataclass(frozen=True)
class WindowPolicy:
    """How long documents become one vector.

    Attributes:
        pooling: ``"max"`` (plain max over windows), ``"decay"`` (max over
            ``gamma ** k * w_k``, window ``k`` counted from 0) or ``"first"`` (the
            first window at full weight, every later one times ``gamma``).
        gamma: the factor in ``(0, 1]`` (1 makes every pooling equal ``"max"``).
        align_last: right-align the last window on the document's end, so it is
            full length instead of a short tail.
    """

    pooling: WindowPooling = "max"
    gamma: float = 1.0
    align_last: bool = False

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise InvalidInputError(
                f"Unknown window pooling {self.pooling!r}.",
                expected=f"one of {list(POOLINGS)}",
                fix="use pooling='max'",
            )
        gamma = self.gamma
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma <= 1:
            raise InvalidInputError(
                f"Window decay gamma is {gamma!r}.",
                expected="0 < gamma <= 1",
                fix="e.g. gamma=0.9 (1 weights every window equally)",
            )

    def to_json(self) -> dict[str, object]:
        """The policy as recorded in an encoder fingerprint."""
        return {"pooling": self.pooling, "gamma": self.gamma, "align_last": self.align_last}


DEFAULT_WINDOW_POLICY = WindowPolicy(pooling="first", gamma=0.7, align_last=True)
"""The encoder's default, chosen across datasets in ``benchmarks/long_documents.py``:
plain max-pooling lost 0.007 nDCG@10 to truncation on nfcorpus; this keeps every
window's terms (a late term keeps 0.7 of its weight) and never trailed truncation."""


def check_policy(policy: object) -> WindowPolicy:
    """``policy``, or the default for ``None``; a typed error for anything else."""
    if policy is None:
        return DEFAULT_WINDOW_POLICY
    if not isinstance(policy, WindowPolicy):
        raise InvalidTypeError(
            f"window_policy is a {type(policy).__name__}.",
            expected="a WindowPolicy or None",
            fix="e.g. window_policy=WindowPolicy(pooling='first', gamma=0.5)",
        )
    return policy


def window_spans(
    length: int, size: int, overlap: int, *, align_last: bool = False
) -> list[tuple[int, int]]:
    """``[start, end)`` token spans of the windows covering ``length`` content tokens.

    Windows of ``size`` tokens start every ``size - overlap`` tokens (as a Hugging
    Face tokenizer's ``stride=overlap`` overflow does) until one reaches the end.
    With ``align_last`` the last window is moved left to end exactly at ``length``
    (so it is full length whenever the document is at least ``size`` long).
    A document shorter than one window, or empty, is one span ``(0, length)``.
    """
    if size < 1 or not 0 <= overlap < size or length < 0:
        raise InvalidInputError(
            f"Windows of size={size}, overlap={overlap} over {length} tokens.",
            expected="size >= 1, 0 <= overlap < size, length >= 0",
            fix="use an overlap below the window size",
        )
    step = size - overlap
    spans = [(0, min(size, length))]
    while spans[-1][1] < length:
        start = spans[-1][0] + step
        spans.append((start, min(start + size, length)))
    if align_last and len(spans) > 1:
        start = max(0, length - size)
        spans[-1] = (start, length)
        if spans[-2][0] >= start:  # the moved window now contains the one before it
            del spans[-2]
    return spans


def special_affixes(
    with_specials: Sequence[int], content: Sequence[int]
) -> tuple[list[int], list[int]]:
    """The special ids a tokenizer puts before and after ``content`` (e.g. ``[CLS]`` and
    ``[SEP]``), found by locating ``content`` inside the same text tokenized with them."""
    n = len(content)
    for start in range(len(with_specials) - n + 1):
        if list(with_specials[start : start + n]) == list(content):
            return list(with_specials[:start]), list(with_specials[start + n :])
    raise InvalidInputError(
        "The tokenizer's output with special tokens does not contain its output without.",
        expected="special tokens only before and after the content",
        fix="use long_documents='truncate' with this tokenizer",
    )


def build_windows(
    tokens: Sequence[Sequence[int]],
    prefix: Sequence[int],
    suffix: Sequence[int],
    size: int,
    overlap: int,
    *,
    align_last: bool = False,
) -> tuple[list[list[int]], list[int]]:
    """Model inputs of every window of every text (``prefix + span + suffix``, the
    special tokens around each) and the text each window belongs to, in order."""
    windows: list[list[int]] = []
    owners: list[int] = []
    for owner, ids in enumerate(tokens):
        for start, end in window_spans(len(ids), size, overlap, align_last=align_last):
            windows.append([*prefix, *ids[start:end], *suffix])
            owners.append(owner)
    return windows, owners


def window_factors(owners: Sequence[int], policy: WindowPolicy) -> list[float]:
    """The factor of each window (listed in document order per owner) under ``policy``."""
    if policy.pooling == "max" or policy.gamma == 1:
        return [1.0] * len(owners)
    seen: dict[int, int] = {}
    factors = []
    for owner in owners:
        position = seen.get(owner, 0)
        seen[owner] = position + 1
        if policy.pooling == "decay":
            factors.append(policy.gamma**position)
        else:  # "first": every window after the first counts gamma
            factors.append(1.0 if position == 0 else policy.gamma)
    return factors


def pool_windows(
    weights: torch.Tensor, owners: Sequence[int], count: int, policy: WindowPolicy
) -> torch.Tensor:
    """Pool activated per-window weights ``(windows, vocab)`` into ``(count, vocab)``:
    per term, the max over a document's windows of factor x weight.

    ``owners[i]`` is the document of window ``i``; a document's windows must be
    listed in document order (their position sets the factor). Weights are
    non-negative (SPLADE activations), so a document with no window pools to 0.
    """
    if weights.dim() != 2 or weights.shape[0] != len(owners):
        raise InvalidInputError(
            f"{weights.shape[0] if weights.dim() else 0} window rows for {len(owners)} owners.",
            expected="a (windows, vocab) tensor with one owner per row",
        )
    factors = torch.tensor(window_factors(owners, policy), dtype=weights.dtype)
    scaled = weights * factors.to(weights.device)[:, None]
    pooled = torch.zeros((count, weights.shape[1]), dtype=weights.dtype, device=weights.device)
    if owners:
        index = torch.as_tensor(list(owners), device=weights.device)
        expanded = index[:, None].expand_as(scaled)
        pooled.scatter_reduce_(0, expanded, scaled, "amax", include_self=True)
    return pooled
