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
import re
import shutil
import tempfile
from typing import Any


def load_records(n: int) -> list[dict[str, Any]]:
    """``n`` distinct ``id``/``text``/``title`` records from the bundled sample corpus
    (tests never read ``../shared``): its 102 passages, then every two consecutive
    sentences of a passage, then single sentences, so lengths vary as in real chunks."""
    passages = [json.loads(line) for line in _sample_corpus().splitlines() if line.strip()]
    wholes, pairs, singles = [], [], []
    for passage in passages:
        doc_id, title = passage["_id"], passage.get("title", "")
        wholes.append({"id": doc_id, "text": passage["text"], "title": title})
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", passage["text"]) if len(s.split()) >= 4]
        for i in range(len(sentences) - 1):
            text = f"{sentences[i]} {sentences[i + 1]}"
            pairs.append({"id": f"{doc_id}-p{i}", "text": text, "title": title})
        singles += [
            {"id": f"{doc_id}-s{i}", "text": sentence, "title": title}
            for i, sentence in enumerate(sentences)
        ]
    records, seen = [], set()  # a sentence can repeat across passages: one record per text
    for record in [*wholes, *pairs, *singles]:
        if record["text"] not in seen:
            seen.add(record["text"])
            records.append(record)
    assert n <= len(records), f"the sample corpus gives {len(records)} records, not {n}"
    return records[:n]


def _sample_corpus() -> str:
    from importlib.resources import files

    return files("langchain_splade.data").joinpath("sample_corpus.jsonl").read_text("utf-8")


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
