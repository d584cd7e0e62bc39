"""The command line, run in-process on real files with the real model; the demo runs as
``make demo`` installs it: in a fresh interpreter without the dev packages."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from langchain_splade.cli import main
from langchain_splade.loaders import load_passages


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "volcano.txt").write_text(
        "Volcanoes erupt when magma rises to the surface.\n\n" + "Lava cools into rock. " * 200
    )
    (folder / "notes.md").write_text("# Tea\n\nGreen tea is brewed at lower temperatures.\n")
    (folder / "records.jsonl").write_text(
        json.dumps(
            {
                "_id": "r1",
                "title": "Mercury",
                "text": "Mercury is a liquid metal.",
                "metadata": {"kind": "element"},
            }
        )
        + "\n"
        + json.dumps(
            {"_id": "r2", "text": "Jupiter is a gas giant.", "metadata": {"kind": "planet"}}
        )
        + "\n"
    )
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    return folder


def test_loaders_split_text_and_keep_jsonl_records(corpus: Path) -> None:
    passages = list(load_passages([corpus], chunk_size=400, chunk_overlap=50))
    by_source = {p.metadata["source"].rsplit("/", 1)[-1] for p in passages}
    assert by_source == {"volcano.txt", "notes.md", "records.jsonl"}
    volcano = [p for p in passages if p.id.endswith(tuple(f"volcano.txt#{i}" for i in range(99)))]
    assert len(volcano) > 5 and all(len(p.text) <= 400 for p in volcano)
    record = next(p for p in passages if p.id == "r1")
    assert record.text.startswith("Mercury\n") and record.metadata["kind"] == "element"


def test_index_then_search(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index_dir = tmp_path / "index"
    assert main(["index", str(corpus), "--index", str(index_dir)]) == 0
    assert "indexed" in capsys.readouterr().out

    assert main(["search", "liquid metal", "--index", str(index_dir), "-k", "2", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["id"] == "r1"
    assert results[0]["metadata"]["kind"] == "element"
    assert "metal" in results[0]["matched_terms"]

    hybrid = ["search", "liquid metal", "--index", str(index_dir), "--mode", "hybrid", "--json"]
    assert main(hybrid) == 0
    assert "bm25" in json.loads(capsys.readouterr().out)[0]["metadata"]["fusion"]

    assert (
        main(
            [
                "search",
                "gas giant",
                "--index",
                str(index_dir),
                "--explain",
                "--filter",
                '{"kind": "planet"}',
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "r2" in out and "why:" in out and "r1" not in out


def test_reindex_replaces_existing_ids(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index_dir = tmp_path / "index"
    assert main(["index", str(corpus / "records.jsonl"), "--index", str(index_dir)]) == 0
    assert main(["index", str(corpus / "records.jsonl"), "--index", str(index_dir)]) == 0
    assert "holds 2 documents" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["index", "/no/such/file.txt", "--index", "IDX"],
        ["search", "query", "--index", "/no/such/index"],
        ["index", "BIN", "--index", "IDX"],
        ["search", "query", "--index", "IDX_FILE"],
    ],
)
def test_bad_paths_fail_with_a_clear_message(
    argv: list[str], corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not an index")
    replace = {
        "IDX": str(tmp_path / "idx"),
        "BIN": str(corpus / "ignored.bin"),
        "IDX_FILE": str(tmp_path / "file"),
    }
    assert main([replace.get(a, a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ("Fix:" in err or "Expected" in err)


def test_bad_jsonl_line_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{not json}\n')
    assert main(["index", str(bad), "--index", str(tmp_path / "idx")]) == 1
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert not (tmp_path / "idx").exists()


def _dev_only_modules() -> list[str]:
    """Top-level modules that only the ``dev`` extra installs (not the package or ``fast``)."""
    extras: dict[str, set[str]] = {"": set(), "fast": set(), "dev": set()}
    for line in requires("langchain-splade") or []:
        requirement = Requirement(line)
        for extra, names in extras.items():
            marker = requirement.marker
            if (marker is None and not extra) or (
                marker is not None and extra and marker.evaluate({"extra": extra})
            ):
                names.add(canonicalize_name(requirement.name))
    dev_only = extras["dev"] - extras[""] - extras["fast"]
    return sorted(
        module
        for module, dists in packages_distributions().items()
        if {canonicalize_name(d) for d in dists} <= dev_only
    )


def test_demo_explains_hits_without_dev_packages() -> None:
    """``make demo`` installs only the package and its ``fast`` extra: the demo must not
    import pytest, the backends' clients or anything else only ``dev`` brings."""
    blocked = _dev_only_modules()
    assert {"pytest", "sentence_transformers", "opensearchpy"} <= set(blocked)
    code = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({blocked!r}))  # None: imports fail as if absent\n"
        "from langchain_splade.cli import main\n"
        "sys.exit(main(['demo', '-k', '2', 'which Chuck Berry song was sent into space']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "1. " in out and "Voyager" in out.split("1. ", 1)[1].split("\n")[0]
    assert "why:" in out and "+" in out


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["index"], ["search"], ["demo"], ["opensearch-node"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: langchain-splade" in capsys.readouterr().out


def test_index_command_refuses_a_folder_another_writer_holds(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from langchain_splade.stores.local import LocalSparseIndex

    index_dir = tmp_path / "index"
    with LocalSparseIndex.open(index_dir):
        assert main(["index", str(corpus / "records.jsonl"), "--index", str(index_dir)]) == 1
    assert "is being written by another" in capsys.readouterr().err
    assert main(["index", str(corpus / "records.jsonl"), "--index", str(index_dir)]) == 0
