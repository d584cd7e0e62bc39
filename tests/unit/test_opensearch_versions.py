"""The OpenSearch test node's version matrix: which launcher, JDK and plugins each
version gets, and the typed errors for versions it cannot run (no JVM started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from langchain_splade.errors import InvalidInputError
from langchain_splade.testing.jvm import JvmTestNode, launcher_hash
from langchain_splade.testing.opensearch.versions import (
    MATRIX_ENV,
    NEURAL_SEARCH_VERSION,
    OPENSEARCH3_VERSION,
    OPENSEARCH_VERSION,
    launcher_spec,
    version_matrix,
)


def test_default_is_the_unchanged_2x_launcher() -> None:
    spec = launcher_spec()
    assert spec.version == OPENSEARCH_VERSION == "2.19.6"
    assert spec.launcher_dir.name == "launcher" and spec.min_java == 17
    assert spec.maven_args == () and spec.main_args == ()


def test_3x_runs_on_java_21_with_module_plugins_by_name() -> None:
    spec = launcher_spec(OPENSEARCH3_VERSION)
    assert spec.launcher_dir.name == "launcher3" and spec.min_java == 21
    assert "ES_JAVA_HOME" in spec.java_home_envs
    assert spec.maven_args == ("-Dopensearch.version=3.9.0",)
    plugins = spec.main_args[1::2]
    assert "mapper-extras:org.opensearch.index.mapper.MapperExtrasModulePlugin" in plugins
    assert not any("neural" in p for p in plugins)
    assert not any("COMPAT" in flag for flag in spec.jvm_flags)  # removed in Java 23


def test_neural_search_adds_plugins_with_their_extension_chain() -> None:
    spec = launcher_spec(NEURAL_SEARCH_VERSION, neural_search=True)
    assert "-Pneural-search" in spec.maven_args
    plugins = spec.main_args[1::2]
    assert "opensearch-knn:org.opensearch.knn.plugin.KNNPlugin:lang-painless" in plugins
    assert any(p.endswith("NeuralSearch:opensearch-knn") for p in plugins)


def test_each_version_builds_in_its_own_folder() -> None:
    hashes = {
        launcher_hash(launcher_spec(OPENSEARCH3_VERSION)),
        launcher_hash(launcher_spec("3.6.0")),
        launcher_hash(launcher_spec("3.6.0", neural_search=True)),
    }
    assert len(hashes) == 3


def test_command_passes_plugins_before_settings(tmp_path: Path) -> None:
    node = JvmTestNode(launcher_spec(OPENSEARCH3_VERSION))
    node._home = tmp_path
    args = node.command(tmp_path / "build", Path("/jdk"))
    assert args.index("--plugin") < args.index("-E")


@pytest.mark.parametrize(
    ("version", "neural", "message"),
    [
        ("3.9.0", True, "for that version only"),
        ("3.0.0", False, "3.1 and later"),
        ("1.3.0", False, "no test node launcher"),
        ("latest", False, "MAJOR.MINOR.PATCH"),
    ],
)
def test_versions_it_cannot_run_are_typed_errors(version: str, neural: bool, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        launcher_spec(version, neural_search=neural)
    assert info.value.fix


def test_matrix_is_both_lines_by_default_and_narrowed_by_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    monkeypatch.delenv(MATRIX_ENV, raising=False)
    assert version_matrix() == (OPENSEARCH_VERSION, OPENSEARCH3_VERSION)
    monkeypatch.setenv(MATRIX_ENV, " 2.19.6 ")
    assert version_matrix() == ("2.19.6",)
    monkeypatch.setenv("OPENSEARCH_URL", "http://localhost:9200")
    assert version_matrix() == ("external",)
