"""Shared fixtures: the real bundled encoder, loaded once per test session."""

from __future__ import annotations

import pytest

from langchain_splade.encoders import SpladeEncoder


@pytest.fixture(scope="session")
def encoder() -> SpladeEncoder:
    """The bundled splade-tiny model on CPU (offline, ~1 s to load)."""
    return SpladeEncoder(device="cpu")
