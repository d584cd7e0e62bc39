"""The Elasticsearch index layout: settings and mapping, as pure functions.

The document shape, ``_meta`` block, metadata typing and ``null_fields`` are the
OpenSearch backend's (:mod:`langchain_splade.stores.opensearch.mapping`), so the two
backends agree on what a filter means; only the vector field differs:

- ``vector`` is a ``sparse_vector`` field (Elasticsearch 8.11+). It indexes each
  token as a Lucene ``FeatureField`` (weights kept to 9 significant bits) and answers
  boosted ``term`` queries with linear scoring, i.e. an exact dot product.
- Elasticsearch 9.1+ can leave vectors out of ``_source`` and rebuild them from the
  index (``index.mapping.exclude_source_vectors``, on by default from 9.2): 0.3 would
  come back as 0.2998047. The full-precision vector is what ``get`` returns and what
  exact re-scoring needs, so the setting is turned off where it exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from langchain_splade.stores.opensearch import mapping as shared
from langchain_splade.stores.opensearch.mapping import VECTOR_FIELD

EXCLUDE_SOURCE_VECTORS = "exclude_source_vectors"
"""Under ``index.mapping``: 9.1+ only; an older cluster rejects it as unknown."""


def parse_version(number: str) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``"9.2.0"`` or ``"8.15.0-SNAPSHOT"``."""
    match = re.match(r"(\d+)\.(\d+)", str(number))
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def has_source_vector_setting(version: tuple[int, int]) -> bool:
    """Whether ``index.mapping.exclude_source_vectors`` exists on this version."""
    return version >= (9, 1)


def index_body(
    key_encoding: str,
    encoder: Mapping[str, Any] | None = None,
    *,
    shards: int = 1,
    replicas: int = 0,
    keep_source_vectors: bool = True,
) -> dict[str, Any]:
    """Settings and mappings for ``indices.create``.

    Args:
        key_encoding: how tokens become ``sparse_vector`` keys (``"term_id"``/``"token"``).
        encoder: the encoder fingerprint to record, if known.
        shards, replicas: index settings.
        keep_source_vectors: set ``index.mapping.exclude_source_vectors: false`` (9.1+).
    """
    body = shared.index_body(key_encoding, encoder, shards=shards, replicas=replicas)
    body["mappings"]["properties"][VECTOR_FIELD] = {"type": "sparse_vector"}
    if keep_source_vectors:
        body["settings"]["index"]["mapping"] = {EXCLUDE_SOURCE_VECTORS: False}
    return body
