"""SpladeEncoder on the real bundled splade-tiny model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM

from langchain_splade import InvalidInputError, InvalidTypeError, ModelLoadError, SparseVector
from langchain_splade.encoders import SpladeEncoder
from langchain_splade.encoders.loading import BUNDLED_MODELS_DIR
from langchain_splade.encoders.pooling import splade_reference
from langchain_splade.encoders.windows import WindowPolicy

TEXTS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Myocardial infarction, commonly called a heart attack, blocks blood flow to the heart.",
    "Python is a programming language that emphasises readability.",
    "short",
    "Photosynthesis converts light energy into chemical energy stored in glucose. " * 6,
]


def _dense(vectors: list[SparseVector], vocab: int) -> torch.Tensor:
    dense = torch.zeros(len(vectors), vocab)
    for row, vector in enumerate(vectors):
        dense[row, torch.from_numpy(vector.indices.astype(np.int64))] = torch.from_numpy(
            vector.values.copy()
        )
    return dense


def test_matches_seed_formula_except_special_tokens(
    encoder: SpladeEncoder, encoding_atol: float
) -> None:
    model = AutoModelForMaskedLM.from_pretrained(
        BUNDLED_MODELS_DIR / "splade-tiny", local_files_only=True
    ).eval()
    batch = encoder._tokenizer(
        TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt"
    )
    with torch.no_grad():
        expected = splade_reference(model(**batch).logits, batch["attention_mask"])
    got = _dense(encoder.embed_documents(TEXTS), encoder.vocab_size)

    special = torch.tensor(encoder._tokenizer.all_special_ids)
    assert torch.count_nonzero(got[:, special]) == 0
    expected[:, special] = 0.0
    # Another summation order than the model's own forward pass: float32 rounding apart.
    torch.testing.assert_close(got, expected, atol=encoding_atol, rtol=0)


def test_vector_does_not_depend_on_batch_neighbours(
    encoder: SpladeEncoder, same_encoding: Callable[..., None]
) -> None:
    alone = [encoder.embed_documents([text])[0] for text in TEXTS]
    together = encoder.embed_documents(TEXTS)
    for single, batched in zip(alone, together):
        same_encoding(single, batched)


def test_batch_size_and_order_do_not_change_vectors(
    encoder: SpladeEncoder, same_encoding: Callable[..., None]
) -> None:
    small_batches = SpladeEncoder(batch_size=2)
    reversed_vectors = small_batches.embed_documents(TEXTS[::-1])[::-1]
    for a, b in zip(encoder.embed_documents(TEXTS), reversed_vectors):
        same_encoding(b, a)


def test_window_keeps_a_word_after_token_2000(encoder: SpladeEncoder) -> None:
    filler = "the weather today is mild and the river flows slowly past the town. " * 160
    text = filler + "A volcano erupted near the harbour."
    assert len(encoder._tokenizer(filler)["input_ids"]) > 2000

    windowed = encoder.tokens(encoder.embed_documents([text])[0])
    truncated = encoder.tokens(SpladeEncoder(long_documents="truncate").embed_documents([text])[0])
    assert windowed.get("volcano", 0.0) > 1.0
    assert "volcano" not in truncated


def test_window_max_equals_max_of_windows(
    encoder: SpladeEncoder, same_encoding: Callable[..., None]
) -> None:
    """A two-window text is the element-wise max of its windows encoded alone."""
    small = SpladeEncoder(max_length=16, window_overlap=0, window_policy=WindowPolicy())
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi"
    tokens = small._tokenizer(words, add_special_tokens=False)["input_ids"]
    first = small._tokenizer.decode(tokens[:14])
    second = small._tokenizer.decode(tokens[14:])
    whole = small.embed_documents([words])[0].to_dict()
    a, b = (v.to_dict() for v in small.embed_documents([first, second]))
    expected = {k: max(a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b)}
    same_encoding(whole, expected)  # the windows ran in another batch than the texts


def test_blank_texts_have_no_terms(encoder: SpladeEncoder) -> None:
    vectors = encoder.embed_documents(["", "   \n\t", "real words here"])
    assert [v.nnz for v in vectors[:2]] == [0, 0]
    assert vectors[2].nnz > 0
    assert encoder.embed_query("").nnz == 0


def test_lone_surrogate_is_encoded(encoder: SpladeEncoder) -> None:
    vector = encoder.embed_documents(["broken \ud800 text about volcanoes"])[0]
    assert "volcanoes" in encoder.tokens(vector)


def test_pruning_is_separate_for_queries_and_documents() -> None:
    pruned = SpladeEncoder(max_terms=5, query_max_terms=3, query_min_weight=1.0)
    doc = pruned.embed_documents([TEXTS[1]])[0]
    query = pruned.embed_query(TEXTS[1])
    full = SpladeEncoder().embed_documents([TEXTS[1]])[0]
    assert doc.nnz == 5
    assert [i for i, _ in doc.top()] == [i for i, _ in full.top(5)]
    assert query.nnz <= 3
    assert query.values.min() >= 1.0


def test_min_weight_prunes_documents() -> None:
    vector = SpladeEncoder(min_weight=0.5).embed_documents([TEXTS[0]])[0]
    assert vector.nnz > 0
    assert vector.values.min() >= 0.5


def test_decode_and_explain(encoder: SpladeEncoder) -> None:
    doc = encoder.embed_documents([TEXTS[0]])[0]
    query = encoder.embed_query("tower in paris")
    decoded = encoder.decode(doc, top_k=5)
    assert len(decoded) == 5
    assert [w for _, w in decoded] == sorted((w for _, w in decoded), reverse=True)
    assert "paris" in dict(encoder.decode(doc))

    shared = encoder.explain(query, doc)
    assert {t.token for t in shared} >= {"paris", "tower"}
    assert sum(t.contribution for t in shared) == pytest.approx(query.dot(doc), rel=1e-6)
    assert [t.contribution for t in shared] == sorted(
        (t.contribution for t in shared), reverse=True
    )
    assert encoder.vector_from_tokens(encoder.tokens(doc)) == doc


def test_retrieval_prefers_the_relevant_text(encoder: SpladeEncoder) -> None:
    docs = encoder.embed_documents(TEXTS)
    query = encoder.embed_query("what causes a heart attack")
    scores = [query.dot(d) for d in docs]
    assert int(np.argmax(scores)) == 1


def test_idf_query_encoder_needs_no_forward_pass(tmp_path: Path) -> None:
    folder = tmp_path / "doc-only"
    shutil.copytree(BUNDLED_MODELS_DIR / "splade-tiny", folder)
    (folder / "idf.json").write_text(json.dumps({"heart": 3.0, "attack": 2.5, "the": 0.1}))
    encoder = SpladeEncoder(folder)
    assert encoder.query_encoder == "idf"

    def no_forward(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran on a query")

    encoder._model.forward = no_forward
    query = encoder.embed_query("The heart attack, the HEART")
    assert encoder.tokens(query) == {"heart": 3.0, "attack": 2.5, "the": pytest.approx(0.1)}
    assert encoder.embed_query("unrelated words").nnz == 0


def test_idf_table_can_be_passed_and_forced() -> None:
    encoder = SpladeEncoder(idf={"paris": 2.0}, query_encoder="idf")
    assert encoder.tokens(encoder.embed_query("Paris at night")) == {"paris": 2.0}
    with pytest.raises(InvalidInputError, match="idf"):
        SpladeEncoder(query_encoder="idf")


def test_fingerprint_identifies_model_and_vocabulary(encoder: SpladeEncoder) -> None:
    fingerprint = encoder.fingerprint
    assert fingerprint.model_name == "splade-tiny"
    assert fingerprint.vocab_size == 30522
    assert fingerprint == SpladeEncoder().fingerprint
    assert type(fingerprint).from_json(fingerprint.to_json()) == fingerprint


async def test_async_twins_match_sync(encoder: SpladeEncoder) -> None:
    docs = await encoder.aembed_documents(TEXTS[:2])
    query = await encoder.aembed_query("heart attack")
    assert docs == encoder.embed_documents(TEXTS[:2])
    assert query == encoder.embed_query("heart attack")
    assert await encoder.aembed_queries(["a", "b"]) == encoder.embed_queries(["a", "b"])


def test_progress_bar_does_not_change_output(encoder: SpladeEncoder) -> None:
    assert encoder.embed_documents(TEXTS, show_progress=True) == encoder.embed_documents(TEXTS)


@pytest.mark.parametrize(
    ("texts", "error"),
    [
        ("a single string", InvalidTypeError),
        ([None], InvalidTypeError),
        (["ok", 3], InvalidTypeError),
        (None, InvalidTypeError),
    ],
)
def test_bad_texts_raise_typed_errors(encoder: SpladeEncoder, texts: object, error: type) -> None:
    with pytest.raises(error, match="str"):
        encoder.embed_documents(texts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_length": 4}, InvalidInputError),
        ({"max_length": 1024}, InvalidInputError),
        ({"max_length": "256"}, InvalidTypeError),
        ({"batch_size": 0}, InvalidInputError),
        ({"long_documents": "drop"}, InvalidInputError),
        ({"max_terms": 0}, InvalidInputError),
        ({"window_overlap": 200}, InvalidInputError),
        ({"dtype": "int8"}, InvalidInputError),
    ],
)
def test_bad_settings_raise_typed_errors(kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        SpladeEncoder(**kwargs)  # type: ignore[arg-type]


def test_missing_folder_and_offline_hub_id_say_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        SpladeEncoder("./no/such/model")
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        SpladeEncoder(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError, match="bundled"):
        SpladeEncoder("someone/not-cached-splade")


def test_queries_on_lanes_equal_the_calling_thread_and_change_no_global_setting(
    encoder: SpladeEncoder, same_encoding: Callable[..., None]
) -> None:
    import threading

    from langchain_splade.encoders import lanes

    def fresh_thread_count() -> int:
        box: list[int] = []
        thread = threading.Thread(target=lambda: box.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        return box[0]

    before = (torch.get_num_threads(), fresh_thread_count())
    pooled = SpladeEncoder(isolate_queries=False)
    queries = ["what causes a heart attack", "tower in paris", ""]
    # One thread sums in another order than two: equal within float rounding.
    laned = [*encoder.embed_queries(queries), encoder.embed_query(queries[0])]
    for a, b in zip(laned, [*pooled.embed_queries(queries), pooled.embed_query(queries[0])]):
        if b.nnz:
            same_encoding(a, b)
        else:
            assert a.nnz == 0  # the empty query has no terms on either path
    if lanes.shared_lanes() is not None:  # OpenMP builds: the lane really is single-threaded
        assert lanes.run_short(torch.get_num_threads) == 1
    assert (torch.get_num_threads(), fresh_thread_count()) == before


def test_lane_hands_back_exceptions() -> None:
    from langchain_splade.encoders import lanes

    def fail() -> None:
        raise ValueError("raised on the lane")

    with pytest.raises(ValueError, match="on the lane"):
        lanes.run_short(fail)


def test_int8_is_close_to_exact_and_keeps_the_top_terms(encoder: SpladeEncoder) -> None:
    int8 = SpladeEncoder(quantize="int8", device="cpu")
    assert int8.fingerprint.settings["quantize"] == "int8"
    exact, fast = encoder.embed_documents(TEXTS[:3]), int8.embed_documents(TEXTS[:3])
    diff = _dense(exact, encoder.vocab_size) - _dense(fast, encoder.vocab_size)
    assert 0 < float(diff.abs().max()) < 0.5  # quantized (not exact), but close
    for a, b in zip(exact, fast):
        top_a, top_b = {i for i, _ in a.top(10)}, {i for i, _ in b.top(10)}
        assert len(top_a & top_b) >= 8
    query = int8.embed_query("what causes a heart attack")
    assert int(np.argmax([query.dot(d) for d in int8.embed_documents(TEXTS)])) == 1


@pytest.mark.parametrize(
    "kwargs", [{"quantize": "int4"}, {"quantize": "int8", "dtype": "bfloat16"}]
)
def test_bad_quantize_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match="quantize"):
        SpladeEncoder(device="cpu", **kwargs)  # type: ignore[arg-type]
