"""Helpers of the Ray tests: a real multi-node cluster on this machine, and records.

A head with no CPUs (so no work lands beside the driver) plus worker nodes of two
CPUs each: one for an encoder actor, one spare, so losing a node leaves room for the
restarted actor (without a spare, Ray waits forever). Ray's files, and the auth token
Ray 2.59+ writes under ``HOME``, stay in a temporary folder; its traffic stays on this
machine (Ray binds the machine's own address).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path("/work/shared/data/msmarco-5k/corpus.jsonl")


def load_records(n: int) -> list[dict[str, Any]]:
    """``n`` msmarco passages (the shared corpus), as ``id``/``text``/``title`` records."""
    if not CORPUS.exists():
        pytest.skip(f"{CORPUS} is not on this machine")
    records = []
    with CORPUS.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            records.append({"id": row["_id"], "text": row["text"], "title": row.get("title", "")})
            if len(records) == n:
                break
    return records


class RayCluster:
    """A ``ray.cluster_utils.Cluster`` the driver is connected to."""

    def __init__(self, workers: int = 2, cpus_per_worker: int = 2) -> None:
        import ray
        from ray.cluster_utils import Cluster

        self.folder = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: socket paths
        self._env = {k: os.environ.get(k) for k in ("HOME", "RAY_TMPDIR", "RAY_ADDRESS")}
        os.environ["HOME"] = os.path.join(self.folder, "home")
        os.environ["RAY_TMPDIR"] = os.path.join(self.folder, "tmp")
        os.makedirs(os.path.join(self.folder, "tmp", "ray"), exist_ok=True)
        os.makedirs(os.environ["HOME"], exist_ok=True)
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 0,
                "include_dashboard": False,
                # a lost node is declared dead in ~3 s, not ~30 s
                "_system_config": {
                    "health_check_period_ms": 1000,
                    "health_check_failure_threshold": 3,
                },
            },
        )
        self.workers = [self.cluster.add_node(num_cpus=cpus_per_worker) for _ in range(workers)]
        self.cluster.wait_for_nodes()
        ray.init(address=self.cluster.address, log_to_driver=False)
        os.environ["RAY_ADDRESS"] = self.cluster.address

    def shutdown(self) -> None:
        import ray

        ray.shutdown()
        for node in list(self.cluster.worker_nodes):  # not gracefully: ~30 s faster
            self.cluster.remove_node(node, allow_graceful=False)
        self.cluster.shutdown()
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.folder, ignore_errors=True)
