"""The ``langchain-splade`` command line: index, search, eval, demo, opensearch-node,
elasticsearch-node."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_splade.errors import InvalidInputError, SpladeError
from langchain_splade.testing.opensearch.versions import (
    NEURAL_SEARCH_VERSION,
    OPENSEARCH3_VERSION,
    OPENSEARCH_VERSION,
)

BACKENDS = ["local", "opensearch", "elasticsearch"]

logger = logging.getLogger("langchain_splade")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except SpladeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was saved by the interrupted step", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langchain-splade",
        description="SPLADE learned-sparse retrieval: index files, search them, see why.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    index = commands.add_parser(
        "index",
        help="encode files into an index",
        description="Encode .txt/.md files (split into passages) and .jsonl records "
        "(fields _id, text, title, metadata) into an index. Existing ids are replaced.",
    )
    index.add_argument("paths", nargs="+", type=Path, help="files or folders")
    _add_backend_options(index)
    _add_encoder_options(index)
    index.add_argument("--chunk-size", type=int, default=1200, help="characters per passage")
    index.add_argument("--chunk-overlap", type=int, default=150, help="characters of overlap")
    index.add_argument(
        "--force-merge",
        action="store_true",
        help="OpenSearch/Elasticsearch: merge each shard into one segment after writing "
        "(fewer segments to search; SEISMIC builds its clusters then)",
    )
    seismic = index.add_argument_group(
        "SEISMIC (--method seismic, applied when the index is created)"
    )
    seismic.add_argument(
        "--n-postings", type=int, help="postings kept per term (engine default: 0.0005 x docs)"
    )
    seismic.add_argument(
        "--approximate-threshold",
        type=int,
        help="segments with fewer documents are searched exactly (engine default 1,000,000); "
        "set it at most to the documents per shard and pass --force-merge",
    )
    _add_ray_options(index)
    index.set_defaults(run=_run_index)

    search = commands.add_parser("search", help="search an index", description="Search an index.")
    search.add_argument("query", help="the query text")
    _add_backend_options(search)
    search.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    search.add_argument(
        "--filter",
        type=json.loads,
        help='metadata filter as JSON, e.g. \'{"year": {"$gte": 2020}}\'',
    )
    search.add_argument(
        "--mode",
        choices=["sparse", "bm25", "hybrid"],
        default="sparse",
        help="sparse (SPLADE, default), bm25, or hybrid (both fused)",
    )
    search.add_argument("--explain", action="store_true", help="show the terms behind each hit")
    search.add_argument("--json", action="store_true", help="print results as JSON")
    search.add_argument("--model", help="encoder model (default: the one the index was built with)")
    search.set_defaults(run=_run_search)

    demo = commands.add_parser(
        "demo",
        help="index the bundled sample corpus, search it, explain each hit",
        description="Index the bundled sample corpus in memory, run a few queries and "
        "show which terms drove each match.",
    )
    demo.add_argument("-k", type=int, default=3, help="results per query (default 3)")
    demo.add_argument("queries", nargs="*", help="your own queries (default: a few examples)")
    demo.set_defaults(run=_run_demo)

    evaluate = commands.add_parser(
        "eval",
        help="measure retrieval quality on a BEIR-format dataset",
        description="Encode a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) once, "
        "run each mode and print nDCG@10, Recall@100, MRR@10, MAP@100 and timings.",
    )
    evaluate.add_argument("dataset", type=Path, help="BEIR-format folder")
    evaluate.add_argument("--mode", default="sparse,bm25,hybrid", help="comma-separated modes")
    evaluate.add_argument("--backend", choices=BACKENDS, default="local")
    evaluate.add_argument("--opensearch-url", help="OpenSearch URL (backend opensearch)")
    evaluate.add_argument("--elasticsearch-url", help="Elasticsearch URL (backend elasticsearch)")
    _add_method_option(evaluate)
    evaluate.add_argument("--split", default="test", help="qrels split (default test)")
    evaluate.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object by mode on stdout (progress bars stay on stderr)",
    )
    evaluate.add_argument(
        "--fusion-candidates",
        action="store_true",
        help="also score every hybrid fusion candidate (RRF, min-max, z-score, max; "
        "several weights) on the sparse and bm25 runs",
    )
    _add_encoder_options(evaluate)
    evaluate.set_defaults(run=_run_eval)

    node = commands.add_parser(
        "opensearch-node",
        help="run a local OpenSearch test node in the foreground",
        description="Start a single OpenSearch node on 127.0.0.1 (built from Maven Central "
        "jars; needs Maven and Java 17, or a JDK 21+ for 3.x), print its URL, stop on Ctrl-C.",
    )
    node.add_argument("--port", type=int, help="HTTP port (default: a free one)")
    node.add_argument("--data", type=Path, help="data folder to keep (default: temporary)")
    node.add_argument(
        "--version",
        default=OPENSEARCH_VERSION,
        help=f"server version (default {OPENSEARCH_VERSION}; newest 3.x on Maven Central: "
        f"{OPENSEARCH3_VERSION})",
    )
    node.add_argument(
        "--neural-search",
        action="store_true",
        help=f"also load the k-NN and neural-search plugins (sparse_vector fields, SEISMIC); "
        f"only with --version {NEURAL_SEARCH_VERSION}",
    )
    node.set_defaults(run=_run_opensearch_node)

    es_node = commands.add_parser(
        "elasticsearch-node",
        help="run a local Elasticsearch test node in the foreground",
        description="Start a single Elasticsearch 9 node on 127.0.0.1 (built from Maven "
        "Central jars; needs a JDK 21+ and Maven), print its URL once the cluster is "
        "yellow, stop on Ctrl-C or SIGTERM.",
    )
    es_node.add_argument("--port", type=int, help="HTTP port (default: a free one)")
    es_node.add_argument("--data", type=Path, help="data folder to keep (default: temporary)")
    es_node.set_defaults(run=_run_elasticsearch_node)
    return parser


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", type=Path, dest="index_dir", help="local index folder")
    parser.add_argument("--backend", choices=BACKENDS, default="local", help="default: local")
    parser.add_argument("--opensearch-url", help="OpenSearch URL, e.g. http://localhost:9200")
    parser.add_argument(
        "--elasticsearch-url",
        help="Elasticsearch URL, e.g. http://localhost:9200 (default: $ELASTICSEARCH_URL)",
    )
    parser.add_argument("--index-name", help="OpenSearch or Elasticsearch index name")
    _add_method_option(parser)


def _add_method_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        choices=["rank_features", "seismic"],
        help="OpenSearch search method: rank_features (exact, default) or seismic "
        "(approximate sparse ANN; OpenSearch 3.3+ with neural-search)",
    )


def _add_encoder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="splade-tiny", help="bundled name, folder or hub id")
    parser.add_argument(
        "--max-length", type=int, help="tokens per window (default: the model's; bundled: 256)"
    )
    parser.add_argument(
        "--long-documents",
        choices=["window", "truncate"],
        default="window",
        help="window (default) keeps a long document's tail",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")


def _add_ray_options(parser: argparse.ArgumentParser) -> None:
    ray = parser.add_argument_group("Ray (pip install 'langchain-splade[ray]')")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="encode on a Ray cluster: 'auto' joins $RAY_ADDRESS, an address joins that "
        "cluster, a bare --ray starts Ray on this machine",
    )
    ray.add_argument("--workers", type=int, default=2, help="encoder actors (default 2)")
    ray.add_argument("--threads-per-worker", type=int, default=1, help="torch threads per actor")
    ray.add_argument("--gpus-per-worker", type=float, default=0, help="GPUs per actor")


def _encoder(args: argparse.Namespace) -> Any:
    """A SpladeEncoder from the shared encoder options."""
    from langchain_splade.encoders import SpladeEncoder

    return SpladeEncoder(
        args.model,
        max_length=args.max_length,
        long_documents=args.long_documents,
        batch_size=args.batch_size,
        device=args.device,
    )


def _run_index(args: argparse.Namespace) -> int:
    from langchain_splade.loaders import load_passages
    from langchain_splade.stores.factory import close_index, index_options, open_index, save_index

    if args.force_merge and args.backend == "local":
        raise InvalidInputError(
            "--force-merge applies to OpenSearch and Elasticsearch indexes.",
            fix="drop --force-merge: the local index merges itself when it is saved",
        )
    index_options(args.backend, args.method, _seismic_options(args))  # before any work
    passages = list(load_passages(args.paths, args.chunk_size, args.chunk_overlap))
    if not passages:
        print("no passages found in the given paths", file=sys.stderr)
        return 1
    if args.ray:
        return _run_index_ray(args, passages)
    encoder = _encoder(args)
    store = open_index(
        args.backend,
        args.index_dir,
        args.opensearch_url,
        args.index_name,
        create=True,
        elasticsearch_url=args.elasticsearch_url,
        method=args.method,
        seismic=_seismic_options(args),
    )
    try:
        store.check_encoder(encoder.fingerprint)
        vectors = encoder.embed_documents([p.text for p in passages], show_progress=True)
        store.add(
            [p.id for p in passages],
            vectors,
            [p.text for p in passages],
            [p.metadata for p in passages],
        )
        save_index(store)
        print(f"indexed {len(passages)} passages; the index now holds {len(store)} documents")
        if args.force_merge:
            _force_merge(store)
    finally:
        close_index(store)
    return 0


def _run_index_ray(args: argparse.Namespace, passages: list[Any]) -> int:
    """``index --ray``: the same passages, encoded by an actor pool (Ray Data shows
    the progress of the encode and write stages)."""
    from langchain_splade.distributed import (
        EncoderSpec,
        connect,
        index_dataset,
        records_dataset,
        sink_for,
    )

    connect(None if args.ray == "local" else args.ray)
    spec = EncoderSpec(
        args.model,
        device=args.device,
        threads=args.threads_per_worker,
        num_gpus=args.gpus_per_worker,
        batch_size=args.batch_size,
        options={"max_length": args.max_length, "long_documents": args.long_documents},
    )
    url = args.elasticsearch_url if args.backend == "elasticsearch" else args.opensearch_url
    sink = sink_for(
        args.backend,
        index_dir=args.index_dir,
        index_name=args.index_name,
        url=url,
        method=args.method,
        seismic=_seismic_options(args),
    )
    records = [{"id": p.id, "text": p.text, "metadata": json.dumps(p.metadata)} for p in passages]
    report = index_dataset(records_dataset(records), sink, spec, workers=args.workers)
    if args.force_merge:
        from langchain_splade.stores.factory import close_index, open_index

        store = open_index(
            args.backend,
            None,
            args.opensearch_url,
            args.index_name,
            create=False,
            elasticsearch_url=args.elasticsearch_url,
            method=args.method,
        )
        try:
            _force_merge(store)
        finally:
            close_index(store)
    print(
        f"indexed {report.documents} passages on Ray in {report.seconds:.1f} s; "
        f"the index now holds {report.index_size} documents"
    )
    return 0


def _seismic_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"n_postings": args.n_postings, "approximate_threshold": args.approximate_threshold}


def _force_merge(store: Any) -> None:
    """Merge a remote index into one segment per shard, saying so (it can take minutes)."""
    print("merging the index into one segment per shard ...", file=sys.stderr)
    started = time.perf_counter()
    try:
        store.force_merge()
    except KeyboardInterrupt:
        print(
            "interrupted: every document is stored; the merge goes on in the cluster "
            "(GET _tasks?actions=*forcemerge* shows it)",
            file=sys.stderr,
        )
        raise
    print(f"merged in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def _run_search(args: argparse.Namespace) -> int:
    from langchain_splade.encoders import SpladeEncoder
    from langchain_splade.retrievers import SpladeRetriever
    from langchain_splade.stores.factory import open_index, recorded_model

    store = open_index(
        args.backend,
        args.index_dir,
        args.opensearch_url,
        args.index_name,
        create=False,
        elasticsearch_url=args.elasticsearch_url,
        method=args.method,
    )
    model = args.model or recorded_model(store) or "splade-tiny"
    retriever = SpladeRetriever(encoder=SpladeEncoder(model), index=store, k=args.k, mode=args.mode)
    documents = retriever.invoke(args.query, filter=args.filter)
    if args.json:
        print(json.dumps([_document_json(d) for d in documents], indent=2, ensure_ascii=False))
        return 0
    if not documents:
        print("no results")
    for rank, document in enumerate(documents, start=1):
        _print_hit(rank, document, args.explain)
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from langchain_splade import demo

    demo.run(args.queries or None, k=args.k)
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from langchain_splade.evaluation import load_beir
    from langchain_splade.evaluation.runner import (
        format_table,
        fusion_table,
        parse_modes,
        run_evaluation,
    )

    modes = parse_modes(args.mode)
    if args.fusion_candidates:
        modes = list(dict.fromkeys([*modes, "sparse", "bm25"]))
    dataset = load_beir(args.dataset, split=args.split)
    encoder = _encoder(args)
    runs: dict[str, Any] = {}
    results = run_evaluation(
        dataset,
        encoder,
        modes,
        backend=args.backend,
        opensearch_url=args.opensearch_url,
        elasticsearch_url=args.elasticsearch_url,
        method=args.method,
        show_progress=True,  # tqdm writes to stderr: stdout stays clean for --json
        runs=runs,
    )
    fused = fusion_table(dataset, runs["sparse"], runs["bm25"]) if args.fusion_candidates else {}
    if args.json:
        print(json.dumps({**results, **({"fusion_candidates": fused} if fused else {})}, indent=2))
    else:
        print(format_table({**results, **fused}))
    return 0


def _run_opensearch_node(args: argparse.Namespace) -> int:
    from langchain_splade.testing.opensearch import serve

    return serve(args.port, args.data, version=args.version, neural_search=args.neural_search)


def _run_elasticsearch_node(args: argparse.Namespace) -> int:
    from langchain_splade.testing.elasticsearch import serve

    return serve(args.port, args.data)


def _document_json(document: Any) -> dict[str, Any]:
    metadata = dict(document.metadata)
    return {
        "id": document.id,
        "score": metadata.pop("score", None),
        "matched_terms": metadata.pop("matched_terms", {}),
        "text": document.page_content,
        "metadata": metadata,
    }


def _print_hit(rank: int, document: Any, explain: bool) -> None:
    text = " ".join(document.page_content.split())
    snippet = text if len(text) <= 160 else text[:157] + "..."
    print(f"{rank:>2}. {document.metadata['score']:7.2f}  {document.id}")
    print(f"    {snippet}")
    if explain:
        terms = document.metadata.get("matched_terms", {})
        print("    why: " + ", ".join(f"{t} {c:.2f}" for t, c in terms.items()))


if __name__ == "__main__":
    raise SystemExit(main())
