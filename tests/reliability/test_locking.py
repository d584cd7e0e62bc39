"""Two processes writing one index directory: the second writer gets IndexLockedError,
never a mixed or corrupt index. Extends tests/unit/test_local_index_persistence.py
(a lock held by a sleeping process) with two processes saving at the same time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from langchain_splade.stores.local import LocalSparseIndex

SAVES = 30

WRITER = textwrap.dedent(
    """
    import sys
    from langchain_splade.errors import IndexLockedError
    from langchain_splade.stores.local import LocalSparseIndex
    from langchain_splade.types import SparseVector

    path, name = sys.argv[1], sys.argv[2]
    index = LocalSparseIndex(kernel="numpy")
    ids = [f"{name}-{i}" for i in range(2000)]
    index.add(ids, [SparseVector([i % 900 + 1, 901], [1.0, 0.5]) for i in range(2000)],
              texts=[name] * 2000)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    saved = locked = 0
    for _ in range(SAVES):
        try:
            index.save(path)
            saved += 1
        except IndexLockedError as exc:
            assert "being written by another writer" in str(exc) and exc.fix, exc
            locked += 1
    print(saved, locked, flush=True)
    """
).replace("SAVES", str(SAVES))


@pytest.mark.slow
def test_two_processes_saving_one_directory(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "index"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    totals = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        totals.append(tuple(int(x) for x in out.split()))
    saved = sum(s for s, _ in totals)
    locked = sum(n for _, n in totals)
    assert saved + locked == 2 * SAVES and saved >= 1
    assert locked >= 1, totals  # they did collide, and the loser was told so
    loaded = LocalSparseIndex.load(path, verify=True)  # never a mix of the two
    owners = {doc.text for doc in loaded.get(loaded.ids())}
    assert len(loaded) == 2000 and len(owners) == 1
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["counts"]["documents"] == 2000
    print(f"locking: 2 processes x {SAVES} saves, {saved} saved, {locked} IndexLockedError")
