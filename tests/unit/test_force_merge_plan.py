"""The force-merge plan against a scripted cluster: polling, failures, no second merge.

A fake is enough here: these are the plan's decisions (what it sends, when it stops,
what it raises). The real engines run it in the OpenSearch and Elasticsearch tests.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionTimeout, RequestError

from langchain_splade.errors import BackendError
from langchain_splade.stores.opensearch.operations import Operations, Options
from langchain_splade.stores.plans import run_sync

DONE = {"_shards": {"total": 2, "successful": 2, "failed": 0}}


class ScriptedCluster:
    """Answers ``indices.forcemerge`` with ``start`` and ``tasks.get`` with ``statuses``
    in turn, recording every call."""

    def __init__(self, start: Callable[[dict[str, Any]], Any], statuses: list[Any]) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._start, self._statuses = start, list(statuses)
        self.indices = SimpleNamespace(forcemerge=self._forcemerge)
        self.tasks = SimpleNamespace(get=self._get)

    def _forcemerge(self, **kwargs: Any) -> Any:
        self.calls.append(("forcemerge", kwargs))
        return self._start(kwargs)

    def _get(self, **kwargs: Any) -> Any:
        self.calls.append(("tasks.get", kwargs))
        return self._statuses.pop(0)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def merge(cluster: ScriptedCluster) -> None:
    ops = Operations(Options(index_name="docs", where="the test cluster"))
    run_sync(cluster, ops.merge_task("docs", 1, 0.0))


def test_polls_the_task_until_it_completes() -> None:
    pending = {"completed": False}
    cluster = ScriptedCluster(
        lambda _: {"task": "node:7"}, [pending, pending, {"completed": True, "response": DONE}]
    )
    merge(cluster)
    assert cluster.names() == ["forcemerge", "tasks.get", "tasks.get", "tasks.get"]
    assert cluster.calls[0][1] == {
        "index": "docs",
        "max_num_segments": 1,
        "wait_for_completion": False,
    }
    assert all(kwargs == {"task_id": "node:7"} for _, kwargs in cluster.calls[1:])


def test_a_failed_task_names_its_task_and_cause() -> None:
    error = {"type": "circuit_breaking_exception", "reason": "[parent] Data too large"}
    cluster = ScriptedCluster(lambda _: {"task": "node:9"}, [{"completed": True, "error": error}])
    with pytest.raises(BackendError, match=r"task node:9\) failed: circuit_breaking_exception"):
        merge(cluster)


def test_a_failed_shard_is_an_error_not_success() -> None:
    shards = {
        "total": 2,
        "successful": 1,
        "failed": 1,
        "failures": [{"reason": {"type": "io_exception", "reason": "disk full"}}],
    }
    status = {"completed": True, "response": {"_shards": shards}}
    cluster = ScriptedCluster(lambda _: {"task": "node:3"}, [status])
    with pytest.raises(BackendError, match="failed on 1 of 2 shards: io_exception: disk full"):
        merge(cluster)


def test_a_timed_out_start_is_not_sent_again() -> None:
    def time_out(_: dict[str, Any]) -> Any:
        raise ConnectionTimeout("TIMEOUT", "read timed out", None)

    cluster = ScriptedCluster(time_out, [])
    with pytest.raises(ConnectionTimeout):
        merge(cluster)
    assert cluster.names() == ["forcemerge"]  # a second one would queue a second merge


def test_a_cluster_without_merge_tasks_gets_one_blocking_request() -> None:
    def older_cluster(kwargs: dict[str, Any]) -> Any:
        if "wait_for_completion" in kwargs:  # as OpenSearch answers an unknown parameter
            cause = {
                "type": "illegal_argument_exception",
                "reason": "request [/docs/_forcemerge] contains unrecognized parameter: "
                "[wait_for_completion]",
            }
            info = {"error": {"root_cause": [cause], **cause}, "status": 400}
            raise RequestError(400, "illegal_argument_exception", info)
        return DONE

    cluster = ScriptedCluster(older_cluster, [])
    merge(cluster)
    assert cluster.names() == ["forcemerge", "forcemerge"]
    assert cluster.calls[1][1]["request_timeout"] >= 3600


# -- the options behind `index --method/--n-postings/--approximate-threshold` ----------


def test_index_options_per_backend() -> None:
    from langchain_splade.errors import InvalidInputError
    from langchain_splade.stores.factory import index_options

    seismic = {"n_postings": 500, "approximate_threshold": None}
    assert index_options("opensearch", "seismic", seismic) == {
        "n_postings": 500,
        "method": "seismic",
    }
    assert index_options("opensearch", None, None) == {}
    # Elasticsearch has one method and no `method` argument: the default is no error
    assert index_options("elasticsearch", "rank_features", None) == {}
    with pytest.raises(InvalidInputError, match="--backend opensearch"):
        index_options("elasticsearch", "seismic", None)
    with pytest.raises(InvalidInputError, match=r"SEISMIC parameters \(n_postings\)"):
        index_options("opensearch", "rank_features", seismic)
    with pytest.raises(InvalidInputError, match=r"\['method'\] are not SEISMIC parameters"):
        index_options("opensearch", "seismic", {"method": "rank_features"})
