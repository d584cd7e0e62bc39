"""``LocalSparseIndex``: the embedded, zero-infrastructure SPLADE index.

How a search works (why it is exact and fast):

1. Term-at-a-time accumulation over an inverted index (CSC-like flat arrays) with
   ``uint16`` per-term quantised weights: 6 bytes a posting, float32 scores.
2. A size-k min-heap over the touched documents only gives the k-th best
   approximate score; every document that could still beat it once the proven
   error bound is accounted for is a candidate (usually about k of them).
3. Candidates are re-scored exactly (float64 sums of the stored float32 weights)
   and sorted by ``(-score, id)``. So the scores equal ``SparseVector.dot`` up to
   float64 rounding and the ranking is the exact one, ties broken by id.

Writes (``add``/``delete``) go to an append-only delta and a tombstone mask and are
merged into a new base lazily (or by :meth:`LocalSparseIndex.optimize`). Every
write publishes a new immutable snapshot, so searches never take a lock and always
see one committed state, even while another thread writes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_splade.errors import IncompatibleIndexError, InvalidInputError, InvalidTypeError
from langchain_splade.filters import FilterNode, parse_filter
from langchain_splade.stores.local import format as fmt
from langchain_splade.stores.local.filtering import ColumnCache
from langchain_splade.stores.local.kernels import (
    Kernels,
    Ranked,
    ScoreBuffers,
    error_bounds,
    get_kernels,
)
from langchain_splade.stores.local.locking import WriteLock
from langchain_splade.stores.local.segments import ForwardStore, GrowableCSR, Segment, concat
from langchain_splade.types import EncoderFingerprint, SearchHit, SparseVector, StoredDocument
from langchain_splade.validation import check_k

logger = logging.getLogger(__name__)

Filter = Mapping[str, Any]


@dataclass(frozen=True)
class _Snapshot:
    """One committed state. Lists may grow past ``n_rows``; rows below never change."""

    base: Segment
    delta: ForwardStore
    alive: npt.NDArray[np.bool_]
    ids: list[str]
    texts: list[str | None]
    metadatas: list[dict[str, Any]]
    n_live: int
    columns: ColumnCache

    @property
    def n_base(self) -> int:
        return self.base.forward.n_rows

    @property
    def n_rows(self) -> int:
        return int(self.alive.shape[0])


class _BufferPool:
    """Reusable per-search scratch buffers (allocating 8 bytes x N per query would
    page-fault on every search)."""

    def __init__(self) -> None:
        self._free: list[ScoreBuffers] = []
        self._lock = threading.Lock()

    def acquire(self, n_rows: int) -> ScoreBuffers:
        with self._lock:
            while self._free:
                buffers = self._free.pop()
                if buffers.size >= n_rows:
                    return buffers
        return ScoreBuffers(max(n_rows, 1))

    def release(self, buffers: ScoreBuffers) -> None:
        with self._lock:
            self._free.append(buffers)


class LocalSparseIndex:
    """An exact, embedded inverted index of SPLADE vectors with metadata filters.

    Example:
        >>> index = LocalSparseIndex()
        >>> index.add(["a"], [SparseVector([1, 7], [0.5, 1.2])], texts=["hello"])
        ['a']
        >>> [hit.id for hit in index.search(SparseVector([7], [1.0]), k=1)]
        ['a']

    Behaviour worth knowing:
        * ``add`` is an upsert; within one batch, a repeated id keeps its last entry.
        * ``search`` returns only documents sharing at least one term with the query
          (score > 0), like the OpenSearch backend; a filter is applied before the
          top-k, so a filtered search returns ``min(k, matching documents)`` hits.
        * Metadata must be JSON-serialisable; it is stored as its JSON round trip
          (tuples become lists), which is exactly what a save/load gives back.
        * Thread-safe: searches run on immutable snapshots; writes serialise.
        * Persistence: ``save(path)`` / ``load(path, mmap=True)`` for snapshots, or
          ``with LocalSparseIndex.open(path) as index:`` to hold the directory's
          write lock while you write (saved on a clean exit).
        * Memory: 6 bytes a posting in the inverted index (int32 row + uint16
          weight code) plus 8 in the float32 forward store used for exact scores
          and returned vectors (memory-mapped after ``load``); see :meth:`stats`.

    Args:
        kernel: "auto" (numba when installed), "numba" or "numpy".
    """

    def __init__(self, *, kernel: str | None = None) -> None:
        self._kernels: Kernels = get_kernels(kernel)
        self._lock = threading.RLock()
        self._buffers = _BufferPool()
        self._fingerprint: EncoderFingerprint | None = None
        self._merge_min_postings = 50_000
        self._merge_ratio = 0.125
        self._compact_ratio = 0.25
        self._memory_mapped = False
        self._path: Path | None = None
        self._dir_lock: WriteLock | None = None
        self._dirty = False
        self._bm25_lock = threading.Lock()
        self._bm25_cache: tuple[_Snapshot, Any, dict[str, int]] | None = None
        self._reset(_empty_segment(self._kernels), [], [], [])

    # -- state ----------------------------------------------------------------------

    def _reset(
        self,
        base: Segment,
        ids: list[str],
        texts: list[str | None],
        metadatas: list[dict[str, Any]],
    ) -> None:
        """Install a fresh base with all rows live and an empty delta."""
        self._base = base
        self._delta = GrowableCSR()
        self._ids, self._texts, self._metadatas = ids, texts, metadatas
        self._row_of = {doc_id: row for row, doc_id in enumerate(ids)}
        self._alive = np.ones(len(ids), dtype=bool)
        self._publish()

    def _publish(self) -> None:
        n_rows = int(self._alive.shape[0])
        self._snap = _Snapshot(
            base=self._base,
            delta=self._delta.view(),
            alive=self._alive,
            ids=self._ids,
            texts=self._texts,
            metadatas=self._metadatas,
            n_live=len(self._row_of),
            columns=ColumnCache(self._metadatas, n_rows),
        )

    def _needs_merge(self, snap: _Snapshot) -> bool:
        threshold = max(self._merge_min_postings, int(self._merge_ratio * snap.base.postings.nnz))
        dead = snap.n_rows - snap.n_live
        return snap.delta.nnz > threshold or (
            dead > 64 and dead > self._compact_ratio * snap.n_rows
        )

    def _current(self) -> _Snapshot:
        snap = self._snap
        if self._needs_merge(snap):
            with self._lock:
                if self._snap is snap:
                    self._merge()
                snap = self._snap
        return snap

    def _merge(self) -> None:
        """Fold the delta into a new base and drop tombstoned rows (under the lock)."""
        snap = self._snap
        if snap.delta.n_rows == 0 and snap.n_live == snap.n_rows:
            return
        forward = concat(snap.base.forward, snap.delta) if snap.delta.n_rows else snap.base.forward
        live = np.flatnonzero(snap.alive)
        if live.shape[0] != snap.n_rows:
            forward = forward.take(live.astype(np.int64))
        vocab = _vocab_size(forward, snap.base.postings.vocab_size, self._fingerprint)
        postings = self._kernels.build_postings(
            forward.indptr, forward.terms, forward.values, vocab
        )
        rows = live.tolist()
        self._memory_mapped = False
        self._reset(
            Segment(forward, postings),
            [snap.ids[r] for r in rows],
            [snap.texts[r] for r in rows],
            [snap.metadatas[r] for r in rows],
        )

    def optimize(self) -> None:
        """Merge pending writes into the inverted index now (e.g. after a bulk load),
        instead of lazily at the next search that finds the delta too large."""
        with self._lock:
            self._merge()

    # -- writes ---------------------------------------------------------------------

    def add(
        self,
        ids: Sequence[str],
        vectors: Sequence[SparseVector],
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Insert or replace documents; returns ``ids``.

        All inputs are validated before anything is stored, so a bad batch stores
        nothing. A repeated id within the batch keeps its last occurrence.
        """
        id_list = _check_ids(ids)
        n = len(id_list)
        vector_list = _check_sequence(vectors, "vectors", n)
        for position, vector in enumerate(vector_list):
            if not isinstance(vector, SparseVector):
                raise InvalidTypeError(
                    f"vectors[{position}] is a {type(vector).__name__}.",
                    expected="SparseVector instances",
                    fix="build vectors with SparseVector(indices, values) or an encoder",
                )
        text_list = _check_texts(texts, n)
        metadata_list = _check_metadatas(metadatas, id_list, n)
        if n == 0:
            return []
        lengths = np.fromiter((v.nnz for v in vector_list), dtype=np.int64, count=n)
        terms = np.concatenate([v.indices for v in vector_list]).astype(np.int32, copy=False)
        values = np.concatenate([v.values for v in vector_list]).astype(np.float32, copy=False)
        self._append(id_list, lengths, terms, values, text_list, metadata_list)
        return id_list

    def add_csr(
        self,
        ids: Sequence[str],
        indptr: npt.ArrayLike,
        indices: npt.ArrayLike,
        values: npt.ArrayLike,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Bulk :meth:`add` from CSR arrays (row i = ``indices/values[indptr[i]:indptr[i+1]]``),
        validated vectorised: no ``SparseVector`` per document. Same semantics as ``add``.
        """
        id_list = _check_ids(ids)
        n = len(id_list)
        lengths, terms, weights = _check_csr(indptr, indices, values, n)
        text_list = _check_texts(texts, n)
        metadata_list = _check_metadatas(metadatas, id_list, n)
        if n:
            self._append(id_list, lengths, terms, weights, text_list, metadata_list)
        return id_list

    def _append(
        self,
        ids: list[str],
        lengths: npt.NDArray[np.int64],
        terms: npt.NDArray[np.int32],
        values: npt.NDArray[np.float32],
        texts: list[str | None],
        metadatas: list[dict[str, Any]],
    ) -> None:
        last = {doc_id: position for position, doc_id in enumerate(ids)}
        if len(last) != len(ids):  # last occurrence wins within a batch
            keep = np.array(sorted(last.values()), dtype=np.int64)
            starts = np.zeros(len(ids) + 1, dtype=np.int64)
            np.cumsum(lengths, out=starts[1:])
            sub = ForwardStore(starts, terms, values).take(keep)
            terms, values, lengths = sub.terms, sub.values, np.diff(sub.indptr)
            ids = [ids[p] for p in keep.tolist()]
            texts = [texts[p] for p in keep.tolist()]
            metadatas = [metadatas[p] for p in keep.tolist()]
        with self._lock:
            fingerprint = self._fingerprint
            if (
                fingerprint is not None
                and terms.size
                and int(terms.max()) >= fingerprint.vocab_size
            ):
                raise InvalidInputError(
                    f"A vector has term id {int(terms.max())}, outside the index's vocabulary "
                    f"of {fingerprint.vocab_size} ({fingerprint.model_name}).",
                    expected=f"term ids below {fingerprint.vocab_size}",
                    fix="encode documents with the encoder this index was built with",
                )
            replaced = [self._row_of[doc_id] for doc_id in ids if doc_id in self._row_of]
            alive = self._alive
            if replaced:
                alive = alive.copy()  # published snapshots keep the old mask
                alive[replaced] = False
            first_row = alive.shape[0]
            self._delta.extend(lengths, terms, values)
            self._alive = np.concatenate([alive, np.ones(len(ids), dtype=bool)])
            self._ids.extend(ids)
            self._texts.extend(texts)
            self._metadatas.extend(metadatas)
            for offset, doc_id in enumerate(ids):
                self._row_of[doc_id] = first_row + offset
            self._dirty = True
            self._publish()

    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        id_list = _check_ids(ids)
        with self._lock:
            rows = [self._row_of.pop(doc_id) for doc_id in set(id_list) if doc_id in self._row_of]
            if rows:
                alive = self._alive.copy()
                alive[rows] = False
                self._alive = alive
                self._dirty = True
                self._publish()
        return len(rows)

    # -- reads ----------------------------------------------------------------------

    def __len__(self) -> int:
        return self._snap.n_live

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row_of

    def __repr__(self) -> str:
        return f"LocalSparseIndex(documents={len(self)}, kernel={self._kernels.name!r})"

    @property
    def fingerprint(self) -> EncoderFingerprint | None:
        """The encoder this index was built with, once recorded."""
        return self._fingerprint

    @property
    def kernel(self) -> str:
        """``"numba"`` or ``"numpy"``: which scoring kernel this index uses."""
        return self._kernels.name

    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents for ``ids``, in that order; unknown ids are skipped."""
        id_list = _check_ids(ids)
        with self._lock:
            snap = self._snap
            rows = [self._row_of[doc_id] for doc_id in id_list if doc_id in self._row_of]
        return [
            StoredDocument(
                id=snap.ids[row],
                vector=_vector(snap, row),
                text=snap.texts[row],
                metadata=_copy_json(snap.metadatas[row]),
            )
            for row in rows
        ]

    def ids(self) -> list[str]:
        """The ids of all live documents (insertion order until the next merge)."""
        snap = self._snap
        return [snap.ids[r] for r in np.flatnonzero(snap.alive).tolist()]

    def search(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None
    ) -> list[SearchHit]:
        """The top-``k`` documents by exact dot product with ``query``, best first.

        Only documents sharing a term with the query (score > 0) and matching
        ``filter`` are returned; ties are broken by id. See the class docstring.
        """
        _check_query(query)
        check_k(k)
        node = parse_filter(filter)
        snap = self._current()
        mask = self._mask(snap, node)
        if mask is None:
            return []
        return self._search_one(snap, mask, query, k)

    def search_batch(
        self,
        queries: Sequence[SparseVector],
        k: int = 10,
        filter: Filter | None = None,
        n_threads: int | None = None,
    ) -> list[list[SearchHit]]:
        """:meth:`search` for many queries, spread over ``n_threads`` threads (default:
        all cores). The compiled kernel releases the GIL, so throughput scales."""
        query_list = list(queries)
        for query in query_list:
            _check_query(query)
        check_k(k)
        if n_threads is not None and (
            isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1
        ):
            raise InvalidInputError(
                f"n_threads is {n_threads!r}.",
                expected="None or a positive int",
                fix="pass n_threads=None to use every core",
            )
        node = parse_filter(filter)
        snap = self._current()
        mask = self._mask(snap, node)
        if mask is None:
            return [[] for _ in query_list]
        workers = min(n_threads or os.cpu_count() or 1, max(len(query_list), 1))

        def one(query: SparseVector) -> list[SearchHit]:
            return self._search_one(snap, mask, query, k)

        if workers == 1:
            return [one(query) for query in query_list]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, query_list))

    def _mask(self, snap: _Snapshot, node: FilterNode | None) -> npt.NDArray[np.bool_] | None:
        """Rows a search may return, or ``None`` when there are none."""
        if snap.n_live == 0:
            return None
        if node is None:
            return snap.alive
        mask = snap.columns.evaluate(node)
        mask &= snap.alive
        return mask if mask.any() else None

    def _search_one(
        self, snap: _Snapshot, mask: npt.NDArray[np.bool_], query: SparseVector, k: int
    ) -> list[SearchHit]:
        if query.nnz == 0:
            return []
        q_terms, q_weights = query.indices, query.values
        abs_err, rel_err = error_bounds(snap.base.postings, q_terms, q_weights)
        buffers = self._buffers.acquire(snap.n_rows) if self._kernels.needs_buffers else None
        try:
            rows = self._kernels.topk_candidates(
                snap.base.postings,
                q_terms,
                q_weights,
                snap.n_base,
                snap.delta.indptr,
                snap.delta.terms,
                snap.delta.values,
                mask,
                k,
                abs_err,
                rel_err,
                buffers,
            )
        finally:
            if buffers is not None:
                self._buffers.release(buffers)
        base, delta = snap.base.forward, snap.delta
        ranked = self._kernels.rank(
            base.indptr,
            base.terms,
            base.values,
            delta.indptr,
            delta.terms,
            delta.values,
            rows,
            q_terms,
            q_weights,
        )
        return _hits(snap, ranked, k)

    # -- BM25 over the stored texts (hybrid retrieval) ------------------------------

    def bm25_search(self, query: str, k: int = 10, filter: Filter | None = None) -> list[SearchHit]:
        """Top-``k`` documents by BM25 over their texts (bm25s, English stemming,
        k1=0.9, b=0.4), with the same filter semantics as :meth:`search`.

        The BM25 index is derived state: built from the stored texts on first use and
        after writes, never written to disk, so it can never disagree with them.
        """
        from langchain_splade.bm25 import BM25Index

        check_k(k)
        node = parse_filter(filter)
        with self._bm25_lock:
            snap = self._current()
            if self._bm25_cache is None or self._bm25_cache[0] is not snap:
                live = np.flatnonzero(snap.alive).tolist()
                ids = [snap.ids[row] for row in live]
                bm25 = BM25Index.from_texts(ids, [snap.texts[row] or "" for row in live])
                self._bm25_cache = (snap, bm25, dict(zip(ids, live)))
            _, bm25, row_of = self._bm25_cache
            allowed = None
            if node is not None:
                mask = self._mask(snap, node)
                if mask is None:
                    return []
                allowed = {snap.ids[row] for row in np.flatnonzero(mask).tolist()}
            found, scores = bm25.search(query, k=k, allowed=allowed)
        return [
            SearchHit(
                id=doc_id,
                score=score,
                text=snap.texts[row_of[doc_id]],
                metadata=_copy_json(snap.metadatas[row_of[doc_id]]),
                vector=_vector(snap, row_of[doc_id]),
            )
            for doc_id, score in zip(found, scores)
        ]

    # -- encoder compatibility ------------------------------------------------------

    def check_encoder(self, fingerprint: EncoderFingerprint) -> None:
        """Record ``fingerprint`` on first use, or raise ``IncompatibleIndexError`` if the
        index was built with an encoder of another model or vocabulary."""
        if not isinstance(fingerprint, EncoderFingerprint):
            raise InvalidTypeError(
                f"check_encoder got a {type(fingerprint).__name__}.",
                expected="an EncoderFingerprint",
                fix="pass encoder.fingerprint",
            )
        with self._lock:
            current = self._fingerprint
            if current is None:
                max_term = _max_term(self._snap)
                if max_term >= fingerprint.vocab_size:
                    raise IncompatibleIndexError(
                        f"The index holds term id {max_term}, outside the vocabulary of "
                        f"{fingerprint.model_name} ({fingerprint.vocab_size} terms).",
                        expected="an encoder whose vocabulary covers the stored vectors",
                        fix="use the encoder the documents were encoded with, or re-index",
                    )
                self._fingerprint = fingerprint
                self._dirty = True
                return
            differences = [
                f"{name} {getattr(current, name)!r} vs {getattr(fingerprint, name)!r}"
                for name in ("model_name", "vocab_hash", "vocab_size")
                if getattr(current, name) != getattr(fingerprint, name)
            ]
            if differences:
                raise IncompatibleIndexError(
                    "The index was built with another encoder: " + "; ".join(differences) + ".",
                    expected=f"the encoder {current.model_name!r} "
                    f"(vocabulary {current.vocab_hash})",
                    fix="query with the encoder the index was built with, or re-index the "
                    "documents with the new encoder into a new index",
                )

    # -- persistence ----------------------------------------------------------------

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Atomically write the index to directory ``path`` (see ``format``).

        ``path`` defaults to the directory of :meth:`open`. Pending writes are merged
        first. A directory another writer holds (an :meth:`open` index, or a save in
        progress) raises ``IndexLockedError``; a crash at any moment leaves the
        previous save loadable.
        """
        if path is None:
            if self._path is None:
                raise InvalidInputError(
                    "save() needs a path: this index was not opened from a directory.",
                    expected="index.save('my-index') or LocalSparseIndex.open('my-index')",
                    fix="pass the directory to save to",
                )
            path = self._path
        target = Path(path)
        with self._lock:
            self._merge()
            snap = self._snap
            data = fmt.IndexData(
                forward=snap.base.forward,
                postings=snap.base.postings,
                ids=snap.ids[: snap.n_rows],
                texts=snap.texts[: snap.n_rows],
                metadatas=snap.metadatas[: snap.n_rows],
                fingerprint=self._fingerprint,
            )
            same = (
                self._dir_lock is not None
                and self._path is not None
                and _same_path(target, self._path)
            )
            fmt.write_index(target, data, lock=self._dir_lock if same else None)
            if same:
                self._dirty = False

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        mmap: bool = True,
        verify: bool = True,
        kernel: str | None = None,
    ) -> LocalSparseIndex:
        """Open the index at ``path`` for writing, creating it if absent.

        The directory's write lock is held until :meth:`close`, so a second writer
        (another process, or another ``open`` here) fails fast with
        ``IndexLockedError`` instead of one silently overwriting the other's
        additions. ``save()`` with no argument writes back; used as a context
        manager, the index is saved on a clean exit when it changed (not when the
        block raised) and closed either way::

            with LocalSparseIndex.open("my-index") as index:
                index.add(ids, vectors, texts)
        """
        directory = Path(path)
        fmt.prepare_directory(directory)
        lock = WriteLock(directory)
        lock.acquire()
        try:
            if (directory / fmt.MANIFEST).exists():
                index = cls.load(directory, mmap=mmap, verify=verify, kernel=kernel)
            else:
                index = cls(kernel=kernel)
        except BaseException:
            lock.release()
            raise
        index._path, index._dir_lock = directory, lock
        return index

    def close(self) -> None:
        """Release the write lock taken by :meth:`open` (unsaved changes stay in memory)."""
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None

    def __enter__(self) -> LocalSparseIndex:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None and self._dirty and self._path is not None:
                self.save()
        finally:
            self.close()

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        mmap: bool = True,
        verify: bool = True,
        kernel: str | None = None,
    ) -> LocalSparseIndex:
        """Open an index saved with :meth:`save`.

        Args:
            path: the index directory.
            mmap: memory-map the arrays read-only (fast open, pages load on demand; the
                first write after loading copies what it changes into memory).
            verify: check every file's sha256 (reads all bytes once); sizes, dtypes and
                shapes are always checked.
            kernel: as in the constructor.

        Raises:
            IndexNotFoundError, CorruptIndexError, IncompatibleIndexError.
        """
        data = fmt.read_index(Path(path), mmap=mmap, verify=verify)
        index = cls(kernel=kernel)
        with index._lock:
            index._fingerprint = data.fingerprint
            index._memory_mapped = mmap
            index._reset(Segment(data.forward, data.postings), data.ids, data.texts, data.metadatas)
        return index

    # -- introspection --------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Sizes and memory: documents, postings, bytes per posting (inverted index
        and forward store), pending writes and the kernel in use."""
        snap = self._snap
        postings, forward = snap.base.postings, snap.base.forward
        nnz = max(postings.nnz, 1)
        posting_bytes = postings.post_docs.nbytes + postings.post_q.nbytes
        overhead = postings.term_indptr.nbytes + postings.term_scale.nbytes
        forward_bytes = forward.indptr.nbytes + forward.terms.nbytes + forward.values.nbytes
        return {
            "documents": snap.n_live,
            "rows": snap.n_rows,
            "tombstones": snap.n_rows - snap.n_live,
            "pending_documents": snap.delta.n_rows,
            "postings": postings.nnz,
            "vocab_size": postings.vocab_size,
            "bytes_per_posting": posting_bytes / nnz if postings.nnz else 0.0,
            "bytes_per_posting_with_vocab": (posting_bytes + overhead) / nnz
            if postings.nnz
            else 0.0,
            "forward_bytes_per_posting": forward_bytes / max(forward.nnz, 1)
            if forward.nnz
            else 0.0,
            "kernel": self._kernels.name,
            "memory_mapped": self._memory_mapped,
        }


# -- helpers (pure) ------------------------------------------------------------------


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _empty_segment(kernels: Kernels) -> Segment:
    forward = ForwardStore.empty()
    return Segment(
        forward, kernels.build_postings(forward.indptr, forward.terms, forward.values, 0)
    )


def _vocab_size(
    forward: ForwardStore, previous: int, fingerprint: EncoderFingerprint | None
) -> int:
    size = int(forward.terms.max()) + 1 if forward.terms.size else 0
    if fingerprint is not None:
        size = max(size, fingerprint.vocab_size)
    return max(size, previous)


def _max_term(snap: _Snapshot) -> int:
    best = -1
    for store in (snap.base.forward, snap.delta):
        if store.terms.size:
            best = max(best, int(store.terms.max()))
    return best


def _vector(snap: _Snapshot, row: int) -> SparseVector:
    if row < snap.n_base:
        terms, values = snap.base.forward.row(row)
    else:
        terms, values = snap.delta.row(row - snap.n_base)
    return SparseVector._trusted(terms, values)


def _hits(snap: _Snapshot, ranked: Ranked, k: int) -> list[SearchHit]:
    """The first ``k`` ranked rows as hits, ordered by ``(-score, id)``.

    The kernel ranks by ``(-score, row)``; only exactly equal scores need the ids.
    """
    rows, scores = ranked.rows.tolist(), ranked.scores.tolist()
    ids, texts, metadatas = snap.ids, snap.texts, snap.metadatas
    order: list[int] = list(range(len(rows)))
    if len(set(scores)) < len(scores):  # rare: equal scores, ranked by id
        order.sort(key=lambda i: (-scores[i], ids[rows[i]]))
    terms, values = ranked.terms, ranked.values
    terms.setflags(write=False)  # fresh arrays: hits' vectors are read-only views
    values.setflags(write=False)
    bounds = ranked.indptr.tolist()
    hits = []
    for i in order[:k]:
        row = rows[i]
        metadata = metadatas[row]
        hits.append(
            SearchHit(
                id=ids[row],
                score=scores[i],
                text=texts[row],
                metadata=_copy_json(metadata) if metadata else {},
                vector=SparseVector._owned(
                    terms[bounds[i] : bounds[i + 1]], values[bounds[i] : bounds[i + 1]]
                ),
            )
        )
    return hits


def _copy_json(value: Any) -> Any:
    """A deep copy of a JSON value, so callers cannot mutate what the index filters on."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


# -- input validation ----------------------------------------------------------------


def _check_sequence(value: Any, name: str, n: int) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidTypeError(
            f"{name} is a {type(value).__name__}.",
            expected=f"a list of {n} items",
            fix=f"pass {name} as a list",
        )
    items = list(value)
    if len(items) != n:
        raise InvalidInputError(
            f"Got {n} ids but {len(items)} {name}.",
            expected=f"one entry of {name} per id",
            fix=f"pass {name} of the same length as ids",
        )
    return items


def _check_ids(ids: Any) -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise InvalidTypeError(
            f"ids is a {type(ids).__name__}.",
            expected="a list of string ids",
            fix="wrap a single id in a list: ['doc-1']",
        )
    id_list = list(ids)
    for position, doc_id in enumerate(id_list):
        if not isinstance(doc_id, str):
            raise InvalidTypeError(
                f"ids[{position}] is a {type(doc_id).__name__} ({doc_id!r}).",
                expected="string ids",
                fix="convert ids with str()",
            )
    return id_list


def _check_texts(texts: Any, n: int) -> list[str | None]:
    if texts is None:
        return [None] * n
    text_list = _check_sequence(texts, "texts", n)
    for position, text in enumerate(text_list):
        if text is not None and not isinstance(text, str):
            raise InvalidTypeError(
                f"texts[{position}] is a {type(text).__name__}.",
                expected="str or None",
                fix="convert texts with str() or pass None",
            )
    return text_list


def _check_metadatas(metadatas: Any, ids: list[str], n: int) -> list[dict[str, Any]]:
    if metadatas is None:
        return [{} for _ in range(n)]
    items = _check_sequence(metadatas, "metadatas", n)
    out: list[dict[str, Any]] = []
    for doc_id, metadata in zip(ids, items):
        if metadata is None:
            out.append({})
            continue
        if not isinstance(metadata, Mapping):
            raise InvalidTypeError(
                f"The metadata of {doc_id!r} is a {type(metadata).__name__}.",
                expected="a mapping (dict) or None",
                fix="pass a dict of JSON-serialisable values",
            )
        try:
            out.append(json.loads(json.dumps(dict(metadata), allow_nan=False)))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"The metadata of {doc_id!r} is not JSON-serialisable ({exc}).",
                expected="str keys and str/finite number/bool/None/list/dict values",
                fix="convert values (e.g. dates to ISO strings) before adding",
            ) from exc
    return out


def _check_query(query: Any) -> None:
    if not isinstance(query, SparseVector):
        raise InvalidTypeError(
            f"The query is a {type(query).__name__}.",
            expected="a SparseVector",
            fix="encode the query first (encoder.encode_query(text))",
        )


def _check_csr(
    indptr: Any, indices: Any, values: Any, n: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    ptr = np.asarray(indptr)
    idx = np.asarray(indices)
    val = np.asarray(values, dtype=np.float32)
    fix = "pass a valid CSR matrix (e.g. scipy_matrix.indptr, .indices, .data) with one row per id"
    if ptr.ndim != 1 or ptr.shape[0] != n + 1 or not np.issubdtype(ptr.dtype, np.integer):
        raise InvalidInputError(
            f"indptr has shape {ptr.shape} and dtype {ptr.dtype}.",
            expected=f"{n + 1} integer offsets",
            fix=fix,
        )
    ptr = ptr.astype(np.int64)
    if ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] != idx.shape[0] or idx.shape != val.shape:
        raise InvalidInputError(
            "indptr, indices and values are inconsistent.",
            expected="indptr from 0, non-decreasing, ending at len(indices) == len(values)",
            fix=fix,
        )
    if idx.size and (
        not np.issubdtype(idx.dtype, np.integer)
        or idx.min() < 0
        or idx.max() > np.iinfo(np.int32).max
    ):
        found = (
            f"indices have dtype {idx.dtype}"
            if not np.issubdtype(idx.dtype, np.integer)
            else f"indices hold term id {int(idx.min()) if idx.min() < 0 else int(idx.max())}"
        )
        raise InvalidInputError(
            f"{found}.",
            expected="integer term ids in [0, 2**31), strictly increasing within each row",
            fix=fix,
        )
    if val.size and (not np.all(np.isfinite(val)) or val.min() <= 0):
        raise InvalidInputError(
            "values hold a zero, negative or non-finite weight.",
            expected="finite weights > 0",
            fix="drop such terms before adding",
        )
    idx = idx.astype(np.int32)
    lengths = np.diff(ptr)
    if idx.size > 1:
        same_row = np.ones(idx.shape[0] - 1, dtype=bool)
        boundaries = ptr[1:-1]
        boundaries = boundaries[(boundaries > 0) & (boundaries < idx.shape[0])]
        same_row[boundaries - 1] = False
        if np.any(same_row & (idx[1:] <= idx[:-1])):
            raise InvalidInputError(
                "Term ids within a row are not strictly increasing.",
                expected="sorted, unique term ids per row",
                fix="call matrix.sort_indices() and sum_duplicates() first",
            )
    return lengths, idx, val
