"""Integration tests: everything here runs against a real OpenSearch node.

The session fixture ``opensearch_url`` (tests/conftest.py) provides the node.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_splade.testing.proxy import FaultProxy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def os_client(opensearch_url: str) -> Iterator[Any]:
    """A plain ``OpenSearch`` client, for checks below the index class."""
    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[opensearch_url])
    yield client
    client.close()


@pytest.fixture
def index_name(os_client: Any) -> Iterator[str]:
    """A fresh index name, deleted after the test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    os_client.indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture
def proxy(opensearch_url: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the session node (see ``testing.proxy``)."""
    server = FaultProxy(opensearch_url)
    yield server
    server.close()
