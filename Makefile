# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
# The demo installs only what it runs (the package and its fast kernels); the tests
# install the dev extra (linters, test runners, every backend's client), a superset.
PYTHON ?= python3
STAMP := .make/installed
DEMO_STAMP := .make/demo-installed

.PHONY: demo test lint unit integration ray notebooks bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@mkdir -p .make && touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".[fast]"
	@mkdir -p .make && touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PYTHON) -m langchain_splade.cli demo

lint: $(STAMP)
	$(PYTHON) -m ruff check langchain_splade tests benchmarks
	$(PYTHON) -m mypy

test: lint
	$(PYTHON) -m pytest -q

unit: $(STAMP)
	$(PYTHON) -m pytest -q tests/unit

integration: $(STAMP)
	$(PYTHON) -m pytest -q tests/integration

# distributed indexing on a real 3-node Ray cluster (part of `make test`, ~4-5 min)
ray: $(STAMP)
	$(PYTHON) -m pytest -q tests/ray

bench: $(STAMP)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".[dev,bench]"
	$(PYTHON) benchmarks/encode_throughput.py
	$(PYTHON) benchmarks/search_latency.py --seismic --bmp

clean:
	rm -rf .make build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
