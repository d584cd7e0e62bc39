"""Execute every notebook in notebooks/ so the examples cannot rot.

Each notebook runs in a fresh ``python3`` kernel inside an empty working directory
and must leave it empty: an example that saves files writes them into a ``tempfile``
folder, so running it in Jupyter (working directory ``notebooks/``) leaves the tree
clean. Any cell error fails the test with the cell's traceback. ``02_opensearch``
needs a real node and gets its URL from the ``opensearch_default_url`` fixture (the
default version only), ``10_opensearch_sparse_ann`` the 3.6.0 node with neural-search,
``07_elasticsearch`` the Elasticsearch node: those are integration tests.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# Notebooks that need a real node: the session fixture giving its URL, and the
# environment variable the notebook reads it from.
NODE_NOTEBOOKS = {
    "02_opensearch.ipynb": ("opensearch_default_url", "OPENSEARCH_URL"),
    "07_elasticsearch.ipynb": ("elasticsearch_url", "ELASTICSEARCH_URL"),
    "10_opensearch_sparse_ann.ipynb": ("opensearch_neural_url", "OPENSEARCH_NEURAL_URL"),
}
CELL_TIMEOUT_S = 300
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _execute(path: Path, workdir: Path, env: dict[str, str] | None = None) -> None:
    """Run ``path`` top to bottom in the empty ``workdir``; fail on the first failing
    cell, or if the notebook left files in its working directory."""
    assert not any(workdir.iterdir()), f"{workdir} is not empty"
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    # The kernel's whole environment: ours, headless plotting, and the test's extras.
    kernel_env = {**os.environ, "MPLBACKEND": "Agg", "TOKENIZERS_PARALLELISM": "false"}
    kernel_env.update(env or {})
    try:
        client.execute(env=kernel_env)
    except nbclient.exceptions.CellExecutionError as exc:
        # IPython colours tracebacks; strip the escapes so pytest's report stays readable.
        pytest.fail(f"{path.name} failed:\n{_ANSI.sub('', str(exc))}", pytrace=False)
    left = sorted(p.name for p in workdir.iterdir())
    assert not left, f"{path.name} left {left} in its working directory: write into tempfile"


def test_notebooks_exist_without_outputs() -> None:
    """Notebooks are committed clean: small diffs, and no stale results to mislead."""
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{path.name} has saved outputs; clear them before committing"
                )


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [p for p in NOTEBOOKS if p.name not in NODE_NOTEBOOKS],
    ids=lambda p: p.stem,
)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    _execute(path, tmp_path)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.name in NODE_NOTEBOOKS], ids=lambda p: p.stem
)
def test_node_notebook_runs(path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    fixture, variable = NODE_NOTEBOOKS[path.name]
    _execute(path, tmp_path, env={variable: request.getfixturevalue(fixture)})
