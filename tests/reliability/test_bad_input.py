"""Bad input: each case is a typed error that says what/expected/fix, or a documented
behaviour, and never corrupts what is stored. Cases already covered in tests/unit
(k checks on the index, flipped bytes, format version 99, save to a file) are not
repeated; these go through the retriever in every mode, or add what was missing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.errors import (
    CorruptIndexError,
    FilterError,
    IncompatibleIndexError,
    InvalidInputError,
    InvalidTypeError,
    SpladeError,
)
from langchain_splade.retrievers import SpladeRetriever
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import EncoderFingerprint, SparseVector

MODES = ["sparse", "bm25", "hybrid"]
ODD_TEXTS = {
    "surrogate": "broken \ud800 lava flows \udfff",
    "zero-width": "lava\u200bflows \ufeff\u200d near the volcano",
    "combining": "e\u0301rupting lava \u0301\u0301 volcano",
    "emoji-rtl": "\U0001f30b lava \u202e\u05e9\u05dc\u05d5\u05dd volcano",
    "nul-control": "lava\x00flows\x1b[31m volcano\r\n",
}


def _retriever(encoder: SpladeEncoder, mode: str, **kwargs: Any) -> SpladeRetriever:
    texts = ["", "   \n\t ", "The volcano erupted and lava flowed.", "A quiet library."]
    ids = ["empty", "blank", "volcano", "library"]
    return SpladeRetriever.from_texts(texts, ids=ids, encoder=encoder, mode=mode, **kwargs)


def _state(index: LocalSparseIndex) -> list[tuple[Any, ...]]:
    return sorted(
        (d.id, d.text, json.dumps(d.metadata), d.vector.indices.tolist())
        for d in index.get(index.ids())
    )


def _assert_helpful(error: SpladeError) -> None:
    assert error.found and (error.expected or error.fix), str(error)


@pytest.mark.parametrize("mode", MODES)
def test_blank_documents_are_stored_and_never_match(encoder: SpladeEncoder, mode: str) -> None:
    retriever = _retriever(encoder, mode)
    assert {d.id for d in retriever.index.get(["empty", "blank"])} == {"empty", "blank"}
    for query in ["lava volcano", "library", "the and a", "empty blank"]:
        found = {d.id for d in retriever.invoke(query, k=10)}
        assert not found & {"empty", "blank"}, (query, found)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", ["", "   ", "\n\t", "\u200b\ufeff", "\ud800"])
def test_blank_and_zero_term_queries_return_nothing(
    encoder: SpladeEncoder, mode: str, query: str
) -> None:
    retriever = _retriever(encoder, mode)
    assert retriever.invoke(query) == []


def test_bm25_over_only_blank_texts_returns_nothing() -> None:
    """Bug fixed: BM25 over a corpus whose texts are all blank or None raised
    ``ValueError: max() arg is an empty sequence`` from bm25s (hybrid mode crashed)."""
    index = LocalSparseIndex()
    index.add(["a", "b", "c"], [SparseVector([1], [1.0])] * 3, texts=[None, "", "?!"])
    assert index.bm25_search("anything at all") == []
    index.add(["d"], [SparseVector([2], [1.0])], texts=["volcano lava"])
    assert [h.id for h in index.bm25_search("volcano")] == ["d"]


def test_zero_term_query_vector_returns_nothing() -> None:
    index = LocalSparseIndex()
    index.add(["a"], [SparseVector([1], [1.0])])
    assert index.search(SparseVector([], []), k=5) == []


@pytest.mark.parametrize(
    "texts",
    [[None], ["ok", 3], [b"bytes"], ["ok", ["nested"]], "a bare string", None, 42],
)
def test_none_and_non_string_texts_raise_typed_errors_and_store_nothing(
    encoder: SpladeEncoder, texts: Any
) -> None:
    retriever = _retriever(encoder, "sparse")
    before = _state(retriever.index)
    with pytest.raises(InvalidTypeError) as info:
        retriever.add_texts(texts)
    _assert_helpful(info.value)
    assert _state(retriever.index) == before


@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_odd_unicode_is_stored_searched_and_saved(
    encoder: SpladeEncoder, tmp_path: Path, name: str
) -> None:
    text = ODD_TEXTS[name]
    retriever = _retriever(encoder, "hybrid")
    retriever.add_texts([text], ids=[f"odd-{name}"], metadatas=[{"raw": text, text: 1}])
    hits = retriever.invoke("lava", k=10)
    assert f"odd-{name}" in {d.id for d in hits}
    assert retriever.invoke(text, k=10)  # an odd query works too
    retriever.index.save(tmp_path)
    loaded = LocalSparseIndex.load(tmp_path)
    doc = loaded.get([f"odd-{name}"])[0]
    assert doc.text == text and doc.metadata == {"raw": text, text: 1}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("k", "error"),
    [
        (0, InvalidInputError),
        (-3, InvalidInputError),
        (2.0, InvalidTypeError),
        ("3", InvalidTypeError),
        (True, InvalidTypeError),
        (None, None),
    ],
)
def test_bad_k_in_every_mode(encoder: SpladeEncoder, mode: str, k: Any, error: Any) -> None:
    retriever = _retriever(encoder, mode)
    if error is None:  # None means "use the retriever's k"
        assert len(retriever.invoke("lava", k=k)) <= retriever.k
        return
    with pytest.raises(error) as info:
        retriever.invoke("lava", k=k)
    _assert_helpful(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_k_larger_than_the_corpus_returns_every_match_once(
    encoder: SpladeEncoder, mode: str
) -> None:
    retriever = _retriever(encoder, mode)
    docs = retriever.invoke("volcano lava library", k=10_000)
    ids = [d.id for d in docs]
    assert len(ids) == len(set(ids)) and set(ids) <= {"volcano", "library"}
    assert "volcano" in ids


def test_duplicate_ids_in_one_batch_keep_the_last_everywhere(
    encoder: SpladeEncoder, tmp_path: Path
) -> None:
    retriever = _retriever(encoder, "hybrid")
    retriever.add_texts(
        ["first version about lava", "second version about libraries"],
        ids=["dup", "dup"],
        metadatas=[{"v": 1}, {"v": 2}],
    )
    (doc,) = retriever.index.get(["dup"])
    assert doc.metadata == {"v": 2} and "second" in (doc.text or "")
    assert len(retriever.index) == 5
    retriever.index.save(tmp_path)
    assert len(LocalSparseIndex.load(tmp_path)) == 5


def test_unknown_ids_on_delete_and_get_are_ignored() -> None:
    index = LocalSparseIndex()
    index.add(["a", "b"], [SparseVector([1], [1.0])] * 2)
    assert index.delete(["nope", "a", "a", "nope"]) == 1
    assert [d.id for d in index.get(["nope", "b", "a"])] == ["b"]
    assert index.delete([]) == 0 and index.get([]) == []
    with pytest.raises(InvalidTypeError):
        index.delete("b")  # a bare string would delete 'b' character by character
    with pytest.raises(InvalidTypeError):
        index.get([1])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "metadata",
    [
        {"when": object()},
        {"tags": {"a", "b"}},
        {"score": float("nan")},
        {"score": float("inf")},
        {"nested": [1, {"x": -math.inf}]},
        {"blob": b"bytes"},
    ],
)
def test_non_json_metadata_is_refused_and_the_batch_stores_nothing(
    metadata: dict[str, Any],
) -> None:
    """NaN/inf were accepted before (``json.dumps`` writes non-standard ``NaN``) and
    would break any strict JSON reader of docs.jsonl, and OpenSearch."""
    index = LocalSparseIndex()
    index.add(["keep"], [SparseVector([1], [1.0])], metadatas=[{"ok": 1}])
    with pytest.raises(InvalidInputError, match="not JSON-serialisable") as info:
        index.add(["good", "bad"], [SparseVector([1], [1.0])] * 2, metadatas=[{"ok": 2}, metadata])
    _assert_helpful(info.value)
    assert index.ids() == ["keep"]


def test_circular_metadata_is_refused() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(InvalidInputError, match="Circular"):
        LocalSparseIndex().add(["a"], [SparseVector([1], [1.0])], metadatas=[loop])


@pytest.mark.parametrize(
    ("indices", "values", "match"),
    [
        ([1], [float("nan")], "NaN or infinite"),
        ([1], [float("inf")], "NaN or infinite"),
        ([1, 2], [1.0, -float("inf")], "NaN or infinite"),
        ([1], [-0.5], "non-positive"),
        ([1], [0.0], "non-positive"),
        ([-1], [1.0], "negative index"),
        ([3, 3], [1.0, 2.0], "more than once"),
    ],
)
def test_bad_user_vectors_are_refused(indices: list[int], values: list[float], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        SparseVector(indices, values)
    _assert_helpful(info.value)
    index = LocalSparseIndex()
    index.add(["keep"], [SparseVector([1], [1.0])])
    with pytest.raises(
        InvalidInputError, match=r"zero, negative or non-finite|increasing|term ids"
    ):
        index.add_csr(["x"], [0, len(indices)], indices, values)
    assert index.ids() == ["keep"]
    with pytest.raises(InvalidTypeError):
        index.add(["y"], [{"indices": indices, "values": values}])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "flt",
    [
        {"year": {"$regex": "20"}},
        {"year": {"$GT": 1}},
        {"$xor": [{"a": 1}]},
        {"$and": {"a": 1}},
        {"year": {"$in": 5}},
        ["not", "a", "mapping"],
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_unknown_filter_operators_raise_filter_error(
    encoder: SpladeEncoder, mode: str, flt: Any
) -> None:
    retriever = _retriever(encoder, mode)
    with pytest.raises(FilterError) as info:
        retriever.invoke("lava", filter=flt)
    _assert_helpful(info.value)
    if isinstance(flt, dict):
        with pytest.raises(FilterError):
            SpladeRetriever(encoder=encoder, index=retriever.index, filter=flt)


def test_index_path_that_is_a_file_or_not_writable(tmp_path: Path) -> None:
    index = LocalSparseIndex()
    index.add(["a"], [SparseVector([1], [1.0])])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InvalidInputError, match="Cannot create") as info:
        index.save(blocker / "below-a-file")
    _assert_helpful(info.value)
    readonly = Path("/proc/self/langchain-splade-index")  # a read-only file system
    with pytest.raises(InvalidInputError):
        index.save(readonly)
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(InvalidInputError, match="not writable"):
            index.save(locked)
    assert blocker.read_text() == "x"


def _data_dir(path: Path) -> Path:
    return path / json.loads((path / "manifest.json").read_text())["data_dir"]


@pytest.mark.parametrize("verify", [True, False])
def test_every_truncation_of_every_file_is_detected(tmp_path: Path, verify: bool) -> None:
    """Each file of a saved index cut to 0, 1, half and all-but-one bytes: every load
    raises CorruptIndexError (sizes are checked even without ``verify``)."""
    index = LocalSparseIndex()
    rng = np.random.default_rng(3)
    index.add(
        [f"d{i}" for i in range(40)],
        [SparseVector(rng.choice(300, 8, replace=False), rng.random(8) + 0.1) for _ in range(40)],
        texts=[f"text {i}" for i in range(40)],
        metadatas=[{"i": i} for i in range(40)],
    )
    index.save(tmp_path / "good")
    cases = 0
    for file in sorted(_data_dir(tmp_path / "good").iterdir()):
        size = file.stat().st_size
        for cut in sorted({0, 1, size // 2, size - 1}):
            target = tmp_path / f"cut-{file.name}-{cut}"
            subprocess.run(["cp", "-r", str(tmp_path / "good"), str(target)], check=True)
            victim = _data_dir(target) / file.name
            victim.write_bytes(victim.read_bytes()[:cut])
            with pytest.raises(CorruptIndexError) as info:
                LocalSparseIndex.load(target, verify=verify)
            _assert_helpful(info.value)
            cases += 1
    manifest = tmp_path / "good" / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    with pytest.raises(CorruptIndexError, match="unreadable"):
        LocalSparseIndex.load(tmp_path / "good")
    assert cases >= 30


def test_docs_file_rewritten_with_consistent_size_is_caught_by_the_checksum(
    tmp_path: Path,
) -> None:
    index = LocalSparseIndex()
    index.add(["a", "b"], [SparseVector([1], [1.0])] * 2, texts=["x", "y"])
    index.save(tmp_path)
    docs = _data_dir(tmp_path) / "docs.jsonl"
    docs.write_bytes(docs.read_bytes().replace(b'"a"', b'"b"'))  # same size, duplicate id
    with pytest.raises(CorruptIndexError, match="sha256"):
        LocalSparseIndex.load(tmp_path)
    with pytest.raises(CorruptIndexError, match="repeats a document id"):
        LocalSparseIndex.load(tmp_path, verify=False)


def test_index_from_another_model_or_format_version(encoder: SpladeEncoder, tmp_path: Path) -> None:
    other = LocalSparseIndex()
    other.check_encoder(EncoderFingerprint("other/model", "0123456789abcdef", 30522))
    other.add(["a"], [SparseVector([5], [1.0])])
    other.save(tmp_path / "other-model")
    loaded = LocalSparseIndex.load(tmp_path / "other-model")
    with pytest.raises(IncompatibleIndexError, match="another encoder") as info:
        SpladeRetriever(encoder=encoder, index=loaded)
    _assert_helpful(info.value)

    ours = _retriever(encoder, "sparse")
    ours.index.save(tmp_path / "future")
    manifest_path = tmp_path / "future" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for version in (0, 4, "1", None):
        manifest_path.write_text(json.dumps({**manifest, "format_version": version}))
        with pytest.raises(IncompatibleIndexError, match="format version"):
            LocalSparseIndex.load(tmp_path / "future")
    manifest_path.write_text(json.dumps({**manifest, "format": "someone-else/index"}))
    with pytest.raises(CorruptIndexError):
        LocalSparseIndex.load(tmp_path / "future")


BIG_DOCUMENT = textwrap.dedent(
    """
    import json, resource, sys, time
    from langchain_splade.encoders import SpladeEncoder

    words = ("understanding international administration responsibility environmental "
             "constitutional characteristics representatives communication relationships "
             "establishment investigation").split()
    encoder = SpladeEncoder(device="cpu")
    steps = []
    forward = encoder._max_logits

    def spy(windows):  # records each forward pass; computes exactly as before
        steps.append((len(windows), max(len(w) for w in windows)))
        return forward(windows)

    encoder._max_logits = spy
    # Warm up with one full batch of windows: the peak one forward pass needs.
    encoder.embed_documents([" ".join(words * (encoder.batch_size * 22))])
    steps.clear()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = " ".join(words[(i * 7) % len(words)] for i in range(80_000)) + " volcano"
    text = text[-1_000_000:]
    started = time.monotonic()
    vector = encoder.embed_documents([text])[0]
    print(json.dumps({
        "bytes": len(text.encode()),
        "seconds": time.monotonic() - started,
        "rss_growth_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before,
        "passes": len(steps),
        "max_windows": max(s[0] for s in steps),
        "max_tokens": max(s[1] for s in steps),
        "batch_size": encoder.batch_size,
        "max_length": encoder.max_length,
        "tail_kept": "volcano" in encoder.tokens(vector),
    }))
    """
)


@pytest.mark.slow
def test_one_megabyte_document_is_encoded_in_bounded_steps_and_memory(tmp_path: Path) -> None:
    """A 1 MB document (~65k tokens, ~300 windows) is encoded in forward passes of at most
    ``batch_size`` windows of ``max_length`` tokens; peak RSS grows < 150 MB over the
    peak of ONE full batch (materialising all windows at once would need ~10x)."""
    script = tmp_path / "big.py"
    script.write_text(BIG_DOCUMENT)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["bytes"] == 1_000_000
    assert report["tail_kept"]  # the last word of the megabyte counts
    assert report["max_windows"] <= report["batch_size"]
    assert report["max_tokens"] <= report["max_length"]
    assert report["passes"] >= 8  # really windowed, not truncated
    assert report["rss_growth_mb"] < 150, report
