"""The Elasticsearch test node: what clients need from it, and the CLI that serves it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("elasticsearch")


def test_clients_get_info_ping_and_the_product_header(elasticsearch_url: str) -> None:
    from elasticsearch import AsyncElasticsearch, Elasticsearch

    client = Elasticsearch(elasticsearch_url)
    info = client.info()
    assert info["version"]["number"].split(".")[0] in {"8", "9"}
    assert info["cluster_uuid"] and info["tagline"] == "You Know, for Search"
    assert client.ping()
    with urllib.request.urlopen(elasticsearch_url) as response:
        assert response.headers["X-Elastic-Product"] == "Elasticsearch"
    client.close()

    async def aping() -> bool:
        async with AsyncElasticsearch(elasticsearch_url) as aclient:
            return bool(await aclient.ping())

    import asyncio

    assert asyncio.run(aping())


def test_english_analyzer_stems_and_drops_stop_words(elasticsearch_url: str) -> None:
    from elasticsearch import Elasticsearch

    client = Elasticsearch(elasticsearch_url)
    tokens = client.indices.analyze(analyzer="english", text="The dogs were Running quickly")
    assert [t["token"] for t in tokens["tokens"]] == ["dog", "were", "run", "quickli"]
    client.close()


@pytest.mark.slow
def test_cli_serves_a_node_until_sigterm(tmp_path: Path) -> None:
    """`langchain-splade elasticsearch-node --data DIR` prints the URL once yellow, keeps
    indices in DIR, and stops cleanly on SIGTERM."""
    if os.environ.get("ELASTICSEARCH_URL"):
        pytest.skip("a cluster is provided: this machine may lack a JDK 21+")
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "langchain_splade.cli", "elasticsearch-node", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.stderr else ""
        health = _get(f"{url}/_cluster/health")
        assert health["status"] in ("green", "yellow")
        request = urllib.request.Request(f"{url}/kept", method="PUT")
        with urllib.request.urlopen(request) as response:
            assert json.loads(response.read())["acknowledged"]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert time.monotonic() - started < 60
        assert any(data.rglob("*")), "the node kept nothing in --data"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())
