"""Every OpenSearch operation, written once as a request plan.

A plan (:mod:`langchain_splade.stores.plans`) yields the client calls it needs and
receives their answers; :class:`~langchain_splade.stores.remote.RemoteSparseIndex`
runs it with the sync client or an async one. Retries with backoff, re-sent bulk
chunks and items, "refresh only after checking what was written" and the translation
of client errors into ``SpladeError``s therefore exist exactly once for both APIs.
Request bodies come from the pure modules beside this one (:mod:`.mapping`,
:mod:`.query`, :mod:`.filtering`, :mod:`.bulk`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar

from langchain_splade.errors import (
    BackendError,
    IncompatibleIndexError,
    InvalidTypeError,
    SpladeError,
)
from langchain_splade.filters import FilterNode
from langchain_splade.stores import plans
from langchain_splade.stores.base import Filter
from langchain_splade.stores.opensearch import bulk, failures, indexmeta, seismic
from langchain_splade.stores.opensearch import mapping as layout
from langchain_splade.stores.opensearch import query as q
from langchain_splade.stores.opensearch.filtering import compile_filter, count_clauses, fields_of
from langchain_splade.stores.opensearch.keys import TERM_ID, KeyCodec
from langchain_splade.stores.plans import Call, Plan, RetryPolicy, Sleep
from langchain_splade.types import EncoderFingerprint, SearchHit, SparseVector, StoredDocument
from langchain_splade.validation import (
    check_batch,
    check_filter,
    check_ids,
    check_k,
    check_query_text,
    check_search,
)

logger = logging.getLogger(__name__)


class ClauseLimitWarning(UserWarning):
    """A query had more terms than the cluster's clause limit and was pruned."""


@dataclass(frozen=True)
class Options:
    """How one ``OpenSearchSparseIndex`` talks to its index (see its docstring)."""

    index_name: str
    where: str
    key_encoding: str | None = None
    vocabulary: Mapping[str, int] | None = None
    shards: int = 1
    replicas: int = 0
    rescore: bool = False
    rescore_factor: float = 4.0
    use_neural_sparse: bool | str = "auto"
    chunk_size: int = 500
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    refresh: bool = True
    seismic: seismic.SeismicOptions | None = None
    """SEISMIC approximate search on a ``sparse_vector`` field; ``None``: exact search on
    ``rank_features``."""


@dataclass
class Learned:
    """What was learned from the cluster on first use (``None``: not yet)."""

    meta: indexmeta.Adopted | None = None
    max_clauses: int | None = None
    neural: bool | None = None
    ceilings: seismic.Ceilings | None = None


class Operations:
    """The plans of one index; state learned from the cluster is shared by both APIs."""

    failures: ClassVar[ModuleType] = failures
    """How this engine's client errors are classified and explained (a subclass swaps it)."""
    bulk_body: ClassVar[str] = "body"
    """The bulk API's keyword for the NDJSON lines in this engine's client."""
    vector_field_type: ClassVar[str] = "rank_features"
    """The mapping type of the ``vector`` field in indices this engine's backend creates."""
    created_by: ClassVar[str] = "OpenSearchSparseIndex"
    """The backend class named when an existing index is not ours."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.learned = Learned()

    # -- plumbing -----------------------------------------------------------------

    def forget(self) -> None:
        """Drop what was learned about the index, so the next use re-reads it."""
        self.learned.meta = None

    def guarded(self, action: str, plan: Plan[plans.T]) -> Plan[plans.T]:
        """``plan`` with client errors turned into ``SpladeError``s that say what failed."""
        try:
            return (yield from plan)
        except SpladeError:
            raise
        except Exception as exc:
            if self.failures.status_of(exc) == 400 and self.learned.meta is not None:
                # A rejected request is often a mapping changed underneath us.
                changed = yield from self._changed_underneath()
                if changed is not None:
                    raise changed from exc
            translated = self._translate(action, exc)
            if translated is None:
                raise
            raise translated from exc

    def _translate(self, action: str, exc: BaseException) -> SpladeError | None:
        if self.failures.is_index_missing(exc):
            self.forget()
        policy = self.options.retry
        return self.failures.translate(
            exc,
            action=action,
            index_name=self.options.index_name,
            where=self.options.where,
            retries=f" ({policy.max_retries + 1} attempts, backoff from "
            f"{policy.initial_backoff} s)",
        )

    def _changed_underneath(self) -> Plan[IncompatibleIndexError | None]:
        try:
            yield from self._adopt()
        except IncompatibleIndexError as changed:
            self.forget()
            return changed
        except Exception:  # keep the original error
            return None
        return None

    def _send(self, api: str, **kwargs: Any) -> Plan[Any]:
        """One call, retried with backoff on timeouts and 429/502/503/504."""
        return plans.retrying(Call(api, kwargs), self.failures.is_retryable, self.options.retry)

    # -- the index itself -----------------------------------------------------------

    def ensure(self) -> Plan[indexmeta.Adopted]:
        """Adopt the index, creating it when it does not exist yet."""
        if self.learned.meta is not None:
            return self.learned.meta
        name = self.options.index_name
        if not (yield from self._send("indices.exists", index=name)):
            ann = self.options.seismic
            body = layout.index_body(
                self.options.key_encoding or TERM_ID,
                None,
                shards=self.options.shards,
                replicas=self.options.replicas,
                vector_field=seismic.field_mapping(ann) if ann is not None else None,
            )
            try:
                yield from self._send("indices.create", index=name, body=body)
            except Exception as exc:
                if ann is not None and ("sparse_vector" in str(exc) or "index.sparse" in str(exc)):
                    raise BackendError(
                        f"{self.options.where} cannot create a SEISMIC index: {exc}",
                        expected="OpenSearch 3.3+ with the neural-search plugin (its "
                        "sparse_vector field)",
                        fix="install neural-search on the cluster (a local one: "
                        "langchain-splade opensearch-node --version 3.6.0 --neural-search), "
                        "or use method='rank_features'",
                    ) from exc
                if "resource_already_exists_exception" not in str(exc):
                    raise  # else another writer created it first: adopt theirs
        return (yield from self._adopt())

    def ensure_current(self) -> Plan[indexmeta.Adopted]:
        """Like :meth:`ensure`, but re-checks a known index before writing: a bulk write
        to a deleted index would silently recreate it with a dynamic (wrong) mapping."""
        if self.learned.meta is not None:
            return (yield from self._adopt())
        return (yield from self.ensure())

    def _adopt(self) -> Plan[indexmeta.Adopted]:
        name = self.options.index_name
        response = yield from self._send("indices.get_mapping", index=name)
        found = layout.vector_type(response, name)
        self._check_method(found)
        expected = seismic.FIELD_TYPE if self.options.seismic else self.vector_field_type
        self.learned.meta = indexmeta.adopt(
            response,
            name,
            self.options.key_encoding,
            self.options.vocabulary,
            vector_field_ok=found == expected,
            created_by=self.created_by,
        )
        if self.options.seismic is not None:
            self.learned.ceilings = seismic.read_ceilings(layout.vector_mapping(response, name))
        return self.learned.meta

    def _check_method(self, found: str | None) -> None:
        """An OpenSearch index created for one search method and opened with the other."""
        if self.vector_field_type != seismic.EXACT:
            return  # another engine's operations: its own field type, checked by adopt
        methods = {seismic.EXACT: seismic.EXACT, seismic.FIELD_TYPE: seismic.METHOD}
        created = methods.get(found or "")
        asked = seismic.METHOD if self.options.seismic else seismic.EXACT
        if created is not None and created != asked:
            raise IncompatibleIndexError(
                f"Index {self.options.index_name!r} was created with method={created!r} "
                f"(a {found} field) but opened with method={asked!r}.",
                expected=f"method={created!r}, as the index was created",
                fix=f"pass method={created!r}, or re-index into a new index_name with "
                f"method={asked!r}",
            )

    def check_encoder(self, fingerprint: EncoderFingerprint) -> Plan[None]:
        """Record ``fingerprint`` in the index ``_meta``, or refuse a different encoder."""
        if not isinstance(fingerprint, EncoderFingerprint):
            raise InvalidTypeError(
                f"check_encoder got a {type(fingerprint).__name__}.",
                expected="an EncoderFingerprint",
                fix="pass encoder.fingerprint",
            )
        yield from self.ensure()
        # Re-read: another process may have recorded an encoder since we adopted it.
        adopted = yield from self._adopt()
        update = indexmeta.fingerprint_update(adopted, fingerprint, self.options.index_name)
        if update is not None:
            name = self.options.index_name
            yield from self._send("indices.put_mapping", index=name, body={"_meta": update})
            yield from self._adopt()

    def fingerprint(self) -> Plan[EncoderFingerprint | None]:
        """The encoder recorded in the index, if any."""
        return (yield from self.ensure()).fingerprint

    def clear(self) -> Plan[None]:
        """Delete the whole index (it is recreated, empty, on next use)."""
        name = self.options.index_name
        yield from self._send("indices.delete", index=name, ignore_unavailable=True)
        self.forget()

    def force_merge(self, max_segments: int, poll_seconds: float) -> Plan[None]:
        """Merge every shard down to ``max_segments`` segments, then refresh.

        The index must exist (a missing one is an ``IndexNotFoundError``, not a new
        empty index); the merge itself is :meth:`merge_task`.
        """
        yield from self._adopt()
        name = self.options.index_name
        yield from self.merge_task(name, max_segments, poll_seconds)
        yield from self._send("indices.refresh", index=name)

    def merge_task(self, index: str, max_segments: int, poll_seconds: float) -> Plan[None]:
        """Force-merge ``index`` as a cluster task polled every ``poll_seconds``.

        A merge that builds SEISMIC clusters takes minutes (15 on 200,000 Wikipedia
        paragraphs on 2 cores), longer than a request should stay open. The start
        request is sent once: re-sending it after a timeout would queue a second
        merge. A cluster that does not know ``wait_for_completion`` for merges gets
        one blocking request instead. A merge that failed, on any shard, raises a
        ``BackendError`` naming its task.
        """
        merge = {"index": index, "max_num_segments": max_segments}
        try:
            started = yield Call("indices.forcemerge", {**merge, "wait_for_completion": False})
        except Exception as exc:
            if "wait_for_completion" not in str(exc):
                raise
            response = yield Call("indices.forcemerge", {**merge, "request_timeout": 86_400})
            _check_merged(index, response, task=None)
            return
        task = started["task"]
        status = yield from self._send("tasks.get", task_id=task)
        while not status["completed"]:
            yield Sleep(poll_seconds)
            status = yield from self._send("tasks.get", task_id=task)
        if status.get("error"):
            raise BackendError(
                f"The force merge of {index!r} on {self.options.where} (task {task}) failed: "
                f"{_reason(status['error'])}.",
                fix="see GET _tasks/" + task + " and the node logs (disk space, circuit "
                "breakers), then call force_merge() again",
            )
        _check_merged(index, status.get("response") or {}, task)

    # -- writes ---------------------------------------------------------------------

    def add(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
    ) -> Plan[list[str]]:
        """Upsert documents; ``PartialWriteError`` names every id that was not stored."""
        id_list, vector_list, text_list, metadata_list = check_batch(ids, vectors, texts, metadatas)
        codec = (yield from self.ensure_current()).codec
        if not id_list:
            return []
        if self.learned.ceilings is not None:  # refused before anything is written
            ceiling = self.learned.ceilings.ingest
            seismic.check_documents(id_list, vector_list, ceiling, self.options.index_name)
        sources = {  # a repeated id: its last occurrence wins, as in every backend
            doc_id: layout.document_source(
                doc_id, q.storable_features(codec, vector), text, metadata
            )
            for doc_id, vector, text, metadata in zip(
                id_list, vector_list, text_list, metadata_list
            )
        }
        results = yield from self._bulk("index", list(sources), sources)
        partial = bulk.partial_write_error(results, list(sources))
        refresh_error = yield from self._refresh_after_write()
        if partial is not None:
            raise partial  # never hidden by a refresh failure
        if refresh_error is not None:
            raise refresh_error
        return id_list

    def delete(self, ids: Sequence[str]) -> Plan[int]:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        unique = list(dict.fromkeys(check_ids(ids)))
        yield from self.ensure_current()
        if not unique:
            return 0
        results = yield from self._bulk("delete", unique, None)
        deleted, error = bulk.count_deleted(results)
        refresh_error = yield from self._refresh_after_write()
        if error is not None:
            raise error
        if refresh_error is not None:
            raise refresh_error
        return deleted

    def _bulk(
        self, op: str, ids: list[str], sources: Mapping[str, Mapping[str, Any]] | None
    ) -> Plan[list[plans.BulkItem]]:
        name = self.options.index_name
        return (
            yield from plans.bulk(
                ids,
                lambda chunk: Call(
                    "bulk", {"index": name, self.bulk_body: bulk.bulk_lines(op, chunk, sources)}
                ),
                chunk_size=self.options.chunk_size,
                policy=self.options.retry,
                retryable=self.failures.is_retryable,
                item_retry_statuses=self.failures.RETRY_STATUSES,
                describe=lambda exc: str(self._translate("store documents", exc) or exc),
            )
        )

    def _refresh_after_write(self) -> Plan[Exception | None]:
        """Make writes searchable; a failure is returned, not raised, so the caller can
        first report which documents were stored."""
        if not self.options.refresh:
            return None
        try:
            yield from self._send("indices.refresh", index=self.options.index_name)
        except Exception as exc:
            return self._translate("refresh the index", exc) or exc
        return None

    # -- reads ----------------------------------------------------------------------

    def get(self, ids: Sequence[str]) -> Plan[list[StoredDocument]]:
        """The stored documents for ``ids``, in that order; unknown ids are skipped."""
        id_list = check_ids(ids)
        codec = (yield from self.ensure()).codec
        if not id_list:
            return []
        name = self.options.index_name
        response = yield from self._send("mget", index=name, body={"ids": id_list})
        return bulk.stored_documents(response, codec)

    def count(self) -> Plan[int]:
        yield from self.ensure()
        response = yield from self._send("count", index=self.options.index_name)
        return int(response["count"])

    def _limits(self) -> Plan[tuple[int, bool]]:
        """The cluster's clause limit and whether it has the neural-search plugin."""
        learned = self.learned
        if learned.max_clauses is None:
            settings = yield from self._send(
                "cluster.get_settings",
                include_defaults=True,
                flat_settings=True,
                filter_path="**.*clause*",
            )
            learned.max_clauses = q.read_clause_limit(settings)
        if learned.neural is None:
            if self.options.use_neural_sparse == "auto":
                installed = yield from self._send("cat.plugins", format="json")
                learned.neural = q.has_neural_search(installed)
            else:
                learned.neural = bool(self.options.use_neural_sparse)
        return learned.max_clauses, learned.neural

    def _filter_clause(self, node: FilterNode | None) -> Plan[dict[str, Any] | None]:
        if node is None:
            return None
        adopted = yield from self.ensure()
        if not fields_of(node) <= set(adopted.kinds):
            # A field we have not seen: it may have been mapped since we last looked.
            adopted = yield from self._adopt()
        return compile_filter(node, adopted.kinds)

    def search(self, query: SparseVector, k: int, filter: Filter | None) -> Plan[list[SearchHit]]:
        """Top-``k`` documents by dot product with ``query``, best first (ties by id)."""
        query, k, node = check_search(query, k, filter)
        codec = (yield from self.ensure()).codec
        if self.options.seismic is not None:
            return (yield from self._seismic_search(codec, query, k, node, self.options.seismic))
        max_clauses, neural = yield from self._limits()
        filter_clause = yield from self._filter_clause(node)
        body = self._search_body(codec, query, k, filter_clause, max_clauses, neural)
        if body is None:
            return []
        response = yield from self._send("search", index=self.options.index_name, body=body)
        hits = q.parse_hits(response, codec)
        return q.rescore(hits, query, k) if self.options.rescore else hits[:k]

    def _search_body(
        self,
        codec: KeyCodec,
        query: SparseVector,
        k: int,
        filter_clause: dict[str, Any] | None,
        max_clauses: int,
        neural: bool,
    ) -> dict[str, Any] | None:
        """The search body, or ``None`` when the query has no terms."""
        budget = max(1, max_clauses - count_clauses(filter_clause))
        terms = q.query_terms(codec, query, budget)
        if terms.dropped:
            message = (
                f"The query has {len(terms.terms) + terms.dropped} terms but the cluster "
                f"allows {max_clauses} clauses ({q.CLAUSE_SETTING}); kept the "
                f"{len(terms.terms)} heaviest, dropped {terms.dropped}."
            )
            warnings.warn(message, ClauseLimitWarning, stacklevel=2)
            logger.warning(message)
        if not terms.terms:
            return None
        build = q.neural_sparse_query if neural else q.rank_feature_query
        rescore = self.options.rescore
        size = q.candidate_count(k, self.options.rescore_factor) if rescore else k
        return q.search_body(build(terms.terms, filter_clause), size, with_vectors=True)

    def _seismic_search(
        self,
        codec: KeyCodec,
        query: SparseVector,
        k: int,
        node: FilterNode | None,
        ann: seismic.SeismicOptions,
    ) -> Plan[list[SearchHit]]:
        """Top-``k`` by SEISMIC: exact among filtered documents when they are few (see
        :mod:`.seismic`), never fewer hits than the filter lets through."""
        ceilings = self.learned.ceilings or seismic.Ceilings()
        tokens = seismic.query_tokens(query, ceilings.search)
        if not tokens.tokens:
            return []
        filter_clause = yield from self._filter_clause(node)
        passing = None
        name = self.options.index_name
        if filter_clause is not None:
            seismic.check_pushable(filter_clause)
            counted = yield from self._send("count", index=name, body={"query": filter_clause})
            passing = int(counted["count"])
            if passing == 0:
                return []
        size = q.candidate_count(k, self.options.rescore_factor) if self.options.rescore else k
        method_k = seismic.method_k(size, passing, ann)
        hits = yield from self._seismic_hits(codec, tokens, size, method_k, filter_clause)
        if passing is not None and len(hits) < min(size, passing) and method_k < passing:
            # Post-filtered SEISMIC candidates ran short: score every passing document.
            hits = yield from self._seismic_hits(codec, tokens, size, passing, filter_clause)
        return q.rescore(hits, query, k) if self.options.rescore else hits[:k]

    def _seismic_hits(
        self,
        codec: KeyCodec,
        tokens: seismic.SparseQuery,
        size: int,
        method_k: int,
        filter_clause: dict[str, Any] | None,
    ) -> Plan[list[SearchHit]]:
        assert self.options.seismic is not None
        clause = seismic.query_clause(tokens.tokens, method_k, self.options.seismic, filter_clause)
        body = q.search_body(clause, size, with_vectors=True)
        response = yield from self._send("search", index=self.options.index_name, body=body)
        # A filtered segment scores every passing document, even those sharing no term.
        return [
            SearchHit(h.id, h.score / tokens.scale, h.text, h.metadata, h.vector)
            for h in q.parse_hits(response, codec)
            if h.score > 0
        ]

    def bm25_search(self, text: str, k: int, filter: Filter | None) -> Plan[list[SearchHit]]:
        """Top-``k`` documents by BM25 on the english-analysed text (for hybrid fusion)."""
        text, k, node = check_query_text(text), check_k(k), check_filter(filter)
        codec = (yield from self.ensure()).codec
        filter_clause = yield from self._filter_clause(node)
        body = q.bm25_body(text, k, filter_clause)
        response = yield from self._send("search", index=self.options.index_name, body=body)
        return q.parse_hits(response, codec)


def _check_merged(index: str, response: Mapping[str, Any], task: str | None) -> None:
    """Raise when a merge's ``_shards`` report a failed shard (its task has no error)."""
    shards = response.get("_shards") or {}
    failed = int(shards.get("failed", 0) or 0)
    if failed:
        first = (shards.get("failures") or [{}])[0]
        where = f" (task {task})" if task else ""
        raise BackendError(
            f"The force merge of {index!r}{where} failed on {failed} of "
            f"{shards.get('total', '?')} shards: {_reason(first.get('reason', first))}.",
            fix="see the node logs for those shards, then call force_merge() again",
        )


def _reason(error: Any) -> str:
    """``type: reason`` of an error object from a task or shard failure."""
    if isinstance(error, Mapping):
        return f"{error.get('type', '')}: {error.get('reason', '')}".strip(": ") or str(error)
    return str(error)
