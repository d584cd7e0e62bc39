"""Which OpenSearch versions the test node runs, and how each is launched.

Two launchers (Maven projects shipped as package data) cover the matrix:

- ``launcher/``: 2.x on Java 17+ (module plugins handed to the node as classes);
- ``launcher3/``: 3.1+ on Java 21+ (the node takes ``PluginInfo``s, module plugins are
  named ``*ModulePlugin``), optionally with the k-NN and neural-search plugins, whose
  zips Maven Central serves for 3.6.0 only (the ``sparse_vector`` field and SEISMIC).

Facts measured on Maven Central (``../shared/docs/opensearch-3x-sparse-ann.md``): the
newest server it serves is 3.9.0; a 3.9.0 server with 3.6.0.0 plugins starts but every
sparse query fails, so the plugins are only offered at the version they were built for.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from langchain_splade.errors import InvalidInputError
from langchain_splade.testing.jvm import LauncherSpec

OPENSEARCH_VERSION = "2.19.6"
"""The default: the 2.x line most clusters run."""
OPENSEARCH3_VERSION = "3.9.0"
"""The newest 3.x server Maven Central serves."""
NEURAL_SEARCH_VERSION = "3.6.0"
"""The only version whose k-NN and neural-search plugin zips Maven Central serves."""

_HERE = Path(__file__).parent
_URL_ENV = "OPENSEARCH_URL"
_COMMAND = "langchain-splade opensearch-node"

# Flags copied from the distribution's jvm.options.
_FLAGS = (
    "-Dfile.encoding=UTF-8",
    "-Djna.nosys=true",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dlog4j2.disable.jmx=true",
)
_FLAGS_2 = ("-Djava.locale.providers=SPI,COMPAT", *_FLAGS)  # 2.x on Java 17
# 3.x on Java 21-25: Lucene 10's vector module, no COMPAT locale provider (gone in 23).
_FLAGS_3 = ("--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector", *_FLAGS)
# name:class[:extended plugins], as the 3.x launcher reads them.
_MODULES_3 = (
    "transport-netty4:org.opensearch.transport.Netty4ModulePlugin",
    "mapper-extras:org.opensearch.index.mapper.MapperExtrasModulePlugin",
    "analysis-common:org.opensearch.analysis.common.CommonAnalysisModulePlugin",
)
_NEURAL_3 = (
    "lang-painless:org.opensearch.painless.PainlessModulePlugin",
    "opensearch-knn:org.opensearch.knn.plugin.KNNPlugin:lang-painless",
    "opensearch-neural-search:org.opensearch.neuralsearch.plugin.NeuralSearch:opensearch-knn",
)


def parse_version(version: str) -> tuple[int, int, int]:
    """``"3.9.0"`` -> ``(3, 9, 0)``; anything else is an :class:`InvalidInputError`."""
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", str(version).strip())
    if match is None:
        raise InvalidInputError(
            f"OpenSearch version {version!r} is not MAJOR.MINOR.PATCH.",
            expected=f"e.g. {OPENSEARCH_VERSION} or {OPENSEARCH3_VERSION}",
            fix="pass a released server version",
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def launcher_spec(
    version: str = OPENSEARCH_VERSION, *, neural_search: bool = False
) -> LauncherSpec:
    """How to build and run an OpenSearch ``version`` node (with the neural-search plugin
    when ``neural_search``)."""
    major, minor, _ = parse_version(version)
    if neural_search and version != NEURAL_SEARCH_VERSION:
        raise InvalidInputError(
            f"The neural-search plugin was asked for with OpenSearch {version}.",
            expected=f"version {NEURAL_SEARCH_VERSION}: Maven Central serves the k-NN and "
            "neural-search plugin zips for that version only, and a plugin runs only on "
            "the server it was built for",
            fix=f"pass --version {NEURAL_SEARCH_VERSION} --neural-search (or drop --neural-search)",
        )
    if major == 2:
        return LauncherSpec(
            product="OpenSearch",
            version=version,
            launcher_dir=_HERE / "launcher",
            main_class="io.github.langchain_splade.opensearch.TestNode",
            min_java=17,
            java_home_envs=("OPENSEARCH_JAVA_HOME", "JAVA_HOME"),
            jvm_flags=_FLAGS_2,
            url_env=_URL_ENV,
            command=_COMMAND,
            # The pom pins the default; another 2.x is a property (its own build folder).
            maven_args=()
            if version == OPENSEARCH_VERSION
            else (f"-Dopensearch.version={version}",),
        )
    if major == 3 and minor >= 1:
        plugins = _MODULES_3 + (_NEURAL_3 if neural_search else ())
        return LauncherSpec(
            product="OpenSearch",
            version=version + (" with k-NN and neural-search" if neural_search else ""),
            launcher_dir=_HERE / "launcher3",
            main_class="io.github.langchain_splade.opensearch3.TestNode",
            min_java=21,
            # ES_JAVA_HOME: the JDK 21+ the Elasticsearch node uses serves 3.x as well.
            java_home_envs=("OPENSEARCH_JAVA_HOME", "ES_JAVA_HOME", "JAVA_HOME"),
            jvm_flags=_FLAGS_3,
            url_env=_URL_ENV,
            command=_COMMAND,
            maven_args=(f"-Dopensearch.version={version}",)
            + (("-Pneural-search",) if neural_search else ()),
            main_args=tuple(arg for plugin in plugins for arg in ("--plugin", plugin)),
        )
    raise InvalidInputError(
        f"OpenSearch {version} has no test node launcher.",
        expected=f"2.x (default {OPENSEARCH_VERSION}) or 3.1 and later (newest on Maven "
        f"Central: {OPENSEARCH3_VERSION})",
        fix=f"pass --version {OPENSEARCH_VERSION} or --version {OPENSEARCH3_VERSION}",
    )


MATRIX_ENV = "LANGCHAIN_SPLADE_OPENSEARCH_VERSIONS"


def version_matrix() -> tuple[str, ...]:
    """The versions a test suite runs its OpenSearch tests on.

    ``("external",)`` when ``$OPENSEARCH_URL`` names a cluster; else the comma-separated
    ``$LANGCHAIN_SPLADE_OPENSEARCH_VERSIONS``, by default 2.19.6 and the newest 3.x.
    """
    if os.environ.get(_URL_ENV):
        return ("external",)
    listed = os.environ.get(MATRIX_ENV, f"{OPENSEARCH_VERSION},{OPENSEARCH3_VERSION}")
    versions = tuple(v.strip() for v in listed.split(",") if v.strip())
    for version in versions:
        parse_version(version)
    return versions
