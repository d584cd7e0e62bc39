"""Shared fixtures: the real bundled encoder and real OpenSearch nodes (a version matrix)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import pytest

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.testing.opensearch import (
    NEURAL_SEARCH_VERSION,
    OPENSEARCH_VERSION,
    OpenSearchTestNode,
)
from langchain_splade.testing.opensearch.versions import version_matrix
from langchain_splade.types import SparseVector

OPENSEARCH_MATRIX = version_matrix()
"""The OpenSearch versions the integration and contract tests run on (2.19.6 and the
newest 3.x by default; ``LANGCHAIN_SPLADE_OPENSEARCH_VERSIONS=2.19.6`` narrows it)."""

# How far two float32 encodings of one text by splade-tiny may differ when the sums run
# in another order: another batch (padding changes the matrix shapes, so BLAS blocks
# the sums differently), thread count, CPU (AVX-512, AVX2, SSE kernels; FMA or not) or
# code path (chunked max vs the textbook formula).
# Why this value: a weight is log1p(relu(max_i logit_i)), which is 1-Lipschitz in the
# logits, so it moves at most as far as its logit. A logit is a float32 sum whose
# terms reach M = max_j sum_k |h_k W_jk| + |b_j| ~ 52 for splade-tiny (hidden 128), and
# reordering it moves the result by a few units of rounding of M, u * M = 2^-24 * 52
# ~ 3.1e-6 (plus the same order carried up from the layers below). Measured: at most
# 5.1e-6 = 1.6 u*M over batch sizes 1-32, 1-2 threads, ATen/MKL/oneDNN restricted to
# AVX-512, AVX2 and SSE, and the textbook formula; 3.05e-6 on an Intel Xeon. We allow
# 10 u*M: two encodings, each within ~5 u*M of exact arithmetic. The error is absolute
# (largest at small weights, since log1p compresses big logits), so no relative part.
# Every batching bug seen (a padded position or a neighbour's row reaching the max)
# moves weights by 1e-2 or more, so a test at this tolerance still fails on one.
ENCODING_ATOL = 3e-5


def assert_same_encoding(
    got: SparseVector | Mapping[int, float],
    expected: SparseVector | Mapping[int, float],
    atol: float = ENCODING_ATOL,
) -> None:
    """Two encodings of one text are equal within float32 rounding (``ENCODING_ATOL``).

    Compared as dense vectors over the union of their terms (a missing term weighs 0):
    a weight within rounding of zero may surface in one encoding and not the other
    (its logit sits at 0 and flips sign), but every term heavier than ``atol`` must be
    in both, with weights within ``atol``.
    """
    a = got.to_dict() if isinstance(got, SparseVector) else dict(got)
    b = expected.to_dict() if isinstance(expected, SparseVector) else dict(expected)
    assert any(w > atol for w in b.values()), "a vacuous comparison: no weight above atol"
    terms = sorted(a.keys() | b.keys())
    diff = np.abs(np.array([a.get(t, 0.0) - b.get(t, 0.0) for t in terms], dtype=np.float64))
    bad = [(t, a.get(t), b.get(t)) for t, d in zip(terms, diff) if d > atol]
    assert not bad, f"{len(bad)} terms differ by more than {atol} (term, got, expected): {bad[:5]}"


@pytest.fixture(scope="session")
def same_encoding() -> Callable[..., None]:
    """:func:`assert_same_encoding`, for tests comparing encodings across batches or CPUs."""
    return assert_same_encoding


@pytest.fixture(scope="session")
def encoding_atol() -> float:
    """``ENCODING_ATOL``, for tests comparing dense weight matrices."""
    return ENCODING_ATOL


@pytest.fixture(scope="session")
def encoder() -> SpladeEncoder:
    """The bundled splade-tiny model on CPU (offline, ~1 s to load)."""
    return SpladeEncoder(device="cpu")


class OpenSearchNodes:
    """The session's OpenSearch nodes, one per version, each started on first use.

    ``$OPENSEARCH_URL`` (a user's own cluster) stands in for every version. Nodes stay
    up until the session ends (~300-400 MB each), so tests that alternate versions do
    not restart them.
    """

    def __init__(self) -> None:
        self.external = os.environ.get("OPENSEARCH_URL", "").rstrip("/") or None
        self._nodes: dict[tuple[str, bool], OpenSearchTestNode] = {}

    def url(self, version: str = OPENSEARCH_VERSION, *, neural_search: bool = False) -> str:
        if self.external and not neural_search:
            return self.external
        return self.node(version, neural_search=neural_search).url

    def node(self, version: str, *, neural_search: bool = False) -> OpenSearchTestNode:
        """The session's node of ``version``, started here on first use."""
        key = (version, neural_search)
        if key not in self._nodes:
            node = OpenSearchTestNode(version=version, neural_search=neural_search)
            node.start()  # fails with the node's log: these tests are never skipped
            self._nodes[key] = node
        return self._nodes[key]

    def close(self) -> None:
        for (version, neural_search), node in self._nodes.items():
            memory = node.memory_mib()
            if memory is not None:
                name = f"OpenSearch {version}" + (" + neural-search" if neural_search else "")
                NODE_MEMORY[name] = f"peak RSS {memory['peak']:.0f} MiB (heap {node.heap})"
            node.stop()
        self._nodes.clear()


NODE_MEMORY: dict[str, str] = {}
"""Each session node's peak memory, printed at the end of the run."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, memory in NODE_MEMORY.items():
        terminalreporter.write_line(f"{name} test node: {memory}")


@pytest.fixture(scope="session")
def opensearch_nodes() -> Iterator[OpenSearchNodes]:
    nodes = OpenSearchNodes()
    yield nodes
    nodes.close()


@pytest.fixture(scope="session", params=OPENSEARCH_MATRIX)
def opensearch_version(request: pytest.FixtureRequest) -> str:
    """The OpenSearch version under test: every test that takes ``opensearch_url`` runs
    once per version of ``OPENSEARCH_MATRIX`` (``"external"`` for ``$OPENSEARCH_URL``)."""
    return str(request.param)


@pytest.fixture(scope="session")
def opensearch_url(opensearch_version: str, opensearch_nodes: OpenSearchNodes) -> str:
    """The URL of a running OpenSearch of ``opensearch_version``: ``$OPENSEARCH_URL`` or
    a node started here from Maven jars (``langchain_splade.testing.opensearch``)."""
    return opensearch_nodes.url(opensearch_version)


@pytest.fixture(scope="session")
def opensearch_neural_url(opensearch_nodes: OpenSearchNodes) -> str:
    """OpenSearch 3.6.0 with the k-NN and neural-search plugins (SEISMIC sparse ANN):
    ``$OPENSEARCH_NEURAL_URL`` or a node started here."""
    return os.environ.get("OPENSEARCH_NEURAL_URL", "").rstrip("/") or opensearch_nodes.url(
        NEURAL_SEARCH_VERSION, neural_search=True
    )


@pytest.fixture(scope="session")
def opensearch_default_url(opensearch_nodes: OpenSearchNodes) -> str:
    """The default version's node only, for tests that need not run on every version."""
    return opensearch_nodes.url(OPENSEARCH_VERSION)


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    """The URL of a running Elasticsearch: ``$ELASTICSEARCH_URL`` or a node started here.

    The node is Elasticsearch 9.2 from Maven jars on a JDK 21+
    (``langchain_splade/testing/elasticsearch``). If it cannot start, the tests fail
    with the node's log: they are never skipped.
    """
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        yield url.rstrip("/")
        return
    from langchain_splade.testing.elasticsearch import ElasticsearchTestNode

    with ElasticsearchTestNode() as node:
        yield node.url
