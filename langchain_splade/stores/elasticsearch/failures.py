"""Which elasticsearch-py failures are worth a retry, and what to tell the user.

elasticsearch-py 8 and 9 raise ``ApiError`` subclasses for the cluster's answers
(``status_code`` an int, the error body in ``info``) and elastic-transport's
``ConnectionError``/``ConnectionTimeout`` for the network. The HTTP-level reading
(status, index missing, closed event loop, root-cause reason) is shared with the
OpenSearch backend (:mod:`langchain_splade.stores.opensearch.failures`); only the
exception classes and the advice differ.
"""

from __future__ import annotations

from langchain_splade.errors import BackendError, IndexNotFoundError, SpladeError
from langchain_splade.stores.opensearch.failures import (
    RETRY_STATUSES,
    is_closed_loop,
    is_index_missing,
    reason,
    status_of,
)

__all__ = ["RETRY_STATUSES", "is_index_missing", "is_retryable", "status_of", "translate"]


def is_retryable(exc: BaseException) -> bool:
    """Timeouts and 429/502/503/504 answers."""
    from elasticsearch import ConnectionTimeout

    return isinstance(exc, ConnectionTimeout) or status_of(exc) in RETRY_STATUSES


def translate(
    exc: BaseException, *, action: str, index_name: str, where: str, retries: str
) -> SpladeError | None:
    """A ``SpladeError`` saying what failed and how to fix it; ``None`` keeps ``exc``."""
    from elasticsearch import ApiError, ConnectionError, ConnectionTimeout, TransportError

    status = status_of(exc)
    found, expected, fix = (
        "",
        "a reachable cluster that accepts the request",
        ("check the URL, credentials and the cluster's health (GET _cluster/health)"),
    )
    if isinstance(exc, SpladeError):
        return None
    if is_index_missing(exc):
        return IndexNotFoundError(
            f"Could not {action}: the Elasticsearch index {index_name!r} does not exist "
            "(it was deleted while this object was using it).",
            expected=f"the index {index_name!r} created or adopted by this object",
            fix="re-add the documents (the next add creates the index again), or check "
            "that nothing else deletes it",
        )
    if is_closed_loop(exc) or any(is_closed_loop(e) for e in getattr(exc, "errors", ())):
        found = f"Could not {action}: the async client belongs to a closed event loop"
        expected = "an AsyncElasticsearch created in the event loop that runs the call"
        fix = "create it inside the running loop, or pass url=... (one client per loop)"
    elif isinstance(exc, ConnectionTimeout):
        found = f"Elasticsearch at {where} did not answer in time to {action}{retries}"
        fix = "check the cluster's load, or raise client_kwargs={'request_timeout': 60}"
    elif isinstance(exc, ConnectionError):
        found = f"Cannot reach Elasticsearch at {where} to {action}: {exc}"
        fix = "start the cluster (`langchain-splade elasticsearch-node`), check url="
    elif status in (401, 403):
        found = f"Elasticsearch at {where} refused to {action} (HTTP {status}): {reason(exc)}"
        expected = "credentials allowed to read and write the index"
        fix = "pass client_kwargs={'api_key': ...} or your own client with its credentials"
    elif status in RETRY_STATUSES:
        found = f"Elasticsearch at {where} refused to {action} with HTTP {status}{retries}"
        fix = "retry later, raise max_retries or initial_backoff, or lower chunk_size"
    elif isinstance(exc, (ApiError, TransportError)):
        found = f"Elasticsearch failed to {action}: {reason(exc)}"
    else:
        return None
    return BackendError(found + ".", expected=expected, fix=fix)
