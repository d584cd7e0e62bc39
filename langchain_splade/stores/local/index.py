"""``LocalSparseIndex``: the embedded, zero-infrastructure SPLADE index.

The class is assembled from one module per job: ``state`` (snapshots and merges),
``writes`` (upserts and deletes), ``search`` (pruned top-k, exact re-scoring and
hits), ``lexical`` and ``bm25_search`` (BM25, hybrid retrieval's lexical half, kept
current by every write) and ``persistence``
(save/load/open with the directory lock); this module adds reads, the encoder check
and statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from langchain_splade.errors import IncompatibleIndexError, InvalidTypeError
from langchain_splade.stores.base import ThreadedAsync
from langchain_splade.stores.local.bm25_search import Bm25Mixin
from langchain_splade.stores.local.persistence import PersistenceMixin
from langchain_splade.stores.local.search import copy_json, vector
from langchain_splade.stores.local.state import Snapshot
from langchain_splade.stores.local.writes import WritesMixin
from langchain_splade.types import EncoderFingerprint, StoredDocument
from langchain_splade.validation import check_ids


class LocalSparseIndex(WritesMixin, Bm25Mixin, PersistenceMixin, ThreadedAsync):
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
        * Speed: ``search(..., approximate=True, alpha=0.9)`` uses block-max
          pruning to skip blocks of documents unlikely to enter the top-k (faster,
          recall@10 ~0.99 measured; scores stay exact; ``alpha=1.0`` is exact).
        * Memory: 6 bytes a posting in the inverted index (int32 row + uint16
          weight code), about 1 more of block bounds, plus 8 in the float32 forward
          store used for exact scores and returned vectors (memory-mapped after
          ``load``); see :meth:`stats`.
        * Order: merges put documents in an order that keeps block bounds tight,
          so :meth:`ids` lists them in insertion order only until the next merge.

    Args:
        kernel: "auto" (numba when installed), "numba" or "numpy".
    """

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
        id_list = check_ids(ids)
        with self._lock:
            snap = self._snap
            rows = [self._row_of[doc_id] for doc_id in id_list if doc_id in self._row_of]
        return [
            StoredDocument(
                id=snap.ids[row],
                vector=vector(snap, row),
                text=snap.texts[row],
                metadata=copy_json(snap.metadatas[row]),
            )
            for row in rows
        ]

    def ids(self) -> list[str]:
        """The ids of all live documents (insertion order until the next merge)."""
        snap = self._snap
        return [snap.ids[r] for r in np.flatnonzero(snap.alive).tolist()]

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

    # -- introspection --------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Sizes and memory: documents, postings, bytes per posting (inverted index,
        its block bounds, and forward store), pending writes, the kernel in use, and
        the BM25 field's postings and bytes per posting.
        ``bytes_per_posting_with_vocab`` is the whole inverted index: postings, block
        bounds and per-term arrays."""
        snap = self._snap
        postings, forward = snap.base.postings, snap.base.forward
        nnz = max(postings.nnz, 1)
        posting_bytes = postings.post_docs.nbytes + postings.post_q.nbytes
        block_bytes = snap.base.blockmax.nbytes if snap.base.blockmax is not None else 0
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
            "block_bytes_per_posting": block_bytes / nnz if postings.nnz else 0.0,
            "bytes_per_posting_with_vocab": (posting_bytes + block_bytes + overhead) / nnz
            if postings.nnz
            else 0.0,
            "forward_bytes_per_posting": forward_bytes / max(forward.nnz, 1)
            if forward.nnz
            else 0.0,
            "kernel": self._kernels.name,
            "memory_mapped": self._memory_mapped,
            **_bm25_stats(snap),
        }


def _bm25_stats(snap: Snapshot) -> dict[str, Any]:
    """The BM25 field's size: postings of live and dead rows, and its bytes per posting
    (forward rows, postings and row lengths of the base, and the unmerged delta)."""
    base, delta = snap.lexical.base, snap.lexical.delta
    arrays = (
        base.forward.indptr, base.forward.terms, base.forward.values, base.lengths,
        base.postings.term_indptr, base.postings.rows, base.postings.tf,
        delta.indptr, delta.terms, delta.values,
    )  # fmt: skip
    postings = base.forward.nnz + delta.nnz
    return {
        "bm25_postings": postings,
        "bm25_vocab_size": snap.lexical.vocab_size,
        "bm25_bytes_per_posting": sum(a.nbytes for a in arrays) / postings if postings else 0.0,
    }


def _max_term(snap: Snapshot) -> int:
    best = -1
    for store in (snap.base.forward, snap.delta):
        if store.terms.size:
            best = max(best, int(store.terms.max()))
    return best
