"""Window placement and pooling for long documents: pure functions, hand-checked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.encoders.windows import (
    WindowPolicy,
    build_windows,
    pool_windows,
    special_affixes,
    window_factors,
    window_spans,
)
from langchain_splade.errors import InvalidInputError, InvalidTypeError


def test_spans_step_by_size_minus_overlap_and_stop_at_the_end() -> None:
    assert window_spans(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    assert window_spans(11, 4, 1) == [(0, 4), (3, 7), (6, 10), (9, 11)]
    assert window_spans(3, 4, 1) == [(0, 3)]
    assert window_spans(0, 4, 1) == [(0, 0)]


def test_aligned_last_window_is_full_length_and_ends_at_the_end() -> None:
    spans = window_spans(11, 4, 1, align_last=True)
    assert spans == [(0, 4), (3, 7), (6, 10), (7, 11)]
    assert all(end - start == 4 for start, end in spans)
    # A tail shorter than the step: the aligned window swallows the one before it.
    assert window_spans(8, 6, 1, align_last=True) == [(0, 6), (2, 8)]
    assert window_spans(3, 4, 1, align_last=True) == [(0, 3)]


@pytest.mark.parametrize("length", [0, 1, 5, 300, 777, 2500])
@pytest.mark.parametrize("align_last", [False, True])
def test_spans_cover_every_token(length: int, align_last: bool) -> None:
    spans = window_spans(length, 254, 32, align_last=align_last)
    covered = set().union(*(range(s, e) for s, e in spans))
    assert covered == set(range(length))
    assert all(0 <= s < e <= length for s, e in spans) or length == 0
    assert [s for s, _ in spans] == sorted({s for s, _ in spans})


def test_spans_equal_the_tokenizers_overflowing_windows() -> None:
    encoder = SpladeEncoder(window_policy=WindowPolicy())  # the tokenizer's own windows
    tokenizer = encoder._tokenizer
    text = " ".join(f"word{i} alpha beta" for i in range(400))
    tokens = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    prefix, suffix = special_affixes(
        tokenizer("a")["input_ids"], tokenizer("a", add_special_tokens=False)["input_ids"]
    )
    size = encoder.max_length - len(prefix) - len(suffix)
    ours = [[*prefix, *tokens[s:e], *suffix] for s, e in window_spans(len(tokens), size, 32)]
    theirs, owners = encoder._windows([text], True)
    assert ours == [list(w) for w in theirs]
    assert len(ours) > 3 and set(owners) == {0}
    # the default right-aligns the last window: same windows but the last
    aligned = SpladeEncoder()._windows([text], True)[0]
    assert aligned[:-1] == ours[:-1] and aligned[-1] != ours[-1]
    assert len(aligned[-1]) == encoder.max_length


def test_special_affixes() -> None:
    assert special_affixes([101, 7, 8, 102], [7, 8]) == ([101], [102])
    assert special_affixes([0, 7, 2, 2], [7]) == ([0], [2, 2])
    with pytest.raises(InvalidInputError, match="does not contain"):
        special_affixes([101, 9, 102], [7])


def test_factors_count_positions_per_document() -> None:
    owners = [0, 0, 0, 1, 2, 2]
    assert window_factors(owners, WindowPolicy()) == [1.0] * 6
    decay = window_factors(owners, WindowPolicy(pooling="decay", gamma=0.5))
    assert decay == [1.0, 0.5, 0.25, 1.0, 1.0, 0.5]
    first = window_factors(owners, WindowPolicy(pooling="first", gamma=0.5))
    assert first == [1.0, 0.5, 0.5, 1.0, 1.0, 0.5]
    assert window_factors(owners, WindowPolicy(pooling="decay", gamma=1.0)) == [1.0] * 6


def test_build_windows_wraps_each_span_in_special_tokens() -> None:
    windows, owners = build_windows([[1, 2, 3, 4, 5], [6]], [100], [101], 3, 1)
    assert windows == [[100, 1, 2, 3, 101], [100, 3, 4, 5, 101], [100, 6, 101]]
    assert owners == [0, 0, 1]
    aligned, _ = build_windows([[1, 2, 3, 4, 5, 6]], [100], [101], 3, 1, align_last=True)
    assert aligned == [[100, 1, 2, 3, 101], [100, 3, 4, 5, 101], [100, 4, 5, 6, 101]]


def test_pool_windows_max_and_decay() -> None:
    weights = torch.tensor([[1.0, 0.0, 2.0], [3.0, 1.0, 0.0], [0.0, 0.0, 4.0], [0.5, 0.5, 0.5]])
    owners = [0, 0, 0, 1]
    pooled = pool_windows(weights, owners, 3, WindowPolicy())
    assert pooled.tolist() == [[3.0, 1.0, 4.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]
    decayed = pool_windows(weights, owners, 3, WindowPolicy(pooling="decay", gamma=0.5))
    # doc 0: max(1, 1.5, 0), max(0, 0.5, 0), max(2, 0, 1); doc 1 is its own first window.
    assert decayed.tolist() == [[1.5, 0.5, 2.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]


def test_pool_windows_position_counts_per_document_in_order() -> None:
    weights = torch.tensor([[1.0], [4.0], [2.0], [8.0]])
    # interleaved owners: doc 0 gets positions 0, 1; doc 1 gets 0, 1
    pooled = pool_windows(weights, [0, 1, 0, 1], 2, WindowPolicy(pooling="decay", gamma=0.5))
    assert pooled.flatten().tolist() == [1.0, 4.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pooling": "mean"}, "Unknown window pooling"),
        ({"pooling": "decay", "gamma": -0.5}, "gamma is -0.5"),
        ({"gamma": 0.0}, "gamma is 0.0"),
        ({"gamma": 1.5}, "gamma is 1.5"),
        ({"gamma": True}, "gamma is True"),
    ],
)
def test_bad_policies_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        WindowPolicy(**kwargs)  # type: ignore[arg-type]


def test_bad_spans_and_shapes_raise() -> None:
    with pytest.raises(InvalidInputError, match="overlap"):
        window_spans(10, 4, 4)
    with pytest.raises(InvalidInputError, match="owners"):
        pool_windows(torch.zeros((2, 3)), [0], 1, WindowPolicy())


def _alone(encoder: SpladeEncoder, tokens: list[int]) -> dict[int, float]:
    return encoder.embed_documents([encoder._tokenizer.decode(tokens)])[0].to_dict()


def test_encoder_applies_the_policy_to_later_windows(same_encoding: Callable[..., None]) -> None:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi"
    policy = WindowPolicy(pooling="first", gamma=0.5)
    small = SpladeEncoder(max_length=16, window_overlap=0, window_policy=policy)
    tokens = small._tokenizer(words, add_special_tokens=False)["input_ids"]
    first, second = _alone(small, tokens[:14]), _alone(small, tokens[14:])
    whole = small.embed_documents([words])[0].to_dict()
    expected = {
        k: max(first.get(k, 0.0), 0.5 * second.get(k, 0.0)) for k in set(first) | set(second)
    }
    same_encoding(whole, expected)  # the windows ran in another batch than the texts
    assert small.fingerprint.settings["window_policy"] == policy.to_json()


def test_encoder_right_aligns_the_last_window(same_encoding: Callable[..., None]) -> None:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi"
    small = SpladeEncoder(
        max_length=16, window_overlap=0, window_policy=WindowPolicy(align_last=True)
    )
    tokens = small._tokenizer(words, add_special_tokens=False)["input_ids"]
    first, last = _alone(small, tokens[:14]), _alone(small, tokens[-14:])
    whole = small.embed_documents([words])[0].to_dict()
    expected = {k: max(first.get(k, 0.0), last.get(k, 0.0)) for k in set(first) | set(last)}
    same_encoding(whole, expected)  # the windows ran in another batch than the texts


def test_encoder_rejects_a_policy_of_the_wrong_type() -> None:
    with pytest.raises(InvalidTypeError, match="window_policy is a dict"):
        SpladeEncoder(window_policy={"pooling": "max"})  # type: ignore[arg-type]
