"""Hybrid fusion candidates, leave-one-dataset-out selection, and `eval`'s output streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_splade.cli import main
from langchain_splade.evaluation.candidates import Candidate, candidates, fused_run, leave_one_out
from langchain_splade.fusion import fuse


def test_candidates_cover_every_family_and_are_unique() -> None:
    names = [c.name for c in candidates(with_bounds=True)]
    assert len(names) == len(set(names))
    families = {c.family for c in candidates(with_bounds=True)}
    assert {"rrf_k60", "minmax", "zscore", "max", "gap_max", "bound"} <= families
    assert "bound" not in {c.family for c in candidates()}


def test_candidate_fuses_as_the_library_does() -> None:
    rankings = {"sparse": [("a", 3.0), ("b", 2.0)], "bm25": [("b", 9.0), ("c", 1.0)]}
    ours = Candidate("max", 0.6).fuse(rankings)
    library = fuse(rankings, "max", alpha=0.6)
    assert ours == [(h.id, h.score) for h in library]
    rrf = Candidate("rrf_k10", 0.5, 10).fuse(rankings)
    assert rrf[0] == ("b", pytest.approx(0.5 / 12 + 0.5 / 11))
    bounded = Candidate("bound", 0.5).fuse(rankings, {"sparse": 6.0, "bm25": 0.0})
    # a zero bound is unknown: that component falls back to its observed maximum
    assert dict(bounded)["a"] == pytest.approx(0.5 * 3 / 6)
    assert dict(bounded)["b"] == pytest.approx(0.5 * 2 / 6 + 0.5 * 1.0)


def test_fused_run_cuts_each_component_to_depth() -> None:
    sparse = {"q": [("a", 3.0), ("b", 2.0), ("c", 1.0)]}
    bm25 = {"q": [("d", 5.0)], "empty": []}
    run = fused_run(Candidate("rrf_k60", 0.5), sparse, bm25, depth=2)
    assert [doc for doc, _ in run["q"]] == ["a", "d", "b"][:2]
    assert run["empty"] == []


def _table() -> dict[str, dict[str, float]]:
    # "steady" never trails the better single method by much; "spiky" wins one dataset big.
    return {
        "A": {"sparse": 0.80, "bm25": 0.70, "steady_a0.5": 0.81, "spiky_a0.5": 0.90},
        "B": {"sparse": 0.40, "bm25": 0.35, "steady_a0.5": 0.41, "spiky_a0.5": 0.30},
        "C": {"sparse": 0.30, "bm25": 0.32, "steady_a0.5": 0.325, "spiky_a0.5": 0.31},
    }


def test_leave_one_out_never_uses_the_held_out_dataset() -> None:
    families = {"steady_a0.5": "steady", "spiky_a0.5": "spiky"}
    folds = leave_one_out(_table(), families, "worst_margin")
    assert set(folds) == {"A", "B", "C"}
    for held, fold in folds.items():
        assert held not in fold["trained_on"] and len(fold["trained_on"]) == 2
    # worst-case margin prefers "steady" on every fold, so B is protected
    assert {fold["chosen"] for fold in folds.values()} == {"steady_a0.5"}
    assert folds["B"]["margin"] == pytest.approx(0.01)
    # the mean criterion, trained on A and C, picks "spiky" and fails on B
    by_mean = leave_one_out(_table(), families, "mean")
    assert by_mean["B"]["chosen"] == "spiky_a0.5"
    assert by_mean["B"]["margin"] == pytest.approx(-0.10)
    assert by_mean["B"]["families"]["steady"]["held_out"] == 0.41


def test_unknown_criterion() -> None:
    with pytest.raises(ValueError, match="criterion"):
        leave_one_out(_table(), {"steady_a0.5": "steady"}, "median")


def _tiny_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = {
        "d1": "Heart attacks happen when blood flow to the heart is blocked.",
        "d2": "Mercury is the smallest planet and closest to the sun.",
        "d3": "Volcanoes erupt when magma rises to the surface.",
        "d4": "The stock market fell sharply on Monday.",
    }
    with (folder / "corpus.jsonl").open("w") as handle:
        for doc_id, text in docs.items():
            handle.write(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n")
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "heart attack"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "smallest planet"})
        + "\n"
    )
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return folder


def test_eval_json_is_alone_on_stdout_and_progress_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = _tiny_beir(tmp_path / "tiny")
    assert main(["eval", str(dataset), "--mode", "hybrid", "--json", "--fusion-candidates"]) == 0
    captured = capsys.readouterr()
    results = json.loads(captured.out)  # nothing but the JSON object on stdout
    assert {"hybrid", "sparse", "bm25", "fusion_candidates"} <= set(results)
    assert set(results["fusion_candidates"]) == {c.name for c in candidates()}
    for row in results["fusion_candidates"].values():
        assert row["ndcg@10"] == pytest.approx(1.0)  # both components find both answers
    assert "query" in captured.err and "hybrid" in captured.err  # tqdm bars, by mode


def test_eval_table_lists_every_candidate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = _tiny_beir(tmp_path / "tiny")
    assert main(["eval", str(dataset), "--mode", "sparse,bm25", "--fusion-candidates"]) == 0
    out = capsys.readouterr().out
    for candidate in candidates():
        assert candidate.name in out
