"""Encode a BEIR dataset's documents window by window, once, and cache the vectors.

Every long-document strategy (truncation, max-pool, decayed max, right-aligned last
window, MaxP) is arithmetic on the activated SPLADE vector of each window, so the
benchmarks encode each window once and derive the strategies from the cache:

    <cache>/<dataset>/windows-<max_length>.npz
        doc_ids            (docs,) str
        query_ids          (queries,) str
        win_indptr, win_indices, win_data   CSR of one vector per window (float32)
        win_owner          (windows,) int32 document row of each window
        win_position       (windows,) int32 0, 1, ... within its document, in order
        win_aligned_last   (windows,) bool  the extra right-aligned last window of a
                                            multi-window document (not a tokenizer window)
        q_indptr, q_indices, q_data         CSR of the query vectors
        info               JSON: model, max_length, overlap, encode seconds

It also writes the truncation vectors (each document's first window) in the shared
format other benchmarks read, ``/work/cache/vectors/<dataset>/truncate-<L>.npz``:
``doc_ids, query_ids, doc_indptr, doc_indices, doc_data, query_indptr,
query_indices, query_data`` (CSR, float32 weights, int32 term ids of the bundled
splade-tiny vocabulary) and ``info`` (JSON).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from langchain_splade.encoders import pooling
from langchain_splade.encoders.windows import special_affixes, window_spans
from langchain_splade.evaluation import BeirDataset

logger = logging.getLogger("window_cache")

CACHE = Path("/work/cache/quality")
SHARED_VECTORS = Path("/work/cache/vectors")
# Truncation vectors the search-at-scale benchmarks encode; reused when they match ours.
REUSE = Path("/work/cache/local")
Arrays = dict[str, np.ndarray]


def _csr(rows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(i) for i, _ in rows])
    indices = np.concatenate([i for i, _ in rows] or [np.zeros(0)]).astype(np.int32)
    data = np.concatenate([v for _, v in rows] or [np.zeros(0)]).astype(np.float32)
    return indptr, indices, data


def _windows(
    data: BeirDataset, encoder: Any
) -> tuple[list[list[int]], list[int], list[int], list[bool]]:
    """Tokenizer windows of every document plus a right-aligned last window for each
    multi-window one; checked against the encoder's own windowing."""
    tokenizer = encoder._tokenizer
    size = encoder.max_length - encoder._specials_per_window
    ids = tokenizer(data.doc_texts, add_special_tokens=False, verbose=False)["input_ids"]
    probe = tokenizer("a")["input_ids"]
    prefix, suffix = special_affixes(probe, tokenizer("a", add_special_tokens=False)["input_ids"])
    windows, owners, positions, aligned = [], [], [], []
    for row, tokens in enumerate(ids):
        spans = window_spans(len(tokens), size, encoder.window_overlap)
        for k, (start, end) in enumerate(spans):
            windows.append([*prefix, *tokens[start:end], *suffix])
            owners.append(row)
            positions.append(k)
            aligned.append(False)
        if len(spans) > 1:
            start, end = window_spans(len(tokens), size, encoder.window_overlap, align_last=True)[
                -1
            ]
            windows.append([*prefix, *tokens[start:end], *suffix])
            owners.append(row)
            positions.append(len(spans) - 1)
            aligned.append(True)
    reference, ref_owners = encoder._windows(data.doc_texts, True)
    plain = [w for w, a in zip(windows, aligned) if not a]
    if plain != [list(w) for w in reference] or [
        o for o, a in zip(owners, aligned) if not a
    ] != list(ref_owners):
        raise RuntimeError("window_spans disagrees with the encoder's tokenizer windows")
    return windows, owners, positions, aligned


def _encode_windows(
    encoder: Any, windows: list[list[int]], label: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    rows: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(windows)
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    special = encoder._special_ids
    batch = encoder.batch_size
    start_time = time.perf_counter()
    with torch.inference_mode():
        for offset in range(0, len(order), batch):
            chosen = order[offset : offset + batch]
            logits = encoder._max_logits([windows[i] for i in chosen]).float()
            logits[:, special] = -torch.inf
            weights = pooling.splade_activation(logits)
            for row, i in enumerate(chosen):
                if len(windows[i]) <= encoder._specials_per_window:  # no content: no terms
                    rows[i] = (np.zeros(0, np.int32), np.zeros(0, np.float32))
                    continue
                nz = torch.nonzero(weights[row]).flatten()
                rows[i] = (nz.numpy().astype(np.int32), weights[row, nz].numpy())
            done = offset + len(chosen)
            if (offset // batch) % 20 == 0 or done == len(order):
                rate = done / (time.perf_counter() - start_time)
                logger.info("%s: %d/%d windows (%.1f/s)", label, done, len(order), rate)
    return [r for r in rows if r is not None]


def _reuse_first_windows(
    data: BeirDataset, encoder: Any, first: list[list[int]]
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Truncation vectors another benchmark already encoded (``REUSE``), used only when
    they cover this corpus and equal our own encoding on a sample of documents."""
    path = REUSE / f"{data.name}-truncate-256.npz"
    if encoder.max_length != 256 or not path.exists():
        return None
    with np.load(path, allow_pickle=False) as arrays:
        indptr, terms, values = arrays["doc_indptr"], arrays["doc_terms"], arrays["doc_values"]
    if len(indptr) != len(first) + 1:
        return None
    rows = [
        (terms[indptr[i] : indptr[i + 1]], values[indptr[i] : indptr[i + 1]])
        for i in range(len(first))
    ]
    sample = np.random.default_rng(0).choice(len(first), size=min(16, len(first)), replace=False)
    for i, mine in zip(sample, _encode_windows(encoder, [first[i] for i in sample], "check")):
        theirs = rows[i]
        if not (
            np.array_equal(np.sort(mine[0]), np.sort(theirs[0]))
            and np.allclose(
                mine[1][np.argsort(mine[0])], theirs[1][np.argsort(theirs[0])], atol=1e-4
            )
        ):
            logger.warning("%s: %s differs from our encoding; not reused", data.name, path)
            return None
    logger.info(
        "%s: first windows reused from %s (sample of %d checked)", data.name, path, len(sample)
    )
    return rows


def load_or_encode(data: BeirDataset, encoder: Any, cache: Path = CACHE) -> Arrays:
    """The window cache of ``data`` (see module notes), encoding it on first use."""
    path = cache / data.name / f"windows-{encoder.max_length}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as arrays:
            return dict(arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    windows, owners, positions, aligned = _windows(data, encoder)
    logger.info("%s: %d docs, %d windows", data.name, len(data.doc_ids), len(windows))
    start = time.perf_counter()
    first = [i for i, k in enumerate(positions) if k == 0 and not aligned[i]]
    later = [i for i, k in enumerate(positions) if k > 0 or aligned[i]]
    rows: list[tuple[np.ndarray, np.ndarray]] = [
        (np.zeros(0, np.int32), np.zeros(0, np.float32))
    ] * len(windows)
    for i, row in zip(later, _encode_windows(encoder, [windows[i] for i in later], data.name)):
        rows[i] = row
    reused = _reuse_first_windows(data, encoder, [windows[i] for i in first])
    encoded = (
        reused
        if reused is not None
        else _encode_windows(encoder, [windows[i] for i in first], data.name)
    )
    for i, row in zip(first, encoded):
        rows[i] = row
    seconds = time.perf_counter() - start
    qids = list(data.queries)
    queries = encoder.embed_queries([data.queries[q] for q in qids])
    w_indptr, w_indices, w_data = _csr(rows)
    q_indptr, q_indices, q_data = _csr([(q.indices, q.values) for q in queries])
    info = {
        "model": encoder.model_name,
        "max_length": encoder.max_length,
        "overlap": encoder.window_overlap,
        "vocab_size": encoder.vocab_size,
        "encode_s": seconds,
        "windows": len(windows),
    }
    arrays: Arrays = {
        "doc_ids": np.array(data.doc_ids),
        "query_ids": np.array(qids),
        "win_indptr": w_indptr,
        "win_indices": w_indices,
        "win_data": w_data,
        "win_owner": np.array(owners, dtype=np.int32),
        "win_position": np.array(positions, dtype=np.int32),
        "win_aligned_last": np.array(aligned, dtype=bool),
        "q_indptr": q_indptr,
        "q_indices": q_indices,
        "q_data": q_data,
        "info": np.array(json.dumps(info)),
    }
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)
    write_truncation(data.name, arrays)
    return arrays


def write_truncation(name: str, arrays: Arrays, root: Path = SHARED_VECTORS) -> Path:
    """Each document's first window (== ``long_documents="truncate"``) in the shared format."""
    first = np.flatnonzero((arrays["win_position"] == 0) & ~arrays["win_aligned_last"])
    indptr = arrays["win_indptr"]
    rows = [
        (
            arrays["win_indices"][indptr[i] : indptr[i + 1]],
            arrays["win_data"][indptr[i] : indptr[i + 1]],
        )
        for i in first
    ]
    d_indptr, d_indices, d_data = _csr(rows)
    info = json.loads(str(arrays["info"]))
    info["long_documents"] = "truncate"
    info["format"] = "CSR: doc_* rows align with doc_ids, query_* rows with query_ids"
    path = root / name / f"truncate-{info['max_length']}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(
        tmp,
        doc_ids=arrays["doc_ids"],
        query_ids=arrays["query_ids"],
        doc_indptr=d_indptr,
        doc_indices=d_indices,
        doc_data=d_data,
        query_indptr=arrays["q_indptr"],
        query_indices=arrays["q_indices"],
        query_data=arrays["q_data"],
        info=np.array(json.dumps(info)),
    )
    tmp.replace(path)
    logger.info("wrote %s", path)
    return path


def main() -> None:
    import argparse

    from langchain_splade.encoders import SpladeEncoder
    from langchain_splade.evaluation import load_beir

    parser = argparse.ArgumentParser(description="Fill the per-window vector cache.")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--datasets", nargs="+", default=["msmarco-5k", "dbpedia-5k", "nfcorpus"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    encoder = SpladeEncoder(device="cpu", max_length=256, long_documents="window")
    for name in args.datasets:
        load_or_encode(load_beir(args.data_dir / name), encoder)


if __name__ == "__main__":
    main()


class LazyEncoder:
    """The encoder, loaded only if a dataset's windows are not cached yet."""

    max_length = 256  # names the cache file; no model needed for that

    def __init__(self, make: Any) -> None:
        self._make, self._encoder = make, None

    def __getattr__(self, name: str) -> Any:
        if self._encoder is None:
            self._encoder = self._make()
        return getattr(self._encoder, name)


# -- documents from windows, and exact SPLADE runs ---------------------------------------


def window_matrix(arrays: Arrays) -> Any:
    """All window vectors as a scipy CSR matrix ``(windows, vocab)``."""
    import scipy.sparse as sp

    vocab = int(json.loads(str(arrays["info"]))["vocab_size"])
    return sp.csr_matrix(
        (arrays["win_data"], arrays["win_indices"], arrays["win_indptr"]),
        shape=(len(arrays["win_owner"]), vocab),
    )


def query_matrix(arrays: Arrays) -> Any:
    import scipy.sparse as sp

    vocab = int(json.loads(str(arrays["info"]))["vocab_size"])
    return sp.csr_matrix(
        (arrays["q_data"], arrays["q_indices"], arrays["q_indptr"]),
        shape=(len(arrays["query_ids"]), vocab),
    )


def top_runs(
    scores: np.ndarray, doc_ids: np.ndarray, query_ids: np.ndarray, depth: int
) -> dict[str, list[tuple[str, float]]]:
    """Top-``depth`` ``(id, score)`` per query row of a dense score matrix; zero scores
    (no shared term) are not hits, as in the index; ties by id ascending."""
    runs = {}
    for row, qid in enumerate(query_ids):
        s = scores[row]
        nz = np.flatnonzero(s > 0)
        if nz.size > depth:
            kth = np.partition(s[nz], nz.size - depth)[nz.size - depth]
            nz = nz[s[nz] >= kth]
        order = np.lexsort((doc_ids[nz], -s[nz]))[:depth]
        runs[str(qid)] = [(str(doc_ids[i]), float(s[i])) for i in nz[order]]
    return runs
