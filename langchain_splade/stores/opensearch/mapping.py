"""The index layout: settings, mapping and ``_meta``, as pure functions.

One document per ``StoredDocument``::

    {"doc_id": "a1",                      # keyword: ties are broken by id
     "vector": {"2054": 1.31, ...},       # rank_features (9-bit) + exact floats in _source
     "text": "...",                       # english analyzer, for BM25 / hybrid search
     "metadata": {...},                   # filterable, see below
     "null_fields": ["author.email"]}     # metadata paths whose value is None

Metadata is mapped so that the filter dialect keeps its local semantics: strings are
``keyword`` (exact, case-sensitive, byte-order ranges = code-point order), every number
is ``double`` (a field first seen as an integer must not truncate a later 2.5), dates
are not guessed from strings, and ``None`` - which OpenSearch does not index at all -
is recorded in ``null_fields`` so ``{"x": None}`` can be told apart from a missing key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

FORMAT_VERSION = 1
META_KEY = "langchain_splade"
VECTOR_FIELD = "vector"
TEXT_FIELD = "text"
METADATA_FIELD = "metadata"
ID_FIELD = "doc_id"
NULLS_FIELD = "null_fields"

# Metadata value kinds as the filter compiler sees them.
KEYWORD, NUMBER, BOOLEAN, OBJECT = "keyword", "number", "boolean", "object"
_KINDS = {
    "keyword": KEYWORD,
    "double": NUMBER,
    "long": NUMBER,
    "float": NUMBER,
    "integer": NUMBER,
    "boolean": BOOLEAN,
    "object": OBJECT,
}


def index_meta(key_encoding: str, encoder: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``_meta`` block: format version, key encoding and the encoder fingerprint."""
    return {
        META_KEY: {
            "format_version": FORMAT_VERSION,
            "key_encoding": key_encoding,
            "encoder": dict(encoder) if encoder is not None else None,
        }
    }


def index_body(
    key_encoding: str,
    encoder: Mapping[str, Any] | None = None,
    *,
    shards: int = 1,
    replicas: int = 0,
    vector_field: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Settings and mappings for ``indices.create``; ``vector_field`` replaces the
    ``rank_features`` mapping (a SEISMIC ``sparse_vector``, which needs ``index.sparse``)."""
    settings: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": replicas}
    if vector_field is not None:
        settings["sparse"] = True
    return {
        "settings": {"index": settings},
        "mappings": {
            "_meta": index_meta(key_encoding, encoder),
            "dynamic": "strict",
            "date_detection": False,
            "numeric_detection": False,
            "dynamic_templates": [
                {
                    "metadata_strings": {
                        "path_match": f"{METADATA_FIELD}.*",
                        "match_mapping_type": "string",
                        "mapping": {"type": "keyword"},
                    }
                },
                {
                    "metadata_integers": {
                        "path_match": f"{METADATA_FIELD}.*",
                        "match_mapping_type": "long",
                        "mapping": {"type": "double"},
                    }
                },
                {
                    "metadata_floats": {
                        "path_match": f"{METADATA_FIELD}.*",
                        "match_mapping_type": "double",
                        "mapping": {"type": "double"},
                    }
                },
            ],
            "properties": {
                ID_FIELD: {"type": "keyword"},
                VECTOR_FIELD: dict(vector_field or {"type": "rank_features"}),
                TEXT_FIELD: {"type": "text", "analyzer": "english"},
                METADATA_FIELD: {"type": "object", "dynamic": True},
                NULLS_FIELD: {"type": "keyword"},
            },
        },
    }


def read_meta(mapping_response: Mapping[str, Any], index_name: str) -> dict[str, Any] | None:
    """Our ``_meta`` block from a ``get_mapping`` response, or ``None`` if absent."""
    mappings = _index_entry(mapping_response, index_name).get("mappings", {})
    meta = mappings.get("_meta", {}) or {}
    block = meta.get(META_KEY)
    return dict(block) if isinstance(block, Mapping) else None


def metadata_kinds(mapping_response: Mapping[str, Any], index_name: str) -> dict[str, str]:
    """Dotted metadata path -> kind (keyword/number/boolean/object) from a mapping."""
    mappings = _index_entry(mapping_response, index_name).get("mappings", {})
    root = mappings.get("properties", {}).get(METADATA_FIELD, {}).get("properties", {})
    return dict(_walk(root, ""))


def vector_type(mapping_response: Mapping[str, Any], index_name: str) -> str | None:
    """The mapped type of the vector field (``rank_features`` in our indices)."""
    kind = vector_mapping(mapping_response, index_name).get("type")
    return str(kind) if kind is not None else None


def vector_mapping(mapping_response: Mapping[str, Any], index_name: str) -> Mapping[str, Any]:
    """The vector field's mapping (its type, and a SEISMIC field's method parameters)."""
    mappings = _index_entry(mapping_response, index_name).get("mappings", {})
    spec = mappings.get("properties", {}).get(VECTOR_FIELD, {})
    return spec if isinstance(spec, Mapping) else {}


def _walk(properties: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            yield path, OBJECT
            yield from _walk(spec["properties"], path + ".")
        else:
            yield path, _KINDS.get(spec.get("type", "object"), spec.get("type", "object"))


def _index_entry(response: Mapping[str, Any], index_name: str) -> Mapping[str, Any]:
    if index_name in response:
        return response[index_name]
    # An alias resolves to the concrete index name: take the only entry.
    return next(iter(response.values()), {}) if len(response) == 1 else {}


def null_paths(metadata: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths whose value is ``None`` or a list holding ``None``."""
    found: list[str] = []
    for key, value in metadata.items():
        path = f"{prefix}{key}"
        if value is None or (isinstance(value, (list, tuple)) and any(v is None for v in value)):
            found.append(path)
        elif isinstance(value, Mapping):
            found.extend(null_paths(value, path + "."))
    return found


def document_source(
    doc_id: str,
    features: Mapping[str, float],
    text: str | None,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``_source`` of one document."""
    source: dict[str, Any] = {ID_FIELD: doc_id, VECTOR_FIELD: dict(features)}
    if text is not None:
        source[TEXT_FIELD] = text
    if metadata:
        source[METADATA_FIELD] = dict(metadata)
        nulls = null_paths(metadata)
        if nulls:
            source[NULLS_FIELD] = nulls
    return source
