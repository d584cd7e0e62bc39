"""The store adapters' contracts without a store: types, values, pruning, batching, errors.

Every adapter must hand its store exactly the encoder's vectors (same ids, same
weights, plain Python numbers), keep the encoder's pruning settings, and fail with
the project's typed errors before anything reaches a store.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable

import numpy as np
import pytest

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.errors import InvalidInputError, InvalidTypeError, MissingDependencyError
from langchain_splade.types import SparseVector

pytest.importorskip("langchain_qdrant")
pytest.importorskip("langchain_milvus")
pytest.importorskip("llama_index.core")

from langchain_milvus.utils.sparse import BaseSparseEmbedding as MilvusBase
from langchain_qdrant import SparseEmbeddings
from langchain_qdrant import SparseVector as QdrantVector
from llama_index.core.base.embeddings.base_sparse import (
    BaseSparseEmbedding as LlamaBase,
)

from langchain_splade.adapters import (
    LlamaIndexSparseEmbedding,
    MilvusSparseEmbedding,
    QdrantSparseEmbeddings,
)

TEXTS = [
    "The heart pumps blood through the arteries and veins.",
    "Paris is the capital and largest city of France.",
    "A myocardial infarction happens when blood flow to the heart stops.",
    "Photosynthesis turns light, water and carbon dioxide into sugar.",
    "The Eiffel Tower was built for the 1889 World's Fair.",
]
QUERY = "heart attack symptoms"


@pytest.fixture(scope="module")
def qdrant(encoder: SpladeEncoder) -> QdrantSparseEmbeddings:
    return QdrantSparseEmbeddings(encoder)


@pytest.fixture(scope="module")
def milvus(encoder: SpladeEncoder) -> MilvusSparseEmbedding:
    return MilvusSparseEmbedding(encoder)


@pytest.fixture(scope="module")
def llama(encoder: SpladeEncoder) -> LlamaIndexSparseEmbedding:
    return LlamaIndexSparseEmbedding(encoder)


@pytest.fixture(scope="module")
def reference(encoder: SpladeEncoder) -> list[SparseVector]:
    return encoder.embed_documents(TEXTS)


def _assert_plain(indices: list[int], values: list[float], expected: SparseVector) -> None:
    assert type(indices) is list and type(values) is list
    assert all(type(i) is int for i in indices)
    assert all(type(v) is float for v in values)
    assert indices == expected.indices.tolist()
    np.testing.assert_array_equal(np.asarray(values, dtype=np.float32), expected.values)


def test_adapters_implement_their_stores_interfaces(
    qdrant: QdrantSparseEmbeddings,
    milvus: MilvusSparseEmbedding,
    llama: LlamaIndexSparseEmbedding,
    encoder: SpladeEncoder,
) -> None:
    assert isinstance(qdrant, SparseEmbeddings)
    assert isinstance(milvus, MilvusBase)
    assert isinstance(llama, LlamaBase)
    for adapter in (qdrant, milvus, llama):
        assert adapter.encoder is encoder
        assert "splade-tiny" in repr(adapter)
    assert llama.model_name == "splade-tiny"


def test_qdrant_vectors_are_the_encoders_as_plain_lists(
    qdrant: QdrantSparseEmbeddings, reference: list[SparseVector], encoder: SpladeEncoder
) -> None:
    vectors = qdrant.embed_documents(TEXTS)
    assert len(vectors) == len(TEXTS)
    for vector, expected in zip(vectors, reference):
        assert isinstance(vector, QdrantVector)
        _assert_plain(vector.indices, vector.values, expected)
        # The store's own model accepts what we built without validation.
        QdrantVector.model_validate(vector.model_dump())
    query = qdrant.embed_query(QUERY)
    _assert_plain(query.indices, query.values, encoder.embed_query(QUERY))


def test_milvus_dicts_are_the_encoders(
    milvus: MilvusSparseEmbedding, reference: list[SparseVector], encoder: SpladeEncoder
) -> None:
    dicts = milvus.embed_documents(TEXTS)
    for weights, expected in zip(dicts, reference):
        _assert_plain(list(weights), list(weights.values()), expected)
    query = milvus.embed_query(QUERY)
    _assert_plain(list(query), list(query.values()), encoder.embed_query(QUERY))
    # Exact-score settings: no weight dropped at build or search time.
    assert milvus.index_params["params"]["drop_ratio_build"] == 0.0
    assert milvus.search_params == {"metric_type": "IP", "params": {}}


def test_llama_index_embedding_and_qdrant_callables(
    llama: LlamaIndexSparseEmbedding,
    reference: list[SparseVector],
    encoder: SpladeEncoder,
    same_encoding: Callable[..., None],
) -> None:
    batch = llama.get_text_embedding_batch(TEXTS)
    for weights, expected in zip(batch, reference):
        _assert_plain(list(weights), list(weights.values()), expected)
    single = llama.get_text_embedding(TEXTS[0])  # a batch of one: other float32 sums
    same_encoding(single, reference[0])
    query = llama.get_query_embedding(QUERY)
    _assert_plain(list(query), list(query.values()), encoder.embed_query(QUERY))

    indices, values = llama.sparse_doc_fn(TEXTS)
    assert len(indices) == len(values) == len(TEXTS)
    for row, expected in enumerate(reference):
        _assert_plain(indices[row], values[row], expected)
    q_indices, q_values = llama.sparse_query_fn([QUERY, TEXTS[1]])
    for row, expected in enumerate(encoder.embed_queries([QUERY, TEXTS[1]])):
        _assert_plain(q_indices[row], q_values[row], expected)

    kwargs = llama.qdrant_kwargs()
    assert kwargs["enable_hybrid"] is True
    assert kwargs["sparse_doc_fn"](TEXTS[:1]) == llama.sparse_doc_fn(TEXTS[:1])
    assert kwargs["sparse_query_fn"]([QUERY]) == llama.sparse_query_fn([QUERY])
    # LlamaIndex's own similarity (cosine over the dicts) runs on our output.
    assert llama.similarity(query, batch[2]) > llama.similarity(query, batch[3])


def test_the_encoders_pruning_options_are_kept(encoder: SpladeEncoder) -> None:
    pruned = SpladeEncoder(device="cpu", max_terms=5, query_max_terms=3, min_weight=0.3)
    qdrant = QdrantSparseEmbeddings(pruned)
    milvus = MilvusSparseEmbedding(pruned)
    llama = LlamaIndexSparseEmbedding(pruned)
    for vector in qdrant.embed_documents(TEXTS):
        assert 0 < len(vector.indices) <= 5 and min(vector.values) >= 0.3
    assert len(qdrant.embed_query(QUERY).indices) <= 3
    assert all(0 < len(d) <= 5 for d in milvus.embed_documents(TEXTS))
    assert len(milvus.embed_query(QUERY)) <= 3
    assert all(len(row) <= 5 for row in llama.sparse_doc_fn(TEXTS)[0])
    assert all(len(row) <= 3 for row in llama.sparse_query_fn([QUERY, QUERY])[0])
    full = encoder.embed_documents(TEXTS[:1])[0]
    kept = qdrant.embed_documents(TEXTS[:1])[0]
    heaviest = sorted(zip(full.values.tolist(), full.indices.tolist()), reverse=True)[:5]
    assert kept.indices == sorted(i for w, i in heaviest if w >= 0.3)


def test_small_batches_give_the_same_vectors(
    encoder: SpladeEncoder, reference: list[SparseVector], same_encoding: Callable[..., None]
) -> None:
    # Other batches pad differently, so float32 sums run in another order: equal within
    # rounding (ENCODING_ATOL in conftest.py says how much and why), not bit for bit.
    batched = QdrantSparseEmbeddings(encoder, batch_size=2).embed_documents(TEXTS)
    for vector, expected in zip(batched, reference):
        same_encoding(dict(zip(vector.indices, vector.values)), expected)


def test_progress_bar_only_on_long_inputs(
    encoder: SpladeEncoder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_splade.adapters import _core

    monkeypatch.setattr(_core, "PROGRESS_MIN_TEXTS", 4)
    auto = QdrantSparseEmbeddings(encoder, batch_size=2)
    auto.embed_documents(TEXTS[:3])
    assert "SPLADE" not in capsys.readouterr().err
    auto.embed_documents(TEXTS)
    assert "5/5" in capsys.readouterr().err
    QdrantSparseEmbeddings(encoder, show_progress=False).embed_documents(TEXTS)
    assert "SPLADE" not in capsys.readouterr().err
    MilvusSparseEmbedding(encoder, show_progress=True).embed_documents(TEXTS[:1])
    assert "1/1" in capsys.readouterr().err


async def test_async_variants_match_and_run_concurrently(
    qdrant: QdrantSparseEmbeddings,
    milvus: MilvusSparseEmbedding,
    llama: LlamaIndexSparseEmbedding,
    same_encoding: Callable[..., None],
) -> None:
    docs, query = await asyncio.gather(qdrant.aembed_documents(TEXTS), qdrant.aembed_query(QUERY))
    assert docs == qdrant.embed_documents(TEXTS)
    assert query == qdrant.embed_query(QUERY)
    assert await milvus.aembed_documents(TEXTS) == milvus.embed_documents(TEXTS)
    assert await milvus.aembed_query(QUERY) == milvus.embed_query(QUERY)
    # LlamaIndex gathers every batch at once; the adapter encodes them one at a time.
    llama_batched = LlamaIndexSparseEmbedding(llama.encoder, embed_batch_size=2, num_workers=3)
    many = await llama_batched.aget_text_embedding_batch(TEXTS)
    assert len(many) == len(TEXTS)
    for got, expected in zip(many, llama.get_text_embedding_batch(TEXTS)):
        same_encoding(got, expected)  # batches of two: equal within float32 rounding
    assert await llama.aget_query_embedding(QUERY) == llama.get_query_embedding(QUERY)
    assert await llama.aget_text_embedding(TEXTS[0]) == llama.get_text_embedding(TEXTS[0])


def test_explain_sums_to_the_dot_product(
    qdrant: QdrantSparseEmbeddings, encoder: SpladeEncoder
) -> None:
    terms = qdrant.explain(QUERY, TEXTS[2], top_k=None)
    score = encoder.embed_query(QUERY).dot(encoder.embed_documents([TEXTS[2]])[0])
    assert terms and terms[0].contribution >= terms[-1].contribution
    assert sum(t.contribution for t in terms) == pytest.approx(score, rel=1e-5)
    assert "heart" in [t.token for t in terms]


def test_empty_texts(
    qdrant: QdrantSparseEmbeddings, milvus: MilvusSparseEmbedding, llama: LlamaIndexSparseEmbedding
) -> None:
    # Qdrant and LlamaIndex store an empty vector (it matches nothing).
    assert qdrant.embed_documents(["", TEXTS[0]])[0].indices == []
    assert qdrant.embed_query("").indices == []
    assert llama.sparse_doc_fn(["  "]) == ([[]], [[]])
    assert qdrant.embed_documents([]) == []
    # Milvus rejects rows without weights: the whole batch fails before any insert.
    with pytest.raises(InvalidInputError, match=r"positions \[1, 3\]") as info:
        milvus.embed_documents([TEXTS[0], "", TEXTS[1], " \n"])
    assert "drop empty or blank texts" in str(info.value)
    assert milvus.embed_query("") == {}


@pytest.mark.parametrize(
    "make",
    [
        lambda: QdrantSparseEmbeddings("splade-tiny"),  # type: ignore[arg-type]
        lambda: MilvusSparseEmbedding(object()),  # type: ignore[arg-type]
        lambda: LlamaIndexSparseEmbedding(42),  # type: ignore[arg-type]
    ],
)
def test_wrong_encoder_type(make: object) -> None:
    with pytest.raises(InvalidTypeError, match="not a SpladeEncoder"):
        make()  # type: ignore[operator]


def test_bad_arguments(qdrant: QdrantSparseEmbeddings, encoder: SpladeEncoder) -> None:
    with pytest.raises(InvalidTypeError, match="list of strings"):
        qdrant.embed_documents("one text")  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="position 1"):
        qdrant.embed_documents(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidTypeError, match="not a str"):
        qdrant.embed_query(["a query"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="batch_size"):
        QdrantSparseEmbeddings(encoder, batch_size=0)
    with pytest.raises(InvalidTypeError, match="show_progress"):
        MilvusSparseEmbedding(encoder, show_progress="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "module", "package", "extra"),
    [
        ("QdrantSparseEmbeddings", "qdrant", "langchain_qdrant", "qdrant"),
        ("MilvusSparseEmbedding", "milvus", "langchain_milvus", "milvus"),
        ("LlamaIndexSparseEmbedding", "llama_index", "llama_index.core", "llamaindex"),
    ],
)
def test_missing_store_package_gives_the_install_line(
    monkeypatch: pytest.MonkeyPatch, name: str, module: str, package: str, extra: str
) -> None:
    import langchain_splade.adapters as adapters

    monkeypatch.setitem(sys.modules, package, None)  # find_spec now reports it absent
    monkeypatch.delitem(sys.modules, f"langchain_splade.adapters.{module}")
    with pytest.raises(MissingDependencyError) as info:
        getattr(adapters, name)
    assert f"pip install 'langchain-splade[{extra}]'" in str(info.value)
    assert isinstance(info.value, ImportError)
    monkeypatch.undo()
    assert getattr(importlib.import_module("langchain_splade.adapters"), name).__name__ == name


def test_unknown_attribute() -> None:
    import langchain_splade.adapters as adapters

    with pytest.raises(AttributeError, match="NoSuchAdapter"):
        adapters.NoSuchAdapter  # noqa: B018
