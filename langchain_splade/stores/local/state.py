"""The index's committed state: immutable snapshots, and merges that build them.

Why snapshots: every write publishes a new immutable :class:`Snapshot` (base segment,
delta, tombstone mask, ids, texts, metadata), so searches never take a lock and always
see one committed state, even while another thread writes. Writes go to an
append-only delta and a tombstone mask; the write that grows the delta or the dead
rows past a fraction of the base merges them into a new base (or
:meth:`IndexCore.optimize` does), so the writer pays for merges, and searches, which
never wait for the lock, keep using the previous snapshot meanwhile. A merge also
puts the documents in the order that keeps block-max bounds tight
(``kernels.document_order``), so pruning skips more.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_splade.stores.local.filtering import ColumnCache
from langchain_splade.stores.local.kernels import Kernels, get_kernels
from langchain_splade.stores.local.layout import ForwardStore, ScoreBuffers
from langchain_splade.stores.local.lexical import LexicalField, LexicalSegment, LexicalView
from langchain_splade.stores.local.locking import WriteLock
from langchain_splade.stores.local.segments import GrowableCSR, Segment, concat
from langchain_splade.types import EncoderFingerprint


@dataclass(frozen=True)
class Snapshot:
    """One committed state. Lists may grow past ``n_rows``; rows below never change."""

    base: Segment
    delta: ForwardStore
    alive: npt.NDArray[np.bool_]
    ids: list[str]
    texts: list[str | None]
    metadatas: list[dict[str, Any]]
    n_live: int
    columns: ColumnCache
    lexical: LexicalView

    @property
    def n_base(self) -> int:
        return self.base.forward.n_rows

    @property
    def n_rows(self) -> int:
        return int(self.alive.shape[0])


class BufferPool:
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


class IndexCore:
    """State shared by the index's parts (writes, search, BM25, persistence)."""

    def __init__(self, *, kernel: str | None = None) -> None:
        self._kernels: Kernels = get_kernels(kernel)
        self._lock = threading.RLock()
        self._buffers = BufferPool()
        self._fingerprint: EncoderFingerprint | None = None
        self._merge_min_postings = 50_000
        self._merge_ratio = 0.125
        self._compact_ratio = 0.25
        self._memory_mapped = False
        self._path: Path | None = None
        self._dir_lock: WriteLock | None = None
        self._dirty = False
        self._lexical = LexicalField()
        self._reset(self._segment(ForwardStore.empty(), 0), [], [], [])

    def _reset(
        self,
        base: Segment,
        ids: list[str],
        texts: list[str | None],
        metadatas: list[dict[str, Any]],
        lexical: tuple[LexicalSegment, list[str]] | None = None,
    ) -> None:
        """Install a fresh base with all rows live and an empty delta (``lexical``: the
        BM25 field's new base and lexicon, unless the caller already installed them)."""
        if lexical is not None:
            self._lexical.reset(*lexical)
        self._base = base
        self._delta = GrowableCSR()
        self._ids, self._texts, self._metadatas = ids, texts, metadatas
        self._row_of = {doc_id: row for row, doc_id in enumerate(ids)}
        self._alive = np.ones(len(ids), dtype=bool)
        self._publish()

    def _publish(self) -> None:
        n_rows = int(self._alive.shape[0])
        self._snap = Snapshot(
            base=self._base,
            delta=self._delta.view(),
            alive=self._alive,
            ids=self._ids,
            texts=self._texts,
            metadatas=self._metadatas,
            n_live=len(self._row_of),
            columns=ColumnCache(self._metadatas, n_rows),
            lexical=self._lexical.view(),
        )

    def _segment(self, forward: ForwardStore, vocab_size: int) -> Segment:
        """Postings and block bounds of ``forward`` (rows already in their final order)."""
        postings = self._kernels.build_postings(forward, vocab_size)
        return Segment(forward, postings, self._kernels.build_blockmax(postings, forward.n_rows))

    def _needs_merge(self, snap: Snapshot) -> bool:
        """Whether the delta (of SPLADE or of BM25 postings: searches scan it whole) or
        the dead rows have grown past their share of the base."""
        floor, ratio = self._merge_min_postings, self._merge_ratio
        lexical = snap.lexical
        dead = snap.n_rows - snap.n_live
        return (
            snap.delta.nnz > max(floor, int(ratio * snap.base.postings.nnz))
            or lexical.delta.nnz > max(floor, int(ratio * lexical.base.postings.nnz))
            or (dead > 64 and dead > self._compact_ratio * snap.n_rows)
        )

    def _merge_if_needed(self) -> None:
        """Merge now if the last write made the delta or the dead rows too large (the
        writer pays, under the lock, so that no search has to)."""
        if self._needs_merge(self._snap):
            self._merge()

    def _current(self) -> Snapshot:
        snap = self._snap
        if self._needs_merge(snap):
            with self._lock:
                if self._snap is snap:
                    self._merge()
                snap = self._snap
        return snap

    def _merge(self) -> None:
        """Fold the delta into a new base, drop tombstoned rows and reorder the rows
        for tight block bounds (under the lock)."""
        snap = self._snap
        if snap.delta.n_rows == 0 and snap.n_live == snap.n_rows:
            return
        forward = concat(snap.base.forward, snap.delta) if snap.delta.n_rows else snap.base.forward
        live = np.flatnonzero(snap.alive).astype(np.int64)
        if live.shape[0] != snap.n_rows:
            forward = forward.take(live)
        order = self._kernels.document_order(forward)
        forward = forward.take(order)
        vocab = _vocab_size(forward, snap.base.postings.vocab_size, self._fingerprint)
        self._lexical.merge(live[order])
        rows = live[order].tolist()
        self._memory_mapped = False
        self._reset(
            self._segment(forward, vocab),
            [snap.ids[r] for r in rows],
            [snap.texts[r] for r in rows],
            [snap.metadatas[r] for r in rows],
        )

    def optimize(self) -> None:
        """Merge pending writes into the inverted index now (e.g. after a bulk load),
        instead of lazily at the next search that finds the delta too large."""
        with self._lock:
            self._merge()


def _vocab_size(
    forward: ForwardStore, previous: int, fingerprint: EncoderFingerprint | None
) -> int:
    size = int(forward.terms.max()) + 1 if forward.terms.size else 0
    if fingerprint is not None:
        size = max(size, fingerprint.vocab_size)
    return max(size, previous)
