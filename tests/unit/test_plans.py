"""The request-plan drivers: one plan, the same answers and errors sync and async.

The clients here are tiny fakes on purpose: this is pure control-flow logic (what is
sent, what is retried, what is raised); the real clients are exercised by the
contract and integration suites.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from langchain_splade.stores.plans import (
    Call,
    Plan,
    RetryPolicy,
    Sleep,
    bulk,
    resolve,
    retrying,
    run_async,
    run_sync,
    translating,
)


class Flaky(Exception):
    """A retryable failure."""


class Fatal(Exception):
    """A failure that must not be retried."""


class _Indices:
    def __init__(self, owner: FakeClient) -> None:
        self._owner = owner

    def create(self, **kwargs: Any) -> Any:
        return self._owner._answer("indices.create", kwargs)


class FakeClient:
    """Answers from a script; records every call made."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = {api: list(answers) for api, answers in script.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.indices = _Indices(self)

    def _answer(self, api: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((api, kwargs))
        answer = self.script[api].pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def count(self, **kwargs: Any) -> Any:
        return self._answer("count", kwargs)


class AsyncFakeClient(FakeClient):
    """The same script, with coroutine methods (like ``AsyncOpenSearch``)."""

    async def count(self, **kwargs: Any) -> Any:  # type: ignore[override]
        await asyncio.sleep(0)
        return self._answer("count", kwargs)


def drive(mode: str, client_script: dict[str, list[Any]], plan: Plan[Any]) -> tuple[Any, Any]:
    """Run ``plan`` sync or async; returns (result, client)."""
    if mode == "sync":
        client: FakeClient = FakeClient(client_script)
        return run_sync(client, plan), client
    client = AsyncFakeClient(client_script)
    return asyncio.run(run_async(client, plan)), client


MODES = ["sync", "async"]
NO_WAIT = RetryPolicy(max_retries=3, initial_backoff=0.0)


def count_plan() -> Plan[int]:
    response = yield Call("count", {"index": "docs"})
    return int(response["count"])


@pytest.mark.parametrize("mode", MODES)
def test_a_plan_gets_each_response_and_returns_its_result(mode: str) -> None:
    result, client = drive(mode, {"count": [{"count": 7}]}, count_plan())
    assert result == 7
    assert client.calls == [("count", {"index": "docs"})]


@pytest.mark.parametrize("mode", MODES)
def test_dotted_apis_reach_nested_namespaces(mode: str) -> None:
    def plan() -> Plan[Any]:
        created = yield Call("indices.create", {"index": "x"})
        return created

    result, client = drive(mode, {"indices.create": [{"acknowledged": True}]}, plan())
    assert result == {"acknowledged": True}
    assert client.calls == [("indices.create", {"index": "x"})]


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_call_is_thrown_into_the_plan_at_its_yield(mode: str) -> None:
    def plan() -> Plan[str]:
        try:
            yield Call("count", {})
        except Flaky as exc:
            return f"handled {exc}"
        return "not reached"

    result, _ = drive(mode, {"count": [Flaky("boom")]}, plan())
    assert result == "handled boom"


@pytest.mark.parametrize("mode", MODES)
def test_an_uncaught_call_error_reaches_the_caller(mode: str) -> None:
    with pytest.raises(Fatal, match="no"):
        drive(mode, {"count": [Fatal("no")]}, count_plan())


@pytest.mark.parametrize("mode", MODES)
def test_retrying_backs_off_then_succeeds(mode: str) -> None:
    def plan() -> Plan[Any]:
        response = yield from retrying(Call("count", {}), lambda e: isinstance(e, Flaky), NO_WAIT)
        return response["count"]

    result, client = drive(mode, {"count": [Flaky(), Flaky(), {"count": 3}]}, plan())
    assert result == 3
    assert len(client.calls) == 3


@pytest.mark.parametrize("mode", MODES)
def test_retrying_gives_up_after_max_retries_with_the_last_error(mode: str) -> None:
    script: dict[str, list[Any]] = {"count": [Flaky(str(i)) for i in range(5)]}

    def plan() -> Plan[Any]:
        return (yield from retrying(Call("count", {}), lambda e: isinstance(e, Flaky), NO_WAIT))

    with pytest.raises(Flaky, match="3"):
        drive(mode, script, plan())


@pytest.mark.parametrize("mode", MODES)
def test_retrying_never_retries_a_fatal_error(mode: str) -> None:
    def plan() -> Plan[Any]:
        return (yield from retrying(Call("count", {}), lambda e: isinstance(e, Flaky), NO_WAIT))

    script: dict[str, list[Any]] = {"count": [Fatal("x"), {"count": 1}]}
    with pytest.raises(Fatal):
        drive(mode, script, plan())


def test_retrying_yields_exponential_sleeps() -> None:
    policy = RetryPolicy(max_retries=4, initial_backoff=0.5, max_backoff=3.0)
    plan = retrying(Call("count", {}), lambda e: True, policy)
    steps = [next(plan)]
    for _ in range(4):
        steps.append(plan.throw(Flaky()))  # -> Sleep
        steps.append(plan.send(None))  # -> the Call again
    with pytest.raises(Flaky):
        plan.throw(Flaky())
    sleeps = [s.seconds for s in steps if isinstance(s, Sleep)]
    assert sleeps == [0.5, 1.0, 2.0, 3.0]
    assert all(s == Call("count", {}) for s in steps if isinstance(s, Call))


@pytest.mark.parametrize("mode", MODES)
def test_sleep_steps_are_honoured(mode: str) -> None:
    def plan() -> Plan[str]:
        response = yield Sleep(0.05)
        return "slept" if response is None else "wrong"

    import time

    started = time.monotonic()
    result, _ = drive(mode, {}, plan())
    assert result == "slept"
    assert time.monotonic() - started >= 0.045


@pytest.mark.parametrize("mode", MODES)
def test_translating_replaces_escaping_errors_and_chains_them(mode: str) -> None:
    def translate(exc: Exception) -> Exception | None:
        return ValueError(f"translated {exc}") if isinstance(exc, Fatal) else None

    with pytest.raises(ValueError, match="translated boom") as info:
        drive(mode, {"count": [Fatal("boom")]}, translating(count_plan(), translate))
    assert isinstance(info.value.__cause__, Fatal)
    # None leaves the original error alone.
    with pytest.raises(Flaky):
        drive(mode, {"count": [Flaky()]}, translating(count_plan(), translate))


@pytest.mark.parametrize("mode", MODES)
def test_the_plan_is_closed_when_the_caller_gives_up(mode: str) -> None:
    closed: list[bool] = []

    def plan() -> Plan[Any]:
        try:
            yield Call("count", {})
            yield Call("count", {})
        finally:
            closed.append(True)

    with pytest.raises(Fatal):
        drive(mode, {"count": [{"count": 1}, Fatal()]}, plan())
    assert closed == [True]


def test_a_cancelled_async_run_closes_the_plan_without_throwing_into_it() -> None:
    seen: list[str] = []

    class Slow:
        async def count(self) -> None:
            await asyncio.sleep(10)

    def plan() -> Plan[Any]:
        try:
            yield Call("count", {})
        except Exception:  # must not see the cancellation
            seen.append("caught")
        finally:
            seen.append("closed")

    async def main() -> None:
        task = asyncio.create_task(run_async(Slow(), plan()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["closed"]


def test_resolve_rejects_a_non_method() -> None:
    client = FakeClient({})
    client.value = 3  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="not a method"):
        resolve(client, "value")
    with pytest.raises(AttributeError):
        resolve(client, "indices.nope")


# -- bulk: chunks, re-sent items, and every id accounted for ----------------------------


class BulkClient:
    """Answers ``bulk`` from per-call item statuses (or an exception for the request)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = list(answers)
        self.sent: list[list[str]] = []

    def bulk(self, ids: list[str]) -> Any:
        self.sent.append(list(ids))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        statuses = answer if isinstance(answer, list) else [answer] * len(ids)
        return {"items": [{"index": {"_id": i, "status": s}} for i, s in zip(ids, statuses)]}


def bulk_plan(ids: list[str], chunk_size: int = 2) -> Plan[list[Any]]:
    return bulk(
        ids,
        lambda chunk: Call("bulk", {"ids": chunk}),
        chunk_size=chunk_size,
        policy=NO_WAIT,
        retryable=lambda e: isinstance(e, Flaky),
        describe=lambda e: f"gave up: {e}",
    )


def stored(results: list[Any]) -> dict[str, bool]:
    return {next(iter(item.values()))["_id"]: ok for ok, item in results}


def test_bulk_sends_chunks_and_resends_only_rejected_items() -> None:
    client = BulkClient([[201, 429], 201, 201])
    results = run_sync(client, bulk_plan(["a", "b", "c", "d"]))
    assert client.sent == [["a", "b"], ["b"], ["c", "d"]]
    assert stored(results) == {"a": True, "b": True, "c": True, "d": True}


def test_bulk_resends_a_timed_out_request_then_reports_item_failures() -> None:
    client = BulkClient([Flaky("timeout"), [201, 400], 201])
    results = run_sync(client, bulk_plan(["a", "b", "c"]))
    assert client.sent == [["a", "b"], ["a", "b"], ["c"]]
    assert stored(results) == {"a": True, "b": False, "c": True}


def test_bulk_names_every_unsent_id_when_a_chunk_fails_for_good() -> None:
    client = BulkClient([201, Fatal("down")])
    results = run_sync(client, bulk_plan(["a", "b", "c", "d", "e"]))
    assert client.sent == [["a", "b"], ["c", "d"]]  # nothing sent after the failure
    assert stored(results) == {"a": True, "b": True, "c": False, "d": False, "e": False}
    reasons = {next(iter(item.values()))["error"] for ok, item in results if not ok}
    assert reasons == {"gave up: down"}
