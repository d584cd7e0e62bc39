"""``OpenSearchSparseIndex``: the SparseIndex protocol on an OpenSearch cluster.

Every operation is one request plan (:mod:`.operations`); the sync methods run it
with ``OpenSearch`` and their async twins (``aadd``, ``asearch``, ...) with
``AsyncOpenSearch``, through the shared :class:`~langchain_splade.stores.remote.
RemoteSparseIndex`. This module only checks the constructor's arguments and says how
clients are built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_splade.errors import require
from langchain_splade.stores.opensearch.operations import ClauseLimitWarning, Operations, Options
from langchain_splade.stores.plans import RetryPolicy
from langchain_splade.stores.remote import RemoteSparseIndex

__all__ = ["ClauseLimitWarning", "OpenSearchSparseIndex"]

URL_ENV = "OPENSEARCH_URL"


class OpenSearchSparseIndex(RemoteSparseIndex):
    """SPLADE vectors in an OpenSearch index, searched by exact dot product.

    Example::

        index = OpenSearchSparseIndex("docs", url="http://localhost:9200")
        retriever = SpladeRetriever.from_texts(texts, index=index)

    Args:
        index_name: the OpenSearch index (created on first use when missing).
        url: cluster URL; defaults to ``$OPENSEARCH_URL`` when no client is given.
        client: your own ``OpenSearch`` client (auth, TLS, AWS SigV4), used as is and
            never closed by this object; it wins over ``$OPENSEARCH_URL``.
        async_client: your own ``AsyncOpenSearch``, likewise. With only ``client``
            given, the async methods run it in a worker thread (same cluster, same
            credentials); with ``url``, one ``AsyncOpenSearch`` is made per event loop.
        key_encoding: ``"term_id"`` (default) or ``"token"`` (needs ``vocabulary``);
            ``None`` adopts what an existing index recorded.
        vocabulary: token -> term id, for ``key_encoding="token"``.
        rescore: re-rank ``rescore_factor * k`` candidates by the exact dot product of
            the full-precision vectors kept in ``_source`` (undoes 9-bit storage).
        rescore_factor: candidates fetched per requested hit when re-scoring.
        use_neural_sparse: ``"auto"`` uses the neural-search plugin's
            ``neural_sparse`` query when the cluster has it; ``True``/``False`` force it.
        chunk_size: documents per bulk request.
        max_retries: retries, with exponential backoff from ``initial_backoff`` seconds, of
            a request, bulk chunk or bulk item that timed out or was rejected with
            429/502/503/504; then a ``BackendError`` (``PartialWriteError`` for writes,
            naming every id not stored).
        initial_backoff: seconds before the first retry (doubled each time, at most 60).
        refresh: make writes searchable before ``add``/``delete`` return.
        number_of_shards, number_of_replicas: settings of a newly created index.
        client_kwargs: extra arguments for the clients built from ``url``.
    """

    product = "OpenSearch"
    url_env = URL_ENV
    _ops: Operations

    def __init__(
        self,
        index_name: str,
        url: str | None = None,
        client: Any = None,
        async_client: Any = None,
        *,
        key_encoding: str | None = None,
        vocabulary: Mapping[str, int] | None = None,
        rescore: bool = False,
        rescore_factor: float = 4.0,
        use_neural_sparse: bool | str = "auto",
        chunk_size: int = 500,
        max_retries: int = 5,
        initial_backoff: float = 1.0,
        refresh: bool = True,
        number_of_shards: int = 1,
        number_of_replicas: int = 0,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        url = self._check_arguments(
            index_name, url, client, async_client, key_encoding, rescore_factor
        )
        self.index_name = index_name
        kwargs = dict(client_kwargs or {})
        self._setup_clients(
            url,
            client,
            async_client,
            connect=lambda where: _connect("OpenSearch", where, kwargs),
            connect_async=lambda where: _connect("AsyncOpenSearch", where, kwargs),
        )
        self._ops = Operations(
            Options(
                index_name=index_name,
                where=url or "the cluster of the given client",
                key_encoding=key_encoding,
                vocabulary=vocabulary,
                shards=number_of_shards,
                replicas=number_of_replicas,
                rescore=rescore,
                rescore_factor=rescore_factor,
                use_neural_sparse=use_neural_sparse,
                chunk_size=chunk_size,
                retry=RetryPolicy(max_retries, initial_backoff, 60.0),
                refresh=refresh,
            )
        )

    @property
    def rescore(self) -> bool:
        """Whether hits are re-scored exactly from ``_source``."""
        return self._ops.options.rescore

    @property
    def chunk_size(self) -> int:
        return self._ops.options.chunk_size

    @property
    def max_retries(self) -> int:
        return self._ops.options.retry.max_retries


def _connect(kind: str, url: str, kwargs: Mapping[str, Any]) -> Any:
    require("opensearchpy", "opensearch")
    if kind.startswith("Async"):
        require("aiohttp", "opensearch")
    import opensearchpy

    return getattr(opensearchpy, kind)(hosts=[url], **kwargs)
