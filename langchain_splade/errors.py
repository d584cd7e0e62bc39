"""The project's error hierarchy.

Every error says what was found, what was expected and how to fix it, so a user
reading a traceback in a notebook knows the next step without opening the source.
Input errors also subclass the built-in exception a caller would naturally catch
(``ValueError``, ``TypeError``), so generic handlers keep working.
"""

from __future__ import annotations


class SpladeError(Exception):
    """Base class of every error raised by langchain-splade."""

    def __init__(self, found: str, expected: str = "", fix: str = "") -> None:
        self.found = found
        self.expected = expected
        self.fix = fix
        parts = [found]
        if expected:
            parts.append(f"Expected: {expected}.")
        if fix:
            parts.append(f"Fix: {fix}.")
        super().__init__(" ".join(parts))


class InvalidInputError(SpladeError, ValueError):
    """A value passed by the caller is out of range or malformed."""


class InvalidTypeError(SpladeError, TypeError):
    """A value passed by the caller has the wrong type."""


class FilterError(InvalidInputError):
    """A metadata filter does not follow the documented dialect."""


class ModelLoadError(SpladeError, OSError):
    """A SPLADE checkpoint could not be found or loaded."""


class MissingDependencyError(SpladeError, ImportError):
    """An optional extra is needed for this feature but is not installed."""


class StoredIndexError(SpladeError):
    """Base class of errors about a stored index."""


class IncompatibleIndexError(StoredIndexError):
    """The index was written by another model, vocabulary or format version."""


class CorruptIndexError(StoredIndexError):
    """Files of an index on disk are missing, truncated or fail their checksum."""


class IndexLockedError(StoredIndexError):
    """Another process holds the write lock of an index directory."""


class IndexNotFoundError(StoredIndexError, FileNotFoundError):
    """No index exists at the given path (nothing was saved there yet)."""


class BackendError(SpladeError):
    """A storage backend (e.g. OpenSearch) failed or rejected a request."""


class PartialWriteError(BackendError):
    """Some documents of a write were stored and some were not.

    Attributes:
        failed_ids: ids that were *not* stored, each with the backend's reason.
        stored_ids: ids that were stored.
    """

    def __init__(
        self,
        found: str,
        failed: dict[str, str],
        stored_ids: list[str],
        expected: str = "",
        fix: str = "",
    ) -> None:
        self.failed = failed
        self.failed_ids = list(failed)
        self.stored_ids = stored_ids
        super().__init__(found, expected, fix)


def require(module: str, extra: str) -> None:
    """Raise ``MissingDependencyError`` with an exact install hint if ``module`` is absent."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"The optional package '{module}' is not installed.",
            expected=f"'{module}' importable for this feature",
            fix=f"pip install 'langchain-splade[{extra}]'",
        )
