"""A real single-node Elasticsearch 9 for tests, demos and notebooks, without Docker.

The node runs in-process in a JVM of its own from a tiny launcher (``launcher/``,
shipped as package data) built on the two artifacts Elasticsearch publishes on Maven
Central: the server jar (which holds the ``sparse_vector`` field) and transport-netty4
(HTTP). Two small plugins of ours stand in for modules that are not published there:
``GET /``/``HEAD /`` (so clients' ``info()`` and ``ping()`` work) and the ``english``
analyzer (so BM25 text fields analyse as in production). There is no x-pack: no
security and no ``sparse_vector`` *query*; the boosted ``term`` form this package
searches with works on it as on every cluster.

Elasticsearch 9 targets Java 21: the JDK is found through ``ES_JAVA_HOME``,
``JAVA_HOME``, ``java`` on PATH or the usual JDK folders (e.g. Temurin 25 in
``/usr/lib/jvm``), whichever is first at 21 or newer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from langchain_splade.testing.jvm import JvmTestNode, LauncherSpec
from langchain_splade.testing.jvm import serve as _serve

ELASTICSEARCH_VERSION = "9.2.0"

SPEC = LauncherSpec(
    product="Elasticsearch",
    version=ELASTICSEARCH_VERSION,
    launcher_dir=Path(__file__).parent / "launcher",
    main_class="io.github.langchain_splade.elasticsearch.TestNode",
    min_java=21,
    java_home_envs=("ES_JAVA_HOME", "JAVA_HOME"),
    # A quiet start-up on Java 21-25, as the distribution's jvm.options give it.
    jvm_flags=(
        "--enable-native-access=ALL-UNNAMED",
        "--add-modules=jdk.incubator.vector",
        "-Dfile.encoding=UTF-8",
        "-Dio.netty.noUnsafe=true",
        "-Dlog4j2.disable.jmx=true",
    ),
    url_env="ELASTICSEARCH_URL",
    command="langchain-splade elasticsearch-node",
)


class ElasticsearchTestNode(JvmTestNode):
    """One embedded Elasticsearch node on 127.0.0.1, as a context manager.

    Example::

        with ElasticsearchTestNode() as node:
            client = Elasticsearch(node.url)

    Takes :class:`~langchain_splade.testing.jvm.JvmTestNode`'s keyword arguments
    (``port``, ``data_dir``, ``heap``, ``startup_timeout``, ``settings``); a 512 MB
    heap gives an RSS near 350 MB.
    """

    SPEC = SPEC


@contextlib.contextmanager
def elasticsearch_node(port: int | None = None, data_dir: Path | None = None) -> Iterator[str]:
    """Run a node for the duration of a ``with`` block and yield its URL."""
    with ElasticsearchTestNode(port=port, data_dir=data_dir) as node:
        yield node.url


def serve(port: int | None = None, data_dir: Path | None = None) -> int:
    """Run a node in the foreground until Ctrl-C or SIGTERM; prints its URL once yellow."""
    return _serve(ElasticsearchTestNode(port=port, data_dir=data_dir))
