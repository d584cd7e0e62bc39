"""Qdrant's sparse top-k with our adapter against the local index's exact top-k, same vectors.

Documents are encoded once through ``QdrantSparseEmbeddings.embed_documents`` (cached as
CSR, keyed by corpus and encoder settings); the same vectors go into a Qdrant
collection created by langchain-qdrant (``RetrievalMode.SPARSE``, qdrant-client local
mode: ``:memory:`` or a folder) and into a ``LocalSparseIndex``. Each query is encoded
by langchain-qdrant itself (``similarity_search_with_score`` calls the adapter's
``embed_query``) and the same query vector searches the local index.

A query agrees "up to ties" when, rank by rank, the scores match within ``--rtol`` and
the ids match wherever the score is not tied with a neighbour (two documents with
equal scores may come back in either order; ties at the cut-off may swap which one
makes the top-k).

    python benchmarks/qdrant_parity.py                      # msmarco-5k, :memory:
    python benchmarks/qdrant_parity.py --location /tmp/qdrant-parity   # on-disk local mode
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info

from langchain_splade.adapters import QdrantSparseEmbeddings
from langchain_splade.adapters.qdrant import from_qdrant
from langchain_splade.evaluation.beir import load_beir
from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

logger = logging.getLogger("qdrant_parity")

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "msmarco-5k"
DEFAULT_CACHE = Path.home() / ".cache" / "langchain-splade"
Ranked = list[tuple[str, float]]


def encoded_corpus(
    ids: list[str], texts: list[str], splade: QdrantSparseEmbeddings, cache_dir: Path
) -> list[SparseVector]:
    """The adapter's document vectors, from the cache when the corpus and settings match."""
    digest = hashlib.sha256()
    for doc_id, text in zip(ids, texts):
        digest.update(doc_id.encode() + b"\0" + text.encode() + b"\0")
    # The settings that shape document vectors (the full fingerprint grows with new options).
    fingerprint = splade.encoder.fingerprint
    stable = [fingerprint.model_name, fingerprint.vocab_hash] + [
        fingerprint.settings.get(name)
        for name in ("max_length", "long_documents", "max_terms", "min_weight")
    ]
    digest.update(json.dumps(stable).encode())
    path = cache_dir / f"qdrant-parity-{digest.hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as arrays:
            indptr, indices, values = arrays["indptr"], arrays["indices"], arrays["values"]
        logger.info("document vectors from cache %s", path)
        return [
            SparseVector(indices[lo:hi], values[lo:hi]) for lo, hi in itertools.pairwise(indptr)
        ]
    logger.info("encoding %d documents through the adapter (cached afterwards)", len(texts))
    vectors = from_qdrant(splade.embed_documents(texts))
    indptr = np.concatenate([[0], np.cumsum([v.nnz for v in vectors])])
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        indptr=indptr,
        indices=np.concatenate([v.indices for v in vectors]),
        values=np.concatenate([v.values for v in vectors]),
    )
    tmp.replace(path)
    return vectors


def agree_up_to_ties(expected: Ranked, got: Ranked, rtol: float) -> tuple[bool, bool]:
    """(identical ids in order, identical up to ties) for two score-sorted top-k lists."""
    if len(expected) != len(got):
        return False, False
    exp_scores = np.array([s for _, s in expected])
    got_scores = np.array([s for _, s in got])
    if not np.allclose(exp_scores, got_scores, rtol=rtol, atol=0.0):
        return False, False
    identical = [i for i, _ in expected] == [i for i, _ in got]
    # Group ranks whose scores tie (within rtol); within a group any order is right, and
    # the last group may be cut off at k, so only its size must match.
    groups: list[list[int]] = []
    for rank, score in enumerate(exp_scores):
        if groups and np.isclose(score, exp_scores[groups[-1][0]], rtol=rtol, atol=0.0):
            groups[-1].append(rank)
        else:
            groups.append([rank])
    for group in groups[:-1]:
        if {expected[r][0] for r in group} != {got[r][0] for r in group}:
            return identical, False
    return identical, True


def qdrant_store(splade: QdrantSparseEmbeddings, location: str):  # type: ignore[no-untyped-def]
    """An empty langchain-qdrant SPARSE collection in local mode (memory or folder)."""
    from langchain_qdrant import QdrantVectorStore, RetrievalMode

    target = {"location": ":memory:"} if location == ":memory:" else {"path": location}
    return QdrantVectorStore.construct_instance(
        embedding=None,
        retrieval_mode=RetrievalMode.SPARSE,
        sparse_embedding=splade,
        collection_name="parity",
        force_recreate=True,
        client_options=target,
    )


def fill_qdrant(store, ids: Sequence[str], texts: Sequence[str], vectors):  # type: ignore[no-untyped-def]
    """Upsert the cached adapter vectors in the payload layout langchain-qdrant reads."""
    from qdrant_client import models

    points = [
        models.PointStruct(
            id=row,
            vector={
                store.sparse_vector_name: models.SparseVector(
                    indices=v.indices.tolist(), values=v.values.tolist()
                )
            },
            payload={
                store.content_payload_key: text,
                store.metadata_payload_key: {"doc_id": doc_id},
            },
        )
        for row, (doc_id, text, v) in enumerate(zip(ids, texts, vectors))
    ]
    for start in range(0, len(points), 500):
        store.client.upsert(store.collection_name, points[start : start + 500])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--location", default=":memory:", help="':memory:' or a folder")
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    data = load_beir(args.data)
    ids, texts = data.doc_ids, data.doc_texts
    splade = QdrantSparseEmbeddings(show_progress=True)
    vectors = encoded_corpus(ids, texts, splade, args.cache_dir)

    store = qdrant_store(splade, args.location)
    start = time.perf_counter()
    fill_qdrant(store, ids, texts, vectors)
    qdrant_ingest_s = time.perf_counter() - start
    local = LocalSparseIndex()
    local.add(ids, vectors)
    local.optimize()

    per_query, qdrant_ms, local_ms = [], [], []
    for qid, text in data.queries.items():
        start = time.perf_counter()
        found = store.similarity_search_with_score(text, k=args.k)
        qdrant_ms.append((time.perf_counter() - start) * 1000)
        query_vector = from_qdrant([splade.embed_query(text)])[0]
        start = time.perf_counter()
        hits = local.search(query_vector, k=args.k)
        local_ms.append((time.perf_counter() - start) * 1000)
        got = [(doc.metadata["doc_id"], float(score)) for doc, score in found]
        expected = [(hit.id, hit.score) for hit in hits]
        identical, up_to_ties = agree_up_to_ties(expected, got, args.rtol)
        per_query.append(
            {"query_id": qid, "identical": identical, "up_to_ties": up_to_ties}
            | ({} if up_to_ties else {"local": expected, "qdrant": got})
        )

    n = len(per_query)
    result = {
        "benchmark": "qdrant_parity",
        "machine": machine_info("qdrant-client", "langchain-qdrant", "torch", "numpy"),
        "dataset": data.name,
        "documents": len(ids),
        "queries": n,
        "k": args.k,
        "location": "memory" if args.location == ":memory:" else "folder",
        "rtol": args.rtol,
        "identical_top_k": sum(q["identical"] for q in per_query),
        "equal_up_to_ties": sum(q["up_to_ties"] for q in per_query),
        "qdrant_ingest_s": round(qdrant_ingest_s, 2),
        "qdrant_local_mode_query_ms_p50": round(statistics.median(qdrant_ms), 2),
        "local_index_query_ms_p50": round(statistics.median(local_ms), 3),
        "mismatches": [q for q in per_query if not q["up_to_ties"]],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.location == ":memory:" else "_folder"
    out_file = args.out / f"qdrant_parity_{data.name}{suffix}.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"wrote {out_file}")
    if result["equal_up_to_ties"] != n:
        sys.exit(1)


if __name__ == "__main__":
    main()
