"""kill -9 during add + save, many times: the index on disk always loads, checksums
verified, and equals EXACTLY the state before or after the interrupted operation.

Extends tests/unit/test_local_index_persistence.py (6 kills, "some whole generation"):
here every generation also upserts and deletes, and the loaded contents are compared
with a replay of the operations, so a partial or mixed state cannot pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from langchain_splade.stores.local import LocalSparseIndex
from langchain_splade.types import SparseVector

TRIALS = 40
BATCH = 40

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from test_crash_safety import apply_generation, current_generation
    from langchain_splade.stores.local import LocalSparseIndex

    path = Path(sys.argv[1])
    index = LocalSparseIndex.load(path) if (path / "manifest.json").exists() else None
    index = index or LocalSparseIndex(kernel="numpy")
    generation = current_generation(index)
    print("ready", generation, flush=True)
    while True:
        generation += 1
        apply_generation(index, generation)
        index.save(path)
        print(generation, flush=True)
    """
)


def apply_generation(index: LocalSparseIndex, generation: int) -> None:
    """Generation g: add BATCH new documents, upsert one old one, delete ten of g-1."""
    rng = np.random.default_rng(generation)
    ids = [f"g{generation}-{i}" for i in range(BATCH)]
    vectors = [
        SparseVector(rng.choice(5000, 24, replace=False), rng.random(24) + 0.05) for _ in ids
    ]
    texts = [f"generation {generation} document {i} \u00e9\u2603" for i in range(BATCH)]
    metadatas: list[dict[str, Any]] = [{"gen": generation, "i": i} for i in range(BATCH)]
    ids.append("__generation__")
    vectors.append(SparseVector([1], [float(generation)]))
    texts.append(None)  # type: ignore[arg-type]
    metadatas.append({"gen": generation})
    index.add(ids, vectors, texts=texts, metadatas=metadatas)
    index.delete([f"g{generation - 1}-{i}" for i in range(10)])


def current_generation(index: LocalSparseIndex) -> int:
    found = index.get(["__generation__"])
    return int(found[0].metadata["gen"]) if found else 0


def contents(index: LocalSparseIndex) -> list[tuple[Any, ...]]:
    return sorted(
        (
            d.id,
            d.vector.indices.tobytes(),
            d.vector.values.tobytes(),
            d.text,
            json.dumps(d.metadata, sort_keys=True),
        )
        for d in index.get(index.ids())
    )


@pytest.mark.slow
def test_kill_9_during_add_and_save_leaves_the_before_or_after_state(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "index"
    replay = LocalSparseIndex(kernel="numpy")
    expected: dict[int, list[tuple[Any, ...]]] = {0: []}

    def state(generation: int) -> list[tuple[Any, ...]]:
        while max(expected) < generation:
            apply_generation(replay, max(expected) + 1)
            expected[max(expected) + 1] = contents(replay)
        return expected[generation]

    rng = np.random.default_rng(7)
    outcomes = {"before": 0, "after": 0}
    loaded_generations = []
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    here = str(Path(__file__).parent)
    for _trial in range(TRIALS):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), here],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "ready", ready
        start_generation = int(ready[1])
        # Half the trials first wait for one confirmed save, so the generations advance
        # however slow the machine is; then a random moment in add/merge/save.
        confirmed = [proc.stdout.readline().strip() for _ in range(int(rng.integers(0, 2)))]
        time.sleep(float(rng.uniform(0.0, 0.25)))
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read().split()
        proc.wait()
        rest = [*confirmed, *rest]
        committed = int(rest[-1]) if rest else start_generation  # last save it confirmed

        committed_once = (path / "manifest.json").exists()  # the lock file comes first
        loaded = LocalSparseIndex.load(path, verify=True) if committed_once else None
        generation = current_generation(loaded) if loaded else 0
        # The save in flight when killed may or may not have reached its commit point.
        assert generation in (committed, committed + 1), (generation, committed)
        assert (contents(loaded) if loaded else []) == state(generation)
        outcomes["before" if generation == committed else "after"] += 1
        loaded_generations.append(generation)
        leftovers = [p.name for p in path.iterdir()] if path.exists() else []
        assert sum(name.startswith("data-") for name in leftovers) >= (1 if loaded else 0)
    assert len(set(loaded_generations)) >= TRIALS // 4  # the kills landed at many moments
    print(f"crash trials: {TRIALS}, outcomes: {outcomes}, last generation {generation}")
