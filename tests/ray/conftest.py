"""Fixtures of the Ray tests: a module-scoped 3-node cluster (see cluster_utils)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest
from cluster_utils import RayCluster

if importlib.util.find_spec("ray") is None:  # `make test` installs it; skip cleanly if not
    collect_ignore_glob = [os.path.join(os.path.dirname(__file__), "test_*.py")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.ray)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    cluster = RayCluster()
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def spec() -> Any:
    """The bundled model, one thread per actor (its fingerprint is computed once)."""
    from langchain_splade.distributed import EncoderSpec

    return EncoderSpec(device="cpu", threads=1)


@pytest.fixture
def os_index(opensearch_default_url: str) -> Iterator[tuple[str, str, Any]]:
    """A fresh OpenSearch index name on the session's node: (url, name, client);
    the index is deleted afterwards."""
    import uuid

    from opensearchpy import OpenSearch

    client = OpenSearch(opensearch_default_url)
    name = f"test-ray-{uuid.uuid4().hex[:10]}"
    yield opensearch_default_url, name, client
    client.indices.delete(index=name, ignore_unavailable=True)
    client.close()
