"""Ray ``Datasink``s for OpenSearch and Elasticsearch, on the backends' own bulk plans.

Every write task opens the backend class (so the index creation, the ``index`` bulk
op with ``_id`` = document id, and the 429/timeout backoff of
:mod:`langchain_splade.stores.plans` are the ones every other write uses) with
per-request refresh off. Writes are idempotent: a retried task rewrites the same
documents under the same ids, so Ray's at-least-once execution stores each id once.
The driver creates or validates the index and its encoder fingerprint before any
task writes, and refreshes and counts the documents when all tasks are done.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from langchain_splade.errors import BackendError, InvalidInputError, require

require("ray", "ray")

from ray.data import Datasink  # noqa: E402
from ray.data.block import BlockAccessor  # noqa: E402

from langchain_splade.distributed.encode import EncodedBatch  # noqa: E402
from langchain_splade.distributed.records import (  # noqa: E402
    ROWS_PER_WRITE,
    check_rows_per_write,
)
from langchain_splade.stores.factory import REMOTE_BACKENDS  # noqa: E402
from langchain_splade.types import EncoderFingerprint  # noqa: E402


class RemoteIndexDatasink(Datasink[int]):
    """Write encoded rows into a search-engine index (see the subclasses).

    Args:
        index_name: the index; created with the backend's mapping when missing.
        url: the cluster (default: the backend's ``*_URL`` environment variable, read
            here on the driver, so workers need no environment).
        fingerprint: the encoder's; an index recording another encoder is refused in
            :meth:`on_write_start`, before anything is written.
        index_options: other keywords of the backend class (``chunk_size``,
            ``max_retries``, ``initial_backoff``, ``method``, ``client_kwargs``...).
        rows_per_write: rows a write task receives at least (see
            :data:`~.records.ROWS_PER_WRITE`); smaller makes documents searchable sooner.
    """

    backend: ClassVar[str]

    def __init__(
        self,
        index_name: str,
        url: str | None = None,
        fingerprint: EncoderFingerprint | None = None,
        *,
        index_options: Mapping[str, Any] | None = None,
        rows_per_write: int = ROWS_PER_WRITE,
    ) -> None:
        self.rows_per_write = check_rows_per_write(rows_per_write)
        module, name, product = REMOTE_BACKENDS[self.backend]
        self._cls_path = (module, name)
        env = getattr(importlib.import_module(module), name).url_env
        self.url = url or os.environ.get(env)
        if not self.url:
            raise InvalidInputError(
                f"No {product} URL given and {env} is not set.",
                expected=f"url='http://HOST:9200' or {env}",
                fix="pass url=...",
            )
        self.product = product
        self.index_name = index_name
        self.fingerprint = fingerprint
        self.index_options = dict(index_options or {})
        self.expected_rows: int | None = None
        self.documents = 0
        self._prepared = False
        self._count_before = 0

    def _open(self, *, refresh: bool) -> Any:
        module, name = self._cls_path
        cls = getattr(importlib.import_module(module), name)
        return cls(self.index_name, url=self.url, **{**self.index_options, "refresh": refresh})

    def prepare(self) -> None:
        """Create or adopt the index and check the encoder (idempotent)."""
        if self._prepared:
            return
        index = self._open(refresh=True)
        try:
            if self.fingerprint is not None:
                index.check_encoder(self.fingerprint)
            self._count_before = len(index)
        finally:
            index.close()
        self._prepared = True

    def on_write_start(self, schema: Any = None) -> None:
        self.prepare()

    @property
    def min_rows_per_write(self) -> int:
        """Few, large write tasks (see :data:`~.records.ROWS_PER_WRITE`)."""
        return self.rows_per_write

    def write(self, blocks: Iterable[Any], ctx: Any) -> int:
        index = self._open(refresh=False)
        rows = 0
        try:
            for block in blocks:
                batch = EncodedBatch.from_table(BlockAccessor.for_block(block).to_arrow())
                index.add(batch.ids, batch.vectors(), batch.texts, batch.metadatas)
                rows += len(batch.ids)
        finally:
            index.close()
        return rows

    def on_write_complete(self, write_result: Any) -> None:
        index = self._open(refresh=True)
        try:
            index.client.indices.refresh(index=self.index_name)
            count = len(index)
        finally:
            index.close()
        expected = self.expected_rows if self.expected_rows is not None else write_result.num_rows
        fresh = self._count_before == 0
        if count < expected or (fresh and count != expected):
            raise BackendError(
                f"{self.product} index {self.index_name!r} holds {count} documents after "
                f"writing {expected}" + ("" if fresh else f" into {self._count_before}") + ".",
                expected=f"{expected} documents" + ("" if fresh else " or more"),
                fix="check that no other writer deletes from this index, then re-run the job "
                "(writes are idempotent)",
            )
        self.documents = count


class OpenSearchDatasink(RemoteIndexDatasink):
    """:class:`RemoteIndexDatasink` for OpenSearch (``OpenSearchSparseIndex``)."""

    backend = "opensearch"


class ElasticsearchDatasink(RemoteIndexDatasink):
    """:class:`RemoteIndexDatasink` for Elasticsearch (``ElasticsearchSparseIndex``)."""

    backend = "elasticsearch"
