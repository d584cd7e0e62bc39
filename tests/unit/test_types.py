"""SparseVector: validation at construction and the conversions users need."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse

from langchain_splade import InvalidInputError, InvalidTypeError, SparseVector


def test_sorts_and_freezes() -> None:
    vector = SparseVector([7, 2, 5], [0.5, 1.5, 2.0])
    assert vector.indices.tolist() == [2, 5, 7]
    assert vector.values.tolist() == [1.5, 2.0, 0.5]
    assert vector.indices.dtype == np.int32 and vector.values.dtype == np.float32
    with pytest.raises(ValueError):
        vector.values[0] = 3.0


@pytest.mark.parametrize(
    ("indices", "values", "message"),
    [
        ([1, 2], [1.0, math.nan], "NaN"),
        ([1, 2], [1.0, math.inf], "infinite"),
        ([1, 2], [1.0, -0.5], "non-positive"),
        ([1, 2], [1.0, 0.0], "non-positive"),
        ([-1, 2], [1.0, 1.0], "negative index"),
        ([1, 2, 3], [1.0, 1.0], "3 indices but 2 values"),
        ([4, 4], [1.0, 2.0], "more than once"),
        ([[1, 2]], [[1.0, 1.0]], "shape"),
        ([2**31], [1.0], "int32"),
    ],
)
def test_invalid_input_is_rejected_with_reason(indices, values, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match=message):
        SparseVector(indices, values)


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(InvalidTypeError):
        SparseVector([1.5], [1.0])
    with pytest.raises(InvalidTypeError):
        SparseVector([1], ["heavy"])
    with pytest.raises(InvalidTypeError):
        SparseVector.from_dict([(1, 2.0)])  # type: ignore[arg-type]


def test_dict_round_trip_and_drop_nonpositive() -> None:
    vector = SparseVector.from_dict({3: 1.25, 1: 0.5})
    assert vector.to_dict() == {1: 0.5, 3: 1.25}
    assert SparseVector.from_dict({1: 0.0, 2: 1.0, 3: -1.0}, drop_nonpositive=True).to_dict() == {
        2: 1.0
    }
    with pytest.raises(InvalidInputError):
        SparseVector.from_dict({1: 0.0})


def test_token_round_trip() -> None:
    vocab = {"[PAD]": 0, "paris": 1, "tower": 2}
    vector = SparseVector.from_tokens({"tower": 2.0, "paris": 1.0}, vocab)
    assert vector.to_dict() == {1: 1.0, 2: 2.0}
    assert vector.to_tokens(["[PAD]", "paris", "tower"]) == {"paris": 1.0, "tower": 2.0}
    with pytest.raises(InvalidInputError, match="not in the vocabulary"):
        SparseVector.from_tokens({"london": 1.0}, vocab)


def test_scipy_and_torch() -> None:
    vector = SparseVector([1, 4], [0.5, 2.0])
    row = vector.to_scipy(6)
    assert row.shape == (1, 6) and row.toarray().tolist() == [[0, 0.5, 0, 0, 2.0, 0]]
    assert SparseVector.from_scipy(scipy.sparse.csr_matrix(row.toarray())) == vector
    assert vector.to_torch(6).to_dense().tolist() == [0, 0.5, 0, 0, 2.0, 0]
    with pytest.raises(InvalidInputError):
        vector.to_scipy(3)
    with pytest.raises(InvalidInputError):
        vector.to_torch(4)


def test_dot_matches_dense() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = SparseVector(rng.choice(100, 30, replace=False), rng.random(30) + 0.01)
        b = SparseVector(rng.choice(100, 40, replace=False), rng.random(40) + 0.01)
        dense = a.to_scipy(100).toarray() @ b.to_scipy(100).toarray().T
        assert a.dot(b) == pytest.approx(float(dense[0, 0]), rel=1e-6)
    assert SparseVector.empty().dot(a) == 0.0


def test_prune_is_deterministic() -> None:
    vector = SparseVector([1, 2, 3, 4], [1.0, 3.0, 3.0, 0.2])
    assert vector.prune(max_terms=2).to_dict() == {2: 3.0, 3: 3.0}
    assert vector.prune(max_terms=1).to_dict() == {2: 3.0}
    assert vector.prune(min_weight=1.0).to_dict() == {1: 1.0, 2: 3.0, 3: 3.0}
    assert vector.top(2) == [(2, 3.0), (3, 3.0)]


def test_equality_hash_repr() -> None:
    a = SparseVector([1, 2], [1.0, 2.0])
    assert a == SparseVector([2, 1], [2.0, 1.0])
    assert a != SparseVector([1, 2], [1.0, 2.5])
    assert len({a, SparseVector([2, 1], [2.0, 1.0])}) == 1
    assert "nnz=2" in repr(a) and len(a) == 2
