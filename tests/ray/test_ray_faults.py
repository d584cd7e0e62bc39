"""Faults on a real 3-node Ray cluster: ``kill -9`` of an encoder actor's process, and of
a worker node's raylet, mid-job. The job completes and every id is stored exactly once
(writes are idempotent and shards are merged by id), nothing else is stored."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_utils import RayCluster, load_records

pytestmark = pytest.mark.timeout(300)

N_DOCS = 500


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return load_records(N_DOCS)


class Job(threading.Thread):
    """``index_dataset`` in a thread, so the test can break the cluster meanwhile."""

    def __init__(self, records: list[dict[str, Any]], sink: Any, spec: Any) -> None:
        super().__init__(daemon=True)
        self.records, self.sink, self.spec = records, sink, spec
        self.report: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        import ray

        from langchain_splade.distributed import index_dataset

        try:
            dataset = ray.data.from_items(self.records, override_num_blocks=10)
            self.report = index_dataset(
                dataset, self.sink, self.spec, workers=2, rows_per_batch=20, max_retries=3
            )
        except BaseException as exc:
            self.error = exc


def wait_until(condition: Callable[[], bool], job: Job, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert job.is_alive(), f"the job ended before {what}: {job.error!r}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def encoder_actor_pids(cluster: RayCluster) -> list[int]:
    """The processes of this cluster's encoder actors (by title and RAY_TMPDIR)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"SpladeBatchEncoder" in title and cluster.folder.encode() in environ:
            pids.append(int(entry.name))
    return pids


def test_actor_killed_mid_job_opensearch(
    ray_cluster: RayCluster,
    records: list[dict[str, Any]],
    spec: Any,
    os_index: tuple[str, str, Any],
) -> None:
    from opensearchpy.exceptions import TransportError

    from langchain_splade.distributed import OpenSearchDatasink

    url, name, client = os_index
    job = Job(records, OpenSearchDatasink(name, url, rows_per_write=50), spec)  # mid-job writes
    job.start()

    def some_written() -> bool:
        try:
            return int(client.count(index=name)["count"]) > 0
        except TransportError:  # no index yet (404), or its shard not started yet (503)
            return False

    wait_until(some_written, job, "the first documents were written")
    victims = encoder_actor_pids(ray_cluster)
    assert victims, "no encoder actor process found"
    os.kill(victims[0], signal.SIGKILL)
    job.join(240)
    assert not job.is_alive(), "the job hung after an actor was killed"
    assert job.error is None, repr(job.error)
    client.indices.refresh(index=name)
    assert client.count(index=name)["count"] == N_DOCS
    hits = client.search(index=name, body={"size": N_DOCS + 10, "_source": False})["hits"]
    assert sorted(h["_id"] for h in hits["hits"]) == sorted(r["id"] for r in records)


def test_worker_node_raylet_killed_mid_job_local(
    ray_cluster: RayCluster, records: list[dict[str, Any]], spec: Any, tmp_path: Path
) -> None:
    from langchain_splade.distributed import LocalIndexDatasink
    from langchain_splade.stores.local import LocalSparseIndex

    target, shards = tmp_path / "index", tmp_path / "shards"
    sink = LocalIndexDatasink(target, shard_dir=shards, rows_per_write=50)  # mid-job shards
    job = Job(records, sink, spec)
    job.start()
    wait_until(lambda: any(shards.glob("shard-*")), job, "the first shard was written")
    node = ray_cluster.workers[0]
    os.kill(node.all_processes["raylet"][0].process.pid, signal.SIGKILL)
    job.join(240)
    assert not job.is_alive(), "the job hung after a node was lost"
    assert job.error is None, repr(job.error)
    index = LocalSparseIndex.load(target)
    assert len(index) == N_DOCS
    assert sorted(index.ids()) == sorted(r["id"] for r in records)
    assert not shards.exists()
