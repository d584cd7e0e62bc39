"""A real 3-node OpenSearch cluster: 3 shards, 1 replica, a node killed mid-ingest.

The nodes are the project's launcher, on 127.0.0.1 with distinct ports and small
heaps, started once for this module and always stopped (even on failure). Figures
(start-up, time back to yellow, ids stored or named) are printed and written to
``$LANGCHAIN_SPLADE_FIGURES`` when set (see ``tests/reliability/GUARANTEES.md``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_splade.errors import PartialWriteError
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.stores.opensearch import OpenSearchSparseIndex
from langchain_splade.testing.opensearch.cluster import OpenSearchTestCluster
from langchain_splade.types import SparseVector

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
FIGURES: dict[str, Any] = {}


def corpus(n: int, seed: int) -> tuple[list[str], list[SparseVector]]:
    """Dyadic weights (exact in 9-bit storage) and one unique term per document."""
    rng = random.Random(seed)
    ids, vectors = [], []
    for i in range(n):
        terms = sorted(rng.sample(range(1, 60), rng.randint(2, 8)))
        weights = [rng.randint(1, 16) / 4 for _ in terms]
        ids.append(f"doc-{i:05d}")
        vectors.append(SparseVector([*terms, 1000 + i], [*weights, 0.25]))
    return ids, vectors


@pytest.fixture(scope="module")
def cluster() -> Iterator[OpenSearchTestCluster]:
    started = time.monotonic()
    with OpenSearchTestCluster(3, heap="320m") as running:
        FIGURES["cluster_start_s"] = round(time.monotonic() - started, 1)
        yield running
    out = os.environ.get("LANGCHAIN_SPLADE_FIGURES")
    print(f"\ncluster figures: {FIGURES}")
    if out:
        with open(out, "w") as handle:
            json.dump(FIGURES, handle, indent=2)


def client_for(cluster: OpenSearchTestCluster) -> Any:
    from opensearchpy import OpenSearch

    return OpenSearch(hosts=cluster.urls, timeout=60, max_retries=3, retry_on_timeout=True)


def wait_for(client: Any, name: str, status: str, seconds: float = 120.0) -> dict[str, Any]:
    """Cluster health once ``name`` is ``status`` (or better). opensearch-py takes a
    ``timeout=`` argument as its own HTTP timeout, so the server's default 30 s wait
    is repeated instead."""
    deadline = time.monotonic() + seconds
    while True:
        health: dict[str, Any] = client.cluster.health(index=name, wait_for_status=status)
        if not health["timed_out"] or time.monotonic() > deadline:
            return health


def sharded(client: Any, name: str, **kwargs: Any) -> OpenSearchSparseIndex:
    return OpenSearchSparseIndex(
        name, client=client, number_of_shards=3, number_of_replicas=1, **kwargs
    )


def test_a_sharded_replicated_index_answers_the_exact_top_k(
    cluster: OpenSearchTestCluster,
) -> None:
    client = client_for(cluster)
    name = f"cluster-{uuid.uuid4().hex[:8]}"
    index = sharded(client, name)
    ids, vectors = corpus(600, seed=3)
    index.add(ids, vectors)
    health = wait_for(client, name, "green")
    assert health["status"] == "green" and health["active_shards"] == 6
    shards = client.search_shards(index=name)["shards"]
    assert len({copy["node"] for group in shards for copy in group}) == 3  # spread out
    local = LocalSparseIndex()
    local.add(ids, vectors)
    rng = random.Random(5)
    for _ in range(20):
        terms = sorted(rng.sample(range(1, 60), rng.randint(1, 12)))
        query = SparseVector(terms, [rng.randint(1, 8) / 4 for _ in terms])
        expected = [(h.id, h.score) for h in local.search(query, k=10)]
        assert [(h.id, h.score) for h in index.search(query, k=10)] == expected
    index.clear()
    client.close()


def test_a_node_killed_mid_ingest_loses_nothing_reported_stored(
    cluster: OpenSearchTestCluster,
) -> None:
    client = client_for(cluster)
    name = f"cluster-kill-{uuid.uuid4().hex[:8]}"
    index = sharded(client, name, chunk_size=100, max_retries=4, initial_backoff=0.5)
    ids, vectors = corpus(4000, seed=7)
    index.add(ids[:1], vectors[:1])  # the index exists, with its replicas assigned
    wait_for(client, name, "green")
    manager = client.cat.cluster_manager(format="json")[0]["node"]
    victim = next(n for n in (f"node-{i}" for i in range(3)) if n != manager)
    outcome: dict[str, Any] = {}

    def ingest() -> None:
        try:
            outcome["stored"] = index.add(ids, vectors)
            outcome["failed"] = []
        except PartialWriteError as error:
            outcome["stored"], outcome["failed"] = error.stored_ids, error.failed_ids
        except BaseException as error:  # reported by the assertion below
            outcome["error"] = error

    writer = threading.Thread(target=ingest)
    started = time.monotonic()
    writer.start()
    while client.count(index=name)["count"] < 500 and writer.is_alive():
        time.sleep(0.05)  # the count sees documents as the 1 s refresh publishes them
        if time.monotonic() - started > 60:
            break
    node = cluster.node_named(victim)
    assert node.pid is not None
    os.kill(node.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    writer.join(timeout=300)
    assert not writer.is_alive()
    assert "error" not in outcome, outcome.get("error")
    health = wait_for(client, name, "yellow")
    assert health["status"] in ("yellow", "green") and not health["timed_out"]
    FIGURES["kill_back_to_yellow_s"] = round(time.monotonic() - killed_at, 1)
    FIGURES["ingest_ids"] = len(ids)
    FIGURES["stored_ids"] = len(outcome["stored"])
    FIGURES["named_not_stored"] = len(outcome["failed"])
    client.indices.refresh(index=name)

    stored, failed = set(outcome["stored"]), set(outcome["failed"])
    assert stored | failed == set(ids) and not stored & failed  # every id accounted for
    present = {doc.id for doc in index.get(ids)}
    assert stored <= present  # nothing reported stored was lost
    assert present <= stored | failed  # no phantom ids
    FIGURES["named_but_present"] = len(failed & present)
    sample = random.Random(1).sample(sorted(stored), min(200, len(stored)))
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    for doc_id in sample:  # searchable through the index, not only fetchable by id
        hits = index.search(SparseVector([1000 + position[doc_id]], [1.0]), k=1)
        assert [h.id for h in hits] == [doc_id]
    client.close()
