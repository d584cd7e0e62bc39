"""Latency measurement shared by the search benchmarks: alternating passes, medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def summarise(latencies_s: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(latencies_s) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "qps": round(1e3 / float(ms.mean()), 1),
    }


def in_passes(
    systems: dict[str, Callable[[int], Any]], n_queries: int, rounds: int = 3
) -> tuple[dict[str, list[float]], dict[str, list[Any]]]:
    """Each system answers every query in one pass, passes take turns over the systems
    for ``rounds`` rounds (rotating who goes first); a query's time is its median.

    Why not query by query across systems: the system that runs right after another
    finds that query's posting lists in cache (measured: the same code path ran at
    0.57-0.75x of itself when it always followed its twin). Within a pass every query
    is new, as for a user.
    """
    names = list(systems)
    for name in names:  # warm-up: compile, page in
        for i in range(min(3, n_queries)):
            systems[name](i)
    samples: dict[str, list[list[float]]] = {name: [[] for _ in range(n_queries)] for name in names}
    results: dict[str, list[Any]] = {}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out = []
            for i in range(n_queries):
                start = time.perf_counter()
                out.append(systems[name](i))
                samples[name][i].append(time.perf_counter() - start)
            results[name] = out
    times = {name: [statistics.median(s) for s in per_query] for name, per_query in samples.items()}
    return times, results
