"""Search of the local index: top-k candidates, exact re-scoring, and hits.

How a search works (why it is exact and fast):

1. Block-max pruning (``_numba_pruned``): per-block upper bounds let the kernel
   score, term at a time, only the blocks of rows that could reach the k-th best
   score, accumulating ``uint16``-quantised weights in float32. Unmerged rows: brute
   force. The numpy fallback (no numba) scores every posting instead.
2. Every row whose approximate score could still beat the k-th best once the proven
   error bound is accounted for is a candidate (usually about k of them).
3. Candidates are re-scored exactly (float64 sums of the stored float32 weights)
   and sorted by ``(-score, id)``. So the scores equal ``SparseVector.dot`` up to
   float64 rounding and the ranking is the exact one, ties broken by id.

``approximate=True`` with ``alpha`` < 1 makes two cuts, both set by ``alpha``:

* query terms: only the heaviest terms, those holding ``alpha`` of the query's
  largest possible score (query weight x the term's largest stored weight), select
  candidates. The light tail of a SPLADE query is mostly frequent expansion terms
  with the longest posting lists: on real text (where block bounds are loose) it is
  most of a query's cost and rarely decides the top-k (Seismic's ``query_cut`` and
  BMP's query term pruning do the same);
* blocks: bounds are shrunk by ``alpha`` (BMP's approximation), so blocks that could
  only just beat the running threshold are skipped. Where the bounds are too loose to
  prune (:data:`LOOSE_BOUNDS`), the heavy terms are scanned instead, as exact search
  does, so approximate search is never slower than the exact scan.

The best :data:`CANDIDATE_DEPTH` x k rows by that partial score are re-scored with the
whole query. Returned scores stay exact, and filters stay exact among the scored rows.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_splade.errors import InvalidInputError, InvalidTypeError
from langchain_splade.filters import FilterNode, parse_filter
from langchain_splade.stores.local.kernels import make_query
from langchain_splade.stores.local.layout import ForwardStore, Postings, Ranked
from langchain_splade.stores.local.segments import Segment, concat
from langchain_splade.stores.local.state import IndexCore, Snapshot
from langchain_splade.types import SearchHit, SparseVector
from langchain_splade.validation import check_k

Filter = Mapping[str, Any]

DEFAULT_ALPHA = 0.85
"""The default recall dial of ``approximate=True`` (see :func:`check_alpha`): the
fastest setting with recall@10 >= 0.95 on every benchmark corpus (0.97-0.996 on real
Wikipedia paragraphs, a 1M corpus resampled from them and a 1M near-copy corpus;
0.80 drops to 0.94 on the near-copies). benchmarks/README.md has the figures."""

CANDIDATE_DEPTH = 4
"""Approximate searches re-score this many times k candidates with the whole query:
the cut query's ranking differs from the full one mostly within that depth (measured
on 500k documents resampled from Wikipedia: 4 instead of 2 adds 0.03-0.04 recall@10)."""

LOOSE_BOUNDS = 0.25
"""Block entries per posting above which searches scan instead of pruning (approximate
ones scan their heavy terms): the blocks then hold unrelated documents and the bounds
skip almost nothing. Measured
(``benchmarks/search_latency.py``): 0.13 on 1M near-copy resampled SPLADE documents,
where pruning is 3x faster than the scan; 0.36 on 50k-500k real or resampled Wikipedia
paragraphs, where it was 0.54-0.72x; 0.49 on 1M independent Zipf draws (0.86x)."""


class SearchMixin(IndexCore):
    """``search`` and ``search_batch`` of :class:`LocalSparseIndex`."""

    _prune = True
    """Exact searches skip blocks that cannot reach the top-k. ``False`` scores every
    posting instead (the exhaustive scan, kept as the benchmark's baseline); both
    are tested equal to brute force."""

    def search(
        self,
        query: SparseVector,
        k: int = 10,
        filter: Filter | None = None,
        *,
        approximate: bool = False,
        alpha: float = DEFAULT_ALPHA,
    ) -> list[SearchHit]:
        """The top-``k`` documents by exact dot product with ``query``, best first.

        Only documents sharing a term with the query (score > 0) and matching
        ``filter`` are returned; ties are broken by id. See the class docstring.

        Args:
            query: the encoded query.
            k: how many hits.
            filter: a metadata filter (``langchain_splade.filters``).
            approximate: select candidates with the query's heaviest terms and skip
                blocks that can only just reach the k-th score (faster, may miss some
                of the exact top-k; scores stay exact).
            alpha: the recall dial of ``approximate=True``, in (0, 1]: only the
                query terms holding ``alpha`` of the query's possible score select
                candidates, and a block is scored only if ``alpha`` x its upper
                bound reaches the running threshold. 1.0 is exact; lower is faster
                with lower recall (see benchmarks/README.md for recall@10 and speed
                per corpus). Ignored when ``approximate`` is False.
        """
        _check_query(query)
        check_k(k)
        factor = check_alpha(alpha) if _check_flag(approximate) else None
        node = parse_filter(filter)
        snap = self._current()
        mask = self._mask(snap, node)
        if mask is None:
            return []
        return self._search_one(snap, mask, query, k, factor)

    async def asearch(
        self, query: SparseVector, k: int = 10, filter: Filter | None = None, **options: Any
    ) -> list[SearchHit]:
        """Async :meth:`search` (``options``: ``approximate``, ``alpha``); runs in a
        worker thread, where the compiled kernel releases the GIL."""
        return await asyncio.to_thread(self.search, query, k, filter, **options)

    def search_batch(
        self,
        queries: Sequence[SparseVector],
        k: int = 10,
        filter: Filter | None = None,
        n_threads: int | None = None,
        *,
        approximate: bool = False,
        alpha: float = DEFAULT_ALPHA,
    ) -> list[list[SearchHit]]:
        """:meth:`search` for many queries, spread over ``n_threads`` threads (default:
        all cores). The compiled kernel releases the GIL, so throughput scales."""
        query_list = list(queries)
        for query in query_list:
            _check_query(query)
        check_k(k)
        factor = check_alpha(alpha) if _check_flag(approximate) else None
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
            return self._search_one(snap, mask, query, k, factor)

        if workers == 1:
            return [one(query) for query in query_list]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, query_list))

    def _mask(self, snap: Snapshot, node: FilterNode | None) -> npt.NDArray[np.bool_] | None:
        """Rows a search may return, or ``None`` when there are none."""
        if snap.n_live == 0:
            return None
        if node is None:
            return snap.alive
        mask = snap.columns.evaluate(node)
        mask &= snap.alive
        return mask if mask.any() else None

    def _search_one(
        self,
        snap: Snapshot,
        mask: npt.NDArray[np.bool_],
        query: SparseVector,
        k: int,
        alpha: float | None = None,
    ) -> list[SearchHit]:
        """``alpha`` None: exact (a full scan unless ``_prune``); else approximate."""
        if query.nnz == 0:
            return []
        postings = snap.base.postings
        q = make_query(postings, query.indices, query.values)
        blockmax = snap.base.blockmax
        if not (self._prune and _bounds_prune(snap.base)):
            blockmax = None  # loose bounds: the plain scan (of the heavy terms if approximate)
        buffers = self._buffers.acquire(snap.n_rows) if self._kernels.needs_buffers else None
        try:
            rows = None
            if alpha is not None and alpha < 1.0:
                heavy = make_query(postings, *heavy_terms(postings, query, alpha))
                depth = k * CANDIDATE_DEPTH
                rows = self._kernels.topk_candidates(
                    postings, blockmax, snap.delta, heavy, mask, depth, alpha, buffers
                )
            if rows is None or rows.shape[0] < k:  # exact, or too few: the whole query
                rows = self._kernels.topk_candidates(
                    postings, blockmax, snap.delta, q, mask, k, alpha or 1.0, buffers
                )
        finally:
            if buffers is not None:
                self._buffers.release(buffers)
        ranked = self._kernels.rank(snap.base.forward, snap.delta, rows, q)
        return hits(snap, ranked, k)


def heavy_terms(
    postings: Postings, query: SparseVector, share: float
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """The fewest query terms (sorted by id) whose largest possible contributions
    (query weight x the term's largest stored weight) hold ``share`` of their sum."""
    terms, weights = query.indices, query.values
    inside = terms < postings.vocab_size
    terms, weights = terms[inside], weights[inside]
    potential = weights.astype(np.float64) * postings.term_scale[terms]
    order = np.argsort(-potential, kind="stable")
    running = np.cumsum(potential[order])
    n = int(np.searchsorted(running, share * running[-1])) + 1 if running.shape[0] else 0
    keep = np.sort(order[:n])
    return terms[keep], weights[keep]


def _bounds_prune(segment: Segment) -> bool:
    """Whether the segment's block bounds are tight enough to be worth pruning with."""
    blockmax = segment.blockmax
    return blockmax is not None and blockmax.n_entries <= LOOSE_BOUNDS * segment.postings.nnz


def check_alpha(alpha: Any) -> float:
    """The approximate mode's dial: a number in (0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)):
        raise InvalidTypeError(
            f"alpha is a {type(alpha).__name__} ({alpha!r}).",
            expected="a float in (0, 1]",
            fix=f"pass alpha={DEFAULT_ALPHA} (lower is faster, 1.0 is exact)",
        )
    if not 0.0 < float(alpha) <= 1.0:
        raise InvalidInputError(
            f"alpha is {alpha}.",
            expected="a float in (0, 1]",
            fix=f"pass alpha={DEFAULT_ALPHA} (lower is faster, 1.0 is exact)",
        )
    return float(alpha)


def _check_flag(approximate: Any) -> bool:
    if not isinstance(approximate, (bool, np.bool_)):
        raise InvalidTypeError(
            f"approximate is a {type(approximate).__name__} ({approximate!r}).",
            expected="True or False",
            fix=f"pass approximate=True and set the recall dial with alpha={DEFAULT_ALPHA}",
        )
    return bool(approximate)


def _check_query(query: Any) -> None:
    if not isinstance(query, SparseVector):
        raise InvalidTypeError(
            f"The query is a {type(query).__name__}.",
            expected="a SparseVector",
            fix="encode the query first (encoder.encode_query(text))",
        )


def vector(snap: Snapshot, row: int) -> SparseVector:
    """The stored vector of ``row`` (a copy)."""
    if row < snap.n_base:
        terms, values = snap.base.forward.row(row)
    else:
        terms, values = snap.delta.row(row - snap.n_base)
    return SparseVector._trusted(terms, values)


def gather(snap: Snapshot, rows: npt.NDArray[np.int64]) -> ForwardStore:
    """The stored vectors of ``rows`` (base or delta rows), in that order."""
    in_base = rows < snap.n_base
    both = concat(
        snap.base.forward.take(rows[in_base]), snap.delta.take(rows[~in_base] - snap.n_base)
    )
    position = np.empty(rows.shape[0], dtype=np.int64)
    n_in_base = int(in_base.sum())
    position[in_base] = np.arange(n_in_base)
    position[~in_base] = n_in_base + np.arange(rows.shape[0] - n_in_base)
    return both.take(position)


def hits(snap: Snapshot, ranked: Ranked, k: int) -> list[SearchHit]:
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
    out = []
    for i in order[:k]:
        row = rows[i]
        metadata = metadatas[row]
        out.append(
            SearchHit(
                id=ids[row],
                score=scores[i],
                text=texts[row],
                metadata=copy_json(metadata) if metadata else {},
                vector=SparseVector._owned(
                    terms[bounds[i] : bounds[i + 1]], values[bounds[i] : bounds[i + 1]]
                ),
            )
        )
    return out


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value, so callers cannot mutate what the index filters on."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value
