"""An exclusive, non-blocking write lock on an index directory.

Why ``filelock``: it takes an OS lock on ``DIR/.lock`` (``flock`` on POSIX,
``msvcrt.locking`` on Windows) that the OS releases when the holder dies, even on
``kill -9``, so a crash never leaves a stale lock to clean up by hand, and a second
writer fails fast with :class:`IndexLockedError` on every platform instead of
interleaving files. The holder's process id goes to ``DIR/.lock.owner`` (written
after the lock is taken) so the error can name it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from langchain_splade.errors import IndexLockedError

LOCK_NAME = ".lock"
OWNER_NAME = ".lock.owner"


class WriteLock:
    """Context manager holding ``DIR/.lock``; re-entrant within one object only."""

    def __init__(self, directory: Path | str) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._owner = Path(directory) / OWNER_NAME
        self._lock = FileLock(self.path, timeout=0, thread_local=False)

    @property
    def held(self) -> bool:
        return bool(self._lock.is_locked)

    def acquire(self) -> None:
        if self._lock.is_locked:
            return
        try:
            self._lock.acquire()
        except Timeout:
            raise IndexLockedError(
                f"The index directory {self.path.parent} is being written by another "
                f"writer{_holder(self._owner)}.",
                expected="one writer per index directory at a time",
                fix="wait for the other writer to finish (or close it), or save to another path",
            ) from None
        with contextlib.suppress(OSError):  # the pid is only a hint in an error message
            self._owner.write_text(f"{os.getpid()}\n", encoding="ascii")

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

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


def _holder(owner: Path) -> str:
    try:
        text = owner.read_text(encoding="ascii").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""
