"""The on-disk format of the local index, and its atomic, checksummed save.

Layout of an index directory::

    DIR/manifest.json          the commit point: format, counts, fingerprint, sha256s
    DIR/data-<hex>/*.npy       plain arrays (np.load(..., allow_pickle=False) reads them)
    DIR/data-<hex>/docs.jsonl  one {"id", "text", "metadata"} object a line
    DIR/data-<hex>/lexicon.json  the BM25 field's terms, in term-id order
    DIR/.lock                  OS-locked by a writer (``locking``)

Why this shape: a save writes a complete new ``data-*`` directory, fsyncs it, then
atomically replaces ``manifest.json`` (``os.replace``) to point at it; only then are
older data directories removed. A ``kill -9`` at any moment therefore leaves either
the old or the new manifest, each naming complete files whose sha256 it records, so
loading never sees a half-written index, and a torn or edited file is reported as
:class:`CorruptIndexError` rather than returning wrong results. No pickle anywhere:
loading an index cannot execute code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from langchain_splade.errors import (
    CorruptIndexError,
    IncompatibleIndexError,
    IndexNotFoundError,
    InvalidInputError,
)
from langchain_splade.stores.local.layout import BlockMax, ForwardStore, Postings
from langchain_splade.stores.local.lexical import LexicalPostings, LexicalSegment, row_sums
from langchain_splade.stores.local.locking import WriteLock
from langchain_splade.types import EncoderFingerprint

FORMAT_NAME = "langchain-splade/local-index"
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
"""Version 2 adds the block bounds (``bm_*.npy``), version 3 the BM25 field
(``lex_*.npy`` and ``lexicon.json``); an older index gets them computed at load."""
MANIFEST = "manifest.json"
DOCS_FILE = "docs.jsonl"
LEXICON_FILE = "lexicon.json"
DATA_PREFIX = "data-"
TMP_PREFIX = ".tmp-"

ARRAY_DTYPES: dict[str, np.dtype[Any]] = {
    "doc_indptr": np.dtype(np.int64),
    "doc_terms": np.dtype(np.int32),
    "doc_values": np.dtype(np.float32),
    "term_indptr": np.dtype(np.int64),
    "post_docs": np.dtype(np.int32),
    "post_q": np.dtype(np.uint16),
    "term_scale": np.dtype(np.float32),
}

BLOCK_DTYPES: dict[str, np.dtype[Any]] = {
    "bm_indptr": np.dtype(np.int64),
    "bm_block": np.dtype(np.uint16),
    "bm_bound": np.dtype(np.uint8),
    "bm_start": np.dtype(np.uint32),
}


LEXICAL_DTYPES: dict[str, np.dtype[Any]] = {
    "lex_doc_indptr": np.dtype(np.int64),
    "lex_doc_terms": np.dtype(np.int32),
    "lex_doc_tf": np.dtype(np.float32),
    "lex_term_indptr": np.dtype(np.int64),
    "lex_post_rows": np.dtype(np.int32),
    "lex_post_tf": np.dtype(np.float32),
}


@dataclass(frozen=True)
class Lexical:
    """The saved BM25 field: its base segment, its lexicon and how texts were
    tokenized (``settings``; a field saved with other settings is rebuilt at load)."""

    segment: LexicalSegment
    words: list[str]
    settings: dict[str, Any]


@dataclass(frozen=True)
class IndexData:
    """Everything a saved index holds (live documents only, rows 0..n-1)."""

    forward: ForwardStore
    postings: Postings
    blockmax: BlockMax | None
    ids: list[str]
    texts: list[str | None]
    metadatas: list[dict[str, Any]]
    fingerprint: EncoderFingerprint | None
    lexical: Lexical | None = None


# -- writing -------------------------------------------------------------------------


class _HashingWriter:
    """Forwards writes to a file while computing their sha256 (one pass over the data)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.size += view.nbytes
        return self._handle.write(view)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, write: Any) -> dict[str, Any]:
    with open(path, "wb") as handle:
        writer = _HashingWriter(handle)
        write(writer)
        handle.flush()
        os.fsync(handle.fileno())
    return {"sha256": writer.sha256.hexdigest(), "bytes": writer.size}


def _arrays(data: IndexData) -> dict[str, npt.NDArray[Any]]:
    return {
        "doc_indptr": data.forward.indptr,
        "doc_terms": data.forward.terms,
        "doc_values": data.forward.values,
        "term_indptr": data.postings.term_indptr,
        "post_docs": data.postings.post_docs,
        "post_q": data.postings.post_q,
        "term_scale": data.postings.term_scale,
    }


def _block_arrays(blockmax: BlockMax) -> dict[str, npt.NDArray[Any]]:
    return {
        "bm_indptr": blockmax.bm_indptr,
        "bm_block": blockmax.bm_block,
        "bm_bound": blockmax.bm_bound,
        "bm_start": blockmax.bm_start,
    }


def _lexical_arrays(segment: LexicalSegment) -> dict[str, npt.NDArray[Any]]:
    return {
        "lex_doc_indptr": segment.forward.indptr,
        "lex_doc_terms": segment.forward.terms,
        "lex_doc_tf": segment.forward.values,
        "lex_term_indptr": segment.postings.term_indptr,
        "lex_post_rows": segment.postings.rows,
        "lex_post_tf": segment.postings.tf,
    }


def prepare_directory(directory: Path) -> None:
    """Create ``directory`` if needed; clear errors for a file path or no permission."""
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(
            f"Cannot save an index to {directory}: it is a file.",
            expected="a directory path (existing or not)",
            fix="choose another path or remove the file",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot create the index directory {directory} ({exc.strerror}).",
            expected="a writable directory",
            fix="check the path and its permissions",
        ) from exc
    if not os.access(directory, os.W_OK):
        raise InvalidInputError(
            f"The index directory {directory} is not writable.",
            expected="a writable directory",
            fix="check its permissions or save elsewhere",
        )


def write_index(directory: Path, data: IndexData, lock: WriteLock | None = None) -> None:
    """Atomically replace the index at ``directory`` with ``data`` (see module doc)."""
    directory = Path(directory)
    prepare_directory(directory)
    own_lock = lock is None
    lock = lock or WriteLock(directory)
    lock.acquire()
    try:
        _write_locked(directory, data)
    finally:
        if own_lock:
            lock.release()


def _write_locked(directory: Path, data: IndexData) -> None:
    token = uuid.uuid4().hex
    tmp = directory / f"{TMP_PREFIX}{token}"
    tmp.mkdir()
    files: dict[str, dict[str, Any]] = {}
    arrays = _arrays(data)
    if data.blockmax is not None:
        arrays.update(_block_arrays(data.blockmax))
    if data.lexical is not None:
        arrays.update(_lexical_arrays(data.lexical.segment))
    dtypes = {**ARRAY_DTYPES, **BLOCK_DTYPES, **LEXICAL_DTYPES}
    try:
        for name, array in arrays.items():
            array = np.ascontiguousarray(array, dtype=dtypes[name])
            files[f"{name}.npy"] = _write_file(
                tmp / f"{name}.npy",
                lambda w, a=array: np.lib.format.write_array(w, a, allow_pickle=False),
            )
        files[DOCS_FILE] = _write_file(tmp / DOCS_FILE, lambda w: _write_docs(w, data))
        if data.lexical is not None:
            words = json.dumps(data.lexical.words, ensure_ascii=False).encode("utf-8")
            files[LEXICON_FILE] = _write_file(tmp / LEXICON_FILE, lambda w: w.write(words))
        _fsync_dir(tmp)
        final = directory / f"{DATA_PREFIX}{token}"
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(directory)
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "data_dir": final.name,
        "fingerprint": data.fingerprint.to_json() if data.fingerprint else None,
        "counts": {
            "documents": len(data.ids),
            "postings": data.postings.nnz,
            "vocab_size": data.postings.vocab_size,
        },
        "block_rows": data.blockmax.block_rows if data.blockmax is not None else None,
        "postings_encoding": "int32 doc row + uint16 code * float32 per-term scale",
        "bm25": data.lexical.settings if data.lexical is not None else None,
        "files": files,
    }
    manifest_tmp = directory / f"{MANIFEST}.{token}.tmp"
    _write_file(manifest_tmp, lambda w: w.write(json.dumps(manifest, indent=2).encode()))
    os.replace(manifest_tmp, directory / MANIFEST)  # the commit point
    _fsync_dir(directory)
    _remove_stale(directory, keep=final.name)


def _write_docs(writer: _HashingWriter, data: IndexData) -> None:
    lines = []
    for doc_id, text, metadata in zip(data.ids, data.texts, data.metadatas, strict=True):
        lines.append(json.dumps({"id": doc_id, "text": text, "metadata": metadata}))
        if len(lines) >= 4096:
            writer.write(("\n".join(lines) + "\n").encode("utf-8"))
            lines = []
    if lines:
        writer.write(("\n".join(lines) + "\n").encode("utf-8"))


def _remove_stale(directory: Path, keep: str) -> None:
    """Best effort: older data directories, interrupted temp dirs and manifests."""
    for entry in directory.iterdir():
        stale_data = entry.name.startswith(DATA_PREFIX) and entry.name != keep
        if stale_data or entry.name.startswith(TMP_PREFIX):
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(f"{MANIFEST}.") and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)


# -- reading -------------------------------------------------------------------------


def _corrupt(directory: Path, what: str) -> CorruptIndexError:
    return CorruptIndexError(
        f"The index at {directory} is damaged: {what}.",
        expected="files matching the sizes and sha256 checksums in manifest.json",
        fix="restore the directory from a backup or rebuild the index from its documents",
    )


def read_manifest(directory: Path) -> dict[str, Any]:
    """The parsed, version-checked manifest of the index at ``directory``."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise IndexNotFoundError(
            f"No index found at {directory} (no {MANIFEST}).",
            expected="a directory written by LocalSparseIndex.save",
            fix="check the path, or build the index first (index.save(path))",
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _corrupt(directory, f"{MANIFEST} is unreadable ({exc})") from exc
    if not isinstance(manifest, Mapping) or manifest.get("format") != FORMAT_NAME:
        raise _corrupt(directory, f"{MANIFEST} does not describe a {FORMAT_NAME}")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise IncompatibleIndexError(
            f"The index at {directory} has format version {version!r}.",
            expected=f"format version {' or '.join(map(str, READABLE_VERSIONS))}",
            fix="upgrade langchain-splade to read it, or rebuild the index with this version",
        )
    return dict(manifest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_files(directory: Path, data_dir: Path, files: Mapping[str, Any], verify: bool) -> None:
    required = {f"{name}.npy" for name in ARRAY_DTYPES} | {DOCS_FILE}
    blocks = {f"{name}.npy" for name in BLOCK_DTYPES}
    lexical = {f"{name}.npy" for name in LEXICAL_DTYPES} | {LEXICON_FILE}
    extra = set(files) - required
    if not required <= set(files) or extra not in (set(), blocks, lexical, blocks | lexical):
        raise _corrupt(directory, f"the manifest lists files {sorted(files)}")
    for name, info in files.items():
        path = data_dir / name
        if not path.is_file():
            raise _corrupt(directory, f"{data_dir.name}/{name} is missing")
        size = path.stat().st_size
        if size != info.get("bytes"):
            raise _corrupt(
                directory,
                f"{data_dir.name}/{name} has {size} bytes, the manifest says {info.get('bytes')}",
            )
        if verify and _sha256(path) != info.get("sha256"):
            raise _corrupt(directory, f"{data_dir.name}/{name} fails its sha256 checksum")


def read_index(directory: Path, mmap: bool = True, verify: bool = True) -> IndexData:
    """Load the index at ``directory`` (arrays memory-mapped read-only if ``mmap``)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    data_dir = _data_dir(directory, manifest.get("data_dir"))
    files = manifest.get("files")
    if not isinstance(files, Mapping):
        raise _corrupt(directory, f"{MANIFEST} lacks its file list")
    _check_files(directory, data_dir, files, verify)
    dtypes = dict(ARRAY_DTYPES)
    if f"{next(iter(BLOCK_DTYPES))}.npy" in files:
        dtypes.update(BLOCK_DTYPES)
    if LEXICON_FILE in files:
        dtypes.update(LEXICAL_DTYPES)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, dtype in dtypes.items():
        try:
            array = np.load(
                data_dir / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False
            )
        except (OSError, ValueError) as exc:
            raise _corrupt(directory, f"{name}.npy is unreadable ({exc})") from exc
        if array.dtype != dtype or array.ndim != 1:
            raise _corrupt(directory, f"{name}.npy has dtype {array.dtype}, shape {array.shape}")
        arrays[name] = array
    ids, texts, metadatas = _read_docs(directory, data_dir / DOCS_FILE)
    forward = ForwardStore(arrays["doc_indptr"], arrays["doc_terms"], arrays["doc_values"])
    postings = Postings(
        arrays["term_indptr"], arrays["post_docs"], arrays["post_q"], arrays["term_scale"]
    )
    _check_shapes(directory, forward, postings, len(ids))
    blockmax = _blockmax(directory, manifest, arrays, postings, forward.n_rows)
    fingerprint = manifest.get("fingerprint")
    return IndexData(
        forward=forward,
        postings=postings,
        blockmax=blockmax,
        ids=ids,
        texts=texts,
        metadatas=metadatas,
        fingerprint=EncoderFingerprint.from_json(fingerprint) if fingerprint else None,
        lexical=_lexical(directory, manifest, arrays, data_dir, len(ids)),
    )


def _lexical(
    directory: Path,
    manifest: Mapping[str, Any],
    arrays: Mapping[str, npt.NDArray[Any]],
    data_dir: Path,
    n_docs: int,
) -> Lexical | None:
    """The saved BM25 field after shape checks, or None (formats 1 and 2: none saved)."""
    if "lex_doc_indptr" not in arrays:
        return None
    settings = manifest.get("bm25")
    try:
        words = json.loads((data_dir / LEXICON_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _corrupt(directory, f"{LEXICON_FILE} is unreadable ({exc})") from exc
    if not isinstance(settings, dict) or not isinstance(words, list):
        raise _corrupt(directory, "the BM25 field's settings or lexicon are malformed")
    forward = ForwardStore(arrays["lex_doc_indptr"], arrays["lex_doc_terms"], arrays["lex_doc_tf"])
    postings = LexicalPostings(
        arrays["lex_term_indptr"], arrays["lex_post_rows"], arrays["lex_post_tf"]
    )
    ok = (
        forward.indptr.shape[0] == n_docs + 1
        and int(forward.indptr[0]) == 0
        and forward.nnz == forward.terms.shape[0] == forward.values.shape[0] == postings.nnz
        and postings.vocab_size == len(words)
        and int(postings.term_indptr[-1]) == postings.nnz == postings.tf.shape[0]
        and (
            forward.nnz == 0
            or 0 <= int(forward.terms.min()) <= int(forward.terms.max()) < len(words)
        )
        and (
            postings.nnz == 0 or 0 <= int(postings.rows.min()) <= int(postings.rows.max()) < n_docs
        )
    )
    if not ok:
        raise _corrupt(directory, "the BM25 field does not match the documents")
    return Lexical(LexicalSegment(forward, postings, row_sums(forward)), words, settings)


def _data_dir(directory: Path, name: Any) -> Path:
    """The manifest's data directory: a plain ``data-*`` name inside ``directory``.

    A manifest is read from disk and may come from anyone: a name with a path
    separator or ``..`` (``../../elsewhere/data-x``) would make loading read files
    outside the index, so it is rejected as corrupt.
    """
    text = name if isinstance(name, str) else ""
    pure = Path(text)
    if (
        not text.startswith(DATA_PREFIX)
        or pure.name != text
        or "/" in text
        or "\\" in text
        or pure.is_absolute()
    ):
        raise _corrupt(directory, f"{MANIFEST} names the data directory {name!r}")
    path = directory / text
    try:
        inside = path.resolve().parent == directory.resolve()
    except OSError:
        inside = False
    if not inside:
        raise _corrupt(directory, f"{MANIFEST} names a data directory outside the index")
    return path


def _blockmax(
    directory: Path,
    manifest: Mapping[str, Any],
    arrays: Mapping[str, npt.NDArray[Any]],
    postings: Postings,
    n_rows: int,
) -> BlockMax | None:
    """The saved block bounds after shape checks, or None (format 1: none saved)."""
    if "bm_indptr" not in arrays:
        return None
    block_rows = manifest.get("block_rows")
    if isinstance(block_rows, bool) or not isinstance(block_rows, int) or block_rows < 1:
        raise _corrupt(directory, f"block_rows is {block_rows!r}")
    blockmax = BlockMax(
        block_rows, arrays["bm_indptr"], arrays["bm_block"], arrays["bm_bound"], arrays["bm_start"]
    )
    n_blocks = (n_rows + block_rows - 1) // block_rows
    ok = (
        blockmax.bm_indptr.shape[0] == postings.vocab_size + 1
        and int(blockmax.bm_indptr[-1]) == blockmax.n_entries == blockmax.bm_bound.shape[0]
        and blockmax.bm_start.shape[0] == blockmax.n_entries
        and (blockmax.n_entries == 0 or int(np.max(blockmax.bm_block)) < max(n_blocks, 1))
    )
    if not ok:
        raise _corrupt(directory, "the block bounds do not match the postings")
    return blockmax


def _read_docs(
    directory: Path, path: Path
) -> tuple[list[str], list[str | None], list[dict[str, Any]]]:
    ids: list[str] = []
    texts: list[str | None] = []
    metadatas: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
                doc_id, text, metadata = record["id"], record["text"], record["metadata"]
            except (ValueError, KeyError, TypeError) as exc:
                raise _corrupt(directory, f"{DOCS_FILE} line {number} is invalid") from exc
            ids.append(doc_id)
            texts.append(text)
            metadatas.append(metadata)
    if len(set(ids)) != len(ids):
        raise _corrupt(directory, f"{DOCS_FILE} repeats a document id")
    return ids, texts, metadatas


def _check_shapes(directory: Path, forward: ForwardStore, postings: Postings, n_docs: int) -> None:
    problems: Sequence[tuple[bool, str]] = (
        (forward.indptr.shape[0] == n_docs + 1, "doc_indptr does not match the document count"),
        (forward.indptr.shape[0] == 0 or int(forward.indptr[0]) == 0, "doc_indptr[0] != 0"),
        (forward.nnz == forward.terms.shape[0] == forward.values.shape[0], "forward sizes"),
        (postings.term_indptr.shape[0] == postings.term_scale.shape[0] + 1, "vocabulary sizes"),
        (
            int(postings.term_indptr[-1]) == postings.nnz == postings.post_q.shape[0],
            "posting sizes",
        ),
        (postings.nnz == forward.nnz, "postings and documents disagree"),
    )
    for ok, what in problems:
        if not ok:
            raise _corrupt(directory, what)
