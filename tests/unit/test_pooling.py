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


def _rounding_bound(states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> float:
    """How far two float32 evaluations of the same masked max logit can differ.

    The chunked poolings sum ``s . w + b`` in other matrix shapes than the reference,
    so in another order. Any order is within gamma_n * (|s| . |w| + |b|) of the exact
    value, gamma_n = n u / (1 - n u), u = 2^-24, n = hidden + 1 terms (Higham, Accuracy
    and Stability of Numerical Algorithms, 2002, eq. 3.5); two evaluations within twice
    that. max and log1p(relu(.)) are 1-Lipschitz, so the bound holds for weights too.
    """
    n, u = states.shape[-1] + 1, 2.0**-24
    gamma = n * u / (1 - n * u)
    magnitude = float((states.abs() @ weight.abs().T + bias.abs()).max())
    return 2 * gamma * magnitude


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", ["packed", "chunked"])
def test_pooled_max_equals_reference(seed: int, method: str) -> None:
    states, weight, bias, mask = _random_case(seed)
    expected = pooling.splade_reference(states @ weight.T + bias, mask)
    pool = pooling.max_logits_packed if method == "packed" else pooling.max_logits_chunked
    step = {"rows_per_step": 4} if method == "packed" else {"positions_per_step": 4}
    got = pooling.splade_activation(pool(states, mask.bool(), weight, bias, **step))
    torch.testing.assert_close(got, expected, atol=_rounding_bound(states, weight, bias), rtol=0)


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


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("activation", ["relu", "log1p_relu"])
def test_max_then_activate_equals_reference_for_each_activation(seed: int, activation: str) -> None:
    """The max-before-activation shortcut also holds for the double log."""
    states, weight, bias, mask = _random_case(seed)
    expected = pooling.splade_reference(states @ weight.T + bias, mask, activation=activation)  # type: ignore[arg-type]
    raw = pooling.max_logits_packed(states, mask.bool(), weight, bias, rows_per_step=4)
    got = pooling.splade_activation(raw, activation)  # type: ignore[arg-type]
    torch.testing.assert_close(got, expected, atol=_rounding_bound(states, weight, bias), rtol=0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("method", ["packed", "chunked"])
@pytest.mark.parametrize("activation", ["relu", "log1p_relu"])
def test_sum_pooling_equals_reference(seed: int, method: str, activation: str) -> None:
    states, weight, bias, mask = _random_case(seed)
    logits = states @ weight.T + bias
    expected = pooling.splade_reference(logits, mask, activation=activation, pooling="sum")  # type: ignore[arg-type]
    pool = pooling.sum_activated_packed if method == "packed" else pooling.sum_activated_chunked
    step = {"rows_per_step": 4} if method == "packed" else {"positions_per_step": 4}
    got = pool(states, mask.bool(), weight, bias, activation, **step)  # type: ignore[arg-type]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(got, pooling.splade_reference(logits, mask, activation=activation))  # type: ignore[arg-type]


def test_a_projection_module_pools_like_its_matrix() -> None:
    """An int8-style projection module goes through the same pooling as the matrix."""
    states, weight, bias, mask = _random_case(5)
    linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
    with torch.no_grad():
        by_module = pooling.max_logits_packed(states, mask.bool(), linear, None, rows_per_step=4)
    by_matrix = pooling.max_logits_packed(states, mask.bool(), weight, bias, rows_per_step=4)
    bound = _rounding_bound(states, weight, bias)
    torch.testing.assert_close(by_module, by_matrix, atol=bound, rtol=0)
