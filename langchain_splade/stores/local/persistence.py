"""Persistence of the local index: atomic save, load (optionally memory-mapped), and
``open`` holding the directory's write lock (format and crash safety: ``format``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from langchain_splade.errors import InvalidInputError
from langchain_splade.stores.local import format as fmt
from langchain_splade.stores.local.locking import WriteLock
from langchain_splade.stores.local.segments import Segment
from langchain_splade.stores.local.state import IndexCore

_T = TypeVar("_T", bound="PersistenceMixin")


class PersistenceMixin(IndexCore):
    """``save``, ``open``, ``close`` and ``load`` of :class:`LocalSparseIndex`."""

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
                blockmax=snap.base.blockmax,
                ids=snap.ids[: snap.n_rows],
                texts=snap.texts[: snap.n_rows],
                metadatas=snap.metadatas[: snap.n_rows],
                fingerprint=self._fingerprint,
                lexical=fmt.Lexical(
                    snap.lexical.base, list(self._lexical.words), self._lexical.settings
                ),
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
        cls: type[_T],
        path: str | os.PathLike[str],
        *,
        mmap: bool = True,
        verify: bool = True,
        kernel: str | None = None,
    ) -> _T:
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

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None and self._dirty and self._path is not None:
                self.save()
        finally:
            self.close()

    @classmethod
    def load(
        cls: type[_T],
        path: str | os.PathLike[str],
        mmap: bool = True,
        verify: bool = True,
        kernel: str | None = None,
    ) -> _T:
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
            blockmax = data.blockmax or index._kernels.build_blockmax(
                data.postings, data.forward.n_rows
            )  # format 1 saved no block bounds
            segment = Segment(data.forward, data.postings, blockmax)
            lexical = data.lexical
            if lexical is not None and lexical.settings == index._lexical.settings:
                index._reset(
                    segment, data.ids, data.texts, data.metadatas, (lexical.segment, lexical.words)
                )
            else:  # saved before the BM25 field existed, or with other settings
                index._lexical.rebuild(data.texts)
                index._reset(segment, data.ids, data.texts, data.metadatas)
        return index


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
