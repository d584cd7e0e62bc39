"""Indexing a few hundred documents on a real 3-node Ray cluster into every backend:
each id exactly once, vectors equal to direct encoding, search equal to an index built
in one process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_utils import RayCluster, load_records

pytestmark = pytest.mark.timeout(300)

N_DOCS = 300
QUERIES = [  # about the bundled sample corpus the records come from
    "heart attack warning signs",
    "why should I get a flu shot every year",
    "giant snakes invading the Everglades",
    "planet closest to the sun",
    "who invented the thermometer",
]


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return load_records(N_DOCS)


@pytest.fixture(scope="module")
def direct(records: list[dict[str, Any]], spec: Any) -> dict[str, Any]:
    """Every record encoded in this process, as the one-process path does it."""
    encoder = spec.build()
    texts = [f"{r['title']}\n{r['text']}" if r["title"] else r["text"] for r in records]
    vectors = encoder.embed_documents(texts)
    return {"encoder": encoder, "texts": texts, "vectors": dict(zip(ids_of(records), vectors))}


def ids_of(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]


def run_job(ray_cluster: RayCluster, records: list[dict[str, Any]], sink: Any, spec: Any) -> Any:
    import ray

    from langchain_splade.distributed import index_dataset

    dataset = ray.data.from_items(records, override_num_blocks=6)
    return index_dataset(dataset, sink, spec, workers=2, rows_per_batch=50)


def assert_same_index(
    stored: Any, direct: dict[str, Any], same_encoding: Callable[..., None], n: int
) -> None:
    """Every id once, with the vector direct encoding gives (within float32 rounding)."""
    documents = stored.get(list(direct["vectors"]))
    assert len(documents) == n == len(stored)
    assert sorted(d.id for d in documents) == sorted(direct["vectors"])
    for document in documents:
        same_encoding(document.vector, direct["vectors"][document.id])


def assert_same_search(got: Any, expected: Any, encoder: Any) -> None:
    for query in QUERIES:
        vector = encoder.embed_query(query)
        a, b = got.search(vector, k=10), expected.search(vector, k=10)
        assert [h.id for h in a] == [h.id for h in b], query
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-3)


def test_local_index(
    ray_cluster: RayCluster,
    records: list[dict[str, Any]],
    direct: dict[str, Any],
    spec: Any,
    same_encoding: Callable[..., None],
    tmp_path: Path,
) -> None:
    from langchain_splade.distributed import LocalIndexDatasink
    from langchain_splade.stores.local import LocalSparseIndex

    class CountingSink(LocalIndexDatasink):  # local: pickled by value to the workers
        write_tasks = 0

        def on_write_complete(self, write_result: Any) -> None:
            self.write_tasks = len(write_result.write_returns)
            super().on_write_complete(write_result)

    target = tmp_path / "index"
    sink = CountingSink(target)
    report = run_job(ray_cluster, records, sink, spec)
    assert (report.documents, report.index_size) == (N_DOCS, N_DOCS)
    assert sink.write_tasks == 1  # 6 blocks in, one write task (ROWS_PER_WRITE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # shards are gone
    built = LocalSparseIndex.load(target)
    assert built.fingerprint == spec.fingerprint
    assert_same_index(built, direct, same_encoding, N_DOCS)
    one_process = LocalSparseIndex()
    one_process.add(list(direct["vectors"]), list(direct["vectors"].values()), direct["texts"])
    assert_same_search(built, one_process, direct["encoder"])
    assert built.get([records[0]["id"]])[0].metadata == {"title": records[0]["title"]}


def test_local_index_extends_an_existing_one(
    ray_cluster: RayCluster, records: list[dict[str, Any]], spec: Any, tmp_path: Path
) -> None:
    """Documents already in the target stay; ids in both are replaced, not repeated."""
    from langchain_splade.distributed import LocalIndexDatasink
    from langchain_splade.stores.local import LocalSparseIndex

    target = tmp_path / "index"
    run_job(ray_cluster, records[:100], LocalIndexDatasink(target), spec)
    report = run_job(ray_cluster, records[50:150], LocalIndexDatasink(target), spec)
    assert report.index_size == 150
    assert sorted(LocalSparseIndex.load(target).ids()) == sorted(ids_of(records[:150]))


REMOTE = {
    # backend: (URL fixture, Datasink, index class module, class)
    "opensearch": ("opensearch_default_url", "OpenSearchDatasink", "opensearch", "OpenSearch"),
    "elasticsearch": (
        "elasticsearch_url",
        "ElasticsearchDatasink",
        "elasticsearch",
        "Elasticsearch",
    ),
}


@pytest.fixture(params=sorted(REMOTE))
def remote(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A remote backend: its URL, sink class, index class, and two fresh index names."""
    import importlib

    import langchain_splade.distributed as distributed

    url_fixture, sink, module, product = REMOTE[request.param]
    url = request.getfixturevalue(url_fixture)
    index_cls = getattr(
        importlib.import_module(f"langchain_splade.stores.{module}"), f"{product}SparseIndex"
    )
    names = [f"test-ray-{uuid.uuid4().hex[:10]}", f"test-ray-direct-{uuid.uuid4().hex[:10]}"]
    made: list[Any] = []

    def open_index(name: str) -> Any:
        made.append(index_cls(name, url=url))
        return made[-1]

    yield {"url": url, "sink": getattr(distributed, sink), "open": open_index, "names": names}
    for index in made:
        index.clear()
        index.close()


def test_remote_index(
    ray_cluster: RayCluster,
    records: list[dict[str, Any]],
    direct: dict[str, Any],
    spec: Any,
    same_encoding: Callable[..., None],
    remote: dict[str, Any],
) -> None:
    """OpenSearch and Elasticsearch: each id once, vectors and search as in one process."""
    ray_name, direct_name = remote["names"]
    report = run_job(ray_cluster, records, remote["sink"](ray_name, remote["url"]), spec)
    assert report.index_size == N_DOCS
    built = remote["open"](ray_name)
    assert built.fingerprint == spec.fingerprint
    assert_same_index(built, direct, same_encoding, N_DOCS)
    one_process = remote["open"](direct_name)
    one_process.add(list(direct["vectors"]), list(direct["vectors"].values()), direct["texts"])
    assert_same_search(built, one_process, direct["encoder"])


def test_cli_index_ray_auto(
    ray_cluster: RayCluster,
    records: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``index --ray auto`` (RAY_ADDRESS points at the cluster) builds the index the
    one-process ``index`` builds: same ids, same vectors, same search results."""
    import json

    from langchain_splade.cli import main
    from langchain_splade.stores.local import LocalSparseIndex

    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"_id": r["id"], "text": r["text"], "metadata": {"n": n}} for n, r in enumerate(records)
    ]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows[:120]))
    assert main(["index", str(corpus), "--index", str(tmp_path / "ray"), "--ray", "auto"]) == 0
    assert "indexed 120 passages on Ray" in capsys.readouterr().out
    assert main(["index", str(corpus), "--index", str(tmp_path / "one")]) == 0
    ray_index = LocalSparseIndex.load(tmp_path / "ray")
    one = LocalSparseIndex.load(tmp_path / "one")
    assert sorted(ray_index.ids()) == sorted(one.ids()) and len(ray_index) == 120
    probe = records[7]["id"]
    stored = ray_index.get([probe])[0].metadata
    assert stored == one.get([probe])[0].metadata and stored["n"] == 7
    from langchain_splade.encoders import SpladeEncoder

    assert_same_search(ray_index, one, SpladeEncoder(device="cpu"))


def test_cli_index_ray_into_opensearch_with_force_merge(
    ray_cluster: RayCluster,
    records: list[dict[str, Any]],
    opensearch_default_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``index --ray auto --backend opensearch --force-merge``: every passage written,
    then one segment."""
    import json

    from opensearchpy import OpenSearch

    from langchain_splade.cli import main

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"_id": r["id"], "text": r["text"]}) + "\n" for r in records[:60])
    )
    name = f"test-ray-cli-{uuid.uuid4().hex[:10]}"
    backend = ["--backend", "opensearch", "--opensearch-url", opensearch_default_url]
    client = OpenSearch(hosts=[opensearch_default_url])
    try:
        argv = ["index", str(corpus), *backend, "--index-name", name, "--ray", "auto"]
        assert main([*argv, "--force-merge"]) == 0
        captured = capsys.readouterr()
        assert "indexed 60 passages on Ray" in captured.out and "merged in" in captured.err
        shards = client.indices.segments(index=name)["indices"][name]["shards"]
        assert [len(copy["segments"]) for copies in shards.values() for copy in copies] == [1]
        assert client.count(index=name)["count"] == 60
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)
        client.close()
