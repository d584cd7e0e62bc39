"""One call wiring a Ray Data job: validate records → encode on an actor pool → write.

The records are read twice: once for a cheap validation pass (every id present, a
string, and unique; every text a string) whose failure raises before any target is
created or touched, then for the encode-and-write pass. Reading twice costs far less than
encoding, and keeps the driver's memory to the set of ids.

Ray retries a failed task or a lost actor; the bounds here (``max_retries``) turn a
cluster that can no longer make progress into an error instead of a silent hang.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_splade.errors import IncompatibleIndexError, SpladeError, require

require("ray", "ray")

import ray  # noqa: E402
from ray.data import ActorPoolStrategy, Dataset  # noqa: E402

from langchain_splade.distributed.encode import EncoderSpec, SpladeBatchEncoder  # noqa: E402
from langchain_splade.distributed.local_sink import LocalIndexDatasink  # noqa: E402
from langchain_splade.distributed.records import check_unique, record_ids  # noqa: E402
from langchain_splade.distributed.remote_sink import RemoteIndexDatasink  # noqa: E402

logger = logging.getLogger(__name__)

Sink = LocalIndexDatasink | RemoteIndexDatasink


@dataclass(frozen=True)
class IndexReport:
    """What a job did: documents written, and the index's size afterwards."""

    documents: int
    index_size: int
    seconds: float


def connect(address: str | None = None, **init_options: Any) -> None:
    """Join a Ray cluster (``"auto"``: ``$RAY_ADDRESS``, or an address such as
    ``"ray://head:10001"``/``"HOST:6379"``), or start a local one (``None``).

    Does nothing when Ray is already initialised in this process.
    """
    if ray.is_initialized():
        return
    if address is None:
        init_options.setdefault("include_dashboard", False)
    ray.init(address=address, **init_options)


def index_dataset(
    dataset: Dataset,
    sink: Sink,
    spec: EncoderSpec | None = None,
    *,
    workers: int = 1,
    rows_per_batch: int = 256,
    max_retries: int = 3,
) -> IndexReport:
    """Encode ``dataset``'s records with ``workers`` actors and write them to ``sink``.

    Args:
        dataset: records with ``id`` (or ``_id``) and ``text``, optional ``title`` and
            ``metadata`` (from ``ray.data.read_json``, ``read_parquet``, ``from_items``...).
        sink: :class:`LocalIndexDatasink`, :class:`OpenSearchDatasink` or
            :class:`ElasticsearchDatasink`; its fingerprint is set from ``spec``.
        spec: the encoder each actor builds (default: the bundled model, 1 thread).
        workers: actors in the pool (each holds one model).
        rows_per_batch: records per ``map_batches`` call; larger amortises padding.
        max_retries: how often a task is retried and an actor restarted before the
            job fails.

    Raises:
        InvalidInputError, InvalidTypeError: bad records (nothing is written).
        IncompatibleIndexError: the target was built with another encoder.
    """
    spec = spec or EncoderSpec()
    started = time.perf_counter()
    fingerprint = spec.fingerprint
    if sink.fingerprint is not None and sink.fingerprint != fingerprint:
        raise IncompatibleIndexError(
            f"The sink was given the fingerprint of {sink.fingerprint.model_name!r}, the "
            f"job encodes with {fingerprint.model_name!r}.",
            expected="one encoder for the sink and the job",
            fix="leave the sink's fingerprint out (the job sets it)",
        )
    sink.fingerprint = fingerprint
    with unwrapped_errors():
        sink.expected_rows = check_unique(_id_batches(dataset))  # bad input: nothing touched
        sink.prepare()  # creates the target, or refuses one of another encoder
        try:
            encoded = _map(
                dataset,
                SpladeBatchEncoder,
                fn_constructor_args=(spec,),
                batch_size=rows_per_batch,
                batch_format="pyarrow",
                compute=ActorPoolStrategy(size=workers),
                num_cpus=spec.threads,
                num_gpus=spec.num_gpus or None,
                max_retries=max_retries,
            )
            # Writing is I/O: no CPU reserved, so a full actor pool cannot starve it.
            encoded.write_datasink(
                sink, ray_remote_args={"num_cpus": 0, "max_retries": max_retries}
            )
        except BaseException as exc:
            sink.on_write_failed(exc if isinstance(exc, Exception) else RuntimeError(exc))
            raise
    return IndexReport(sink.expected_rows, sink.documents, time.perf_counter() - started)


def records_dataset(records: Sequence[dict[str, Any]]) -> Dataset:
    """A dataset of in-memory records (what the CLI builds from its loaders)."""
    items = list(records)
    return ray.data.from_items(items, override_num_blocks=max(1, min(64, len(items) // 500)))


def sink_for(
    backend: str,
    *,
    index_dir: Path | None = None,
    index_name: str | None = None,
    url: str | None = None,
    method: str | None = None,
    seismic: Mapping[str, Any] | None = None,
) -> Sink:
    """The sink for a backend named as the CLI names it."""
    from langchain_splade.distributed.remote_sink import (
        ElasticsearchDatasink,
        OpenSearchDatasink,
    )
    from langchain_splade.errors import InvalidInputError
    from langchain_splade.stores.factory import index_options

    options = index_options(backend, method, seismic)
    if backend == "local":
        if index_dir is None:
            raise InvalidInputError(
                "No index folder given for the local backend.", fix="pass --index DIR"
            )
        return LocalIndexDatasink(index_dir)
    if not index_name:
        raise InvalidInputError(f"No index name given for {backend}.", fix="pass --index-name")
    cls = OpenSearchDatasink if backend == "opensearch" else ElasticsearchDatasink
    return cls(index_name, url, index_options=options)


def _map(dataset: Dataset, fn: Any, *, max_retries: int, **options: Any) -> Dataset:
    """``dataset.map_batches`` with bounded actor restarts (Ray's default: forever).

    Ray 2.60 names no parameter for them and warns about the catch-all keywords it
    still honours (until 2.64, hence the extra's upper bound).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        return dataset.map_batches(
            fn, max_restarts=max_retries, max_task_retries=max_retries, **options
        )


def _id_batches(dataset: Dataset) -> Iterator[Any]:
    """The validation pass: :func:`record_ids` of every block, as pyarrow tables."""
    checked = dataset.map_batches(record_ids, batch_format="pyarrow", batch_size=4096)
    yield from checked.iter_batches(batch_format="pyarrow", batch_size=4096)


@contextlib.contextmanager
def unwrapped_errors() -> Iterator[None]:
    """Re-raise a :class:`SpladeError` that Ray wrapped (``RayTaskError``, Ray Data's
    ``UserCodeException``) as itself, so callers catch the project's own types."""
    try:
        yield
    except Exception as exc:
        cause = _splade_cause(exc)
        if cause is None or cause is exc:
            raise
        raise cause from None


def _splade_cause(exc: BaseException) -> SpladeError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "cause", None)
        if isinstance(current, SpladeError) and type(current).__module__.startswith(
            "langchain_splade"
        ):
            return current
        if isinstance(inner, BaseException):
            current = inner
            continue
        current = current.__cause__ or current.__context__
    return None
