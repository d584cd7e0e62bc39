"""Evaluation: BEIR-format datasets and IR metrics (trec_eval / ir-measures semantics)."""

from langchain_splade.evaluation.beir import BeirDataset, BeirDocument, Qrels, load_beir, load_qrels
from langchain_splade.evaluation.metrics import (
    DEFAULT_METRICS,
    Evaluation,
    average_precision_at_k,
    evaluate,
    ndcg_at_k,
    ranked_ids,
    recall_at_k,
    reciprocal_rank_at_k,
)

__all__ = [
    "DEFAULT_METRICS",
    "BeirDataset",
    "BeirDocument",
    "Evaluation",
    "Qrels",
    "average_precision_at_k",
    "evaluate",
    "load_beir",
    "load_qrels",
    "ndcg_at_k",
    "ranked_ids",
    "recall_at_k",
    "reciprocal_rank_at_k",
]
