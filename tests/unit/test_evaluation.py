"""BEIR loading and IR metrics, checked against ir-measures (trec_eval) on random runs."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from langchain_splade.errors import InvalidInputError
from langchain_splade.evaluation import (
    evaluate,
    load_beir,
    load_qrels,
    ndcg_at_k,
    ranked_ids,
    recall_at_k,
    reciprocal_rank_at_k,
)
from langchain_splade.evaluation.metrics import average_precision_at_k

ir_measures = pytest.importorskip("ir_measures")

MEASURES = {
    "ndcg@10": "nDCG@10",
    "recall@100": "R@100",
    "mrr@10": "RR@10",
    "map@100": "AP@100",
    "ndcg@3": "nDCG@3",
    "recall@5": "R@5",
}


# -- metrics ---------------------------------------------------------------------------


def _random_case(
    seed: int, *, with_unjudged_queries: bool
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    rng = random.Random(seed)
    docs = [f"d{i:03d}" for i in range(150)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(25):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 30))
        qrels[qid] = {d: rng.choice([0, 0, 1, 1, 2, 3]) for d in judged}
        if not any(g >= 1 for g in qrels[qid].values()):
            if with_unjudged_queries and q % 2:
                pass  # only non-relevant judgments: excluded from our means
            else:
                qrels[qid][judged[0]] = 1
        if q % 7 == 3:
            continue  # a query the system did not answer scores 0
        retrieved = rng.sample(docs, rng.randint(0, 140))
        # Integer-valued scores make ties common, which exercises trec_eval's tie order.
        run[qid] = {d: float(rng.randint(0, 20)) for d in retrieved}
    run["not-judged"] = {"d000": 1.0}
    return qrels, run


def _ir_measures_per_query(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]
) -> dict[tuple[str, str], float]:
    measures = [ir_measures.parse_measure(m) for m in MEASURES.values() if m != "RR@10"]
    values = {
        (m.query_id, str(m.measure)): m.value for m in ir_measures.iter_calc(measures, qrels, run)
    }
    # ir-measures computes RR@10 with MS MARCO's script, which breaks score ties by doc id
    # *ascending*, unlike its trec_eval measures; take RR from trec_eval and cut it at 10.
    for m in ir_measures.pytrec_eval.iter_calc([ir_measures.RR], qrels, run):
        values[(m.query_id, "RR@10")] = m.value if m.value >= 0.1 - 1e-12 else 0.0
    return values


@pytest.mark.parametrize("seed", range(6))
def test_per_query_values_match_ir_measures(seed: int) -> None:
    qrels, run = _random_case(seed, with_unjudged_queries=True)
    reference = _ir_measures_per_query(qrels, run)
    result = evaluate(qrels, run, metrics=MEASURES)
    evaluated = {q for q, j in qrels.items() if any(g >= 1 for g in j.values())}
    assert set(result.per_query) == evaluated
    for qid, values in result.per_query.items():
        for ours, theirs in MEASURES.items():
            assert values[ours] == pytest.approx(reference.get((qid, theirs), 0.0), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_aggregate_matches_ir_measures(seed: int) -> None:
    qrels, run = _random_case(100 + seed, with_unjudged_queries=False)
    # Unique scores, so every implementation ranks the same way (see the tie test above).
    rng = random.Random(seed)
    run = {q: {d: s + rng.random() * 0.5 for d, s in docs.items()} for q, docs in run.items()}
    measures = [ir_measures.parse_measure(m) for m in MEASURES.values()]
    reference = {str(k): v for k, v in ir_measures.calc_aggregate(measures, qrels, run).items()}
    result = evaluate(qrels, run, metrics=MEASURES)
    for ours, theirs in MEASURES.items():
        assert result.aggregate[ours] == pytest.approx(reference[theirs], abs=1e-12)


def test_queries_without_relevant_judgments_are_not_averaged() -> None:
    qrels = {"a": {"x": 1}, "b": {"y": 0}}
    result = evaluate(qrels, {"a": ["x"], "b": ["y"]})
    assert result.num_queries == 1
    assert result.aggregate["ndcg@10"] == 1.0


def test_ranked_list_run_keeps_its_order() -> None:
    qrels = {"q": {"a": 1}}
    assert evaluate(qrels, {"q": ["b", "a"]}).aggregate["mrr@10"] == 0.5
    # Equal scores: trec_eval ranks by doc id descending, so "b" comes first.
    assert ranked_ids({"a": 1.0, "b": 1.0, "c": 2.0}) == ["c", "b", "a"]
    assert ranked_ids(["a", "b", "a"]) == ["a", "b"]


def test_hand_checked_values() -> None:
    judged = {"a": 2, "b": 0, "c": 1, "z": 1}
    ranking = ["b", "a", "x", "c"]
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranking, judged, 10) == pytest.approx(dcg / idcg)
    assert recall_at_k(ranking, judged, 2) == pytest.approx(1 / 3)
    assert reciprocal_rank_at_k(ranking, judged, 10) == 0.5
    assert reciprocal_rank_at_k(ranking, judged, 1) == 0.0
    assert average_precision_at_k(ranking, judged, 100) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert ndcg_at_k([], judged) == 0.0


@pytest.mark.parametrize("bad", ["ndcg", "p@10", "ndcg@0", "ndcg@x"])
def test_unknown_metric_is_an_error(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="Unknown metric"):
        evaluate({"q": {"a": 1}}, {}, metrics=[bad])


def test_a_single_metric_name() -> None:
    assert evaluate({"q": {"a": 1}}, {"q": ["a"]}, metrics="mrr@10").aggregate == {"mrr@10": 1.0}


def test_no_relevant_judgment_at_all_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="none has a relevant judgment"):
        evaluate({"q": {"a": 0}}, {})


# -- BEIR loading ----------------------------------------------------------------------


def _write_beir(
    root: Path,
    *,
    corpus: list[object] | None = None,
    queries: list[object] | None = None,
    qrels: str = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td2\t1\n",
) -> Path:
    corpus = (
        corpus
        if corpus is not None
        else [
            {
                "_id": "d1",
                "title": "Paris",
                "text": "Capital of France.",
                "metadata": {"lang": "en"},
            },
            {"_id": "d2", "title": "", "text": "  Berlin is big. "},
            {"_id": 3, "text": "no title key"},
        ]
    )
    queries = (
        queries
        if queries is not None
        else [
            {"_id": "q1", "text": "capital of france"},
            {"_id": "q2", "text": "berlin"},
            {"_id": "q3", "text": "unjudged"},
        ]
    )
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in corpus) + "\n", encoding="utf-8"
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in queries), encoding="utf-8"
    )
    (root / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    return root


def test_load_beir(tmp_path: Path) -> None:
    data = load_beir(_write_beir(tmp_path / "tiny"))
    assert data.name == "tiny"
    assert data.doc_ids == ["d1", "d2", "3"]
    assert data.doc_texts == ["Paris Capital of France.", "Berlin is big.", "no title key"]
    assert data.corpus["d1"].metadata == {"lang": "en"}
    assert data.queries == {"q1": "capital of france", "q2": "berlin"}  # judged queries only
    assert data.qrels == {"q1": {"d1": 2, "d2": 0}, "q2": {"d2": 1}}
    assert "docs=3" in repr(data)


def test_qrels_without_header(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("q1\td1\t1\r\nq1\td2\t3\n\nq2\td1\t0\n", encoding="utf-8")
    assert load_qrels(path) == {"q1": {"d1": 1, "d2": 3}, "q2": {"d1": 0}}


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("q1\td1\n", "found 2 tab-separated columns"),
        ("q1 d1 1\n", "found 1 tab-separated columns"),
        ("q1\td1\t1\nq2\td1\thigh\n", "test.tsv:2: relevance 'high' is not an integer"),
        ("q1\td1\t1\nq1\td1\t2\n", "judged twice"),
        ("q9\td1\t1\n", "absent from queries.jsonl"),
    ],
)
def test_bad_qrels(tmp_path: Path, qrels: str, message: str) -> None:
    root = _write_beir(tmp_path / "d", qrels=qrels)
    with pytest.raises(InvalidInputError, match=message):
        load_beir(root)


@pytest.mark.parametrize(
    ("corpus", "message"),
    [
        (
            [{"_id": "d1", "text": "a"}, {"_id": "d1", "text": "b"}],
            "corpus.jsonl:2: .*appears twice",
        ),
        ([{"text": "no id"}], "corpus.jsonl:1: field '_id' is None"),
        ([{"_id": "d1"}], "field 'text' is None"),
        ([{"_id": "d1", "text": "a", "title": 3}], "field 'title' is a int"),
        ([["not", "an", "object"]], "found a JSON list"),
    ],
)
def test_bad_corpus(tmp_path: Path, corpus: list[object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_beir(_write_beir(tmp_path / "d", corpus=corpus))


def test_invalid_json_line_names_file_and_line(tmp_path: Path) -> None:
    root = _write_beir(tmp_path / "d")
    with (root / "queries.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"_id": "q4", "text": \n')
    with pytest.raises(InvalidInputError, match=r"queries.jsonl:4: invalid JSON"):
        load_beir(root)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_beir(tmp_path / "nowhere")
    root = _write_beir(tmp_path / "d")
    with pytest.raises(InvalidInputError, match=r"Missing file .*dev\.tsv"):
        load_beir(root, split="dev")
    (root / "corpus.jsonl").unlink()
    with pytest.raises(InvalidInputError, match=r"Missing file .*corpus\.jsonl") as info:
        load_beir(root)
    assert "Fix:" in str(info.value)


def test_loaded_dataset_evaluates(tmp_path: Path) -> None:
    data = load_beir(_write_beir(tmp_path / "d"))
    result = evaluate(data.qrels, {"q1": ["d2", "d1"], "q2": ["d2"]})
    assert result.per_query["q2"]["ndcg@10"] == 1.0
    assert result.per_query["q1"]["mrr@10"] == 0.5
