"""The contract suite's backends and APIs: every test runs on each (backend, api) pair.

REGISTERING A BACKEND: append a :class:`Backend` to ``BACKENDS`` below (e.g. the
Elasticsearch one: ``Backend("elasticsearch", _elasticsearch, remote=True)`` with a
factory like :func:`_opensearch` taking its URL from the ``elasticsearch_url``
session fixture). Nothing else changes: the suite in ``test_contract.py`` then runs
on it through the sync and the async API, and a backend that answers differently
from the others fails.

Remote backends share one node per session (the ``*_url`` session fixtures in
``tests/conftest.py``); each test gets a fresh index, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from langchain_splade.stores.base import SparseIndex
from langchain_splade.testing.opensearch.versions import version_matrix

Opened = tuple[Any, Callable[[Any], Any], Callable[[Any], None]]
"""(index, reopen, cleanup)"""


@dataclass(frozen=True)
class Backend:
    """One backend of the contract suite.

    Attributes:
        name: the test id.
        open: ``(request, tmp_path) -> (index, reopen, cleanup)``: a fresh empty index;
            ``reopen(index)`` gives the index to use after a write (the same object,
            or e.g. a saved-and-reloaded copy), ``cleanup(index)`` releases it.
        remote: needs a server (marked ``integration``).
    """

    name: str
    open: Callable[
        [pytest.FixtureRequest, Path], tuple[Any, Callable[[Any], Any], Callable[[Any], None]]
    ]
    remote: bool = False


def _same(index: Any) -> Any:
    return index


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    from langchain_splade.stores.local import LocalSparseIndex

    return LocalSparseIndex(), _same, lambda index: index.close()


def _local_mmap(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Every write is saved and the index re-opened memory-mapped before the next use."""
    from langchain_splade.stores.local import LocalSparseIndex

    folder = tmp_path / "index"

    def reopen(index: Any) -> Any:
        index.save(folder)
        index.close()
        return LocalSparseIndex.load(folder, mmap=True)

    return LocalSparseIndex(), reopen, lambda index: index.close()


def _remote(index_class: Callable[..., Any], url_fixture: str) -> Callable[..., Any]:
    """A factory of fresh indices of ``index_class`` on the session node at ``url_fixture``."""

    def open_index(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
        url = request.getfixturevalue(url_fixture)
        index = index_class(f"contract-{uuid.uuid4().hex[:12]}", url=url)

        def cleanup(index: Any) -> None:
            index.clear()
            index.close()

        return index, _same, cleanup

    return open_index


def _elasticsearch(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    from langchain_splade.stores.elasticsearch import ElasticsearchSparseIndex

    return _remote(ElasticsearchSparseIndex, "elasticsearch_url")(request, tmp_path)


def _opensearch(version: str, **options: Any) -> Callable[..., Any]:
    """A factory of fresh indices on the session's OpenSearch ``version`` node
    (``"seismic"``: the 3.6.0 node with neural-search, indices with ``options``)."""

    def open_index(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
        from langchain_splade.stores.opensearch import OpenSearchSparseIndex

        if version == "seismic":
            url = request.getfixturevalue("opensearch_neural_url")
        else:
            url = request.getfixturevalue("opensearch_nodes").url(version)
        name = f"contract-{uuid.uuid4().hex[:12]}"
        index = OpenSearchSparseIndex(name, url=url, **options)

        def cleanup(index: Any) -> None:
            index.clear()
            index.close()

        return index, _same, cleanup

    return open_index


BACKENDS: list[Backend] = [
    Backend("local", _local),
    Backend("local-mmap", _local_mmap),
    *(
        Backend(f"opensearch-{version}", _opensearch(version), remote=True)
        for version in version_matrix()
    ),
    # SEISMIC (neural-search sparse_vector); the corpora here are far below the
    # approximate threshold, so segments are searched exactly, through the ANN query.
    Backend("opensearch-seismic", _opensearch("seismic", method="seismic"), remote=True),
    Backend("elasticsearch", _elasticsearch, remote=True),
]


class Api:
    """One index through one API: ``sync`` calls ``index.add(...)``, ``async`` runs
    ``index.aadd(...)`` in a fresh ``asyncio.run`` (as a script would), so the same
    test checks both halves of the protocol."""

    def __init__(self, mode: str, index: Any, reopen: Callable[[Any], Any]) -> None:
        self.mode = mode
        self.index = index
        self._reopen = reopen

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return getattr(self.index, name)(*args, **kwargs)
        return asyncio.run(getattr(self.index, f"a{name}")(*args, **kwargs))

    def _write(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = self._call(name, *args, **kwargs)
        self.index = self._reopen(self.index)
        return result

    def add(self, *args: Any, **kwargs: Any) -> Any:
        return self._write("add", *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._write("delete", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get", *args, **kwargs)

    def len(self) -> int:
        return int(len(self.index) if self.mode == "sync" else asyncio.run(self.index.alen()))

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("search", *args, **kwargs)

    def bm25_search(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("bm25_search", *args, **kwargs)


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param.remote:
        request.applymarker(pytest.mark.integration)
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, backend: Backend, tmp_path: Path) -> Iterator[Api]:
    """A fresh, empty index of ``backend`` seen through the sync or the async API."""
    index, reopen, cleanup = backend.open(request, tmp_path)
    assert isinstance(index, SparseIndex)
    facade = Api(request.param, index, reopen)
    yield facade
    cleanup(facade.index)
