"""Writes to the local index: upserts (also from CSR arrays) and deletes.

Every input is validated before anything is stored, so a bad batch stores nothing;
a valid one is appended to the delta (its SPLADE vectors and its texts' BM25 term
frequencies, ``lexical``) and tombstones the rows it replaces, then a new snapshot is
published, and merged when the delta has grown large enough (see ``state``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_splade.errors import InvalidInputError
from langchain_splade.stores.local.layout import ForwardStore
from langchain_splade.stores.local.state import IndexCore
from langchain_splade.types import SparseVector
from langchain_splade.validation import check_batch, check_ids, check_metadatas, check_texts


class WritesMixin(IndexCore):
    """``add``, ``add_csr`` and ``delete`` of :class:`LocalSparseIndex`."""

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
        id_list, vector_list, text_list, metadata_list = check_batch(ids, vectors, texts, metadatas)
        n = len(id_list)
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
        id_list = check_ids(ids)
        n = len(id_list)
        lengths, terms, weights = _check_csr(indptr, indices, values, n)
        text_list = check_texts(texts, n)
        metadata_list = check_metadatas(metadatas, id_list)
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
        analyzed = self._lexical.analyze(texts)  # tokenizing needs no lock
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
            self._lexical.remove(replaced)
            self._lexical.append(analyzed)
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
            self._merge_if_needed()

    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        id_list = check_ids(ids)
        with self._lock:
            rows = [self._row_of.pop(doc_id) for doc_id in set(id_list) if doc_id in self._row_of]
            if rows:
                self._lexical.remove(rows)
                alive = self._alive.copy()
                alive[rows] = False
                self._alive = alive
                self._dirty = True
                self._publish()
                self._merge_if_needed()
        return len(rows)


# -- input validation ----


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
