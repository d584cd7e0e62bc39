"""Bulk indexing end to end (read → encode → write): one process against Ray Data.

The same documents (the first ``--docs`` passages of the shared msmarco corpus) are
indexed into a new local index (and, with ``--opensearch-url``, a new OpenSearch
index) by:

* one process, today's path (``SpladeEncoder.embed_documents`` + ``add`` + ``save``),
  with 1 and with 2 torch threads;
* Ray Data on this machine (``ray.init(num_cpus=2)``), 1 actor and 2 actors of one
  thread each (``langchain_splade.distributed.index_dataset``).

Fixed and per-document costs are separated with two runs per setup, a small one of
``--small`` documents and the full one, on the same warm Ray: per-document rate =
(N - n) / (T_N - T_n), fixed cost = T_n - n / rate (actor start, model load per actor,
the validation pass's start, scheduling). ``ray.init`` is timed on its own. The
backends' write-only rates (vectors already encoded) bound the projection to many
machines.

    python benchmarks/bulk_index.py                        # local index, 2,000 docs
    python benchmarks/bulk_index.py --opensearch-url http://localhost:9200
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_info

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "msmarco-5k"
RESULTS = Path(__file__).resolve().parent / "results" / "bulk_index.json"
logger = logging.getLogger("bulk_index")


def load_records(n: int) -> list[dict[str, Any]]:
    records = []
    with (DATA / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            records.append({"id": row["_id"], "text": row["text"], "title": row.get("title", "")})
            if len(records) == n:
                break
    return records


def texts_of(records: list[dict[str, Any]]) -> list[str]:
    return [f"{r['title']}\n{r['text']}" if r["title"] else r["text"] for r in records]


def one_process(records: list[dict[str, Any]], threads: int, backend: str, url: str | None) -> dict:
    """Today's path: load the model, encode every text, add, save (local)."""
    import torch

    from langchain_splade.encoders import SpladeEncoder

    torch.set_num_threads(threads)
    started = time.perf_counter()
    encoder = SpladeEncoder(device="cpu")
    loaded = time.perf_counter()
    vectors = encoder.embed_documents(texts_of(records))
    encoded = time.perf_counter()
    with Target(backend, url) as index:
        index.check_encoder(encoder.fingerprint)
        index.add([r["id"] for r in records], vectors, texts_of(records))
        if backend == "local":
            index.save()
    done = time.perf_counter()
    return {
        "model_load_s": round(loaded - started, 2),
        "encode_s": round(encoded - loaded, 2),
        "write_s": round(done - encoded, 2),
        "docs_per_s_excluding_load": round(len(records) / (done - loaded), 1),
        "docs_per_s_end_to_end": round(len(records) / (done - started), 1),
        "vectors": vectors,
    }


class Target:
    """A fresh index of ``backend``, removed on exit."""

    def __init__(self, backend: str, url: str | None) -> None:
        self.backend, self.url = backend, url
        self.folder = tempfile.mkdtemp(prefix="bulk-index-")
        self.name = f"bench-bulk-{uuid.uuid4().hex[:8]}"

    def sink(self) -> Any:
        from langchain_splade.distributed import LocalIndexDatasink, OpenSearchDatasink

        if self.backend == "local":
            return LocalIndexDatasink(Path(self.folder) / "index")
        return OpenSearchDatasink(self.name, self.url)

    def __enter__(self) -> Any:
        from langchain_splade.stores.local import LocalSparseIndex
        from langchain_splade.stores.opensearch import OpenSearchSparseIndex

        if self.backend == "local":
            self.index: Any = LocalSparseIndex.open(Path(self.folder) / "index")
        else:
            self.index = OpenSearchSparseIndex(self.name, url=self.url)
        return self.index

    def __exit__(self, *_: object) -> None:
        self.index.close()
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.backend == "opensearch":
            from opensearchpy import OpenSearch

            client = OpenSearch(self.url)
            client.indices.delete(index=self.name, ignore_unavailable=True)
            client.close()


def ray_run(records: list[dict[str, Any]], workers: int, backend: str, url: str | None) -> float:
    """Seconds for one ``index_dataset`` job into a fresh index."""
    import ray

    from langchain_splade.distributed import EncoderSpec, index_dataset

    where = Target(backend, url)
    try:
        started = time.perf_counter()
        dataset = ray.data.from_items(records, override_num_blocks=max(1, len(records) // 250))
        report = index_dataset(
            dataset, where.sink(), EncoderSpec(device="cpu", threads=1), workers=workers,
            rows_per_batch=250,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        assert report.index_size == len(records), report
        return seconds
    finally:
        where.cleanup()


def ray_setup(records: list[dict[str, Any]], small: int, workers: int, backend: str,
              url: str | None) -> dict:  # fmt: skip
    t_small = ray_run(records[:small], workers, backend, url)
    t_full = ray_run(records, workers, backend, url)
    rate = (len(records) - small) / (t_full - t_small)
    return {
        "workers": workers,
        "threads_per_worker": 1,
        "small_run_s": round(t_small, 2),
        "full_run_s": round(t_full, 2),
        "docs_per_s_excluding_fixed": round(rate, 1),
        "fixed_cost_s": round(t_small - small / rate, 2),
        "docs_per_s_end_to_end": round(len(records) / t_full, 1),
    }


def write_rate(records: list[dict[str, Any]], vectors: list[Any], backend: str,
               url: str | None) -> float:  # fmt: skip
    """Documents/s a backend stores when the vectors are already encoded."""
    with Target(backend, url) as index:
        started = time.perf_counter()
        index.add([r["id"] for r in records], vectors, texts_of(records))
        if backend == "local":
            index.save()
        return len(records) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--opensearch-url", help="also measure an OpenSearch target")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--worker-niceness",
        type=int,
        default=0,
        help="nice level of Ray's workers (Ray's default, 15, puts the actors behind every "
        "other process of a shared machine, the one-process baseline included)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ["RAY_worker_niceness"] = str(args.worker_niceness)  # noqa: SIM112 - Ray spells it so
    ray_files = tempfile.mkdtemp(prefix="rb", dir="/tmp")  # short: Ray's socket paths
    os.environ.setdefault("RAY_TMPDIR", ray_files)
    os.makedirs(os.path.join(os.environ["RAY_TMPDIR"], "ray"), exist_ok=True)
    os.environ["HOME"] = os.environ["RAY_TMPDIR"]  # Ray 2.59+ writes ~/.ray/auth_token
    records = load_records(args.docs)
    backends = ["local"] + (["opensearch"] if args.opensearch_url else [])
    results: dict[str, Any] = {
        "machine": machine_info("torch", "ray", "langchain-splade"),
        "gpu": "none available in this session (CPU only)",
        "docs": len(records),
        "small": args.small,
        "corpus": "msmarco-5k (shared), first passages, title + text",
        "model": "splade-tiny (bundled), float32, 256-token windows",
        "ray_worker_niceness": args.worker_niceness,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "backends": {},
    }
    for backend in backends:
        row: dict[str, Any] = {}
        for threads in (1, 2):
            measured = one_process(records, threads, backend, args.opensearch_url)
            vectors = measured.pop("vectors")
            row[f"one_process_{threads}_threads"] = measured
            logger.info("%s one process, %d threads: %s", backend, threads, measured)
        row["write_only_docs_per_s"] = round(
            write_rate(records, vectors, backend, args.opensearch_url), 1
        )
        results["backends"][backend] = row
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results["ray_init_s"] = round(time.perf_counter() - started, 2)
    try:
        for backend in backends:
            row = results["backends"][backend]
            for workers in (1, 2):
                measured = ray_setup(records, args.small, workers, backend, args.opensearch_url)
                row[f"ray_{workers}_workers"] = measured
                logger.info("%s Ray, %d workers: %s", backend, workers, measured)
            one, two = row["ray_1_workers"], row["ray_2_workers"]
            single = row["one_process_2_threads"]["docs_per_s_excluding_load"]
            row["ray_2_over_ray_1"] = round(
                two["docs_per_s_excluding_fixed"] / one["docs_per_s_excluding_fixed"], 2
            )
            row["ray_2_over_one_process_2_threads"] = round(
                two["docs_per_s_excluding_fixed"] / single, 2
            )
            # one core each: Ray's per-document overhead, whatever else the machine runs
            row["ray_1_over_one_process_1_thread"] = round(
                one["docs_per_s_excluding_fixed"]
                / row["one_process_1_threads"]["docs_per_s_excluding_load"],
                2,
            )
    finally:
        ray.shutdown()
        shutil.rmtree(ray_files, ignore_errors=True)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
