"""The chunked max pooling equals the textbook SPLADE formula."""

from __future__ import annotations

import pytest
import torch

from langchain_splade.encoders import pooling


def _random_case(seed: int, batch: int = 3, length: int = 11, hidden: int = 8, vocab: int = 50):
    generator = torch.Generator().manual_seed(seed)
    states = torch.randn(batch, length, hidden, generator=generator)
    weight = torch.randn(vocab, hidden, generator=generator)
    bias = torch.randn(vocab, generator=generator)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return states, weight, bias, mask


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", ["packed", "chunked"])
def test_pooled_max_equals_reference(seed: int, method: str) -> None:
    states, weight, bias, mask = _random_case(seed)
    expected = pooling.splade_reference(states @ weight.T + bias, mask)
    pool = pooling.max_logits_packed if method == "packed" else pooling.max_logits_chunked
    step = {"rows_per_step": 4} if method == "packed" else {"positions_per_step": 4}
    got = pooling.splade_activation(pool(states, mask.bool(), weight, bias, **step))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_padded_positions_never_win() -> None:
    states, weight, bias, mask = _random_case(7)
    mask[0, 1:] = 0
    # Make the padded positions huge: a pooling that forgot the mask would pick them.
    states[0, 1:] = 100.0
    got = pooling.splade_activation(pooling.max_logits_chunked(states, mask.bool(), weight, bias))
    expected = pooling.splade_activation(states[0, :1] @ weight.T + bias)[0]
    torch.testing.assert_close(got[0], expected)


def test_text_without_valid_position_has_zero_weights() -> None:
    states, weight, bias, mask = _random_case(3)
    mask[1] = 0
    for pool in (pooling.max_logits_packed, pooling.max_logits_chunked):
        got = pooling.splade_activation(pool(states, mask.bool(), weight, bias))
        assert torch.count_nonzero(got[1]) == 0
