"""The demo behind ``langchain-splade demo``: index the bundled sample, search, explain.

It shows the two things SPLADE adds over keyword search: query *expansion* (terms
the user never typed, marked ``+``) and matches through those terms, each hit
broken down into per-term contributions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from langchain_splade.loaders import read_jsonl

if TYPE_CHECKING:
    from langchain_splade.evaluation.beir import BeirDataset

# Each default query, with what it shows.
DEFAULT_QUERIES = {
    "heart attack warning signs": 'the answer says "myocardial infarction", not "heart attack"',
    "plague that killed a third of Europe": "expansion adds death, disease, cholera",
    "which Chuck Berry song was sent into space": "answered in the tail of a long passage",
}
TOP_TERMS = 10


def sample_documents() -> list[Document]:
    """The bundled sample corpus (about 100 passages over ten topics) as Documents."""
    return [
        Document(
            id=record["_id"],
            page_content=f"{record['title']}\n{record['text']}"
            if record.get("title")
            else record["text"],
            metadata={**record.get("metadata", {}), "title": record.get("title", "")},
        )
        for record in _jsonl("sample_corpus.jsonl")
    ]


def sample_queries() -> list[dict[str, str]]:
    """The judged sample queries ({"_id", "text"})."""
    return _jsonl("sample_queries.jsonl")


def sample_dataset() -> BeirDataset:
    """The bundled sample as a BEIR dataset (44 judged queries), for ``run_evaluation``."""
    from langchain_splade.evaluation.beir import BeirDataset, BeirDocument, load_qrels

    with resources.as_file(resources.files("langchain_splade.data") / "sample_qrels.tsv") as path:
        qrels = load_qrels(path)
    corpus = {
        record["_id"]: BeirDocument(
            id=record["_id"],
            text=record["text"],
            title=record.get("title", ""),
            metadata=record.get("metadata", {}),
        )
        for record in _jsonl("sample_corpus.jsonl")
    }
    queries = {q["_id"]: q["text"] for q in sample_queries() if q["_id"] in qrels}
    return BeirDataset("sample", "test", corpus=corpus, queries=queries, qrels=qrels)


def _jsonl(name: str) -> list[dict[str, Any]]:
    with resources.as_file(resources.files("langchain_splade.data") / name) as path:
        return [record for _, record in read_jsonl(path)]


def run(queries: Sequence[str] | None = None, k: int = 3) -> None:
    """Index the sample corpus in memory and print explained results for ``queries``."""
    from langchain_splade.encoders import SpladeEncoder
    from langchain_splade.retrievers import SpladeRetriever

    start = time.perf_counter()
    documents = sample_documents()
    print(f"Encoding {len(documents)} sample passages (a few seconds to a minute on a CPU)...")
    encoder = SpladeEncoder()
    retriever = SpladeRetriever.from_documents(
        documents, encoder=encoder, k=k, show_progress=sys.stderr.isatty()
    )
    print(
        f"Indexed them with {encoder.model_name} on {encoder.device} in "
        f"{time.perf_counter() - start:.1f} s (local index in memory, no server).\n"
        "Each hit: rank. [score] title (id); why: the terms behind the score, with their "
        "share of it (+ = a term the query never typed).\n"
    )
    for query in queries or DEFAULT_QUERIES:
        _show_query(retriever, encoder, query)
    print(
        'Next: ask your own question:  langchain-splade demo "your question"\n'
        "      index your own files:   langchain-splade index docs/ --index ./my-index\n"
        '      then search them:       langchain-splade search "..." --index ./my-index --explain'
    )


def _show_query(retriever: Any, encoder: Any, query: str) -> None:
    vector = encoder.embed_query(query)
    typed = set(encoder._tokenizer.tokenize(query))
    expansion = ", ".join(
        f"{'' if token in typed else '+'}{token} {weight:.1f}"
        for token, weight in encoder.decode(vector, top_k=TOP_TERMS)
    )
    note = DEFAULT_QUERIES.get(query)
    print(f'Query: "{query}"' + (f"  ({note})" if note else ""))
    shown = min(TOP_TERMS, vector.nnz)
    print(f"  encoded as {vector.nnz} weighted terms (top {shown}; + = expansion): {expansion}")
    documents = retriever.invoke(query)
    if not documents:
        print("  no results\n")
        return
    for rank, document in enumerate(documents, start=1):
        title = document.metadata.get("title") or document.page_content[:60]
        print(f"  {rank}. [{document.metadata['score']:.1f}] {title}  ({document.id})")
        terms = list(document.metadata["matched_terms"].items())[:6]
        total = document.metadata["score"] or 1.0
        why = ", ".join(f"{'' if t in typed else '+'}{t} {100 * c / total:.0f}%" for t, c in terms)
        print(f"     why: {why}")
    print()
