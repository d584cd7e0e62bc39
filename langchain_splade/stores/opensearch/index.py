"""``OpenSearchSparseIndex``: the SparseIndex protocol on an OpenSearch cluster.

A thin client: request bodies come from the pure modules beside this one
(:mod:`.mapping`, :mod:`.query`, :mod:`.filtering`, :mod:`.keys`), so this class only
sends them and reads the answers, once with ``OpenSearch`` and once, for the async
twin (``aadd``, ``asearch``, ...), with ``AsyncOpenSearch``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_splade.errors import (
    BackendError,
    IncompatibleIndexError,
    IndexNotFoundError,
    InvalidInputError,
    InvalidTypeError,
    require,
)
from langchain_splade.filters import FilterNode, parse_filter
from langchain_splade.stores.base import Filter
from langchain_splade.stores.opensearch import bulk
from langchain_splade.stores.opensearch import mapping as layout
from langchain_splade.stores.opensearch import query as q
from langchain_splade.stores.opensearch.filtering import compile_filter, count_clauses, fields_of
from langchain_splade.stores.opensearch.keys import TERM_ID, TOKEN, KeyCodec
from langchain_splade.types import EncoderFingerprint, SearchHit, SparseVector, StoredDocument
from langchain_splade.validation import check_k

logger = logging.getLogger(__name__)


_T = TypeVar("_T")
# Worth retrying with backoff: the cluster is overloaded (429) or a proxy/node is
# briefly unavailable (502-504). A refused connection is not retried here (the
# transport already retried it), so a wrong URL fails fast.
RETRY_STATUSES = (429, 502, 503, 504)


def _retryable(exc: Exception) -> bool:
    from opensearchpy.exceptions import ConnectionTimeout, TransportError

    return isinstance(exc, ConnectionTimeout) or (
        isinstance(exc, TransportError)
        and not isinstance(exc.status_code, str)
        and exc.status_code in RETRY_STATUSES
    )


def _guarded(action: str) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Retry a sync method on timeouts/429/5xx with exponential backoff, then turn any
    client exception into a ``SpladeError`` that says what failed and how to fix it."""

    def decorate(method: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(method)
        def guarded(self: OpenSearchSparseIndex, *args: Any, **kwargs: Any) -> _T:
            from opensearchpy.exceptions import TransportError

            attempt = 0
            while True:
                try:
                    return method(self, *args, **kwargs)
                except TransportError as exc:
                    if not _retryable(exc) or attempt >= self.max_retries:
                        raise self._translate(action, exc, attempt + 1) from exc
                    time.sleep(self._backoff(attempt))
                    attempt += 1

        return guarded

    return decorate


def _aguarded(
    action: str,
) -> Callable[[Callable[..., Awaitable[_T]]], Callable[..., Awaitable[_T]]]:
    """The async twin of :func:`_guarded`."""

    def decorate(method: Callable[..., Awaitable[_T]]) -> Callable[..., Awaitable[_T]]:
        @functools.wraps(method)
        async def guarded(self: OpenSearchSparseIndex, *args: Any, **kwargs: Any) -> _T:
            from opensearchpy.exceptions import TransportError

            attempt = 0
            while True:
                try:
                    return await method(self, *args, **kwargs)
                except TransportError as exc:
                    if not _retryable(exc) or attempt >= self.max_retries:
                        raise self._translate(action, exc, attempt + 1) from exc
                    await asyncio.sleep(self._backoff(attempt))
                    attempt += 1

        return guarded

    return decorate


class ClauseLimitWarning(UserWarning):
    """A query had more terms than the cluster's clause limit and was pruned."""


def _connect(url: str, **kwargs: Any) -> Any:
    require("opensearchpy", "opensearch")
    from opensearchpy import OpenSearch

    return OpenSearch(hosts=[url], **kwargs)


def _connect_async(url: str, **kwargs: Any) -> Any:
    require("opensearchpy", "opensearch")
    require("aiohttp", "opensearch")
    from opensearchpy import AsyncOpenSearch

    return AsyncOpenSearch(hosts=[url], **kwargs)


def _backend_error(action: str, exc: Exception) -> BackendError:
    return BackendError(
        f"OpenSearch failed to {action}: {exc}",
        expected="a reachable cluster that accepts the request",
        fix="check the URL, credentials and the cluster's health (GET _cluster/health)",
    )


class OpenSearchSparseIndex:
    """SPLADE vectors in an OpenSearch index, searched by exact dot product.

    Example::

        index = OpenSearchSparseIndex("docs", url="http://localhost:9200")
        retriever = SpladeRetriever.from_texts(texts, index=index)

    Args:
        index_name: the OpenSearch index (created on first use when missing).
        url: cluster URL; defaults to ``$OPENSEARCH_URL``. Ignored when clients are given.
        client: your own ``OpenSearch`` client (auth, TLS, AWS SigV4), used as is.
        async_client: your own ``AsyncOpenSearch``; without one (and without a URL)
            the async methods run the sync ones in a thread.
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
            a request or bulk chunk that timed out or was rejected with 429/502/503/504;
            then a ``BackendError`` (``PartialWriteError`` for writes) says what failed.
        initial_backoff: seconds before the first retry (doubled each time, at most 60).
        refresh: make writes searchable before ``add``/``delete`` return.
        number_of_shards, number_of_replicas: settings of a newly created index.
        client_kwargs: extra arguments for the clients built from ``url``.
    """

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
        if not isinstance(index_name, str) or not index_name:
            raise InvalidInputError(
                f"index_name={index_name!r}.",
                expected="a non-empty OpenSearch index name (lowercase, no spaces)",
                fix="pass e.g. index_name='splade-docs'",
            )
        url = url or os.environ.get("OPENSEARCH_URL")
        if client is None and async_client is None and not url:
            raise InvalidInputError(
                "OpenSearchSparseIndex got neither a url nor a client, and OPENSEARCH_URL "
                "is not set.",
                expected="url='http://HOST:9200', client=OpenSearch(...) or OPENSEARCH_URL",
                fix="pass url=..., or start a local node with `langchain-splade opensearch-node`",
            )
        if key_encoding is not None and key_encoding not in (TERM_ID, TOKEN):
            raise InvalidInputError(
                f"key_encoding={key_encoding!r}.",
                expected="'term_id' or 'token'",
                fix="leave it out (term ids) or pass 'token' with vocabulary=encoder.vocabulary",
            )
        if rescore_factor < 1:
            raise InvalidInputError(
                f"rescore_factor={rescore_factor}.", expected=">= 1", fix="pass e.g. 4.0"
            )
        self.index_name = index_name
        self.url = url
        self.rescore = rescore
        self.rescore_factor = rescore_factor
        self.use_neural_sparse = use_neural_sparse
        self.chunk_size = chunk_size
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.refresh = refresh
        self._requested_encoding = key_encoding
        self._vocabulary = vocabulary
        self._shards = number_of_shards
        self._replicas = number_of_replicas
        self._client_kwargs = dict(client_kwargs or {})
        self._client = client
        self._async_client = async_client
        self._owns_async = False
        # Learned from the cluster on first use.
        self._meta: dict[str, Any] | None = None
        self._codec: KeyCodec | None = None
        self._kinds: dict[str, str] = {}
        self._max_clauses: int | None = None
        self._neural: bool | None = None

    def __repr__(self) -> str:
        return f"OpenSearchSparseIndex({self.index_name!r}, url={self.url!r})"

    # -- failures -------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return float(min(self.initial_backoff * 2**attempt, 60.0))

    def _forget(self) -> None:
        """Drop what was learned about the index, so the next use re-reads (or recreates) it."""
        self._codec = None
        self._meta = None
        self._kinds = {}

    def _translate(self, action: str, exc: Exception, attempts: int) -> Exception:
        """A ``SpladeError`` for an OpenSearch client exception (see :func:`_guarded`)."""
        from opensearchpy.exceptions import ConnectionError, ConnectionTimeout, NotFoundError

        where = self.url or "the cluster"
        tries = f" ({attempts} attempts, backoff from {self.initial_backoff} s)"
        if isinstance(exc, NotFoundError) and "index_not_found" in str(exc):
            self._forget()
            return IndexNotFoundError(
                f"Could not {action}: the OpenSearch index {self.index_name!r} does not exist "
                "(it was deleted while this object was using it).",
                expected=f"the index {self.index_name!r} created or adopted by this object",
                fix="re-add the documents (the next add creates the index again), or check "
                "that nothing else deletes it",
            )
        if isinstance(exc, ConnectionTimeout):
            return BackendError(
                f"OpenSearch at {where} did not answer in time to {action}{tries}.",
                expected="a cluster that answers within the client timeout",
                fix="check the cluster's load and health, or raise the timeout "
                "(client_kwargs={'timeout': 60}) or max_retries",
            )
        if isinstance(exc, ConnectionError):
            return BackendError(
                f"Cannot reach OpenSearch at {where} to {action}: {exc}.",
                expected="a running cluster at that URL",
                fix="start the cluster (e.g. `langchain-splade opensearch-node`) and check "
                "url= or $OPENSEARCH_URL",
            )
        status = getattr(exc, "status_code", None)
        if status in RETRY_STATUSES:
            return BackendError(
                f"OpenSearch at {where} refused to {action} with HTTP {status}{tries}.",
                expected="a cluster with capacity for the request",
                fix="retry later, raise max_retries/initial_backoff, send smaller chunks "
                "(chunk_size) or scale the cluster",
            )
        if status == 400 and self._codec is not None:
            try:  # a rejected query is often a mapping changed underneath us
                self._adopt(self.client.indices.get_mapping(index=self.index_name))
            except IncompatibleIndexError as changed:
                self._forget()
                return changed
            except Exception:  # keep the original error below
                pass
        return _backend_error(action, exc)

    # -- clients --------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The sync ``OpenSearch`` client (built from ``url`` on first use)."""
        if self._client is None:
            if not self.url:
                raise InvalidInputError(
                    "This index has only an async client; the sync API needs one too.",
                    fix="pass url=... or client=OpenSearch(...)",
                )
            self._client = _connect(self.url, **self._client_kwargs)
        return self._client

    @property
    def async_client(self) -> Any | None:
        """The ``AsyncOpenSearch`` client, or ``None`` when only a sync client exists."""
        if self._async_client is None and self.url:
            self._async_client = _connect_async(self.url, **self._client_kwargs)
            self._owns_async = True
        return self._async_client

    def close(self) -> None:
        """Close the sync client built from ``url`` (a client you passed is left open)."""
        if self._client is not None and self.url:
            self._client.close()

    async def aclose(self) -> None:
        """Close the async client built from ``url``."""
        if self._async_client is not None and self._owns_async:
            await self._async_client.close()
            self._async_client = None

    # -- index set-up (sync) ----------------------------------------------------------

    def _ensure(self) -> KeyCodec:
        if self._codec is not None:
            return self._codec
        client = self.client
        if not client.indices.exists(index=self.index_name):
            try:
                client.indices.create(index=self.index_name, body=self._create_body())
            except Exception as exc:
                if "resource_already_exists_exception" not in str(exc):
                    raise _backend_error(f"create index {self.index_name!r}", exc) from exc
        self._adopt(client.indices.get_mapping(index=self.index_name))
        assert self._codec is not None
        return self._codec

    def _create_body(self) -> dict[str, Any]:
        return layout.index_body(
            self._requested_encoding or TERM_ID,
            None,
            shards=self._shards,
            replicas=self._replicas,
        )

    def _adopt(self, mapping_response: Mapping[str, Any]) -> None:
        """Check an index's ``_meta`` against what this object was asked for, and adopt it."""
        meta = layout.read_meta(mapping_response, self.index_name)
        if meta is None:
            raise IncompatibleIndexError(
                f"Index {self.index_name!r} exists but was not created by langchain-splade "
                "(its mapping has no _meta.langchain_splade).",
                expected="an index created by OpenSearchSparseIndex (rank_features 'vector')",
                fix="choose another index_name, or delete the index to let it be recreated",
            )
        version = meta.get("format_version")
        if version != layout.FORMAT_VERSION:
            raise IncompatibleIndexError(
                f"Index {self.index_name!r} has layout version {version!r}.",
                expected=f"version {layout.FORMAT_VERSION}",
                fix="re-index into a new index with this version of langchain-splade",
            )
        stored = meta.get("key_encoding")
        if self._requested_encoding is not None and stored != self._requested_encoding:
            raise IncompatibleIndexError(
                f"Index {self.index_name!r} stores features keyed by {stored!r}, "
                f"but key_encoding={self._requested_encoding!r} was requested.",
                expected=f"key_encoding={stored!r} (or None to adopt it)",
                fix="drop the key_encoding argument, or use a new index",
            )
        self._codec = KeyCodec(str(stored), self._vocabulary if stored == TOKEN else None)
        self._meta = meta
        self._kinds = layout.metadata_kinds(mapping_response, self.index_name)

    def _fingerprint_update(self, fingerprint: EncoderFingerprint) -> dict[str, Any] | None:
        """The ``_meta`` to write for ``fingerprint``, ``None`` if already recorded, or raise."""
        if not isinstance(fingerprint, EncoderFingerprint):
            raise InvalidTypeError(
                f"check_encoder got a {type(fingerprint).__name__}.",
                expected="an EncoderFingerprint",
                fix="pass encoder.fingerprint",
            )
        assert self._meta is not None
        recorded = self._meta.get("encoder")
        if recorded is None:
            return layout.index_meta(str(self._meta["key_encoding"]), fingerprint.to_json())
        current = EncoderFingerprint.from_json(recorded)
        differences = [
            f"{name} {getattr(current, name)!r} vs {getattr(fingerprint, name)!r}"
            for name in ("model_name", "vocab_hash", "vocab_size")
            if getattr(current, name) != getattr(fingerprint, name)
        ]
        if differences:
            raise IncompatibleIndexError(
                f"Index {self.index_name!r} was written with another encoder: "
                + "; ".join(differences)
                + ".",
                expected=f"the encoder {current.model_name!r} (vocabulary {current.vocab_hash})",
                fix="query with the encoder the index was built with, or re-index into a "
                "new index_name with the new encoder",
            )
        return None

    @_guarded("check the encoder recorded in the index")
    def check_encoder(self, fingerprint: EncoderFingerprint) -> None:
        """Record ``fingerprint`` in the index ``_meta``, or refuse a different encoder."""
        self._ensure()
        # Re-read: another process may have recorded an encoder since we opened it.
        self._adopt(self.client.indices.get_mapping(index=self.index_name))
        update = self._fingerprint_update(fingerprint)
        if update is not None:
            self.client.indices.put_mapping(index=self.index_name, body={"_meta": update})
            self._meta = dict(update[layout.META_KEY])

    @property
    def fingerprint(self) -> EncoderFingerprint | None:
        """The encoder recorded in the index, if any."""
        self._ensure()
        assert self._meta is not None
        recorded = self._meta.get("encoder")
        return EncoderFingerprint.from_json(recorded) if recorded else None

    def _cluster_limits(self) -> tuple[int, bool]:
        if self._max_clauses is None:
            self._max_clauses = q.read_clause_limit(
                self.client.cluster.get_settings(
                    include_defaults=True, flat_settings=True, filter_path="**.*clause*"
                )
            )
        if self._neural is None:
            if self.use_neural_sparse == "auto":
                plugins = self.client.cat.plugins(format="json")
                self._neural = q.has_neural_search(plugins)
            else:
                self._neural = bool(self.use_neural_sparse)
        return self._max_clauses, self._neural

    # -- writes ---------------------------------------------------------------------

    def _actions(
        self,
        codec: KeyCodec,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
    ) -> list[dict[str, Any]]:
        ids, texts, metadatas = bulk.check_batch(ids, vectors, texts, metadatas)
        return [
            {
                "_op_type": "index",
                "_index": self.index_name,
                "_id": doc_id,
                "_source": layout.document_source(
                    doc_id, q.storable_features(codec, vector), text, metadata
                ),
            }
            for doc_id, vector, text, metadata in zip(ids, vectors, texts, metadatas)
        ]

    def _bulk_options(self) -> dict[str, Any]:
        return {
            "chunk_size": self.chunk_size,
            "max_retries": self.max_retries,
            "initial_backoff": self.initial_backoff,
            "max_backoff": 60,
            "raise_on_error": False,
            "raise_on_exception": False,
        }

    def _bulk(self, actions: list[dict[str, Any]]) -> list[tuple[bool, Any]]:
        """Send ``actions``; chunks that time out are re-sent with backoff (index and
        delete actions are idempotent), 429s are retried by the bulk helper."""
        from opensearchpy import helpers

        results: list[tuple[bool, Any]] = []
        pending = actions
        for attempt in range(self.max_retries + 1):
            batch = list(helpers.streaming_bulk(self.client, pending, **self._bulk_options()))
            timed_out = set(bulk.timed_out_ids(batch)) if attempt < self.max_retries else set()
            results += [r for r in batch if bulk.result_id(r) not in timed_out]
            if not timed_out:
                break
            time.sleep(self._backoff(attempt))
            pending = [a for a in pending if a["_id"] in timed_out]
        return results

    def _refresh_after_write(self) -> Exception | None:
        """Make writes searchable; a failure is returned, so it cannot hide which documents
        were stored (a ``PartialWriteError`` wins over it)."""
        if not self.refresh:
            return None
        try:
            self._guarded_refresh()
        except BackendError as exc:
            return exc
        return None

    @_guarded("refresh the index")
    def _guarded_refresh(self) -> None:
        self.client.indices.refresh(index=self.index_name)

    @_guarded("add documents")
    def add(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Upsert documents with bulk requests; raises ``PartialWriteError`` naming failures."""
        codec = self._ensure_current()
        actions = self._actions(codec, ids, vectors, texts, metadatas)
        if not actions:
            return []
        results = self._bulk(actions)
        refresh_error = self._refresh_after_write()
        written = bulk.check_written(results, [a["_id"] for a in actions])
        if refresh_error is not None:
            raise refresh_error
        return written

    @_guarded("delete documents")
    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        self._ensure_current()
        actions = bulk.delete_actions(self.index_name, ids)
        if not actions:
            return 0
        results = self._bulk(actions)
        refresh_error = self._refresh_after_write()
        deleted = bulk.count_deleted(results)
        if refresh_error is not None:
            raise refresh_error
        return deleted

    def _ensure_current(self) -> KeyCodec:
        """Like :meth:`_ensure`, but re-checks a known index before writing: a bulk write
        to a deleted index would silently recreate it with a dynamic (wrong) mapping."""
        if self._codec is not None:
            self._adopt(self.client.indices.get_mapping(index=self.index_name))
        return self._ensure()

    def clear(self) -> None:
        """Delete the whole index (it is recreated, empty, on next use)."""
        self.client.indices.delete(index=self.index_name, ignore_unavailable=True)
        self._codec = None
        self._meta = None
        self._kinds = {}

    # -- reads ----------------------------------------------------------------------

    @_guarded("get documents")
    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents for ``ids``, in that order; unknown ids are skipped."""
        codec = self._ensure()
        ids = bulk.check_ids(ids)
        if not ids:
            return []
        response = self.client.mget(index=self.index_name, body={"ids": ids})
        return bulk.stored_documents(response, codec)

    @_guarded("count documents")
    def __len__(self) -> int:
        self._ensure()
        return int(self.client.count(index=self.index_name)["count"])

    def _filter_clause(self, node: FilterNode | None) -> dict[str, Any] | None:
        if node is None:
            return None
        if not fields_of(node) <= set(self._kinds):
            # A field we have not seen: it may have been mapped since we last looked.
            self._kinds = layout.metadata_kinds(
                self.client.indices.get_mapping(index=self.index_name), self.index_name
            )
        return compile_filter(node, self._kinds)

    def _plan(
        self,
        codec: KeyCodec,
        query: SparseVector,
        k: int,
        filter_clause: dict[str, Any] | None,
        max_clauses: int,
        neural: bool,
    ) -> dict[str, Any] | None:
        """The search body, or ``None`` when the query has no terms."""
        if not isinstance(query, SparseVector):
            raise InvalidTypeError(
                f"search expects a SparseVector query, got {type(query).__name__}.",
                fix="encode the query first: encoder.embed_query(text)",
            )
        budget = max(1, max_clauses - count_clauses(filter_clause))
        terms = q.query_terms(codec, query, budget)
        if terms.dropped:
            message = (
                f"The query has {len(terms.terms) + terms.dropped} terms but the cluster "
                f"allows {max_clauses} clauses ({q.CLAUSE_SETTING}); kept the "
                f"{len(terms.terms)} heaviest, dropped {terms.dropped}."
            )
            warnings.warn(message, ClauseLimitWarning, stacklevel=3)
            logger.warning(message)
        if not terms.terms:
            return None
        build = q.neural_sparse_query if neural else q.rank_feature_query
        size = q.candidate_count(k, self.rescore_factor) if self.rescore else k
        return q.search_body(build(terms.terms, filter_clause), size, with_vectors=True)

    def _finish(
        self, response: Mapping[str, Any], codec: KeyCodec, query: SparseVector, k: int
    ) -> list[SearchHit]:
        hits = q.parse_hits(response, codec)
        return q.rescore(hits, query, k) if self.rescore else hits[:k]

    @_guarded("search")
    def search(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Top-``k`` documents by dot product with ``query``, best first (ties by id)."""
        k = check_k(k)
        node = parse_filter(filter)
        codec = self._ensure()
        max_clauses, neural = self._cluster_limits()
        body = self._plan(codec, query, k, self._filter_clause(node), max_clauses, neural)
        if body is None:
            return []
        response = self.client.search(index=self.index_name, body=body)
        return self._finish(response, codec, query, k)

    @_guarded("run a BM25 search")
    def bm25_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Top-``k`` documents by BM25 on the english-analysed text (for hybrid fusion)."""
        k = check_k(k)
        node = parse_filter(filter)
        codec = self._ensure()
        body = q.bm25_body(q.check_text(query_text), k, self._filter_clause(node))
        response = self.client.search(index=self.index_name, body=body)
        return q.parse_hits(response, codec)

    # -- async twin -----------------------------------------------------------------

    async def _aensure(self) -> KeyCodec:
        if self._codec is not None:
            return self._codec
        client = self.async_client
        if client is None:
            return await asyncio.to_thread(self._ensure)
        if not await client.indices.exists(index=self.index_name):
            try:
                await client.indices.create(index=self.index_name, body=self._create_body())
            except Exception as exc:
                if "resource_already_exists_exception" not in str(exc):
                    raise _backend_error(f"create index {self.index_name!r}", exc) from exc
        self._adopt(await client.indices.get_mapping(index=self.index_name))
        assert self._codec is not None
        return self._codec

    @_aguarded("add documents")
    async def aadd(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Async :meth:`add` on ``AsyncOpenSearch``."""
        client = self.async_client
        if client is None:
            return await asyncio.to_thread(self.add, ids, vectors, texts, metadatas)
        codec = await self._aensure()
        actions = self._actions(codec, ids, vectors, texts, metadatas)
        if not actions:
            return []
        from opensearchpy.helpers import async_streaming_bulk

        results = [
            item async for item in async_streaming_bulk(client, actions, **self._bulk_options())
        ]
        if self.refresh:
            await client.indices.refresh(index=self.index_name)
        return bulk.check_written(results, [a["_id"] for a in actions])

    @_aguarded("delete documents")
    async def adelete(self, ids: Sequence[str]) -> int:
        """Async :meth:`delete`."""
        client = self.async_client
        if client is None:
            return await asyncio.to_thread(self.delete, ids)
        await self._aensure()
        actions = bulk.delete_actions(self.index_name, ids)
        if not actions:
            return 0
        from opensearchpy.helpers import async_streaming_bulk

        results = [
            item async for item in async_streaming_bulk(client, actions, **self._bulk_options())
        ]
        if self.refresh:
            await client.indices.refresh(index=self.index_name)
        return bulk.count_deleted(results)

    @_aguarded("get documents")
    async def aget(self, ids: Sequence[str]) -> list[StoredDocument]:
        """Async :meth:`get`."""
        client = self.async_client
        if client is None:
            return await asyncio.to_thread(self.get, ids)
        codec = await self._aensure()
        ids = bulk.check_ids(ids)
        if not ids:
            return []
        response = await client.mget(index=self.index_name, body={"ids": ids})
        return bulk.stored_documents(response, codec)

    @_aguarded("count documents")
    async def alen(self) -> int:
        """Async ``len(index)``."""
        client = self.async_client
        if client is None:
            return await asyncio.to_thread(len, self)
        await self._aensure()
        return int((await client.count(index=self.index_name))["count"])

    async def _acluster_limits(self, client: Any) -> tuple[int, bool]:
        if self._max_clauses is None:
            self._max_clauses = q.read_clause_limit(
                await client.cluster.get_settings(
                    include_defaults=True, flat_settings=True, filter_path="**.*clause*"
                )
            )
        if self._neural is None:
            if self.use_neural_sparse == "auto":
                self._neural = q.has_neural_search(await client.cat.plugins(format="json"))
            else:
                self._neural = bool(self.use_neural_sparse)
        return self._max_clauses, self._neural

    async def _afilter_clause(self, client: Any, node: FilterNode | None) -> dict[str, Any] | None:
        if node is None:
            return None
        if not fields_of(node) <= set(self._kinds):
            response = await client.indices.get_mapping(index=self.index_name)
            self._kinds = layout.metadata_kinds(response, self.index_name)
        return compile_filter(node, self._kinds)

    @_aguarded("search")
    async def asearch(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Async :meth:`search` on ``AsyncOpenSearch``."""
        client = self.async_client
        if client is None:
            return await asyncio.to_thread(self.search, query, k, filter)
        k = check_k(k)
        node = parse_filter(filter)
        codec = await self._aensure()
        max_clauses, neural = await self._acluster_limits(client)
        filter_clause = await self._afilter_clause(client, node)
        body = self._plan(codec, query, k, filter_clause, max_clauses, neural)
        if body is None:
            return []
        response = await client.search(index=self.index_name, body=body)
        return self._finish(response, codec, query, k)

    @_aguarded("run a BM25 search")
    async def abm25_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """Async :meth:`bm25_search`."""
        client = self.async_client
        if client is None:
            return await asyncio.to_thread(self.bm25_search, query_text, k, filter)
        k = check_k(k)
        node = parse_filter(filter)
        codec = await self._aensure()
        body = q.bm25_body(q.check_text(query_text), k, await self._afilter_clause(client, node))
        response = await client.search(index=self.index_name, body=body)
        return q.parse_hits(response, codec)
