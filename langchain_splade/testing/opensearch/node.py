"""A real single-node OpenSearch for tests, demos and notebooks, without Docker.

OpenSearch publishes its server and module jars as ordinary Maven artifacts, so a
node can run in a JVM of its own from a tiny launcher (``launcher/``, shipped as
package data): the same engine as a distribution (same Lucene, mappers and queries),
so what passes against it passes against a real cluster. The JVM plumbing (build
with Maven into a cache folder, start, wait for yellow health, stop) is shared with
the other engines in :mod:`langchain_splade.testing.jvm`.

It needs only the standard library, ``filelock``, ``mvn`` and Java 17+ (2.x) or 21+
(3.x): not opensearch-py. Which versions run, and how: :mod:`.versions`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from langchain_splade.testing.jvm import JvmTestNode
from langchain_splade.testing.jvm import serve as _serve
from langchain_splade.testing.opensearch.versions import OPENSEARCH_VERSION, launcher_spec

SPEC = launcher_spec(OPENSEARCH_VERSION)


class OpenSearchTestNode(JvmTestNode):
    """One embedded OpenSearch node on 127.0.0.1, as a context manager.

    Example::

        with OpenSearchTestNode() as node:
            client = OpenSearch(node.url)

    Args:
        version: the server version (default 2.19.6; 3.1+ needs a JDK 21+).
        neural_search: also load the k-NN and neural-search plugins (``sparse_vector``
            fields, SEISMIC); only with version 3.6.0.
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
        version: str = OPENSEARCH_VERSION,
        neural_search: bool = False,
        port: int | None = None,
        data_dir: Path | None = None,
        heap: str = "512m",
        startup_timeout: float = 120.0,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.version = version
        self.neural_search = neural_search
        super().__init__(
            launcher_spec(version, neural_search=neural_search),
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
def opensearch_node(
    port: int | None = None,
    data_dir: Path | None = None,
    *,
    version: str = OPENSEARCH_VERSION,
    neural_search: bool = False,
) -> Iterator[str]:
    """Run a node for the duration of a ``with`` block and yield its URL."""
    with OpenSearchTestNode(
        port=port, data_dir=data_dir, version=version, neural_search=neural_search
    ) as node:
        yield node.url


def serve(
    port: int | None = None,
    data_dir: Path | None = None,
    *,
    version: str = OPENSEARCH_VERSION,
    neural_search: bool = False,
) -> int:
    """Run a node in the foreground until Ctrl-C or SIGTERM; prints its URL once yellow."""
    return _serve(
        OpenSearchTestNode(
            port=port, data_dir=data_dir, version=version, neural_search=neural_search
        )
    )
