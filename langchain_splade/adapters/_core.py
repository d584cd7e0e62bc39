"""What every store adapter shares: one SpladeEncoder, text batches, progress, explanations.

The adapters only translate :class:`~langchain_splade.types.SparseVector` into each
store's own sparse type, so the encoder's settings (windows for long documents,
document and query pruning, inference-free queries) apply unchanged in every store.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

from langchain_splade.encoders import SpladeEncoder
from langchain_splade.errors import InvalidTypeError
from langchain_splade.types import SparseVector, TermContribution
from langchain_splade.validation import check_k

T = TypeVar("T")

# Inputs at least this long show a progress bar unless show_progress says otherwise.
PROGRESS_MIN_TEXTS = 256


class EncoderCore:
    """A SpladeEncoder with text batches, a progress bar on long inputs, and async twins.

    Args:
        encoder: the encoder to wrap; ``None`` loads the bundled offline model.
        batch_size: texts encoded per step (the progress bar's step). The encoder
            sorts each step's windows by length, so larger steps pad less; memory
            grows by ``batch_size x vocabulary`` floats (256 x 30,522 x 4 B = 31 MB).
        show_progress: ``True``/``False`` to force the bar on or off; ``None`` shows it
            for inputs of at least ``PROGRESS_MIN_TEXTS`` texts.
    """

    def __init__(
        self,
        encoder: SpladeEncoder | None = None,
        batch_size: int = 256,
        show_progress: bool | None = None,
    ) -> None:
        if encoder is not None and not isinstance(encoder, SpladeEncoder):
            raise InvalidTypeError(
                f"encoder is a {type(encoder).__name__}, not a SpladeEncoder.",
                expected="a langchain_splade.SpladeEncoder or None (the bundled model)",
                fix="pass SpladeEncoder('path/or/hub-id', ...) or leave encoder out",
            )
        self.batch_size = check_k(batch_size, "batch_size")
        if show_progress is not None and not isinstance(show_progress, bool):
            raise InvalidTypeError(
                f"show_progress is {show_progress!r}.", expected="True, False or None"
            )
        self.encoder = encoder if encoder is not None else SpladeEncoder()
        self.show_progress = show_progress
        # Async callers may start many batches at once (LlamaIndex gathers them all);
        # torch already uses every core, so encode one batch at a time.
        self._lock = threading.Lock()

    def documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """Document vectors of ``texts``, in order, ``batch_size`` texts at a time."""
        texts = _check_sequence(texts)
        show = self.show_progress
        if show is None:
            show = len(texts) >= PROGRESS_MIN_TEXTS
        vectors: list[SparseVector] = []
        with tqdm(total=len(texts), desc="SPLADE", unit="doc", disable=not show) as bar:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                vectors.extend(self.encoder.embed_documents(batch, show_progress=False))
                bar.update(len(batch))
        return vectors

    def queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """Query vectors of ``texts`` (model or IDF, pruned with the query settings)."""
        texts = _check_sequence(texts)
        vectors: list[SparseVector] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self.encoder.embed_queries(texts[start : start + self.batch_size]))
        return vectors

    def query(self, text: str) -> SparseVector:
        """The query vector of one text."""
        if not isinstance(text, str):
            raise InvalidTypeError(
                f"The query is a {type(text).__name__}, not a str.",
                fix="pass the query text as a string",
            )
        return self.encoder.embed_query(text)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in a worker thread, one encoding at a time."""

        def locked() -> T:
            with self._lock:
                return function(*args)

        return await asyncio.to_thread(locked)

    def explain(self, query: str, document: str, top_k: int | None = 10) -> list[TermContribution]:
        """The terms shared by ``query`` and ``document``, by contribution to the score.

        Stores return scores, not vectors; this re-encodes the one document, so the
        contributions sum to the sparse score the store computed for it.
        """
        document_vector = self.documents([document])[0]
        return self.encoder.explain(self.query(query), document_vector, top_k)


def _check_sequence(texts: Any) -> list[str]:
    """``texts`` as a list; a bare string is a mistake (it would be split into characters)."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidTypeError(
            f"Expected a list of strings, got {type(texts).__name__}.",
            fix="wrap a single text in a list, or use embed_query for one query",
        )
    return list(texts)


def to_sparse_dict(vector: SparseVector) -> dict[int, float]:
    """``{term_id: weight}`` with plain Python ints and floats (Milvus, LlamaIndex)."""
    return dict(zip(vector.indices.tolist(), vector.values.tolist()))


class AdapterMixin:
    """Public helpers every adapter exposes; the adapter sets ``self._core``."""

    _core: EncoderCore

    @property
    def encoder(self) -> SpladeEncoder:
        """The wrapped SpladeEncoder (its settings decide every vector)."""
        return self._core.encoder

    def explain(self, query: str, document: str, top_k: int | None = 10) -> list[TermContribution]:
        """Why ``document`` matched ``query``: shared terms by contribution ``q_w * d_w``."""
        return self._core.explain(query, document, top_k)
