"""``ElasticsearchSparseIndex``: the SparseIndex protocol on an Elasticsearch cluster.

Every operation is one request plan (:mod:`.operations`); the sync methods run it
with ``Elasticsearch`` and their async twins (``aadd``, ``asearch``, ...) with
``AsyncElasticsearch``, through the shared :class:`~langchain_splade.stores.remote.
RemoteSparseIndex` (a caller's clients win and are never closed; one async client per
event loop). This module only checks the constructor's arguments and says how
clients are built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_splade.errors import InvalidInputError, require
from langchain_splade.stores.elasticsearch.operations import Operations, Options
from langchain_splade.stores.elasticsearch.query import Pruning
from langchain_splade.stores.plans import RetryPolicy
from langchain_splade.stores.remote import RemoteSparseIndex

URL_ENV = "ELASTICSEARCH_URL"


class ElasticsearchSparseIndex(RemoteSparseIndex):
    """SPLADE vectors in an Elasticsearch ``sparse_vector`` field, searched exactly.

    Example::

        index = ElasticsearchSparseIndex("docs", url="http://localhost:9200")
        retriever = SpladeRetriever.from_texts(texts, index=index)

        # Elastic Cloud, an API key, TLS: pass your own client
        index = ElasticsearchSparseIndex("docs", client=Elasticsearch(cloud_id=..., api_key=...))

    Needs Elasticsearch 8.11+ (the ``sparse_vector`` field); no x-pack feature is used
    unless ``sparse_vector_query=True``.

    Args:
        index_name: the Elasticsearch index (created on first use when missing).
        url: cluster URL; defaults to ``$ELASTICSEARCH_URL`` when no client is given.
        client: your own ``Elasticsearch`` client (API key, cloud id, TLS), used as is
            and never closed by this object; it wins over ``$ELASTICSEARCH_URL``.
        async_client: your own ``AsyncElasticsearch``, likewise. With only ``client``
            given, the async methods run it in a worker thread (same cluster, same
            credentials); with ``url``, one ``AsyncElasticsearch`` is made per event loop.
        key_encoding: ``"term_id"`` (default) or ``"token"`` (needs ``vocabulary``);
            ``None`` adopts what an existing index recorded.
        vocabulary: token -> term id, for ``key_encoding="token"``.
        rescore: re-rank ``rescore_factor * k`` candidates by the exact dot product of
            the full-precision vectors kept in ``_source`` (undoes 9-bit storage).
        rescore_factor: candidates fetched per requested hit when re-scoring.
        sparse_vector_query: search with the x-pack ``sparse_vector`` query (8.15+)
            instead of the boosted ``term`` clauses that work on every cluster (both
            score the exact dot product).
        pruning: with ``sparse_vector_query``, let Elasticsearch drop frequent, light
            query tokens (``True`` for its defaults, or a :class:`Pruning`): faster,
            approximate.
        chunk_size: documents per bulk request.
        max_retries: retries, with exponential backoff from ``initial_backoff`` seconds, of
            a request, bulk chunk or bulk item that timed out or was rejected with
            429/502/503/504; then a ``BackendError`` (``PartialWriteError`` for writes,
            naming every id not stored).
        initial_backoff: seconds before the first retry (doubled each time, at most 60).
        refresh: make writes searchable before ``add``/``delete`` return.
        number_of_shards, number_of_replicas: settings of a newly created index.
        client_kwargs: extra arguments for the clients built from ``url``, e.g.
            ``{"api_key": "...", "request_timeout": 30}``. These clients leave retries
            of 429/5xx to this index's backoff (``retry_on_status=()``).
    """

    product = "Elasticsearch"
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
        sparse_vector_query: bool = False,
        pruning: Pruning | bool = False,
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
        if pruning and not sparse_vector_query:
            raise InvalidInputError(
                "pruning was requested without sparse_vector_query=True.",
                expected="pruning only with the sparse_vector query (term search is exact)",
                fix="pass sparse_vector_query=True as well, or drop pruning",
            )
        self.index_name = index_name
        kwargs = {"retry_on_status": (), **dict(client_kwargs or {})}
        self._setup_clients(
            url,
            client,
            async_client,
            connect=lambda where: _connect("Elasticsearch", where, kwargs),
            connect_async=lambda where: _connect("AsyncElasticsearch", where, kwargs),
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
                use_neural_sparse=False,
                chunk_size=chunk_size,
                retry=RetryPolicy(max_retries, initial_backoff, 60.0),
                refresh=refresh,
                sparse_vector_query=sparse_vector_query,
                pruning=Pruning() if pruning is True else (pruning or None),
            )
        )

    @property
    def rescore(self) -> bool:
        """Whether hits are re-scored exactly from ``_source``."""
        return self._ops.options.rescore


def _connect(kind: str, url: str, kwargs: Mapping[str, Any]) -> Any:
    require("elasticsearch", "elasticsearch")
    if kind.startswith("Async"):
        require("aiohttp", "elasticsearch")
    import elasticsearch

    return getattr(elasticsearch, kind)(url, **kwargs)
