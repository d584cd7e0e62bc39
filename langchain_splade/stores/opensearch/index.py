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

from langchain_splade.errors import InvalidInputError, require
from langchain_splade.stores.opensearch import seismic
from langchain_splade.stores.opensearch.keys import TOKEN
from langchain_splade.stores.opensearch.operations import ClauseLimitWarning, Operations, Options
from langchain_splade.stores.plans import RetryPolicy
from langchain_splade.stores.remote import RemoteSparseIndex

__all__ = ["ClauseLimitWarning", "OpenSearchSparseIndex"]

URL_ENV = "OPENSEARCH_URL"


class OpenSearchSparseIndex(RemoteSparseIndex):
    """SPLADE vectors in an OpenSearch index, searched by exact dot product or by SEISMIC.

    Example::

        index = OpenSearchSparseIndex("docs", url="http://localhost:9200")
        retriever = SpladeRetriever.from_texts(texts, index=index)

        # Approximate search for large corpora (OpenSearch 3.3+ with neural-search):
        ann = OpenSearchSparseIndex("big", url=url, method="seismic", n_postings=4000)

    ``method="rank_features"`` (the default) scores every matching posting exactly
    (9-bit weights), on any OpenSearch; its cost grows with the corpus.
    ``method="seismic"`` creates a ``sparse_vector`` field searched with SEISMIC (Bruch
    et al., SIGIR 2024) through the neural-search plugin: weights kept as 8-bit steps
    of ``weight_ceiling / 255``, integer token ids up to 32,767, segments smaller than
    ``approximate_threshold`` documents searched exactly. See :mod:`.seismic`.

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
        method: ``"rank_features"`` (exact) or ``"seismic"`` (approximate); an index is
            opened with the method it was created with, or it is an error.
        n_postings, cluster_ratio, summary_prune_ratio, approximate_threshold,
        weight_ceiling, query_weight_ceiling, top_n, heap_factor, filter_exact_limit:
            SEISMIC's parameters (``method="seismic"`` only), see
            :class:`~langchain_splade.stores.opensearch.seismic.SeismicOptions`; the
            index parameters apply when the index is created.
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
        method: str = seismic.EXACT,
        **seismic_parameters: Any,
    ) -> None:
        url = self._check_arguments(
            index_name, url, client, async_client, key_encoding, rescore_factor
        )
        ann = _seismic_options(method, key_encoding, seismic_parameters)
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
                seismic=ann,
            )
        )

    @property
    def method(self) -> str:
        """``"rank_features"`` (exact) or ``"seismic"`` (approximate)."""
        return seismic.METHOD if self._ops.options.seismic else seismic.EXACT

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


def _seismic_options(
    method: str, key_encoding: str | None, parameters: Mapping[str, Any]
) -> seismic.SeismicOptions | None:
    """The SEISMIC options, or ``None`` for exact search; a wrong combination raises."""
    known = set(seismic.SeismicOptions.__dataclass_fields__)
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise InvalidInputError(
            f"OpenSearchSparseIndex got unexpected keyword arguments {unknown}.",
            expected=f"SEISMIC parameters among {sorted(known)}",
            fix="check the spelling",
        )
    if method not in seismic.METHODS:
        raise InvalidInputError(
            f"method={method!r} is not a search method.",
            expected=f"one of {list(seismic.METHODS)}",
        )
    if method == seismic.EXACT:
        if parameters:
            raise InvalidInputError(
                f"SEISMIC parameters {sorted(parameters)} were given with "
                f"method={seismic.EXACT!r}.",
                expected="method='seismic' with SEISMIC parameters",
                fix="pass method='seismic', or drop the parameters",
            )
        return None
    if key_encoding == TOKEN:
        raise InvalidInputError(
            "method='seismic' was asked for with key_encoding='token'.",
            expected="integer token ids: the sparse_vector field takes only those",
            fix="drop key_encoding (term ids are the default)",
        )
    return seismic.SeismicOptions(**parameters)


def _connect(kind: str, url: str, kwargs: Mapping[str, Any]) -> Any:
    require("opensearchpy", "opensearch")
    if kind.startswith("Async"):
        require("aiohttp", "opensearch")
    import opensearchpy

    return getattr(opensearchpy, kind)(hosts=[url], **kwargs)
