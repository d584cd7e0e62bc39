"""The record checks of distributed indexing (pure pyarrow, no Ray cluster), and the
install hint when Ray is missing."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

from langchain_splade.errors import InvalidInputError, InvalidTypeError

pa = pytest.importorskip("pyarrow")
if importlib.util.find_spec("ray") is not None:  # the package needs Ray; records do not
    from langchain_splade.distributed.records import check_unique, prepare_records, record_ids

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="pip install 'langchain-splade[ray]'"
)


@needs_ray
def test_records_are_normalised_as_the_cli_loader_does() -> None:
    batch = pa.Table.from_pylist(
        [
            {"_id": "a", "title": "Title", "text": "body", "metadata": {"k": 1, "gone": None}},
            {"_id": "b", "title": "", "text": "plain", "metadata": None},
        ]
    )
    out = prepare_records(batch)
    assert out.column_names == ["id", "text", "metadata"]
    assert out.column("id").to_pylist() == ["a", "b"]
    assert out.column("text").to_pylist() == ["Title\nbody", "plain"]
    metadatas = [json.loads(m) for m in out.column("metadata").to_pylist()]
    assert metadatas == [{"k": 1, "title": "Title"}, {}]


@needs_ray
def test_metadata_may_be_a_json_string() -> None:
    out = prepare_records(pa.table({"id": ["a"], "text": ["t"], "metadata": ['{"x": [1]}']}))
    assert json.loads(out.column("metadata")[0].as_py()) == {"x": [1]}


@needs_ray
@pytest.mark.parametrize(
    ("table", "error", "match"),
    [
        ({"text": ["t"]}, InvalidInputError, "no id field"),
        ({"id": ["a"]}, InvalidInputError, "no 'text' field"),
        ({"id": [None], "text": ["t"]}, InvalidInputError, "no id"),
        ({"id": [3], "text": ["t"]}, InvalidTypeError, "int"),
        ({"id": ["a"], "text": [None]}, InvalidInputError, "text None"),
        ({"id": ["a"], "text": ["t"], "metadata": ["[1]"]}, InvalidInputError, "metadata"),
    ],
)
def test_bad_records_raise_typed_errors(table: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        prepare_records(pa.table(table))
    described = record_ids(pa.table(table))  # the same error, carried as data
    with pytest.raises(error, match=match):
        check_unique([described])


@needs_ray
def test_check_unique_counts_and_names_a_repeat() -> None:
    batches = [record_ids(pa.table({"id": ["a", "b"], "text": ["x", "y"]}))]
    assert check_unique(batches) == 2
    batches.append(record_ids(pa.table({"id": ["c", "a"], "text": ["x", "y"]})))
    with pytest.raises(InvalidInputError, match="'a' occurs more than once"):
        check_unique(batches)


def test_without_ray_the_error_gives_the_install_command() -> None:
    script = textwrap.dedent(
        """
        import importlib.util
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "ray" else real(name, *a)
        from langchain_splade.errors import MissingDependencyError
        try:
            import langchain_splade.distributed
        except MissingDependencyError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "pip install 'langchain-splade[ray]'" in out.stdout, out.stderr
