"""Every Elasticsearch operation as a request plan: the OpenSearch plans, where the two
engines agree, with Elasticsearch's own parts swapped in.

The two engines share the document layout, query DSL, bulk and mget APIs, so writes,
reads, filters, BM25, encoder checks and refresh are the plans of
:class:`langchain_splade.stores.opensearch.operations.Operations`, run unchanged.
What differs is overridden here:

- the index is created with a ``sparse_vector`` field (and, on 9.1+, vectors kept in
  ``_source``: see :mod:`.layout`);
- the search query is a ``bool.should`` of boosted ``term`` clauses (or the x-pack
  ``sparse_vector`` query when asked for), built from the same pruned terms;
- Elasticsearch 8+ sizes its clause limit from the heap (the setting is ignored), so
  the limit is learned from the first ``too_many_clauses`` answer and the query is
  re-sent pruned to it, with a ``ClauseLimitWarning``;
- elasticsearch-py's exceptions are classified and explained by :mod:`.failures`.

``force_merge`` polls the tasks API, which elasticsearch-py flags as a technical
preview on every call; that warning is silenced for this package's own calls only (it
is about an API we chose, not about anything the user did).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

from langchain_splade.errors import BackendError
from langchain_splade.stores.base import Filter
from langchain_splade.stores.elasticsearch import failures
from langchain_splade.stores.elasticsearch import layout as es_layout
from langchain_splade.stores.elasticsearch import query as es_q
from langchain_splade.stores.opensearch import indexmeta
from langchain_splade.stores.opensearch import operations as shared
from langchain_splade.stores.opensearch.keys import TERM_ID, KeyCodec
from langchain_splade.stores.plans import Plan
from langchain_splade.types import SearchHit, SparseVector

NO_KNOWN_LIMIT = 2**31 - 1
"""The clause budget until the cluster has said its limit (no pruning)."""


@dataclass(frozen=True)
class Options(shared.Options):
    """The OpenSearch options, plus the ``sparse_vector`` query switch and its pruning."""

    sparse_vector_query: bool = False
    pruning: es_q.Pruning | None = None


class Operations(shared.Operations):
    """The plans of one Elasticsearch index (see the module docstring)."""

    options: Options
    failures: ClassVar[ModuleType] = failures
    bulk_body: ClassVar[str] = "operations"
    vector_field_type: ClassVar[str] = "sparse_vector"
    created_by: ClassVar[str] = "ElasticsearchSparseIndex"

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.version: tuple[int, int] | None = None
        warnings.filterwarnings(  # idempotent: an equal filter replaces the old one
            "ignore",
            message="This API is in technical preview",
            module=r"langchain_splade\.stores\.plans",
        )

    # -- the index itself -----------------------------------------------------------

    def ensure(self) -> Plan[indexmeta.Adopted]:
        """Adopt the index, creating it (with a ``sparse_vector`` field) when missing."""
        if self.learned.meta is None:
            if not (yield from self._send("indices.exists", index=self.options.index_name)):
                yield from self._create()
            yield from self._adopt()
        assert self.learned.meta is not None
        return self.learned.meta

    def _create(self) -> Plan[None]:
        if self.version is None:
            info = yield from self._send("info")
            self.version = es_layout.parse_version(info["version"]["number"])
        body = es_layout.index_body(
            self.options.key_encoding or TERM_ID,
            shards=self.options.shards,
            replicas=self.options.replicas,
            keep_source_vectors=es_layout.has_source_vector_setting(self.version),
        )
        try:
            yield from self._send("indices.create", index=self.options.index_name, **body)
        except Exception as exc:
            if "resource_already_exists_exception" not in str(exc):
                raise  # else another writer created it first: adopt theirs

    # -- search ---------------------------------------------------------------------

    def _limits(self) -> Plan[tuple[int, bool]]:
        """The clause limit learned so far (none until the cluster names it); no request."""
        yield from ()
        return self.learned.max_clauses or NO_KNOWN_LIMIT, False

    def search(self, query: SparseVector, k: int, filter: Filter | None) -> Plan[list[SearchHit]]:
        """Top-``k`` documents by dot product with ``query``, best first (ties by id)."""
        while True:
            try:
                return (yield from super().search(query, k, filter))
            except Exception as exc:
                limit = es_q.clause_limit_in(exc)
                if limit is None or limit >= (self.learned.max_clauses or NO_KNOWN_LIMIT):
                    self._explain_missing_query(exc)
                    raise
                self.learned.max_clauses = limit  # learned: re-send pruned to it

    def _search_body(
        self,
        codec: KeyCodec,
        query: SparseVector,
        k: int,
        filter_clause: dict[str, Any] | None,
        max_clauses: int,
        neural: bool,
    ) -> dict[str, Any] | None:
        """The shared body (pruned terms, size, sort, fields) with its ``rank_feature``
        clauses rewritten as Elasticsearch's query over the same terms and filter."""
        body = super()._search_body(codec, query, k, filter_clause, max_clauses, False)
        if body is not None:
            terms = es_q.rank_feature_terms(body["query"])
            if self.options.sparse_vector_query:
                body["query"] = es_q.sparse_vector_query(terms, filter_clause, self.options.pruning)
            else:
                body["query"] = es_q.term_query(terms, filter_clause)
        return body

    def _explain_missing_query(self, exc: Exception) -> None:
        if self.options.sparse_vector_query and es_q.lacks_sparse_vector_query(exc):
            raise BackendError(
                f"Elasticsearch at {self.options.where} has no sparse_vector query (it is "
                "part of x-pack, in the default distribution from 8.15).",
                expected="a cluster with the sparse_vector query, or exact term search",
                fix="drop sparse_vector_query=True (the default term search is exact and "
                "works on every cluster), or use the default distribution",
            ) from exc
