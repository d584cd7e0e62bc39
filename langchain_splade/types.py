"""Value types shared by encoders, indexes and retrievers.

``SparseVector`` is validated once, at construction, so every backend can trust it:
a zero, negative or non-finite weight would be silently mis-scored by an inverted
index (OpenSearch even rejects the whole document), so it never gets that far.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from langchain_splade.errors import InvalidInputError, InvalidTypeError

if TYPE_CHECKING:
    import scipy.sparse
    import torch

IndexArray = npt.NDArray[np.int32]
WeightArray = npt.NDArray[np.float32]


def _as_index_array(indices: Any) -> IndexArray:
    array = np.asarray(indices)
    if array.ndim != 1:
        raise InvalidInputError(
            f"SparseVector indices have shape {array.shape}.",
            expected="a 1-D sequence of non-negative integer term ids",
            fix="pass a flat list or 1-D array",
        )
    if (
        array.size
        and not np.issubdtype(array.dtype, np.integer)
        and (not np.issubdtype(array.dtype, np.floating) or not np.all(array == np.round(array)))
    ):
        raise InvalidTypeError(
            f"SparseVector indices have dtype {array.dtype}.",
            expected="integer term ids",
            fix="convert the indices to int (e.g. np.asarray(indices, dtype=np.int32))",
        )
    if array.size and array.min() < 0:
        raise InvalidInputError(
            f"SparseVector has negative index {int(array.min())}.",
            expected="term ids >= 0",
            fix="drop or remap negative ids",
        )
    if array.size and array.max() > np.iinfo(np.int32).max:
        raise InvalidInputError(
            f"SparseVector index {int(array.max())} does not fit in int32.",
            expected="term ids below 2**31",
            fix="remap term ids to a vocabulary of fewer than 2**31 entries",
        )
    return array.astype(np.int32, copy=True)


def _as_weight_array(values: Any) -> WeightArray:
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(
            f"SparseVector values could not be read as floats ({exc}).",
            expected="a 1-D sequence of positive finite floats",
            fix="pass numbers, e.g. a list of float",
        ) from exc
    if array.ndim != 1:
        raise InvalidInputError(
            f"SparseVector values have shape {array.shape}.",
            expected="a 1-D sequence of weights",
            fix="pass a flat list or 1-D array",
        )
    if array.size and not np.all(np.isfinite(array)):
        raise InvalidInputError(
            "SparseVector has a NaN or infinite weight.",
            expected="finite weights",
            fix="drop or clip non-finite weights before building the vector",
        )
    if array.size and array.min() <= 0:
        raise InvalidInputError(
            f"SparseVector has a non-positive weight ({float(array.min())}).",
            expected="weights > 0 (a zero weight is an absent term)",
            fix="drop terms with weight <= 0 (SparseVector.from_dict(..., drop_nonpositive=True))",
        )
    return array.copy()


@dataclass(frozen=True, eq=False, repr=False)
class SparseVector:
    """A sparse bag of weighted vocabulary terms.

    Attributes:
        indices: sorted, unique int32 term ids (>= 0).
        values: float32 weights (finite, > 0), aligned with ``indices``.
    """

    indices: IndexArray
    values: WeightArray

    def __init__(self, indices: Iterable[int] | npt.ArrayLike, values: npt.ArrayLike) -> None:
        idx = _as_index_array(indices if hasattr(indices, "__len__") else list(indices))  # type: ignore[arg-type]
        val = _as_weight_array(values)
        if idx.shape != val.shape:
            raise InvalidInputError(
                f"SparseVector has {idx.size} indices but {val.size} values.",
                expected="one weight per index",
                fix="pass indices and values of the same length",
            )
        if idx.size > 1:
            order = np.argsort(idx, kind="stable")
            idx, val = idx[order], val[order]
            if np.any(idx[1:] == idx[:-1]):
                dup = int(idx[1:][idx[1:] == idx[:-1]][0])
                raise InvalidInputError(
                    f"SparseVector has index {dup} more than once.",
                    expected="unique term ids",
                    fix="merge duplicate terms (e.g. keep the max weight) before building",
                )
        idx.setflags(write=False)
        val.setflags(write=False)
        object.__setattr__(self, "indices", idx)
        object.__setattr__(self, "values", val)

    @classmethod
    def _trusted(cls, indices: IndexArray, values: WeightArray) -> SparseVector:
        """Build from arrays already sorted, unique and positive (encoder hot path)."""
        vector = object.__new__(cls)
        indices = np.ascontiguousarray(indices, dtype=np.int32)
        values = np.ascontiguousarray(values, dtype=np.float32)
        indices.setflags(write=False)
        values.setflags(write=False)
        object.__setattr__(vector, "indices", indices)
        object.__setattr__(vector, "values", values)
        return vector

    @classmethod
    def _owned(cls, indices: IndexArray, values: WeightArray) -> SparseVector:
        """Wrap fresh, contiguous int32/float32 arrays that nothing else references
        (sorted, unique, positive), making them read-only: no copy, no checks."""
        vector = object.__new__(cls)
        indices.setflags(write=False)
        values.setflags(write=False)
        object.__setattr__(vector, "indices", indices)
        object.__setattr__(vector, "values", values)
        return vector

    # -- construction ---------------------------------------------------------------

    @classmethod
    def empty(cls) -> SparseVector:
        """A vector with no terms (matches nothing)."""
        return cls._trusted(np.empty(0, np.int32), np.empty(0, np.float32))

    @classmethod
    def from_dict(
        cls, weights: Mapping[int, float], *, drop_nonpositive: bool = False
    ) -> SparseVector:
        """Build from ``{term_id: weight}``; ``drop_nonpositive`` removes weights <= 0."""
        if not isinstance(weights, Mapping):
            raise InvalidTypeError(
                f"Expected a mapping of term id to weight, got {type(weights).__name__}.",
                fix="pass a dict like {2054: 1.3}",
            )
        items = [(int(k), float(v)) for k, v in weights.items()]
        if drop_nonpositive:
            items = [(k, v) for k, v in items if v > 0]
        return cls([k for k, _ in items], [v for _, v in items])

    @classmethod
    def from_tokens(
        cls,
        weights: Mapping[str, float],
        vocabulary: Mapping[str, int],
        *,
        drop_nonpositive: bool = False,
    ) -> SparseVector:
        """Build from ``{token: weight}`` using a tokenizer vocabulary (token -> id)."""
        unknown = [t for t in weights if t not in vocabulary]
        if unknown:
            raise InvalidInputError(
                f"Tokens not in the vocabulary: {unknown[:5]!r}"
                + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                + ".",
                expected="tokens of the encoder's vocabulary (e.g. 'paris', '##ing')",
                fix="use encoder.vocabulary to check spellings, or drop those tokens",
            )
        return cls.from_dict(
            {vocabulary[t]: w for t, w in weights.items()}, drop_nonpositive=drop_nonpositive
        )

    @classmethod
    def from_scipy(cls, row: scipy.sparse.sparray | scipy.sparse.spmatrix) -> SparseVector:
        """Build from a 1 x V scipy sparse row (zeros are dropped)."""
        coo = row.tocoo()
        if coo.shape[0] != 1:
            raise InvalidInputError(
                f"Expected a single row, got a matrix of shape {coo.shape}.",
                fix="pass matrix[i] for row i",
            )
        mask = coo.data != 0
        return cls(coo.col[mask], coo.data[mask])

    # -- conversion -----------------------------------------------------------------

    def to_dict(self) -> dict[int, float]:
        """``{term_id: weight}`` with plain Python types (JSON-friendly)."""
        return dict(zip(self.indices.tolist(), self.values.tolist(), strict=True))

    def to_tokens(self, id_to_token: Sequence[str]) -> dict[str, float]:
        """``{token: weight}``, given the vocabulary as a list indexed by term id."""
        return {id_to_token[i]: w for i, w in zip(self.indices.tolist(), self.values.tolist())}

    def to_scipy(self, dim: int) -> scipy.sparse.csr_array:
        """A 1 x ``dim`` CSR row."""
        import scipy.sparse

        if self.indices.size and int(self.indices[-1]) >= dim:
            raise InvalidInputError(
                f"Index {int(self.indices[-1])} does not fit a dimension of {dim}.",
                fix="pass the vocabulary size as dim",
            )
        indptr = np.array([0, self.indices.size], dtype=np.int64)
        return scipy.sparse.csr_array((self.values, self.indices, indptr), shape=(1, dim))

    def to_torch(self, dim: int) -> torch.Tensor:
        """A 1-D sparse COO torch tensor of length ``dim``."""
        import torch

        if self.indices.size and int(self.indices[-1]) >= dim:
            raise InvalidInputError(
                f"Index {int(self.indices[-1])} does not fit a dimension of {dim}.",
                fix="pass the vocabulary size as dim",
            )
        return torch.sparse_coo_tensor(
            torch.from_numpy(self.indices.astype(np.int64)).unsqueeze(0),
            torch.from_numpy(self.values.copy()),
            size=(dim,),
            check_invariants=False,  # validated at construction: sorted, unique, in range
        ).coalesce()

    # -- arithmetic -----------------------------------------------------------------

    def dot(self, other: SparseVector) -> float:
        """Exact sparse dot product (accumulated in float64)."""
        common, mine, theirs = np.intersect1d(
            self.indices, other.indices, assume_unique=True, return_indices=True
        )
        if common.size == 0:
            return 0.0
        return float(
            np.dot(self.values[mine].astype(np.float64), other.values[theirs].astype(np.float64))
        )

    def prune(self, max_terms: int | None = None, min_weight: float | None = None) -> SparseVector:
        """Keep the ``max_terms`` largest weights and those >= ``min_weight``."""
        keep = np.ones(self.indices.size, dtype=bool)
        if min_weight is not None:
            keep &= self.values >= min_weight
        indices, values = self.indices[keep], self.values[keep]
        if max_terms is not None and indices.size > max_terms:
            # Stable: among equal weights the lower term id wins, so pruning is deterministic.
            top = np.argsort(-values, kind="stable")[:max_terms]
            top.sort()
            indices, values = indices[top], values[top]
        return SparseVector._trusted(indices, values)

    def top(self, k: int | None = None) -> list[tuple[int, float]]:
        """``(term_id, weight)`` pairs, heaviest first (ties by term id)."""
        order = np.argsort(-self.values, kind="stable")
        if k is not None:
            order = order[:k]
        return [(int(self.indices[i]), float(self.values[i])) for i in order]

    # -- protocol -------------------------------------------------------------------

    @property
    def nnz(self) -> int:
        """Number of stored terms."""
        return int(self.indices.size)

    def __len__(self) -> int:
        return self.nnz

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseVector):
            return NotImplemented
        return bool(
            np.array_equal(self.indices, other.indices)
            and np.array_equal(self.values, other.values)
        )

    def __hash__(self) -> int:
        return hash((self.indices.tobytes(), self.values.tobytes()))

    def __repr__(self) -> str:
        head = ", ".join(f"{i}: {w:.3g}" for i, w in self.top(5))
        more = ", ..." if self.nnz > 5 else ""
        return f"SparseVector(nnz={self.nnz}, {{{head}{more}}})"


@dataclass(frozen=True)
class EncoderFingerprint:
    """What an index must agree on with the encoder that queries it.

    Two encoders are compatible when they share the model name, the vocabulary (by
    hash) and the query/document scheme; an index records this at first write.
    """

    model_name: str
    vocab_hash: str
    vocab_size: int
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "vocab_hash": self.vocab_hash,
            "vocab_size": self.vocab_size,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EncoderFingerprint:
        return cls(
            model_name=str(data["model_name"]),
            vocab_hash=str(data["vocab_hash"]),
            vocab_size=int(data["vocab_size"]),
            settings=dict(data.get("settings", {})),
        )


@dataclass(frozen=True)
class TermContribution:
    """One shared term of a match: ``contribution = query_weight * document_weight``."""

    token: str
    term_id: int
    query_weight: float
    document_weight: float
    contribution: float


@dataclass(frozen=True)
class StoredDocument:
    """A document as an index holds it."""

    id: str
    vector: SparseVector
    text: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchHit:
    """One ranked result of an index search.

    ``score`` is the sparse dot product between query and document (exact for the
    local index; OpenSearch stores weights with 9 significant bits unless re-scored).
    """

    id: str
    score: float
    text: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    vector: SparseVector | None = None
