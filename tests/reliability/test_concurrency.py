"""Concurrency: searches in several threads while another thread adds and deletes see
only committed states; asyncio.gather of many ainvoke calls equals the sync answers.

Extends tests/unit/test_local_index.py::test_concurrent_searches_during_writes_see_committed_states
(a pair invariant) with a stronger check: every result equals the exact brute-force
top-k of SOME committed state published between the search's start and its end."""

from __future__ import annotations

import asyncio
import threading
import time
from functools import partial
from typing import Any

import numpy as np
import pytest

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

READERS = 3
COMMITS = 600  # the writer's work is counted, not timed: a slow or loaded CPU only waits longer
SEARCHES = 300  # ... and goes on until the readers have checked this many searches
TIMEOUT = 120.0
VOCAB = 60


def _vector(rng: np.random.Generator) -> SparseVector:
    terms = rng.choice(VOCAB, int(rng.integers(1, 6)), replace=False)
    return SparseVector(terms, rng.integers(1, 9, terms.size).astype(np.float32) / 4)


def _top(state: dict[str, SparseVector], query: SparseVector, k: int) -> list[tuple[str, float]]:
    scored = [(doc_id, vector.dot(query)) for doc_id, vector in state.items()]
    ranked = sorted(((i, s) for i, s in scored if s > 0), key=lambda x: (-x[1], x[0]))
    return [(i, round(s, 4)) for i, s in ranked[:k]]


@pytest.mark.slow
def test_threads_searching_during_writes_see_only_committed_states() -> None:
    index = LocalSparseIndex()
    index._merge_min_postings = 200  # merges (new base segments) happen under the readers
    rng = np.random.default_rng(0)
    state: dict[str, SparseVector] = {}
    history: list[dict[str, SparseVector]] = []  # history[v] = state after commit v
    version = [0]
    stop = threading.Event()
    errors: list[BaseException] = []
    checked = [0] * READERS

    def publish(change: Any) -> None:
        """Record the next state BEFORE the index publishes it, mark it done after."""
        history.append({**history[-1], **change[0]})
        for victim in change[1]:
            history[-1].pop(victim)
        change[2]()
        state.clear()
        state.update(history[-1])
        version[0] = len(history) - 1

    history.append({})
    queries = [_vector(np.random.default_rng(100 + i)) for i in range(20)]

    def writer() -> None:
        n = 0
        while not stop.is_set() and (len(history) <= COMMITS or sum(checked) < SEARCHES):
            ids = [f"d{n + j}" for j in range(int(rng.integers(1, 6)))]
            vectors = [_vector(rng) for _ in ids]
            publish((dict(zip(ids, vectors)), [], partial(index.add, ids, vectors)))
            n += len(ids)
            if n % 3 == 0 and state:
                victims = list(rng.choice(sorted(state), min(3, len(state)), replace=False))
                publish(({}, victims, partial(index.delete, victims)))
            if n % 7 == 0:  # an upsert of an existing id
                doc_id, vector = f"d{int(rng.integers(0, n))}", _vector(rng)
                if doc_id in state:
                    publish(({doc_id: vector}, [], partial(index.add, [doc_id], [vector])))

    def reader(slot: int) -> None:
        local = np.random.default_rng(slot)
        try:
            while not stop.is_set():
                query = queries[int(local.integers(0, len(queries)))]
                k = int(local.integers(1, 15))
                first = version[0]  # committed before the search began
                hits = [(h.id, round(h.score, 4)) for h in index.search(query, k=k)]
                last = len(history) - 1  # includes a write still being published
                candidates = range(first, last + 1)
                assert any(hits == _top(history[v], query, k) for v in candidates), (
                    hits,
                    first,
                    last,
                )
                checked[slot] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            stop.set()

    # Compile the search and merge kernels first (numba caches them on first use), so the
    # threads race over the index's states, not over a compiler holding the GIL.
    warm = LocalSparseIndex()
    warm._merge_min_postings = 1
    warm.add(["a", "b"], [_vector(rng), _vector(rng)])
    warm.delete(["a"])
    warm.search(queries[0], k=3)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    write = threading.Thread(target=writer)
    started = time.monotonic()
    for thread in [*threads, write]:
        thread.start()
    write.join(TIMEOUT)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors[0]
    assert not write.is_alive(), f"the writer made {len(history) - 1} commits in {TIMEOUT:.0f} s"
    assert len(history) > COMMITS and sum(checked) >= SEARCHES
    assert _top(state, queries[0], 10) == [
        (h.id, round(h.score, 4)) for h in index.search(queries[0], k=10)
    ]
    print(
        f"concurrency: {READERS} readers, {sum(checked)} searches checked over "
        f"{len(history)} committed states in {time.monotonic() - started:.1f} s"
    )


TEXTS = [
    "The volcano erupted and lava flowed to the sea.",
    "A library lends books and hosts readings.",
    "The heart pumps blood through arteries.",
    "Rivers carry sediment to the delta.",
    "Bread rises because yeast makes gas.",
    "Glaciers carve valleys over millennia.",
]
QUERIES = ["lava", "books", "blood", "river delta", "yeast", "ice valleys", "", "heart"]


@pytest.mark.parametrize("mode", ["sparse", "hybrid"])
async def test_asyncio_gather_of_many_ainvoke_calls(encoder: SpladeEncoder, mode: str) -> None:
    retriever = SpladeRetriever.from_texts(
        TEXTS, ids=[f"t{i}" for i in range(len(TEXTS))], encoder=encoder, mode=mode, k=3
    )
    expected = {q: [(d.id, d.metadata["score"]) for d in retriever.invoke(q)] for q in QUERIES}
    calls = [QUERIES[i % len(QUERIES)] for i in range(200)]
    results = await asyncio.gather(*(retriever.ainvoke(q) for q in calls))
    for query, docs in zip(calls, results):
        got = [(d.id, d.metadata["score"]) for d in docs]
        assert [i for i, _ in got] == [i for i, _ in expected[query]]
        assert np.allclose([s for _, s in got], [s for _, s in expected[query]], atol=1e-5)


async def test_ainvoke_during_writes_never_fails(encoder: SpladeEncoder) -> None:
    retriever = SpladeRetriever.from_texts(TEXTS, encoder=encoder, k=4)
    vectors = encoder.embed_documents(TEXTS)

    def write() -> None:
        for i in range(60):
            retriever.index.add([f"w{i}"], [vectors[i % len(vectors)]], texts=[TEXTS[i % 6]])
            if i % 2:
                retriever.index.delete([f"w{i - 1}"])

    writer = asyncio.to_thread(write)
    outcomes: list[Any] = await asyncio.gather(
        writer, *(retriever.ainvoke(QUERIES[i % len(QUERIES)]) for i in range(100))
    )
    assert all(isinstance(docs, list) for docs in outcomes[1:])
    assert all(len(docs) <= 4 for docs in outcomes[1:])
