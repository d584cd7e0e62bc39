"""LocalSparseIndex on disk: round trips, corruption, locking and crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from langchain_splade.errors import (
    CorruptIndexError,
    IncompatibleIndexError,
    IndexLockedError,
    IndexNotFoundError,
    InvalidInputError,
)
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.stores.local.locking import WriteLock
from langchain_splade.types import EncoderFingerprint, SparseVector

FP = EncoderFingerprint(model_name="m", vocab_hash="abc", vocab_size=400, settings={"q": 1})


def random_vector(rng: np.random.Generator, terms: int = 20) -> SparseVector:
    idx = rng.choice(300, size=int(rng.integers(0, terms)), replace=False)
    return SparseVector(idx, rng.random(idx.size).astype(np.float32) * 3 + 0.01)


def build(n: int = 200, seed: int = 0) -> LocalSparseIndex:
    rng = np.random.default_rng(seed)
    index = LocalSparseIndex()
    index.check_encoder(FP)
    index.add(
        [f"d{i}" for i in range(n)],
        [random_vector(rng) for _ in range(n)],
        texts=[f"text {i} \u00e9" if i % 7 else None for i in range(n)],
        metadatas=[{"g": i % 3, "tags": ["x", i]} for i in range(n)],
    )
    index.delete(["d3", "d4"])
    return index


def snapshot(index: LocalSparseIndex, seed: int = 1) -> list[Any]:
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(10):
        query = random_vector(rng, terms=40)
        for flt in (None, {"g": 1}):
            hits = index.search(query, k=8, filter=flt)
            results.append([(h.id, h.score, h.text, h.metadata, h.vector) for h in hits])
    docs = index.get(sorted(index.ids()))
    results.append([(d.id, d.vector, d.text, d.metadata) for d in docs])
    return results


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip_is_exact(tmp_path: Path, mmap: bool) -> None:
    index = build()
    index.save(tmp_path / "idx")
    loaded = LocalSparseIndex.load(tmp_path / "idx", mmap=mmap)
    assert len(loaded) == len(index) == 198
    assert loaded.fingerprint == FP
    assert snapshot(loaded) == snapshot(index)
    assert loaded.stats()["memory_mapped"] is mmap
    if mmap:
        assert isinstance(loaded._snap.base.postings.post_docs, np.memmap)


def test_loaded_index_accepts_writes_and_resaves_in_place(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    build().save(path)
    loaded = LocalSparseIndex.load(path, mmap=True)
    loaded.add(["new"], [SparseVector([1, 2], [5.0, 5.0])], metadatas=[{"g": 9}])
    loaded.add(["d0"], [SparseVector([7], [1.0])])
    loaded.delete(["d1"])
    expected = snapshot(loaded)
    loaded.save(path)  # overwrites the files it is memory-mapped from
    again = LocalSparseIndex.load(path)
    assert snapshot(again) == expected
    assert len(again) == 198
    assert sorted(p.name for p in path.iterdir() if p.name.startswith("data-")).__len__() == 1


def test_manifest_records_format_counts_and_checksums(tmp_path: Path) -> None:
    build().save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format_version"] == 3
    assert manifest["block_rows"] == 64
    assert {"lex_doc_indptr.npy", "lex_post_rows.npy", "lexicon.json"} <= set(manifest["files"])
    assert manifest["bm25"]["k1"] == 0.9
    block_files = {"bm_indptr.npy", "bm_block.npy", "bm_bound.npy", "bm_start.npy"}
    assert block_files <= set(manifest["files"])
    assert manifest["counts"]["documents"] == 198
    assert manifest["fingerprint"]["model_name"] == "m"
    assert all(len(info["sha256"]) == 64 for info in manifest["files"].values())
    data_dir = tmp_path / manifest["data_dir"]
    assert not any(p.suffix == ".pkl" for p in data_dir.iterdir())
    np.load(data_dir / "post_docs.npy", allow_pickle=False)


def _data_dir(path: Path) -> Path:
    return path / json.loads((path / "manifest.json").read_text())["data_dir"]


@pytest.mark.parametrize("name", ["post_docs.npy", "doc_values.npy", "docs.jsonl"])
def test_flipped_byte_is_detected(tmp_path: Path, name: str) -> None:
    build().save(tmp_path)
    target = _data_dir(tmp_path) / name
    raw = bytearray(target.read_bytes())
    raw[-3] ^= 0x01
    target.write_bytes(bytes(raw))
    with pytest.raises(CorruptIndexError, match=f"{name} fails its sha256"):
        LocalSparseIndex.load(tmp_path)
    if name.endswith(".npy"):
        LocalSparseIndex.load(tmp_path, verify=False)  # sizes still match: the user opted out


def test_truncated_or_missing_file_is_detected_without_verify(tmp_path: Path) -> None:
    build().save(tmp_path)
    target = _data_dir(tmp_path) / "post_q.npy"
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(CorruptIndexError, match="bytes"):
        LocalSparseIndex.load(tmp_path, verify=False)
    target.unlink()
    with pytest.raises(CorruptIndexError, match="missing"):
        LocalSparseIndex.load(tmp_path, verify=False)


def test_bad_manifests(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError):
        LocalSparseIndex.load(tmp_path / "nothing")
    build().save(tmp_path)
    manifest_path = tmp_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(IncompatibleIndexError, match="format version 99"):
        LocalSparseIndex.load(tmp_path)
    manifest_path.write_text("{not json")
    with pytest.raises(CorruptIndexError, match="unreadable"):
        LocalSparseIndex.load(tmp_path)


@pytest.mark.parametrize(
    "data_dir",
    ["../elsewhere/data-x", "../../elsewhere/data-x", "data-x/../../elsewhere", "/tmp/data-x", ""],
)
def test_manifest_naming_a_folder_outside_the_index_is_corrupt(
    tmp_path: Path, data_dir: str
) -> None:
    """Loading someone else's index must never read files outside its folder."""
    build().save(tmp_path / "idx")
    outside = tmp_path / "elsewhere" / "data-x"
    outside.parent.mkdir()
    real = _data_dir(tmp_path / "idx")
    real.rename(outside)  # a complete, valid data folder, but outside the index
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "data_dir": data_dir}))
    with pytest.raises(CorruptIndexError, match="data directory"):
        LocalSparseIndex.load(tmp_path / "idx")


def test_format_1_index_loads_and_gets_block_bounds(tmp_path: Path) -> None:
    """An index saved before block bounds existed loads, and searches exactly."""
    index = build()
    index.save(tmp_path)
    expected = snapshot(index)
    manifest_path = tmp_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name in ("bm_indptr.npy", "bm_block.npy", "bm_bound.npy", "bm_start.npy"):
        (_data_dir(tmp_path) / name).unlink()
        del manifest["files"][name]
    del manifest["block_rows"]
    manifest_path.write_text(json.dumps({**manifest, "format_version": 1}))
    loaded = LocalSparseIndex.load(tmp_path)
    assert loaded._snap.base.blockmax is not None
    assert snapshot(loaded) == expected


def test_save_to_a_file_path_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InvalidInputError, match="it is a file"):
        build().save(target)


def test_loaded_index_keeps_encoder_check(tmp_path: Path) -> None:
    build().save(tmp_path)
    loaded = LocalSparseIndex.load(tmp_path)
    loaded.check_encoder(FP)
    with pytest.raises(IncompatibleIndexError):
        loaded.check_encoder(EncoderFingerprint("other", "zzz", 400))


def test_second_writer_gets_lock_error(tmp_path: Path) -> None:
    index = build()
    with WriteLock(tmp_path), pytest.raises(IndexLockedError, match="another writer"):
        index.save(tmp_path)
    index.save(tmp_path)  # released


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from langchain_splade.stores.local.locking import WriteLock\n"
            f"lock = WriteLock({str(tmp_path)!r}); lock.acquire()\n"
            "print('locked', flush=True); time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError, match=f"process {holder.pid}"):
            build().save(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    build().save(tmp_path)  # the kernel released the dead holder's lock


CRASH_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from langchain_splade.stores.local import LocalSparseIndex
    from langchain_splade.types import SparseVector

    path = sys.argv[1]
    index = LocalSparseIndex(kernel="numpy")
    rng = np.random.default_rng(0)
    for generation in range(1, 10_000):
        ids = [f"g{generation}-{i}" for i in range(50)]
        vecs = [SparseVector(rng.choice(2000, 30, replace=False), rng.random(30) + 0.1)
                for _ in ids]
        index.add(ids, vecs, metadatas=[{"generation": generation}] * 50)
        index.save(path)
        print(generation, flush=True)
    """
)


def test_kill_9_during_saves_always_leaves_a_complete_index(tmp_path: Path) -> None:
    """The writer saves generation g with 50 * g documents; after a kill -9 at a random
    moment the index must load with some whole generation, checksums intact."""
    script = tmp_path / "writer.py"
    script.write_text(CRASH_WRITER)
    path = tmp_path / "idx"
    rng = np.random.default_rng(42)
    generations = set()
    trials = 6
    for _trial in range(trials):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one save finished (earlier trials' exists too)
        time.sleep(float(rng.uniform(0.0, 0.4)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        loaded = LocalSparseIndex.load(path, verify=True)
        gens = {doc.metadata["generation"] for doc in loaded.get(loaded.ids())}
        generation = max(gens)
        assert len(loaded) == 50 * generation
        assert gens == set(range(1, generation + 1))
        generations.add(generation)
    assert len(generations) >= 2  # the kills landed at different moments


def test_interrupted_commit_keeps_previous_index(tmp_path: Path, monkeypatch: Any) -> None:
    """Fault injection at the commit point: files written, manifest not yet replaced."""
    from langchain_splade.stores.local import format as fmt

    first = build(50)
    first.save(tmp_path)
    expected = snapshot(first)
    second = build(80, seed=9)

    def crash(*_: Any) -> None:
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(fmt.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        second.save(tmp_path)
    monkeypatch.undo()
    assert snapshot(LocalSparseIndex.load(tmp_path)) == expected
    second.save(tmp_path)  # and the next save cleans up the orphaned files
    kept = ("manifest.json", ".lock", ".lock.owner")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in kept]
    assert len(leftovers) == 1 and leftovers[0].startswith("data-")
    assert len(LocalSparseIndex.load(tmp_path)) == 78


def test_open_holds_the_lock_and_saves_on_clean_exit(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with LocalSparseIndex.open(path) as index:
        index.add(["a"], [SparseVector([1], [1.0])], texts=["hello"])
        with pytest.raises(IndexLockedError):
            LocalSparseIndex.open(path)
        with pytest.raises(IndexLockedError):
            build().save(path)
    reopened = LocalSparseIndex.open(path)
    assert [d.text for d in reopened.get(["a"])] == ["hello"]
    reopened.add(["b"], [SparseVector([2], [1.0])])
    reopened.save()
    reopened.close()
    assert len(LocalSparseIndex.load(path)) == 2
    with pytest.raises(RuntimeError), LocalSparseIndex.open(path) as index:
        index.add(["c"], [SparseVector([3], [1.0])])
        raise RuntimeError("boom")  # a failed block is not saved, and the lock is freed
    assert len(LocalSparseIndex.load(path)) == 2
    LocalSparseIndex.open(path).close()
    with pytest.raises(InvalidInputError, match="needs a path"):
        LocalSparseIndex().save()
