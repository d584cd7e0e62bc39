"""The encoding stage: one :class:`SpladeEncoder` per Ray actor, for ``map_batches``.

Loading a model costs seconds, so it happens once per actor (Ray's callable-class
pattern), not once per batch. Encoded vectors travel as two Arrow list columns
(``indices`` int32, ``values`` float32): CSR rows that any sink can read without a
Python object per document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from langchain_splade.distributed.records import prepare_records
from langchain_splade.types import EncoderFingerprint, SparseVector


@dataclass(frozen=True)
class EncoderSpec:
    """How each actor builds its encoder, and what it asks of Ray.

    Attributes:
        model: bundled name, folder or hub id; a folder must exist on every worker.
        device: ``"cpu"``, ``"cuda"``...; default CUDA when the actor has a GPU.
        threads: torch threads per actor (and the CPUs it reserves).
        num_gpus: GPUs per actor (``0``: CPU actors).
        batch_size: windows per forward pass.
        options: any other :class:`SpladeEncoder` keyword (``quantize``, ``dtype``,
            ``max_length``, ``long_documents``, ...).
    """

    model: str = "splade-tiny"
    device: str | None = None
    threads: int = 1
    num_gpus: float = 0
    batch_size: int = 32
    quantize: Literal["int8"] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """A :class:`SpladeEncoder` with these settings (in the calling process)."""
        from langchain_splade.encoders import SpladeEncoder

        return SpladeEncoder(
            self.model,
            device=self.device,
            batch_size=self.batch_size,
            quantize=self.quantize,
            **self.options,
        )

    @cached_property
    def fingerprint(self) -> EncoderFingerprint:
        """The fingerprint a target index records (loads the model once, here)."""
        fingerprint: EncoderFingerprint = self.build().fingerprint
        return fingerprint


class SpladeBatchEncoder:
    """``map_batches`` callable: records in, ``id``/``text``/``metadata`` plus the
    vector's ``indices``/``values`` out (``batch_format="pyarrow"``)."""

    def __init__(self, spec: EncoderSpec) -> None:
        import torch

        torch.set_num_threads(max(1, spec.threads))
        self.encoder = spec.build()

    def __call__(self, batch: pa.Table) -> pa.Table:
        records = prepare_records(batch)
        vectors = self.encoder.embed_documents(records.column("text").to_pylist())
        return records.append_column("indices", _list_array(vectors, "indices")).append_column(
            "values", _list_array(vectors, "values")
        )


@dataclass(frozen=True)
class EncodedBatch:
    """One encoded block as a sink reads it: CSR rows plus texts and metadata."""

    ids: list[str]
    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int32]
    values: npt.NDArray[np.float32]
    texts: list[str]
    metadatas: list[dict[str, Any]]

    @classmethod
    def from_table(cls, table: pa.Table) -> EncodedBatch:
        """Read the columns :class:`SpladeBatchEncoder` wrote."""
        indices = table.column("indices").combine_chunks()
        values = table.column("values").combine_chunks()
        offsets = indices.offsets.to_numpy().astype(np.int64)
        start = int(offsets[0]) if offsets.size else 0
        return cls(
            ids=table.column("id").to_pylist(),
            indptr=offsets - start,
            indices=indices.flatten().to_numpy(zero_copy_only=False).astype(np.int32),
            values=values.flatten().to_numpy(zero_copy_only=False).astype(np.float32),
            texts=table.column("text").to_pylist(),
            metadatas=[json.loads(m) for m in table.column("metadata").to_pylist()],
        )

    def vectors(self) -> list[SparseVector]:
        """One :class:`SparseVector` per row (for backends that take them)."""
        return [
            SparseVector(self.indices[lo:hi], self.values[lo:hi])
            for lo, hi in zip(self.indptr[:-1].tolist(), self.indptr[1:].tolist())
        ]


def _list_array(vectors: list[SparseVector], name: str) -> pa.ListArray:
    parts = [getattr(v, name) for v in vectors]
    offsets = np.zeros(len(parts) + 1, dtype=np.int32)
    np.cumsum([p.size for p in parts], out=offsets[1:])
    dtype = np.int32 if name == "indices" else np.float32
    flat = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))
