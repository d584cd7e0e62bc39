"""A real multi-node OpenSearch cluster on 127.0.0.1, from the same launcher.

Users outgrow one machine by moving to a cluster: shards spread over nodes, replicas
take over when a node dies. :class:`OpenSearchTestCluster` starts ``n`` embedded
nodes (small heaps, distinct ports) that discover each other through their
transport ports, so sharding, replica promotion and a node killed mid-write can be
tested for real. Every node is stopped on exit, even when start-up fails.
"""

from __future__ import annotations

import socket
import threading
import uuid
from pathlib import Path
from types import TracebackType

from langchain_splade.testing.opensearch.node import OpenSearchTestNode


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class OpenSearchTestCluster:
    """``nodes`` OpenSearch nodes forming one cluster, as a context manager.

    Example::

        with OpenSearchTestCluster(3) as cluster:
            client = OpenSearch(hosts=cluster.urls)

    Args:
        nodes: how many nodes (all cluster-manager eligible and data nodes).
        heap: each node's JVM heap.
        startup_timeout: seconds for the cluster to form and turn yellow.
    """

    def __init__(self, nodes: int = 3, *, heap: str = "320m", startup_timeout: float = 240.0):
        self.size = nodes
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.cluster_name = f"langchain-splade-{uuid.uuid4().hex[:8]}"
        self.nodes: list[OpenSearchTestNode] = []

    @property
    def urls(self) -> list[str]:
        """The HTTP URL of every running node."""
        return [node.url for node in self.nodes if node.running]

    def node_named(self, name: str) -> OpenSearchTestNode:
        return self.nodes[int(name.rsplit("-", 1)[1])]

    def start(self) -> OpenSearchTestCluster:
        """Start every node at once (a node waits for a quorum before it is healthy)."""
        ports = free_ports(self.size)
        names = [f"node-{i}" for i in range(self.size)]
        seeds = ",".join(f"127.0.0.1:{port}" for port in ports)
        self.nodes = [
            OpenSearchTestNode(
                heap=self.heap,
                startup_timeout=self.startup_timeout,
                settings={
                    "cluster.name": self.cluster_name,
                    "node.name": name,
                    "discovery.type": "zen",
                    "transport.port": str(port),
                    "discovery.seed_hosts": seeds,
                    "cluster.initial_cluster_manager_nodes": ",".join(names),
                },
            )
            for name, port in zip(names, ports)
        ]
        errors: list[BaseException] = []

        def start(node: OpenSearchTestNode) -> None:
            try:
                node.start()
            except BaseException as exc:  # reported below, after every thread ended
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(node,)) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.stop()
            raise errors[0]
        return self

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL); safe after a node was killed."""
        for node in self.nodes:
            node.stop(timeout=20.0)

    def log_paths(self) -> list[Path | None]:
        return [node.log_path for node in self.nodes]

    def __enter__(self) -> OpenSearchTestCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
