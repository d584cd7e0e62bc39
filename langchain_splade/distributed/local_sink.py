"""A Ray ``Datasink`` building one :class:`LocalSparseIndex` from many write tasks.

Each write task saves its documents as a shard (an ordinary saved index) under a
temporary name and renames it when complete, so a task killed mid-write leaves only
a temporary folder, which is ignored. A retried task writes a second shard with the
same documents; the merge is an upsert by id, so each id is stored once. The driver
merges every complete shard into the target, which it has held under the folder's
write lock since the job began, and saves it atomically: an interrupted job leaves
the old index, a finished one the new. The shard folder must be visible to the
driver and every worker (one machine, or a shared file system).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langchain_splade.errors import StoredIndexError, require

require("ray", "ray")

from ray.data import Datasink  # noqa: E402
from ray.data.block import BlockAccessor  # noqa: E402

from langchain_splade.distributed.encode import EncodedBatch  # noqa: E402
from langchain_splade.distributed.records import (  # noqa: E402
    ROWS_PER_WRITE,
    check_rows_per_write,
)
from langchain_splade.stores.local import LocalSparseIndex  # noqa: E402
from langchain_splade.stores.local import format as fmt  # noqa: E402
from langchain_splade.types import EncoderFingerprint  # noqa: E402

SHARD_PREFIX = "shard-"
TEMP_PREFIX = ".tmp-"


class LocalIndexDatasink(Datasink[int]):
    """Write encoded rows into the local index folder ``path`` (created or extended).

    Args:
        path: the index folder; documents already there are kept (ids are upserted).
        fingerprint: the encoder's; a target built with another encoder is refused in
            :meth:`on_write_start`, before anything is written.
        shard_dir: where tasks write shards (default: a hidden folder beside ``path``).
        rows_per_write: rows a write task receives at least (see
            :data:`~.records.ROWS_PER_WRITE`); smaller writes shards sooner.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fingerprint: EncoderFingerprint | None = None,
        *,
        shard_dir: str | os.PathLike[str] | None = None,
        rows_per_write: int = ROWS_PER_WRITE,
    ) -> None:
        self.rows_per_write = check_rows_per_write(rows_per_write)
        self.path = Path(path).absolute()
        self.fingerprint = fingerprint
        job = uuid.uuid4().hex[:12]
        self.shard_dir = (
            Path(shard_dir).absolute()
            if shard_dir is not None
            else self.path.parent / f".{self.path.name}.shards-{job}"
        )
        self.expected_rows: int | None = None
        self.documents = 0
        self._index: LocalSparseIndex | None = None
        self._was_empty = True
        self._created = False

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_index"] = None  # the open target and its lock stay on the driver
        return state

    def prepare(self) -> None:
        """Open the target under its write lock and check the encoder (idempotent)."""
        if self._index is not None:
            return
        self._created = not self.path.exists()
        index = LocalSparseIndex.open(self.path)
        try:
            if self.fingerprint is not None:
                index.check_encoder(self.fingerprint)
            self._was_empty = len(index) == 0
            self.shard_dir.mkdir(parents=True, exist_ok=True)
        except BaseException:
            index.close()
            if self._created:
                shutil.rmtree(self.path, ignore_errors=True)
            raise
        self._index = index

    def on_write_start(self, schema: Any = None) -> None:
        self.prepare()

    @property
    def min_rows_per_write(self) -> int:
        """Few, large write tasks (see :data:`~.records.ROWS_PER_WRITE`)."""
        return self.rows_per_write

    def write(self, blocks: Iterable[Any], ctx: Any) -> int:
        shard = LocalSparseIndex(kernel="numpy")
        rows = 0
        for block in blocks:
            batch = EncodedBatch.from_table(BlockAccessor.for_block(block).to_arrow())
            shard.add_csr(
                batch.ids, batch.indptr, batch.indices, batch.values, batch.texts, batch.metadatas
            )
            rows += len(batch.ids)
        if rows:
            name = f"{ctx.task_idx:06d}-{uuid.uuid4().hex[:12]}"
            temporary = self.shard_dir / f"{TEMP_PREFIX}{name}"
            shard.save(temporary)
            os.rename(temporary, self.shard_dir / f"{SHARD_PREFIX}{name}")
        return rows

    def on_write_complete(self, write_result: Any) -> None:
        self.prepare()
        index = self._index
        assert index is not None
        try:
            for shard in sorted(self.shard_dir.glob(f"{SHARD_PREFIX}*")):
                data = fmt.read_index(shard, mmap=False, verify=True)
                forward = data.forward
                index.add_csr(
                    data.ids, forward.indptr, forward.terms, forward.values,
                    data.texts, data.metadatas,
                )  # fmt: skip
            self._check_count(len(index), write_result.num_rows)
            index.save()
            self.documents = len(index)
        finally:
            self._release()

    def on_write_failed(self, error: Exception) -> None:
        """Leave the target as it was: untouched, or absent if this job created it."""
        created = self._created and self._index is not None
        self._release()
        if created:
            shutil.rmtree(self.path, ignore_errors=True)

    def _check_count(self, count: int, rows_written: int) -> None:
        expected = self.expected_rows if self.expected_rows is not None else rows_written
        if count < expected or (self._was_empty and count != expected):
            raise StoredIndexError(
                f"The merged index holds {count} documents after writing {expected}.",
                expected=f"{expected} documents" + ("" if self._was_empty else " or more"),
                fix="re-run the job; report a bug if it happens again",
            )

    def _release(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        shutil.rmtree(self.shard_dir, ignore_errors=True)
