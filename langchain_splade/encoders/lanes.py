"""Single-threaded lanes for short inputs: query latency that holds on a busy machine.

Torch runs each operator on its OpenMP intra-op pool, and every parallel region ends
in a barrier that waits for *all* pool threads. Encoding one query is hundreds of
tiny regions; when another process keeps one core busy, the pool thread on that
core is descheduled and every barrier waits for the scheduler to run it again, so a
4 ms query becomes 100+ ms. A short input gains nothing from two threads anyway.

A few worker threads ("lanes") each run with an intra-op pool of one thread:
``torch.set_num_threads(1)`` called *inside* the lane sets the calling thread's
OpenMP and MKL thread counts, which are per-thread state, so the caller's threads
keep theirs. It also sets the default that threads started later pick up; the
lanes restore that default right after they start, so nothing process-wide
changes. Lanes are used only where torch's parallel backend is OpenMP (the pip
wheels for Linux, Windows and macOS); elsewhere work runs in the calling thread.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import torch

logger = logging.getLogger(__name__)

T = TypeVar("T")
_in_lane = threading.local()
_lock = threading.Lock()
_lanes: Lanes | None = None


class Lanes:
    """``count`` daemon threads, each with a one-thread intra-op pool, serving a queue."""

    def __init__(self, count: int) -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        fresh_default = _in_new_thread(torch.get_num_threads)
        ready = threading.Barrier(count + 1)
        for index in range(count):
            threading.Thread(
                target=self._serve, args=(ready,), name=f"splade-lane-{index}", daemon=True
            ).start()
        ready.wait()
        # Threads created from now on get what they would have got without the lanes.
        _in_new_thread(functools.partial(torch.set_num_threads, fresh_default))
        self.count = count

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a free lane and return its result (or raise its exception)."""
        if getattr(_in_lane, "active", False):
            return fn()
        future: Future[T] = Future()
        self._tasks.put((fn, future))
        return future.result()

    def _serve(self, ready: threading.Barrier) -> None:
        # Torch sets a thread's counts from the process default on the thread's first
        # parallel call; do that first, or it would undo the 1 set here.
        torch.get_num_threads()
        torch.set_num_threads(1)
        _in_lane.active = True
        ready.wait()
        while True:
            fn, future = self._tasks.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)


def run_short(fn: Callable[[], T]) -> T:
    """Run a short encoding job on a single-threaded lane (see the module docstring)."""
    lanes = shared_lanes()
    return fn() if lanes is None else lanes.run(fn)


def shared_lanes() -> Lanes | None:
    """The process's lanes, started on first use; None where they cannot help."""
    global _lanes
    if _lanes is None and _openmp_backend():
        with _lock:
            if _lanes is None:
                _lanes = Lanes(max(1, min(4, os.cpu_count() or 1)))
                logger.debug("Started %d single-threaded encoding lanes", _lanes.count)
    return _lanes


@functools.cache
def _openmp_backend() -> bool:
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


def _in_new_thread(fn: Callable[[], T]) -> T:
    box: list[T] = []
    thread = threading.Thread(target=lambda: box.append(fn()), name="splade-lane-setup")
    thread.start()
    thread.join()
    return box[0]
