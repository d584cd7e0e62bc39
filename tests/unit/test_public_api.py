"""The top-level public surface: every name resolves, every public class is there, and
``import langchain_splade`` stays light enough for a CLI or a notebook cell."""

from __future__ import annotations

import ast
import graphlib
import importlib
import json
import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore

import langchain_splade
from langchain_splade.errors import MissingDependencyError, SpladeError

# Importing any of these takes seconds or needs an optional extra.
HEAVY = ("torch", "transformers", "langchain_core", "bm25s", "numba", "opensearchpy", "llama_index")


def test_every_name_in_all_resolves() -> None:
    names = langchain_splade.__all__
    assert names == sorted(set(names)), "keep __all__ sorted and free of duplicates"
    for name in names:
        try:
            value = getattr(langchain_splade, name)
        except MissingDependencyError as exc:  # a name behind an optional extra
            assert "pip install 'langchain-splade[" in str(exc)
            continue
        assert getattr(value, "__name__", name) == name
    namespace: dict[str, object] = {}
    exec("from langchain_splade import *", namespace)
    assert set(langchain_splade.__all__) <= set(namespace)


def test_lazy_names_are_exported_and_listed_by_dir() -> None:
    lazy = set(langchain_splade._LAZY)
    assert lazy <= set(langchain_splade.__all__)
    assert set(langchain_splade.__all__) <= set(dir(langchain_splade))
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        langchain_splade.NoSuchThing  # noqa: B018


def _raise(name: str) -> None:
    raise ImportError(f"cannot import {name}")


def _package_modules() -> list[ModuleType]:
    modules = []
    packages = pkgutil.walk_packages(langchain_splade.__path__, "langchain_splade.", _raise)
    for info in packages:
        try:
            modules.append(importlib.import_module(info.name))
        except MissingDependencyError:  # an optional extra not installed here
            continue
    return modules


# Shared implementations that users meet only through their exported subclasses.
INTERNAL_BASES = {"RemoteSparseIndex"}


def _must_be_exported(cls: type) -> bool:
    """What a user meets by name: retrievers, vector stores, indexes, encoders, adapters,
    errors, warnings."""
    if cls.__name__ in INTERNAL_BASES:
        return False
    kinds = (BaseRetriever, VectorStore, SpladeError, Warning)
    names = ("SparseIndex", "Encoder", "Retriever", "BM25Index", "Embedding", "Embeddings")
    return issubclass(cls, kinds) or cls.__name__.endswith(names)


def test_every_public_class_is_exported() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modules = _package_modules()
    missing = sorted(
        f"{module.__name__}.{name}"
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and value.__name__ == name  # not an alias kept for compatibility
        and not name.startswith("_")
        and _must_be_exported(value)
        and name not in langchain_splade.__all__
    )
    assert not missing, f"add these to langchain_splade.__all__ (and _LAZY): {missing}"


def test_import_is_light() -> None:
    """No torch, LangChain or backend client is imported until a class is used."""
    code = (
        "import sys, json, langchain_splade\n"
        "langchain_splade.SparseVector, langchain_splade.InvalidInputError\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == []


def _parse(source: str, attempts: int = 5) -> ast.Module:
    """``ast.parse``, retried on ``SystemError: AST constructor recursion depth
    mismatch``: CPython 3.11.7's AST converter keeps its depth counter per interpreter,
    not per thread, so a parse in a leftover background thread of an earlier test can
    trip ours (seen once in a full run, after the Ray tests)."""
    for attempt in range(attempts):
        try:
            return ast.parse(source)
        except SystemError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _imports(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` and the package modules it imports, lazy imports included.

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``.
    """
    modules = {
        ".".join(f.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__"): f
        for f in package.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, file in modules.items():
        found: set[str] = set()
        for node in ast.walk(_parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                submodules = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                found |= submodules or ({node.module} & modules.keys())
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names} & modules.keys()
        graph[name] = found - {name}
    return graph


def test_modules_import_each_other_without_a_circle() -> None:
    """A circle hidden by a lazy import (loading <-> st_format once) breaks as soon as
    someone hoists the import; one module owns each function instead."""
    graph = _imports(Path(langchain_splade.__file__).parent)
    assert graph["langchain_splade.encoders.loading"] >= {"langchain_splade.encoders.st_format"}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"modules import each other in a circle: {' -> '.join(exc.args[1])}")
