"""Run a search engine node from a small Java launcher, for tests, demos and notebooks.

OpenSearch and Elasticsearch publish their server jars on Maven Central, so a real
node can run in a JVM of its own from a tiny launcher (a Maven project shipped as
package data) without Docker or a distribution tarball: the same engine (same
Lucene, mappers and queries) as a production cluster. This module holds what every
such launcher needs, once: find a JDK recent enough, build the launcher with Maven
into a cache folder (never inside the package or the repository), start the JVM,
wait for its ports file and yellow health, stop it with SIGTERM then SIGKILL, and
serve it in the foreground for the command line.

It needs only the standard library, ``filelock``, a JDK and ``mvn``.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import ClassVar, TypeVar

from langchain_splade.errors import BackendError, MissingDependencyError

logger = logging.getLogger(__name__)
_Node = TypeVar("_Node", bound="JvmTestNode")

_JDK_ROOTS = (Path("/usr/lib/jvm"), Path("/usr/java"), Path("/opt/java"))


@dataclass(frozen=True)
class LauncherSpec:
    """What differs between two engines' launchers.

    Attributes:
        product: the engine's name in messages, e.g. ``"Elasticsearch"``.
        version: the engine version the launcher's pom pins.
        launcher_dir: the Maven project (``pom.xml`` + ``src/``).
        main_class: the launcher's main class.
        min_java: the oldest Java feature release that runs the engine.
        java_home_envs: environment variables naming a JDK, most specific first.
        jvm_flags: extra JVM flags; ``{home}`` is replaced by the node's home folder.
        url_env: the variable that points tests at an existing cluster instead.
        command: the CLI command that serves a node (for messages).
        maven_args: extra ``mvn`` arguments (e.g. ``-Dopensearch.version=3.9.0``,
            ``-Pneural-search``): one launcher builds several versions, each in its own
            cache folder.
        main_args: arguments given to the main class before the ``-E`` settings (e.g.
            the plugins a 3.x OpenSearch node loads).
    """

    product: str
    version: str
    launcher_dir: Path
    main_class: str
    min_java: int
    java_home_envs: tuple[str, ...]
    jvm_flags: tuple[str, ...]
    url_env: str
    command: str
    maven_args: tuple[str, ...] = ()
    main_args: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return f"{self.product.lower()}-node"


def java_version(java_home: Path) -> int | None:
    """The Java feature release (17, 21, 25, ...) of a JDK, or ``None`` if unknown."""
    release = java_home / "release"
    text = release.read_text(errors="replace") if release.is_file() else ""
    match = re.search(r'JAVA_VERSION="(\d+)(?:\.(\d+))?', text)
    if match is None:
        java = java_home / "bin" / "java"
        if not java.is_file():
            return None
        try:
            out = subprocess.run(
                [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
            ).stderr
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
        if match is None:
            return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _candidates(spec: LauncherSpec) -> list[Path]:
    found: list[Path] = []
    for name in spec.java_home_envs:
        if os.environ.get(name):
            found.append(Path(os.environ[name]))
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path).resolve().parent.parent)
    for root in _JDK_ROOTS:
        if root.is_dir():
            found.extend(sorted((p for p in root.iterdir() if p.is_dir()), reverse=True))
    return list(dict.fromkeys(found))


def find_java_home(spec: LauncherSpec, *, need_javac: bool = False) -> Path:
    """The first JDK with Java ``spec.min_java`` or newer: the variables in
    ``spec.java_home_envs``, then ``java`` on PATH, then the usual JDK folders."""
    seen = []
    for home in _candidates(spec):
        version = java_version(home)
        seen.append(f"{home} (Java {version or '?'})")
        if version is None or version < spec.min_java:
            continue
        if need_javac and not (home / "bin" / "javac").is_file():
            continue
        return home
    tool = "JDK" if need_javac else "Java runtime"
    raise MissingDependencyError(
        f"No {tool} of version {spec.min_java} or newer was found for the {spec.product} "
        f"test node; looked at: {', '.join(seen) or 'nothing'}.",
        expected=f"a JDK {spec.min_java}+ ({spec.product} {spec.version} needs it)",
        fix=f"install one (e.g. Temurin {max(spec.min_java, 21)}) and set "
        f"{spec.java_home_envs[0]} to its folder, or set {spec.url_env} to an existing cluster",
    )


def launcher_hash(spec: LauncherSpec) -> str:
    """A digest of the launcher's pom and sources: a new launcher gets a new build."""
    digest = hashlib.sha256()
    for path in sorted(p for p in spec.launcher_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(spec.launcher_dir).as_posix()
        if relative.startswith("target/") or "__pycache__" in relative:
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    if spec.maven_args:  # absent for a launcher built as is: its old builds stay valid
        digest.update(b"mvn\0" + "\0".join(spec.maven_args).encode())
    return digest.hexdigest()[:16]


def cache_root(spec: LauncherSpec) -> Path:
    """Where builds live: ``$LANGCHAIN_SPLADE_CACHE`` or ``~/.cache/langchain-splade``."""
    base = os.environ.get("LANGCHAIN_SPLADE_CACHE")
    if base:
        return Path(base) / spec.slug
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "langchain-splade" / spec.slug


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def build_launcher(spec: LauncherSpec, cache_dir: Path | None = None) -> Path:
    """Build the launcher if needed and return its build folder (``classes/`` + ``lib/``).

    The first build resolves the engine's jars into ``~/.m2`` (later builds reuse
    them). Concurrent callers are serialised with a file lock, and a build is
    published by an atomic rename, so a half-built folder is never used.
    """
    from filelock import FileLock

    root = cache_dir or cache_root(spec)
    build = root / launcher_hash(spec)
    if (build / "BUILD_OK").is_file():
        return build
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingDependencyError(
            f"'mvn' was not found on PATH; it builds the {spec.product} test node launcher.",
            expected="Apache Maven 3.6+",
            fix=f"apt-get install maven (or put mvn on PATH), or set {spec.url_env} to an "
            "existing cluster",
        )
    java_home = find_java_home(spec, need_javac=True)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".lock")):
        if (build / "BUILD_OK").is_file():
            return build
        work = Path(tempfile.mkdtemp(prefix="build-", dir=root))
        try:
            src = work / "src-tree"
            shutil.copytree(spec.launcher_dir, src, ignore=shutil.ignore_patterns("target"))
            logger.info("building the %s test node launcher in %s", spec.product, work)
            started = time.monotonic()
            result = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "package",
                    "dependency:copy-dependencies",
                    "-DskipTests",
                    *spec.maven_args,
                ],
                cwd=src,
                env={**os.environ, "JAVA_HOME": str(java_home)},
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise BackendError(
                    f"Building the {spec.product} test node launcher failed (mvn exit "
                    f"{result.returncode}):\n{tail(result.stdout + result.stderr)}",
                    expected=f"Maven able to resolve the {spec.product} jars into ~/.m2",
                    fix=f"check network access to the Maven registry, or set {spec.url_env} "
                    "to an existing cluster",
                )
            staged = work / "out"
            staged.mkdir()
            shutil.move(str(src / "target" / "classes"), staged / "classes")
            shutil.move(str(src / "target" / "lib"), staged / "lib")
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


class JvmTestNode:
    """One embedded node on 127.0.0.1, as a context manager.

    An engine's node class only names its launcher: ``SPEC = LauncherSpec(...)``.

    Args:
        spec: which engine's launcher to run (default: the class's ``SPEC``).
        port: HTTP port; ``None`` picks a free one.
        data_dir: keep indices there across runs; ``None`` uses a temporary folder
            removed on :meth:`stop`.
        heap: maximum JVM heap (``-Xmx``).
        startup_timeout: seconds to wait for yellow health.
        settings: extra node settings (``-E key=value``).
    """

    SPEC: ClassVar[LauncherSpec | None] = None

    def __init__(
        self,
        spec: LauncherSpec | None = None,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        heap: str = "512m",
        startup_timeout: float = 120.0,
        settings: dict[str, str] | None = None,
    ) -> None:
        chosen = spec or type(self).SPEC
        if chosen is None:
            raise TypeError(f"{type(self).__name__} needs a LauncherSpec (spec= or SPEC)")
        self.spec = chosen
        self.port = port
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.settings = dict(settings or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._home: Path | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running node."""
        if self._url is None:
            raise BackendError(
                f"The {self.spec.product} test node is not running.",
                fix="call start() or use it as a context manager",
            )
        return self._url

    @property
    def log_path(self) -> Path | None:
        """The node's console log (kept until :meth:`stop`)."""
        return self._home / "node.log" if self._home else None

    def command(self, build: Path, java_home: Path) -> list[str]:
        """The ``java`` command line that starts the node."""
        if self._home is None:
            raise BackendError(f"The {self.spec.product} node has no home folder yet.")
        data = self.data_dir or self._home / "data"
        settings = {
            "path.home": str(self._home),
            "path.data": str(data),
            "path.logs": str(self._home / "logs"),
            **self.settings,
        }
        if self.port is not None:
            settings["http.port"] = str(self.port)
        classpath = f"{build / 'classes'}{os.pathsep}{build / 'lib' / '*'}"
        flags = [flag.format(home=self._home) for flag in self.spec.jvm_flags]
        args = [str(java_home / "bin" / "java"), f"-Xms{self.heap}", f"-Xmx{self.heap}", *flags]
        args += ["-cp", classpath, self.spec.main_class, "--exit-on-stdin-eof"]
        args += list(self.spec.main_args)
        for key, value in settings.items():
            args += ["-E", f"{key}={value}"]
        return args

    def start(self: _Node) -> _Node:
        """Build the launcher if needed, start the JVM and wait for yellow health."""
        if self._process is not None:
            return self
        build = build_launcher(self.spec)
        java_home = find_java_home(self.spec)
        self._home = Path(tempfile.mkdtemp(prefix=f"langchain-splade-{self.spec.slug}-"))
        log = open(self._home / "node.log", "wb")  # noqa: SIM115 - owned by the child
        started = time.monotonic()
        try:
            # stdin stays open as a pipe: when this process dies, the JVM sees EOF and exits.
            self._process = subprocess.Popen(
                self.command(build, java_home),
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
            "%s test node ready at %s in %.1f s",
            self.spec.product,
            self._url,
            time.monotonic() - started,
        )
        return self

    def _wait_until_ready(self, started: float) -> str:
        assert self._home is not None
        deadline = started + self.startup_timeout
        ports = self._home / "logs" / "http.ports"
        while not (ports.is_file() and ports.read_text().strip()):
            self._check_alive()
            if time.monotonic() > deadline:
                self._fail(f"no HTTP port after {self.startup_timeout:.0f} s")
            time.sleep(0.2)
        url = f"http://{ports.read_text().split()[0]}"
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
        code = self._process.poll() if self._process is not None else -1
        if code is not None:
            self._fail(f"the JVM exited with code {code}")

    def _fail(self, what: str) -> None:
        log = self.log_path.read_text(errors="replace") if self.log_path else ""
        raise BackendError(
            f"The {self.spec.product} test node did not start: {what}. Node log:\n{tail(log)}",
            expected="a node answering _cluster/health with yellow",
            fix=f"read the log above; a fixed --port may be taken, or the data folder may be "
            f"in use by another node, or Java may be older than {self.spec.min_java}",
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
                    logger.warning("%s test node ignored SIGTERM; killing it", self.spec.product)
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

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def memory_mib(self) -> dict[str, float] | None:
        """The JVM's resident memory now (``rss``) and at its peak (``peak``), in MiB,
        read from ``/proc`` (Linux); ``None`` when the node is not running or elsewhere."""
        if not self.running or self.pid is None:
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            return {
                "rss": int(fields["VmRSS"].split()[0]) / 1024,
                "peak": int(fields["VmHWM"].split()[0]) / 1024,
            }
        except (KeyError, ValueError, IndexError):
            return None

    def wait(self) -> int:
        """Block until the JVM exits; returns its exit code."""
        return 0 if self._process is None else self._process.wait()

    def __enter__(self: _Node) -> _Node:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Stop(Exception):
    pass


def serve(node: JvmTestNode) -> int:
    """Run ``node`` in the foreground until Ctrl-C or SIGTERM; returns an exit code.

    Prints the URL on stdout once the cluster is yellow (progress goes to stderr), so
    ``URL=$(langchain-splade elasticsearch-node | head -1)`` works in scripts.
    """

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    spec = node.spec
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        print(
            f"Starting {spec.product} {spec.version} (the first run builds the launcher "
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
