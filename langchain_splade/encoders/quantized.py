"""Opt-in int8 encoding on CPU: dynamic quantization of the linear layers.

The vocabulary projection is ``hidden x vocab`` multiply-adds per token (128 x 30,522
for splade-tiny, ~90 % of its FLOPs). Dynamic quantization (Jacob et al., CVPR 2018;
PyTorch's ``quantize_dynamic``) stores each weight matrix in int8 with a scale per
output row and quantizes the activations per call, so the matrix products run as
int8 GEMMs with int32 accumulation (FBGEMM on x86): the projection ~2.5x faster, with
logits off by a few hundredths. The pooling stays exact math on those logits.
``benchmarks/encode_throughput.py`` measures the speed and the weight difference,
and ``benchmarks/README.md`` the nDCG@10 change on three datasets.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from langchain_splade.errors import InvalidInputError

QUANTIZE_CHOICES: tuple[str, ...] = ("int8",)


def check_quantizable(quantize: Any, device: torch.device, dtype: torch.dtype) -> None:
    """Refuse an unknown ``quantize`` value, or int8 off the CPU / with a half dtype."""
    if quantize not in QUANTIZE_CHOICES:
        raise InvalidInputError(
            f"quantize={quantize!r}.", expected=f"None or one of {list(QUANTIZE_CHOICES)}"
        )
    if device.type != "cpu" or dtype != torch.float32:
        raise InvalidInputError(
            f"quantize={quantize!r} on {device} with {dtype}.",
            expected="device='cpu' and float32 (int8 dynamic quantization is a CPU path)",
            fix="use dtype='bfloat16' on GPU instead",
        )


def quantize_int8(
    model: Any, weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[Any, torch.nn.Module]:
    """The model with int8 dynamic linear layers, and the int8 vocabulary projection.

    Args:
        model: the masked LM (float32, CPU) with its projection already detached.
        weight, bias: the ``(vocab, hidden)`` projection and its bias.

    Returns:
        ``(model, projection)``; ``projection(rows)`` computes ``rows @ W.T + b``.
    """
    try:
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:  # removed from a future torch
        raise InvalidInputError(
            f"quantize='int8' needs torch's dynamic quantization, missing in torch "
            f"{torch.__version__}: {exc}.",
            expected="torch with torch.ao.quantization",
            fix="use quantize=None (exact float32 encoding)",
        ) from exc
    linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)
    linear.qconfig = per_channel_dynamic_qconfig  # type: ignore[assignment]
    with warnings.catch_warnings():
        # torch marks quantized tensor creation deprecated; the kernels are what we use.
        warnings.simplefilter("ignore")
        projection = DynamicLinear.from_float(linear)
        model = quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
    return model, projection
