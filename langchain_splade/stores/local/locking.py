"""An exclusive, non-blocking write lock on an index directory.

Why ``flock`` on a lock file: the kernel releases it when the holder dies (even on
``kill -9``), so a crash never leaves a stale lock to clean up by hand, and a second
writer fails fast with :class:`IndexLockedError` instead of interleaving files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType

from langchain_splade.errors import IndexLockedError

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class WriteLock:
    """Context manager holding ``DIR/.lock``; re-entrant within one object only."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:  # pragma: no cover - Windows
            logger.warning("File locking is unavailable on this platform; writes are unguarded.")
            self._fd = fd
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise IndexLockedError(
                f"The index directory {self.path.parent} is being written by another "
                f"writer{holder}.",
                expected="one writer per index directory at a time",
                fix="wait for the other writer to finish (or close it), or save to another path",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""
