"""What callers pass to the encoder, checked and prepared: texts and integer settings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_splade.errors import InvalidInputError, InvalidTypeError

_SURROGATE = re.compile("[\ud800-\udfff]")


def with_prompt(prompt: str, texts: list[str]) -> list[str]:
    """Prepend the model's prompt (sentence-transformers ``prompts``); an empty text
    stays empty, so it still matches nothing."""
    return [prompt + text if text.strip() else text for text in texts] if prompt else texts


def check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidTypeError(
            f"Expected a list of strings, got {type(texts).__name__}.",
            fix="wrap a single text in a list, or use embed_query for one query",
        )
    clean = []
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidTypeError(
                f"Text at position {position} is {type(text).__name__}, not str.",
                expected="every text a str (an empty string is allowed and matches nothing)",
                fix="convert or drop non-string entries",
            )
        clean.append(valid_unicode(text))
    return clean


def valid_unicode(text: str) -> str:
    """Replace lone surrogates, which the Rust tokenizer cannot take, with U+FFFD (which
    BERT-style normalisers drop: a stray surrogate must not become a '?' token)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
        raise InvalidInputError(f"{name}={value}.", expected=f"{name} >= {minimum}")
