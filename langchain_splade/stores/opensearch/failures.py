"""Which opensearch-py failures are worth a retry, and what to tell the user.

Used by the request plans (:mod:`.operations`), so the sync and the async API retry
and explain the same failures the same way. opensearch-py raises ``TransportError``
subclasses for HTTP answers (``status_code`` an int) and for the network
(``ConnectionError``, ``ConnectionTimeout``; ``status_code`` the string ``"N/A"`` or
``"TIMEOUT"``).
"""

from __future__ import annotations

from typing import Any

from langchain_splade.errors import BackendError, IndexNotFoundError, SpladeError

RETRY_STATUSES = (429, 502, 503, 504)
"""Overloaded (429) or a proxy, node or shard briefly unavailable (502-504): worth
retrying with backoff. A refused connection is not retried here (the transport
already tried every host), so a wrong URL fails fast."""

CLOSED_LOOP = "Event loop is closed"


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an answer the cluster gave, else ``None``."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def is_retryable(exc: BaseException) -> bool:
    """Timeouts and 429/502/503/504 answers."""
    from opensearchpy.exceptions import ConnectionTimeout

    return isinstance(exc, ConnectionTimeout) or status_of(exc) in RETRY_STATUSES


def is_index_missing(exc: BaseException) -> bool:
    return status_of(exc) == 404 and "index_not_found" in str(exc)


def is_closed_loop(exc: BaseException) -> bool:
    """The async client's event loop is closed: a client bug, not a cluster outage.

    opensearch-py wraps the ``RuntimeError`` in a ``ConnectionError`` (as ``info``).
    """
    inner = getattr(exc, "info", None)
    return any(
        isinstance(e, RuntimeError) and CLOSED_LOOP in str(e) for e in (exc, inner, exc.__cause__)
    )


def translate(
    exc: BaseException, *, action: str, index_name: str, where: str, retries: str
) -> SpladeError | None:
    """A ``SpladeError`` saying what failed and how to fix it; ``None`` keeps ``exc``."""
    from opensearchpy.exceptions import ConnectionError, ConnectionTimeout, TransportError

    if isinstance(exc, SpladeError):
        return None
    if is_index_missing(exc):
        return IndexNotFoundError(
            f"Could not {action}: the OpenSearch index {index_name!r} does not exist "
            "(it was deleted while this object was using it).",
            expected=f"the index {index_name!r} created or adopted by this object",
            fix="re-add the documents (the next add creates the index again), or check "
            "that nothing else deletes it",
        )
    if is_closed_loop(exc):
        return BackendError(
            f"Could not {action}: the async client belongs to an event loop that is closed "
            "(the cluster was not contacted).",
            expected="an AsyncOpenSearch created in the event loop that runs the call",
            fix="create the AsyncOpenSearch inside the running loop, or pass url=... and "
            "let the index make one async client per event loop",
        )
    if isinstance(exc, ConnectionTimeout):
        return BackendError(
            f"OpenSearch at {where} did not answer in time to {action}{retries}.",
            expected="a cluster that answers within the client timeout",
            fix="check the cluster's load and health, or raise the timeout "
            "(client_kwargs={'timeout': 60}) or max_retries",
        )
    if isinstance(exc, ConnectionError):
        return BackendError(
            f"Cannot reach OpenSearch at {where} to {action}: {exc}.",
            expected="a running cluster at that URL",
            fix="start the cluster (e.g. `langchain-splade opensearch-node`) and check "
            "url= or $OPENSEARCH_URL",
        )
    status = status_of(exc)
    if status in (401, 403):
        return BackendError(
            f"OpenSearch at {where} refused to {action} (HTTP {status}): {reason(exc)}.",
            expected="credentials allowed to read and write the index",
            fix="pass a client with http_auth=..., or client_kwargs={'http_auth': (user, pw)}",
        )
    if status in RETRY_STATUSES:
        return BackendError(
            f"OpenSearch at {where} refused to {action} with HTTP {status}{retries}.",
            expected="a cluster with capacity for the request",
            fix="retry later, raise max_retries/initial_backoff, send smaller chunks "
            "(chunk_size) or scale the cluster",
        )
    if isinstance(exc, TransportError):
        return BackendError(
            f"OpenSearch failed to {action}: {reason(exc)}",
            expected="a reachable cluster that accepts the request",
            fix="check the URL, credentials and the cluster's health (GET _cluster/health)",
        )
    return None


def reason(exc: BaseException) -> str:
    """The root cause's type and reason from an error body, else the error's text."""
    info: Any = getattr(exc, "info", None)
    error = info.get("error") if isinstance(info, dict) else None
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        cause = causes[0] if isinstance(causes[0], dict) else error
        return f"{cause.get('type', '')}: {cause.get('reason', '')}".strip(": ")
    return str(exc)
