"""A real single-node OpenSearch for tests, demos and notebooks, without Docker.

OpenSearch publishes its server and module jars as ordinary Maven artifacts, so a
node can run in a JVM of its own from a tiny launcher (``launcher/``, shipped as
package data): the same engine as a distribution (same Lucene, mappers and queries),
so what passes against it passes against a real cluster. This module builds the
launcher once per launcher version into a cache folder (never inside the package or
the repository), starts the JVM, waits for the ports file and yellow health, and
stops it with SIGTERM, then SIGKILL.

It needs only the standard library, ``java`` (17+) and ``mvn``: not opensearch-py.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType

from langchain_splade.errors import BackendError, MissingDependencyError

logger = logging.getLogger(__name__)

OPENSEARCH_VERSION = "2.19.6"
LAUNCHER_DIR = Path(__file__).parent / "launcher"
MAIN_CLASS = "io.github.langchain_splade.opensearch.TestNode"
STARTUP_TIMEOUT_S = 120.0

# Flags copied from the distribution's jvm.options (2.x on Java 17).
JVM_FLAGS = (
    "-Djava.locale.providers=SPI,COMPAT",
    "-Dfile.encoding=UTF-8",
    "-Djna.nosys=true",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dlog4j2.disable.jmx=true",
)
_INSTALL_HINT = "apt-get install openjdk-17-jdk-headless maven (or put java 17+ and mvn on PATH)"


def launcher_hash() -> str:
    """A digest of the launcher's pom and sources: a new launcher gets a new build."""
    digest = hashlib.sha256()
    for path in sorted(p for p in LAUNCHER_DIR.rglob("*") if p.is_file()):
        relative = path.relative_to(LAUNCHER_DIR).as_posix()
        if relative.startswith("target/") or "__pycache__" in relative:
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Where launcher builds live: ``$LANGCHAIN_SPLADE_CACHE`` or ``~/.cache/langchain-splade``."""
    base = os.environ.get("LANGCHAIN_SPLADE_CACHE")
    if base:
        return Path(base) / "opensearch-node"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "langchain-splade" / "opensearch-node"


def _tool(name: str) -> str:
    if name == "java" and os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise MissingDependencyError(
            f"'{name}' was not found on PATH.",
            expected=f"'{name}' installed to build and run the OpenSearch test node",
            fix=_INSTALL_HINT,
        )
    return found


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def build_launcher(cache_dir: Path | None = None) -> Path:
    """Build the launcher if needed and return its build folder (``classes/`` + ``lib/``).

    The first build resolves about 60 jars (~45 MB) into ``~/.m2`` (later builds reuse
    them). Concurrent callers are serialised with a file lock, and a build is published
    by an atomic rename, so a half-built folder is never used.
    """
    root = cache_dir or cache_root()
    build = root / launcher_hash()
    if (build / "BUILD_OK").is_file():
        return build
    mvn = _tool("mvn")
    _tool("java")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (build / "BUILD_OK").is_file():
            return build
        work = Path(tempfile.mkdtemp(prefix="build-", dir=root))
        try:
            shutil.copytree(
                LAUNCHER_DIR, work / "src-tree", ignore=shutil.ignore_patterns("target")
            )
            logger.info("building the OpenSearch test node launcher in %s", work)
            started = time.monotonic()
            result = subprocess.run(
                [mvn, "-q", "-B", "package", "dependency:copy-dependencies", "-DskipTests"],
                cwd=work / "src-tree",
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise BackendError(
                    f"Building the OpenSearch test node launcher failed (mvn exit "
                    f"{result.returncode}):\n{_tail(result.stdout + result.stderr)}",
                    expected="Maven able to resolve org.opensearch artifacts into ~/.m2",
                    fix="check network access to the Maven registry, or set OPENSEARCH_URL "
                    "to an existing cluster",
                )
            target = work / "src-tree" / "target"
            staged = work / "out"
            staged.mkdir()
            shutil.move(str(target / "classes"), staged / "classes")
            shutil.move(str(target / "lib"), staged / "lib")
            (staged / "BUILD_OK").write_text(f"{time.monotonic() - started:.1f}s\n")
            if build.exists():
                shutil.rmtree(build)
            staged.rename(build)
            logger.info("launcher built in %.1f s", time.monotonic() - started)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return build


def _get_json(url: str, timeout: float) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = json.loads(response.read().decode())
    return data if isinstance(data, dict) else {}


class OpenSearchTestNode:
    """One embedded OpenSearch node on 127.0.0.1, as a context manager.

    Example::

        with OpenSearchTestNode() as node:
            client = OpenSearch(node.url)

    Args:
        port: HTTP port; ``None`` picks a free one.
        data_dir: keep indices there across runs; ``None`` uses a temporary folder
            removed on :meth:`stop`.
        heap: maximum JVM heap (``-Xmx``; the node starts with 512m).
        startup_timeout: seconds to wait for yellow health.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        heap: str = "1g",
        startup_timeout: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.port = port
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.heap = heap
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._home: Path | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running node."""
        if self._url is None:
            raise BackendError(
                "The OpenSearch test node is not running.",
                fix="call start() or use it as a context manager",
            )
        return self._url

    @property
    def log_path(self) -> Path | None:
        """The node's console log (kept until :meth:`stop`)."""
        return self._home / "node.log" if self._home else None

    def command(self, build: Path) -> list[str]:
        """The ``java`` command line that starts the node."""
        assert self._home is not None
        data = self.data_dir or self._home / "data"
        settings = {
            "path.home": str(self._home),
            "path.data": str(data),
            "path.logs": str(self._home / "logs"),
        }
        if self.port is not None:
            settings["http.port"] = str(self.port)
        classpath = f"{build / 'classes'}{os.pathsep}{build / 'lib' / '*'}"
        args = [_tool("java"), "-Xms512m", f"-Xmx{self.heap}", *JVM_FLAGS]
        args += ["-cp", classpath, MAIN_CLASS, "--exit-on-stdin-eof"]
        for key, value in settings.items():
            args += ["-E", f"{key}={value}"]
        return args

    def start(self) -> OpenSearchTestNode:
        """Build the launcher if needed, start the JVM and wait for yellow health."""
        if self._process is not None:
            return self
        build = build_launcher()
        self._home = Path(tempfile.mkdtemp(prefix="langchain-splade-opensearch-"))
        log = open(self._home / "node.log", "wb")  # noqa: SIM115 - owned by the child
        started = time.monotonic()
        try:
            # stdin stays open as a pipe: when this process dies, the JVM sees EOF and exits.
            self._process = subprocess.Popen(
                self.command(build),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        atexit.register(self.stop)
        try:
            self._url = self._wait_until_ready(started)
        except BaseException:
            self.stop(keep_home=True)
            raise
        logger.info(
            "OpenSearch test node ready at %s in %.1f s", self._url, time.monotonic() - started
        )
        return self

    def _wait_until_ready(self, started: float) -> str:
        assert self._process is not None and self._home is not None
        deadline = started + self.startup_timeout
        ports = self._home / "logs" / "http.ports"
        while not (ports.is_file() and ports.read_text().strip()):
            self._check_alive()
            if time.monotonic() > deadline:
                self._fail(f"no HTTP port after {self.startup_timeout:.0f} s")
            time.sleep(0.2)
        address = ports.read_text().split()[0]
        url = f"http://{address}"
        while True:
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(f"cluster not yellow after {self.startup_timeout:.0f} s")
            wait = max(1, int(min(remaining, 30)))
            try:
                health = _get_json(
                    f"{url}/_cluster/health?wait_for_status=yellow&timeout={wait}s", wait + 5
                )
                if health.get("status") in ("yellow", "green"):
                    return url
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.5)

    def _check_alive(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is not None:
            self._fail(f"the JVM exited with code {code}")

    def _fail(self, what: str) -> None:
        log = self.log_path.read_text(errors="replace") if self.log_path else ""
        raise BackendError(
            f"The OpenSearch test node did not start: {what}. Node log:\n{_tail(log)}",
            expected="a node answering _cluster/health with yellow",
            fix="read the log above; a fixed --port may be taken, or Java may be older than 17",
        )

    def stop(self, timeout: float = 30.0, *, keep_home: bool = False) -> None:
        """Send SIGTERM, wait up to ``timeout`` s for a clean close, then SIGKILL."""
        process, self._process, self._url = self._process, None, None
        if process is not None:
            with contextlib.suppress(OSError):
                if process.stdin:
                    process.stdin.close()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    logger.warning("OpenSearch test node ignored SIGTERM; killing it")
                    process.kill()
                    process.wait()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if self._home is not None and not keep_home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self) -> int:
        """Block until the JVM exits; returns its exit code."""
        if self._process is None:
            return 0
        return self._process.wait()

    def __enter__(self) -> OpenSearchTestNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def opensearch_node(port: int | None = None, data_dir: Path | None = None) -> Iterator[str]:
    """Run a node for the duration of a ``with`` block and yield its URL."""
    with OpenSearchTestNode(port=port, data_dir=data_dir) as node:
        yield node.url


class _Stop(Exception):
    pass


def serve(port: int | None = None, data_dir: Path | None = None) -> int:
    """Run a node in the foreground until Ctrl-C or SIGTERM; returns an exit code.

    Prints the URL on stdout once the cluster is yellow (progress goes to stderr), so
    ``URL=$(langchain-splade opensearch-node | head -1)`` works in scripts.
    """

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, _raise)
    node = OpenSearchTestNode(port=port, data_dir=data_dir)
    try:
        print(
            f"Starting OpenSearch {OPENSEARCH_VERSION} (the first run builds the launcher "
            "with Maven)...",
            file=sys.stderr,
            flush=True,
        )
        node.start()
        print(node.url, flush=True)
        print(f"Node log: {node.log_path}. Press Ctrl-C to stop.", file=sys.stderr, flush=True)
        code = node.wait()
        print(f"The node exited on its own (code {code}).", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, _Stop):
        print("Stopping the node...", file=sys.stderr, flush=True)
        return 0
    except (BackendError, MissingDependencyError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        node.stop()
        signal.signal(signal.SIGTERM, previous)
