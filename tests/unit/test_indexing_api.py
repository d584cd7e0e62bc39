"""LangChain's indexing API keeps a ``SpladeVectorStore`` in sync, unchanged: with
``InMemoryRecordManager`` and a persistent ``SQLRecordManager`` on SQLite (from
``langchain-classic``, where ``langchain.indexes`` now lives), through ``index`` and
``aindex``, with the real bundled encoder, on the local index and (marked
``integration``) on the real OpenSearch and Elasticsearch session nodes.

What the store sees is recorded by a thin subclass (each ``add_documents`` and
``delete`` call, with its ids) and what the encoder encodes by a thin wrapper around
the real encoder; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.indexing import InMemoryRecordManager, RecordManager, aindex, index

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.vectorstores import SpladeVectorStore

CLEANUPS = [None, "incremental", "full", "scoped_full"]


class CountingEncoder:
    """The real encoder, remembering every document text it is asked to encode."""

    def __init__(self, encoder: SpladeEncoder) -> None:
        self._encoder = encoder
        self.encoded: list[str] = []

    def embed_documents(self, texts: list[str], **kwargs: Any) -> Any:
        self.encoded.extend(texts)
        return self._encoder.embed_documents(texts, **kwargs)

    async def aembed_documents(self, texts: list[str], **kwargs: Any) -> Any:
        self.encoded.extend(texts)
        return await self._encoder.aembed_documents(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)


class RecordingStore(SpladeVectorStore):
    """The store, keeping the ids of each write it receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.added: list[list[str]] = []
        self.deleted: list[list[str]] = []

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = super().add_documents(documents, **kwargs)
        self.added.append(ids)
        return ids

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = await super().aadd_documents(documents, **kwargs)
        self.added.append(ids)
        return ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        self.deleted.append(list(ids or []))
        return super().delete(ids, **kwargs)

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        self.deleted.append(list(ids or []))
        return await super().adelete(ids, **kwargs)


class Crash(RuntimeError):
    """Stands for the process dying between the store write and the record update."""


class Runner:
    """One way of running the indexing API: sync or async, with one kind of record
    manager; ``new_record_manager()`` opens it again as a fresh process would."""

    def __init__(self, api: str, kind: str, folder: Path) -> None:
        self.api, self.kind, self.folder = api, kind, folder
        self._memory = InMemoryRecordManager("splade")
        self.record_manager = self.new_record_manager()

    def new_record_manager(self) -> RecordManager:
        if self.kind == "memory":  # an in-memory manager's state is the object itself
            return self._memory
        from langchain_classic.indexes import SQLRecordManager

        database = self.folder / "records.sqlite"
        if self.api == "sync":
            manager = SQLRecordManager("splade", db_url=f"sqlite:///{database}")
            manager.create_schema()
            return manager
        manager = SQLRecordManager(
            "splade", db_url=f"sqlite+aiosqlite:///{database}", async_mode=True
        )
        asyncio.run(manager.acreate_schema())
        return manager

    def __call__(self, docs: list[Document], store: SpladeVectorStore, cleanup: Any) -> Any:
        options = {
            "cleanup": cleanup,
            "source_id_key": "source" if cleanup else None,
            "key_encoder": "sha256",  # LangChain warns that its SHA-1 default is weak
        }
        if self.api == "sync":
            return index(docs, self.record_manager, store, **options)
        return asyncio.run(aindex(docs, self.record_manager, store, **options))

    def crash_after_next_write(self, store: RecordingStore) -> None:
        """Make the first record (a)update after the store's next write raise, as a kill
        between the two would (earlier updates, e.g. refreshing skipped records, pass)."""
        name = "update" if self.api == "sync" else "aupdate"
        manager = self.record_manager
        original = getattr(manager, name)
        writes = len(store.added)

        def update(*args: Any, **kwargs: Any) -> Any:
            if len(store.added) == writes:
                return original(*args, **kwargs)
            setattr(manager, name, original)
            raise Crash("killed after the store write, before the record update")

        setattr(manager, name, update)


@pytest.fixture(params=["memory", "sqlite"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runner]:
    api = request.node.callspec.params.get("api", "sync")
    yield Runner(api, request.param, tmp_path)


def _local(request: pytest.FixtureRequest) -> Any:
    return LocalSparseIndex()


def _remote(module: str, name: str, url_fixture: str) -> Callable[[pytest.FixtureRequest], Any]:
    def open_index(request: pytest.FixtureRequest) -> Any:
        import importlib

        index_class = getattr(importlib.import_module(module), name)
        url = request.getfixturevalue(url_fixture)
        return index_class(f"indexing-{uuid.uuid4().hex[:12]}", url=url)

    return open_index


BACKENDS = [
    pytest.param(_local, id="local"),
    pytest.param(
        _remote(
            "langchain_splade.stores.opensearch", "OpenSearchSparseIndex", "opensearch_default_url"
        ),
        id="opensearch",
        marks=pytest.mark.integration,
    ),
    pytest.param(
        _remote(
            "langchain_splade.stores.elasticsearch", "ElasticsearchSparseIndex", "elasticsearch_url"
        ),
        id="elasticsearch",
        marks=pytest.mark.integration,
    ),
]


@pytest.fixture(params=BACKENDS)
def make_store(
    request: pytest.FixtureRequest, encoder: SpladeEncoder
) -> Iterator[Callable[[], RecordingStore]]:
    opened: list[Any] = []

    def make() -> RecordingStore:
        sparse = request.param(request)
        opened.append(sparse)
        return RecordingStore(index=sparse, encoder=CountingEncoder(encoder))  # type: ignore[arg-type]

    yield make
    for sparse in opened:
        if not isinstance(sparse, LocalSparseIndex):
            sparse.clear()
        sparse.close()


def _corpus(**changes: str | None) -> list[Document]:
    """Chunks of three files; ``changes`` replaces (str) or removes (None) a chunk."""
    chunks = {
        "a1": ("a.md", "SPLADE expands a passage with related vocabulary terms."),
        "a2": ("a.md", "Each term weight is a max over token logits."),
        "b1": ("b.md", "An inverted index stores one posting list per term."),
        "c1": ("c.md", "Record managers remember what was indexed and when."),
    }
    docs = []
    for key, (source, text) in chunks.items():
        if key in changes:
            if changes[key] is None:
                continue
            text = str(changes[key])
        docs.append(Document(text, metadata={"source": source, "chunk": key}))
    return docs


def _stored(store: RecordingStore) -> list[Document]:
    """Every document the store holds (any id it was ever given), on any backend."""
    known = sorted({doc_id for ids in store.added for doc_id in ids})
    docs = store.get_by_ids(known)
    assert len(docs) == len(store.index)  # nothing stored under an id we did not write
    return docs


def _contents(store: RecordingStore) -> list[str]:
    return sorted(d.page_content for d in _stored(store))


def _encoded(store: SpladeVectorStore) -> list[str]:
    return list(store.encoder.encoded)


@pytest.mark.parametrize("api", ["sync", "async"])
@pytest.mark.parametrize("cleanup", CLEANUPS)
def test_reindexing_unchanged_documents_encodes_nothing(
    api: str, cleanup: Any, runner: Runner, make_store: Callable[[], RecordingStore]
) -> None:
    store = make_store()
    docs = _corpus()
    first = runner(docs, store, cleanup)
    assert first["num_added"] == 4 and sorted(_encoded(store)) == sorted(_contents(store))
    second = runner(docs, store, cleanup)
    assert second == {"num_added": 0, "num_updated": 0, "num_skipped": 4, "num_deleted": 0}
    assert len(_encoded(store)) == 4  # nothing encoded the second time
    assert len(store.added) == 1 and len(store.index) == 4


@pytest.mark.parametrize("api", ["sync", "async"])
@pytest.mark.parametrize("cleanup", ["incremental", "full", "scoped_full"])
def test_one_changed_and_one_removed_chunk_give_one_add_and_one_delete(
    api: str, cleanup: str, runner: Runner, make_store: Callable[[], RecordingStore]
) -> None:
    store = make_store()
    runner(_corpus(), store, cleanup)
    before = {d.metadata["chunk"]: d.id for d in _stored(store)}
    writes = len(store.added)
    edited = "SPLADE expands a passage with learned, weighted vocabulary terms."
    new_corpus = _corpus(a1=edited, a2=None)
    result = runner(new_corpus, store, cleanup)
    assert result == {"num_added": 1, "num_updated": 0, "num_skipped": 2, "num_deleted": 2}
    assert _encoded(store)[4:] == [edited]  # only the changed chunk is encoded
    (added,) = store.added[writes:]  # one add, of one document
    assert len(added) == 1
    (deleted,) = store.deleted  # one delete: the old version and the removed chunk
    assert sorted(deleted) == sorted([before["a1"], before["a2"]])
    assert _contents(store) == sorted(d.page_content for d in new_corpus)


@pytest.mark.parametrize("api", ["sync", "async"])
def test_full_cleanup_removes_a_deleted_file(
    api: str, runner: Runner, make_store: Callable[[], RecordingStore]
) -> None:
    store = make_store()
    runner(_corpus(), store, "full")
    result = runner(_corpus(c1=None), store, "full")
    assert result == {"num_added": 0, "num_updated": 0, "num_skipped": 3, "num_deleted": 1}
    assert "Record managers" not in " ".join(_contents(store))


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_crash_between_store_write_and_record_update_is_recovered(
    api: str, runner: Runner, make_store: Callable[[], RecordingStore]
) -> None:
    store = make_store()
    runner.crash_after_next_write(store)
    with pytest.raises(Crash):
        runner(_corpus(), store, "full")
    assert len(store.index) == 4  # written, but the record manager never heard of it
    runner.record_manager = runner.new_record_manager()  # the next run, a new process
    runner(_corpus(), store, "full")
    assert len(store.index) == 4 and _contents(store) == sorted(d.page_content for d in _corpus())

    # A crash in the middle of an update: the new version is stored, the old one kept.
    edited = "Each term weight is the max over all token positions."
    changed = _corpus(a2=edited)
    runner.crash_after_next_write(store)
    with pytest.raises(Crash):
        runner(changed, store, "full")
    assert len(store.index) == 5
    runner.record_manager = runner.new_record_manager()
    result = runner(changed, store, "full")
    assert result["num_deleted"] == 1  # the old version, left by the crash
    assert _contents(store) == sorted(d.page_content for d in changed)  # no duplicate, no loss
    assert runner(changed, store, "full")["num_skipped"] == 4  # and stable from then on
