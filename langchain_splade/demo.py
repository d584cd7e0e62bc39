"""The demo behind ``langchain-splade demo``: index the bundled sample, search, explain.

It shows the two things SPLADE adds over keyword search: query *expansion* (terms
the user never typed, marked ``+``) and matches through those terms, each hit
broken down into per-term contributions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from importlib import resources
from typing import Any

from langchain_core.documents import Document

DEFAULT_QUERIES = (
    "heart attack warning signs",  # the answer says "myocardial infarction"
    "plague that killed a third of Europe",  # expansion adds death, disease, cholera
    "which Chuck Berry song was sent into space",  # answered in the tail of a long passage
)


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
    return list(_jsonl("sample_queries.jsonl"))


def _jsonl(name: str) -> Iterator[dict[str, Any]]:
    text = resources.files("langchain_splade.data").joinpath(name).read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def run(queries: Sequence[str] | None = None, k: int = 3) -> None:
    """Index the sample corpus in memory and print explained results for ``queries``."""
    from langchain_splade.encoders import SpladeEncoder
    from langchain_splade.retrievers import SpladeRetriever

    start = time.perf_counter()
    encoder = SpladeEncoder()
    documents = sample_documents()
    retriever = SpladeRetriever.from_documents(documents, encoder=encoder, k=k)
    print(
        f"Indexed {len(documents)} sample passages with {encoder.model_name} on "
        f"{encoder.device} in {time.perf_counter() - start:.1f} s (local index, no server).\n"
    )
    for query in queries or DEFAULT_QUERIES:
        _show_query(retriever, encoder, query)


def _show_query(retriever: Any, encoder: Any, query: str) -> None:
    vector = encoder.embed_query(query)
    typed = set(encoder._tokenizer.tokenize(query))
    expansion = ", ".join(
        f"{'' if token in typed else '+'}{token} {weight:.1f}"
        for token, weight in encoder.decode(vector, top_k=10)
    )
    print(f'Query: "{query}"')
    print(f"  encoded as ({vector.nnz} terms, + = expansion): {expansion}")
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
