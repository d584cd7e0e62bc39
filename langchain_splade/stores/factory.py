"""Open a backend by name, for the command line and other config-driven callers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_splade.errors import InvalidInputError


def open_index(
    backend: str,
    index_dir: Path | None = None,
    opensearch_url: str | None = None,
    index_name: str | None = None,
    *,
    create: bool,
) -> Any:
    """A LocalSparseIndex (loaded from ``index_dir``, or new when ``create``) or an
    OpenSearchSparseIndex named ``index_name``."""
    if backend == "local":
        from langchain_splade.stores.local import LocalSparseIndex

        if index_dir is None:
            raise InvalidInputError(
                "No index folder given for the local backend.",
                fix="pass --index DIR",
            )
        if create:
            if index_dir.exists() and not index_dir.is_dir():
                raise InvalidInputError(
                    f"--index {str(index_dir)!r} is a file.",
                    expected="a folder (new or holding an index)",
                    fix="choose another path",
                )
            # Holds the folder's write lock until closed: a concurrent writer fails fast.
            return LocalSparseIndex.open(index_dir)
        return LocalSparseIndex.load(index_dir)
    if backend == "opensearch":
        from langchain_splade.stores.opensearch import OpenSearchSparseIndex

        if not index_name:
            raise InvalidInputError(
                "No index name given for the OpenSearch backend.",
                fix="pass --index-name NAME",
            )
        index = OpenSearchSparseIndex(index_name, url=opensearch_url)
        if not create and not _opensearch_index_exists(index_name, opensearch_url):
            raise InvalidInputError(
                f"OpenSearch index {index_name!r} does not exist.",
                expected="an index built with `langchain-splade index --backend opensearch`",
                fix="check --index-name, or index documents into it first",
            )
        return index
    raise InvalidInputError(f"Unknown backend {backend!r}.", expected="'local' or 'opensearch'")


def _opensearch_index_exists(index_name: str, url: str | None) -> bool:
    import os

    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[url or os.environ.get("OPENSEARCH_URL", "")])
    try:
        return bool(client.indices.exists(index=index_name))
    finally:
        client.close()


def save_index(index: Any) -> None:
    """Persist an index opened for writing (OpenSearch persists on every write)."""
    from langchain_splade.stores.local import LocalSparseIndex

    if isinstance(index, LocalSparseIndex):
        index.save()


def close_index(index: Any) -> None:
    """Release what an opened index holds (a local write lock, an HTTP client)."""
    close = getattr(index, "close", None)
    if close is not None:
        close()


def recorded_model(index: Any) -> str | None:
    """The model name an index was built with, if it recorded one."""
    fingerprint = getattr(index, "fingerprint", None)
    return getattr(fingerprint, "model_name", None)
