"""Argument checks shared by every backend and retriever, so they fail alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from langchain_splade.errors import InvalidInputError, InvalidTypeError


def check_k(value: Any, name: str = "k") -> int:
    """A result count: an int (numpy ints accepted, bools not) of at least 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidTypeError(
            f"{name} must be an int, got {value!r} ({type(value).__name__}).",
            fix=f"pass {name}=10 (any integer >= 1)",
        )
    if value < 1:
        raise InvalidInputError(
            f"{name} is {value}.", expected=f"{name} >= 1", fix=f"pass {name}=10"
        )
    return int(value)
