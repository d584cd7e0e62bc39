"""Backend I/O written once: request plans and their sync and async drivers.

A *plan* is a plain generator that yields what it needs done - a :class:`Call` of a
client method, or a :class:`Sleep` between attempts - and receives each call's
response through ``send``. It never touches a client, never sleeps and never awaits,
so one plan serves both the sync and the async API: :func:`run_sync` drives it with
a blocking client, :func:`run_async` with an async one. When a call fails, the
exception is thrown into the plan (``generator.throw``) at the ``yield`` that asked
for it, so retries, backoff and error translation live in the plan (or in a shared
helper such as :func:`retrying`) and exist exactly once. This is the "sans-I/O"
style of h11 and hyper-h2, applied to a database client.

Example::

    def count_plan(index: str) -> Plan[int]:
        response = yield Call("count", {"index": index})
        return int(response["count"])

    run_sync(OpenSearch(url), count_plan("docs"))
    await run_async(AsyncOpenSearch(url), count_plan("docs"))
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One client request: ``client.<api>(**kwargs)``.

    Attributes:
        api: the dotted client method, e.g. ``"search"``, ``"bulk"`` or
            ``"indices.get_mapping"``.
        kwargs: its keyword arguments.
    """

    api: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sleep:
    """A pause before the next attempt (backoff); the driver sleeps its own way."""

    seconds: float


Step = Call | Sleep
Plan = Generator[Step, Any, T]
"""A generator yielding :class:`Call`/:class:`Sleep` steps and returning ``T``."""


def resolve(client: Any, api: str) -> Callable[..., Any]:
    """The bound method ``client.<api>`` for a dotted name such as ``"indices.create"``."""
    target = client
    for part in api.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{api!r} is not a method of {type(client).__name__}")
    return target


def run_sync(client: Any, plan: Plan[T]) -> T:
    """Drive ``plan`` to completion with a blocking ``client``; returns its result.

    A failed call's exception is thrown into the plan; whatever escapes the plan
    (its own error, or the call's if the plan does not catch it) is raised here.
    """
    try:
        step = next(plan)
        while True:
            try:
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    result: Any = None
                else:
                    result = resolve(client, step.api)(**step.kwargs)
            except Exception as exc:  # the plan decides what to do
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        return done.value
    finally:
        plan.close()


async def run_async(client: Any, plan: Plan[T]) -> T:
    """Drive ``plan`` to completion with an async ``client`` (methods return awaitables).

    The twin of :func:`run_sync`: sleeps with ``asyncio.sleep``, and a cancelled task
    closes the plan (its ``finally`` blocks run) instead of throwing into it.
    """
    try:
        step = next(plan)
        while True:
            try:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    result: Any = None
                else:
                    result = resolve(client, step.api)(**step.kwargs)
                    if inspect.isawaitable(result):
                        result = await result
            except Exception as exc:  # the plan decides what to do
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        return done.value
    finally:
        plan.close()


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying a failed call.

    Attributes:
        max_retries: attempts after the first (0: never retry).
        initial_backoff: seconds before the first retry; doubled each time.
        max_backoff: the longest wait between two attempts.
    """

    max_retries: int = 5
    initial_backoff: float = 1.0
    max_backoff: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return float(min(self.initial_backoff * 2**attempt, self.max_backoff))


def retrying(
    call: Call,
    retryable: Callable[[Exception], bool],
    policy: RetryPolicy,
) -> Plan[Any]:
    """A plan sending ``call`` until it succeeds, with exponential backoff while
    ``retryable(error)`` holds and retries remain; the last error is re-raised.

    Use it inside a plan: ``response = yield from retrying(Call(...), retryable, policy)``.
    Only idempotent requests (reads, index-by-id, delete-by-id) should be retried.
    """
    attempt = 0
    while True:
        try:
            return (yield call)
        except Exception as exc:
            if attempt >= policy.max_retries or not retryable(exc):
                raise
        yield Sleep(policy.backoff(attempt))
        attempt += 1


def translating(plan: Plan[T], translate: Callable[[Exception], Exception | None]) -> Plan[T]:
    """``plan``, with any exception that escapes it replaced by ``translate(exc)``
    (chained with ``from``); ``None`` from ``translate`` re-raises the original."""
    try:
        return (yield from plan)
    except Exception as exc:
        replacement = translate(exc)
        if replacement is None or replacement is exc:
            raise
        raise replacement from exc


BulkItem = tuple[bool, Mapping[str, Any]]
"""One bulk result: ``(stored, {op: item})`` as a ``_bulk`` answer lists them."""


def bulk(
    ids: Sequence[str],
    request: Callable[[list[str]], Call],
    *,
    chunk_size: int,
    policy: RetryPolicy,
    retryable: Callable[[Exception], bool],
    item_retry_statuses: Collection[int] = (429, 502, 503, 504),
    describe: Callable[[Exception], str] = str,
) -> Plan[list[BulkItem]]:
    """Send one bulk action per id, ``chunk_size`` ids per request; one result per id.

    A request that times out or is refused (``retryable``) is re-sent with backoff,
    and so are the items the cluster rejected with ``item_retry_statuses`` (only
    idempotent actions, index and delete by id, may be sent this way). When a
    request still fails after that, that chunk's ids and every later one are reported
    as not stored (with ``describe(error)``) and nothing more is sent, so a caller can
    always say exactly which ids were stored.

    Args:
        ids: the documents, in order.
        request: the bulk ``Call`` for a list of ids.
    """
    results: list[BulkItem] = []
    size = max(1, chunk_size)
    for start in range(0, len(ids), size):
        try:
            results += yield from _bulk_chunk(
                list(ids[start : start + size]), request, policy, retryable, item_retry_statuses
            )
        except Exception as exc:
            reason = describe(exc)
            results += [
                (False, {"bulk": {"_id": doc_id, "status": "?", "error": reason}})
                for doc_id in ids[start:]
            ]
            break
    return results


def _bulk_chunk(
    chunk: list[str],
    request: Callable[[list[str]], Call],
    policy: RetryPolicy,
    retryable: Callable[[Exception], bool],
    item_retry_statuses: Collection[int],
) -> Plan[list[BulkItem]]:
    done: list[BulkItem] = []
    for attempt in range(policy.max_retries + 1):
        response = yield from retrying(request(chunk), retryable, policy)
        again = []
        for entry in response["items"]:
            info = next(iter(entry.values()))
            status = int(info.get("status", 500))
            if status in item_retry_statuses and attempt < policy.max_retries:
                again.append(str(info["_id"]))
            else:
                done.append((200 <= status < 300, entry))
        if not again:
            break
        yield Sleep(policy.backoff(attempt))
        chunk = again
    return done
