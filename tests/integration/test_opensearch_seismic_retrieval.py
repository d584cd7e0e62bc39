"""SEISMIC indices behind everything users touch: the retriever (hybrid, async, matched
terms), LangChain's standard retriever tests, LlamaIndex, the CLI and ``eval``, with the
real bundled encoder on the OpenSearch 3.6.0 node with neural-search."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests
from opensearchpy import OpenSearch

from langchain_splade.cli import main
from langchain_splade.encoders import SpladeEncoder
from langchain_splade.errors import InvalidInputError
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.factory import open_index
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.stores.opensearch import OpenSearchSparseIndex

TEXTS = [
    "Myocardial infarction happens when blood flow to the heart muscle is blocked.",
    "A stroke occurs when blood supply to part of the brain is interrupted.",
    "Python is a programming language known for readable code.",
    "The ball python is a constricting snake native to West Africa.",
    "Mercury is the planet closest to the Sun.",
    "Mercury is a toxic metal that is liquid at room temperature.",
]
METADATAS = [
    {"topic": "medicine"},
    {"topic": "medicine"},
    {"topic": "programming"},
    {"topic": "animals"},
    {"topic": "astronomy"},
    {"topic": "chemistry"},
]
IDS = [f"d{i}" for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def seismic_index(opensearch_neural_url: str, encoder: SpladeEncoder) -> Iterator[str]:
    name = f"seismic-retriever-{uuid.uuid4().hex[:8]}"
    index = OpenSearchSparseIndex(name, url=opensearch_neural_url, method="seismic")
    SpladeRetriever.from_texts(TEXTS, METADATAS, IDS, encoder=encoder, index=index)
    yield name
    index.clear()
    index.close()


def _retriever(url: str, name: str, encoder: SpladeEncoder, **options: Any) -> SpladeRetriever:
    index = OpenSearchSparseIndex(name, url=url, method="seismic")
    return SpladeRetriever(encoder=encoder, index=index, **options)


def test_same_ranking_as_the_local_index_with_matched_terms(
    opensearch_neural_url: str, seismic_index: str, encoder: SpladeEncoder
) -> None:
    remote = _retriever(opensearch_neural_url, seismic_index, encoder, k=3)
    local = SpladeRetriever.from_texts(
        TEXTS, METADATAS, IDS, encoder=encoder, index=LocalSparseIndex(), k=3
    )
    for query in ("heart attack", "closest planet to the sun", "python snake"):
        got = remote.invoke(query)
        assert [d.id for d in got] == [d.id for d in local.invoke(query)]
        assert got[0].metadata["matched_terms"]  # explained from the stored vectors
        for a, b in zip(got, local.invoke(query)):
            assert a.metadata["score"] == pytest.approx(b.metadata["score"], rel=0.01)


def test_hybrid_async_and_filters(
    opensearch_neural_url: str, seismic_index: str, encoder: SpladeEncoder
) -> None:
    hybrid = _retriever(opensearch_neural_url, seismic_index, encoder, k=2, mode="hybrid")
    docs = hybrid.invoke("mercury metal")
    assert docs and docs[0].id == "d5"
    async_docs = asyncio.run(hybrid.ainvoke("mercury metal"))
    assert [d.id for d in async_docs] == [d.id for d in docs]
    sparse = _retriever(opensearch_neural_url, seismic_index, encoder, k=3)
    filtered = sparse.invoke("mercury", filter={"topic": "astronomy"})
    assert [d.id for d in filtered] == ["d4"]


def test_llama_index_retriever(
    opensearch_neural_url: str, seismic_index: str, encoder: SpladeEncoder
) -> None:
    pytest.importorskip("llama_index.core")
    from langchain_splade.llama_index import SpladeLlamaIndexRetriever

    index = OpenSearchSparseIndex(seismic_index, url=opensearch_neural_url, method="seismic")
    retriever = SpladeLlamaIndexRetriever(encoder=encoder, index=index, similarity_top_k=1)
    nodes = retriever.retrieve("heart attack")
    assert [n.node.node_id for n in nodes] == ["d0"] and nodes[0].score > 0


def test_cli_index_search_and_eval_with_method_seismic(
    opensearch_neural_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text(
        "Mercury is the planet closest to the Sun.\n\n"
        "Python is a programming language known for readable code."
    )
    name = f"seismic-cli-{uuid.uuid4().hex[:8]}"
    backend = ["--backend", "opensearch", "--opensearch-url", opensearch_neural_url]
    backend += ["--index-name", name, "--method", "seismic"]
    creation = ["--n-postings", "50", "--approximate-threshold", "1", "--force-merge"]
    try:
        assert main(["index", str(tmp_path / "notes.txt"), *backend, *creation]) == 0
        assert "merged in" in capsys.readouterr().err
        client = OpenSearch(hosts=[opensearch_neural_url])
        field = client.indices.get_mapping(index=name)[name]["mappings"]["properties"]["vector"]
        assert field["method"]["parameters"]["n_postings"] == 50
        assert field["method"]["parameters"]["approximate_threshold"] == 1
        shard = client.indices.segments(index=name)["indices"][name]["shards"]["0"][0]
        count = client.count(index=name)["count"]
        assert [s["num_docs"] for s in shard["segments"].values()] == [count]  # one segment
        client.close()
        assert main(["search", "closest planet", *backend, "-k", "1", "--json"]) == 0
        results = json.loads(capsys.readouterr().out)
        assert len(results) == 1 and "Mercury" in results[0]["text"]
        assert results[0]["matched_terms"]
        # the exact method on a SEISMIC index: a clear error, not wrong hits
        exact = [a for a in backend if a not in ("--method", "seismic")]
        assert main(["search", "closest planet", *exact]) == 1
        assert "created with method='seismic'" in capsys.readouterr().err
    finally:
        index = OpenSearchSparseIndex(name, url=opensearch_neural_url, method="seismic")
        index.clear()
        index.close()

    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    corpus = [{"_id": i, "title": "", "text": t} for i, t in zip(IDS, TEXTS)]
    queries = [{"_id": "q1", "text": "closest planet"}, {"_id": "q2", "text": "snake"}]
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus))
    (beir / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td4\t1\nq2\td3\t1\n")
    args = ["--backend", "opensearch", "--opensearch-url", opensearch_neural_url]
    assert (
        main(["eval", str(beir), *args, "--method", "seismic", "--mode", "sparse", "--json"]) == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert results["sparse"]["ndcg@10"] == pytest.approx(1.0)


def test_method_seismic_on_another_backend_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="--backend opensearch"):
        open_index("local", None, create=True, method="seismic")


def test_seismic_options_without_method_seismic_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("Mercury is the planet closest to the Sun.")
    argv = ["index", str(tmp_path / "a.txt"), "--backend", "opensearch", "--index-name", "x"]
    assert main([*argv, "--opensearch-url", "http://127.0.0.1:9", "--n-postings", "10"]) == 1
    err = capsys.readouterr().err
    assert "SEISMIC parameters (n_postings) were given" in err and "--method seismic" in err
    local = ["index", str(tmp_path / "a.txt"), "--index", str(tmp_path / "idx")]
    assert main([*local, "--force-merge"]) == 1
    assert "--force-merge applies to OpenSearch and Elasticsearch" in capsys.readouterr().err
    assert not (tmp_path / "idx").exists()  # refused before anything was written


class TestSeismicStandardRetriever(RetrieversIntegrationTests):
    """LangChain's own retriever contract against a SEISMIC index."""

    _params: dict[str, Any]

    @pytest.fixture(autouse=True)
    def _connect(
        self, opensearch_neural_url: str, seismic_index: str, encoder: SpladeEncoder
    ) -> None:
        type(self)._params = {
            "encoder": encoder,
            "index": OpenSearchSparseIndex(
                seismic_index, url=opensearch_neural_url, method="seismic"
            ),
        }

    @property
    def retriever_constructor(self) -> type[SpladeRetriever]:
        return SpladeRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def retriever_query_example(self) -> str:
        return "what is mercury"
