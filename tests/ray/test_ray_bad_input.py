"""Bad input to a Ray indexing job: typed errors, raised before anything is written,
and the target left exactly as it was (absent, or holding its old documents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cluster_utils import RayCluster, load_records

from langchain_splade.errors import IncompatibleIndexError, InvalidInputError, InvalidTypeError
from langchain_splade.types import EncoderFingerprint, SparseVector

pytestmark = pytest.mark.timeout(180)

OTHER_ENCODER = EncoderFingerprint("another-model", "0" * 16, 30522)


@pytest.fixture(scope="module")
def good() -> list[dict[str, Any]]:
    return load_records(60)


def run(records: list[dict[str, Any]], sink: Any, spec: Any) -> Any:
    import ray

    from langchain_splade.distributed import index_dataset

    dataset = ray.data.from_items(records, override_num_blocks=3)
    return index_dataset(dataset, sink, spec, workers=2, rows_per_batch=20)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ({"text": "no id here"}, InvalidInputError, "no id"),
        ({"id": "x-1", "title": "t"}, InvalidInputError, "text"),
        ({"id": "x-2", "text": None}, InvalidInputError, "text"),
        ({"id": 7, "text": "a number as id"}, InvalidTypeError, "id"),
        ({"id": "x-3", "text": "t", "metadata": [1, 2]}, InvalidInputError, "metadata"),
    ],
    ids=["missing-id", "missing-text", "null-text", "int-id", "list-metadata"],
)
def test_bad_record_writes_nothing(
    ray_cluster: RayCluster,
    good: list[dict[str, Any]],
    spec: Any,
    tmp_path: Path,
    bad: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    """One bad record after 60 good ones: the whole job is refused, no folder made."""
    from langchain_splade.distributed import LocalIndexDatasink

    if isinstance(bad.get("id"), int):  # one Arrow column cannot mix str and int
        records = [{**r, "id": i} for i, r in enumerate(good)] + [bad]
    else:
        records = [*good, bad]
    with pytest.raises(error, match=message):
        run(records, LocalIndexDatasink(tmp_path / "index"), spec)
    assert list(tmp_path.iterdir()) == []


def test_duplicate_ids_write_nothing(
    ray_cluster: RayCluster, good: list[dict[str, Any]], spec: Any, tmp_path: Path
) -> None:
    from langchain_splade.distributed import LocalIndexDatasink

    records = [*good, {**good[3], "text": "the same id again"}]
    with pytest.raises(InvalidInputError, match=f"{good[3]['id']!r} occurs more than once"):
        run(records, LocalIndexDatasink(tmp_path / "index"), spec)
    assert list(tmp_path.iterdir()) == []


def test_local_target_of_another_encoder_is_left_as_it_was(
    ray_cluster: RayCluster, good: list[dict[str, Any]], spec: Any, tmp_path: Path
) -> None:
    from langchain_splade.distributed import LocalIndexDatasink
    from langchain_splade.stores.local import LocalSparseIndex

    target = tmp_path / "index"
    with LocalSparseIndex.open(target) as index:
        index.check_encoder(OTHER_ENCODER)
        index.add(["old"], [SparseVector([5], [1.0])], ["an old document"])
    before = sorted(p.name for p in target.rglob("*"))
    with pytest.raises(IncompatibleIndexError, match="another-model"):
        run(good, LocalIndexDatasink(target), spec)
    after = LocalSparseIndex.load(target)
    assert after.ids() == ["old"] and after.fingerprint == OTHER_ENCODER
    assert sorted(p.name for p in target.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no shard folder left


def test_opensearch_index_of_another_encoder_gets_nothing(
    ray_cluster: RayCluster, good: list[dict[str, Any]], spec: Any, os_index: tuple[str, str, Any]
) -> None:
    from langchain_splade.distributed import OpenSearchDatasink
    from langchain_splade.stores.opensearch import OpenSearchSparseIndex

    url, name, _ = os_index
    existing = OpenSearchSparseIndex(name, url=url)
    existing.check_encoder(OTHER_ENCODER)
    with pytest.raises(IncompatibleIndexError, match="another-model"):
        run(good, OpenSearchDatasink(name, url), spec)
    assert len(existing) == 0


def test_bad_record_creates_no_opensearch_index(
    ray_cluster: RayCluster, good: list[dict[str, Any]], spec: Any, os_index: tuple[str, str, Any]
) -> None:
    from langchain_splade.distributed import OpenSearchDatasink

    url, name, client = os_index
    with pytest.raises(InvalidInputError, match="no id"):
        run([*good, {"text": "no id"}], OpenSearchDatasink(name, url), spec)
    assert not client.indices.exists(index=name)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, InvalidInputError),
        (-5, InvalidInputError),
        (True, InvalidTypeError),
        ("50", InvalidTypeError),
    ],
)
def test_bad_rows_per_write_is_refused_by_every_sink(
    value: Any, error: type[Exception], tmp_path: Path
) -> None:
    from langchain_splade.distributed import LocalIndexDatasink, OpenSearchDatasink

    with pytest.raises(error, match="rows_per_write"):
        LocalIndexDatasink(tmp_path / "index", rows_per_write=value)
    with pytest.raises(error, match="rows_per_write"):
        OpenSearchDatasink("name", "http://127.0.0.1:9", rows_per_write=value)
    assert not (tmp_path / "index").exists()
