"""A real single-node OpenSearch for tests, demos and notebooks, without Docker.

OpenSearch publishes its server and module jars as ordinary Maven artifacts, so a
node can run in a JVM of its own from a tiny launcher (``launcher/``, shipped as
package data): the same engine as a distribution (same Lucene, mappers and queries),
so what passes against it passes against a real cluster. The JVM plumbing (build
with Maven into a cache folder, start, wait for yellow health, stop) is shared with
the other engines in :mod:`langchain_splade.testing.jvm`.

It needs only the standard library, ``filelock``, Java 17+ and ``mvn``: not
opensearch-py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from langchain_splade.testing.jvm import JvmTestNode, LauncherSpec
from langchain_splade.testing.jvm import serve as _serve

OPENSEARCH_VERSION = "2.19.6"

SPEC = LauncherSpec(
    product="OpenSearch",
    version=OPENSEARCH_VERSION,
    launcher_dir=Path(__file__).parent / "launcher",
    main_class="io.github.langchain_splade.opensearch.TestNode",
    min_java=17,
    java_home_envs=("OPENSEARCH_JAVA_HOME", "JAVA_HOME"),
    # Flags copied from the distribution's jvm.options (2.x on Java 17).
    jvm_flags=(
        "-Djava.locale.providers=SPI,COMPAT",
        "-Dfile.encoding=UTF-8",
        "-Djna.nosys=true",
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dlog4j2.disable.jmx=true",
    ),
    url_env="OPENSEARCH_URL",
    command="langchain-splade opensearch-node",
)


class OpenSearchTestNode(JvmTestNode):
    """One embedded OpenSearch node on 127.0.0.1, as a context manager.

    Example::

        with OpenSearchTestNode() as node:
            client = OpenSearch(node.url)

    Args:
        port: HTTP port; ``None`` picks a free one.
        data_dir: keep indices there across runs; ``None`` uses a temporary folder
            removed on :meth:`stop`.
        heap: JVM heap (``-Xms`` = ``-Xmx``).
        startup_timeout: seconds to wait for yellow health.
        settings: extra node settings (``-E key=value``), e.g. ``{"node.name": "n1"}``.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        heap: str = "512m",
        startup_timeout: float = 120.0,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            SPEC,
            port=port,
            data_dir=data_dir,
            heap=heap,
            startup_timeout=startup_timeout,
            settings=settings,
        )

    def __enter__(self) -> OpenSearchTestNode:
        self.start()
        return self


@contextlib.contextmanager
def opensearch_node(port: int | None = None, data_dir: Path | None = None) -> Iterator[str]:
    """Run a node for the duration of a ``with`` block and yield its URL."""
    with OpenSearchTestNode(port=port, data_dir=data_dir) as node:
        yield node.url


def serve(port: int | None = None, data_dir: Path | None = None) -> int:
    """Run a node in the foreground until Ctrl-C or SIGTERM; prints its URL once yellow."""
    return _serve(OpenSearchTestNode(port=port, data_dir=data_dir))
