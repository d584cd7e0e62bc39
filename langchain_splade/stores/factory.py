"""Open a backend by name: the one factory behind the command line and ``eval``.

Every backend comes back as a :class:`~langchain_splade.stores.base.SparseIndex`, so
callers use the protocol (``close``, ``fingerprint``, ...) and never probe for
methods.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langchain_splade.errors import InvalidInputError
from langchain_splade.stores.base import SparseIndex

REMOTE_BACKENDS = {
    # name: (module, class, product)
    "opensearch": ("langchain_splade.stores.opensearch", "OpenSearchSparseIndex", "OpenSearch"),
    "elasticsearch": (
        "langchain_splade.stores.elasticsearch",
        "ElasticsearchSparseIndex",
        "Elasticsearch",
    ),
}
BACKENDS = ("local", *REMOTE_BACKENDS)


def open_index(
    backend: str,
    index_dir: Path | None = None,
    opensearch_url: str | None = None,
    index_name: str | None = None,
    *,
    create: bool,
    elasticsearch_url: str | None = None,
    method: str | None = None,
    seismic: Mapping[str, Any] | None = None,
) -> SparseIndex:
    """Open (``create=False``: it must exist) or create an index.

    Args:
        backend: ``"local"``, ``"opensearch"`` or ``"elasticsearch"``.
        index_dir: the local index folder; ``None`` with ``create`` gives an in-memory
            index (as ``eval`` uses).
        opensearch_url, elasticsearch_url: the cluster of a remote backend (``None``:
            its ``*_URL`` environment variable).
        index_name: the remote index.
        create: create the index when missing; a local folder is then opened for
            writing and holds its write lock until ``close()``.
        method: OpenSearch's search method, ``"rank_features"`` (exact, the default) or
            ``"seismic"`` (approximate, needs the neural-search plugin).
        seismic: SEISMIC's parameters (``n_postings``, ``approximate_threshold``, ...),
            with ``method="seismic"`` only.
    """
    options = index_options(backend, method, seismic)
    if backend == "local":
        return _open_local(index_dir, create=create)
    if backend not in REMOTE_BACKENDS:
        raise InvalidInputError(
            f"Unknown backend {backend!r}.", expected=f"one of {', '.join(BACKENDS)}"
        )
    module, name, product = REMOTE_BACKENDS[backend]
    if not index_name:
        raise InvalidInputError(
            f"No index name given for the {product} backend.", fix="pass --index-name NAME"
        )
    url = elasticsearch_url if backend == "elasticsearch" else opensearch_url
    index: SparseIndex = getattr(importlib.import_module(module), name)(
        index_name, url=url, **options
    )
    if not create and not index.client.indices.exists(index=index_name):  # type: ignore[attr-defined]
        index.close()
        raise InvalidInputError(
            f"{product} index {index_name!r} does not exist.",
            expected=f"an index built with `langchain-splade index --backend {backend}`",
            fix="check --index-name, or index documents into it first",
        )
    return index


def index_options(
    backend: str, method: str | None, seismic: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The remote index's constructor options for ``method`` and SEISMIC's parameters;
    a clear error where they do not apply."""
    if method not in (None, "rank_features") and backend != "opensearch":
        raise InvalidInputError(
            f"method={method!r} was asked for with the {backend} backend.",
            expected="--backend opensearch (SEISMIC is OpenSearch's neural-search plugin)",
            fix="drop --method, or use --backend opensearch",
        )
    from langchain_splade.stores.opensearch.seismic import SeismicOptions

    given = {name: value for name, value in (seismic or {}).items() if value is not None}
    unknown = sorted(set(given) - set(SeismicOptions.__dataclass_fields__))
    if unknown:
        raise InvalidInputError(
            f"{unknown} are not SEISMIC parameters.",
            expected=f"some of {sorted(SeismicOptions.__dataclass_fields__)}",
        )
    if given and method != "seismic":
        names = ", ".join(given)
        raise InvalidInputError(
            f"SEISMIC parameters ({names}) were given, but the method is "
            f"{method or 'rank_features'}.",
            fix="add --method seismic (with --backend opensearch), or drop them",
        )
    if backend != "opensearch":  # the other backends have one method, and no argument
        return {}
    return {**given, "method": method} if method is not None else {}


def _open_local(index_dir: Path | None, *, create: bool) -> SparseIndex:
    from langchain_splade.stores.local import LocalSparseIndex

    if index_dir is None:
        if create:
            return LocalSparseIndex()
        raise InvalidInputError(
            "No index folder given for the local backend.", fix="pass --index DIR"
        )
    if not create:
        return LocalSparseIndex.load(index_dir)
    if index_dir.exists() and not index_dir.is_dir():
        raise InvalidInputError(
            f"--index {str(index_dir)!r} is a file.",
            expected="a folder (new or holding an index)",
            fix="choose another path",
        )
    # Holds the folder's write lock until closed: a concurrent writer fails fast.
    return LocalSparseIndex.open(index_dir)


def save_index(index: SparseIndex) -> None:
    """Persist an index opened for writing (remote backends persist on every write)."""
    from langchain_splade.stores.local import LocalSparseIndex

    if isinstance(index, LocalSparseIndex):
        index.save()


def close_index(index: SparseIndex) -> None:
    """Release what an opened index holds (a local write lock, an HTTP client)."""
    index.close()


def recorded_model(index: SparseIndex) -> str | None:
    """The model name an index was built with, if it recorded one."""
    fingerprint = index.fingerprint
    return fingerprint.model_name if fingerprint is not None else None
