"""How sparse-vector terms become ``rank_features`` feature names, and back.

The ``rank_feature`` query finds its feature by splitting ``field`` at the LAST dot,
so a feature name containing '.' is indexed but silently matches nothing. Every
other character works (checked on a real node: spaces, '#', '[', '*', unicode, even
the empty string). Names are therefore escaped reversibly, percent-style, for '%'
and '.' only, so ordinary tokens stay readable in OpenSearch.

Two key encodings exist, recorded in the index ``_meta``:

- ``"term_id"`` (default): the decimal term id, e.g. ``"2054"``. Needs no vocabulary,
  never contains a dot, and maps straight back to ``SparseVector`` indices.
- ``"token"``: the vocabulary token, e.g. ``"paris"`` or ``"##ing"``, the layout that
  OpenSearch's neural-search ingest pipelines write. Needs the encoder's vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from langchain_splade.errors import InvalidInputError
from langchain_splade.types import SparseVector

TERM_ID = "term_id"
TOKEN = "token"
KEY_ENCODINGS = (TERM_ID, TOKEN)

_ESCAPES = {"%": "%25", ".": "%2E"}
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}
_ESCAPED = re.compile("|".join(re.escape(v) for v in _UNESCAPES))


def escape_key(name: str) -> str:
    """Make ``name`` safe as a ``rank_feature`` field suffix (no '.')."""
    if "%" not in name and "." not in name:
        return name
    return "".join(_ESCAPES.get(ch, ch) for ch in name)


def unescape_key(key: str) -> str:
    """Invert :func:`escape_key`."""
    if "%" not in key:
        return key
    return _ESCAPED.sub(lambda m: _UNESCAPES[m.group(0)], key)


@dataclass(frozen=True)
class KeyCodec:
    """Converts between ``SparseVector`` term ids and escaped feature names.

    Attributes:
        encoding: ``"term_id"`` or ``"token"``.
        vocabulary: token -> term id, required for ``"token"``.
    """

    encoding: str = TERM_ID
    vocabulary: Mapping[str, int] | None = None
    _id_to_key: dict[int, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _key_to_id: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.encoding not in KEY_ENCODINGS:
            raise InvalidInputError(
                f"Unknown key encoding {self.encoding!r}.",
                expected=f"one of {list(KEY_ENCODINGS)}",
                fix="use 'term_id' (default) or 'token' with a vocabulary",
            )
        if self.encoding == TOKEN:
            if not self.vocabulary:
                raise InvalidInputError(
                    "Key encoding 'token' needs the encoder's vocabulary; none was given.",
                    fix="pass vocabulary=encoder.vocabulary, or use key_encoding='term_id'",
                )
            for token, term_id in self.vocabulary.items():
                key = escape_key(token)
                self._id_to_key[int(term_id)] = key
                self._key_to_id[key] = int(term_id)

    def key(self, term_id: int) -> str:
        """The escaped feature name of ``term_id``."""
        if self.encoding == TERM_ID:
            return str(term_id)
        try:
            return self._id_to_key[term_id]
        except KeyError:
            raise InvalidInputError(
                f"Term id {term_id} is not in the vocabulary ({len(self._id_to_key)} tokens).",
                expected="term ids produced by the encoder whose vocabulary the index uses",
                fix="encode with the same model as the index, or use key_encoding='term_id'",
            ) from None

    def term_id(self, key: str) -> int:
        """The term id of an escaped feature name."""
        if self.encoding == TERM_ID:
            return int(key)
        try:
            return self._key_to_id[key]
        except KeyError:
            raise InvalidInputError(
                f"Stored feature {unescape_key(key)!r} is not in the vocabulary.",
                expected="features written with the same vocabulary",
                fix="open the index with the encoder that wrote it",
            ) from None

    def encode(self, vector: SparseVector) -> dict[str, float]:
        """``{feature name: weight}`` for the JSON body (weights as exact float32 values)."""
        return {self.key(i): w for i, w in zip(vector.indices.tolist(), vector.values.tolist())}

    def decode(self, features: Mapping[str, float]) -> SparseVector:
        """The ``SparseVector`` of a stored ``{feature name: weight}`` (from ``_source``)."""
        if not features:
            return SparseVector.empty()
        ids = np.fromiter((self.term_id(k) for k in features), dtype=np.int64, count=len(features))
        values = np.fromiter(features.values(), dtype=np.float64, count=len(features))
        keep = values > 0
        return SparseVector(ids[keep], values[keep].astype(np.float32))
