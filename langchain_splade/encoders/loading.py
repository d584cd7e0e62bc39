"""Find and load a SPLADE checkpoint: the bundled default, a local folder, or a hub id.

The bundled model is loaded from the package folder with ``local_files_only``, so
the default path never touches the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_splade.errors import InvalidInputError, ModelLoadError

logger = logging.getLogger(__name__)

BUNDLED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "splade-tiny"
IDF_FILE = "idf.json"


@dataclass(frozen=True)
class ResolvedModel:
    """Where a checkpoint lives and the name an index will record for it."""

    name: str
    source: str
    local_dir: Path | None


def resolve_model(model: str | Path) -> ResolvedModel:
    """Map ``model`` to a local folder (bundled name or path) or a hub id."""
    if isinstance(model, Path) or Path(model).expanduser().exists():
        folder = Path(model).expanduser().resolve()
        if not folder.is_dir():
            raise ModelLoadError(
                f"Model path {str(folder)!r} is a file.",
                expected="a folder with config.json, the weights and tokenizer files",
                fix="pass the folder that contains config.json",
            )
        return ResolvedModel(name=folder.name, source=str(folder), local_dir=folder)
    bundled = BUNDLED_MODELS_DIR / str(model)
    if bundled.is_dir():
        return ResolvedModel(name=str(model), source=str(bundled), local_dir=bundled)
    if str(model).startswith((".", "/", "~")):
        raise ModelLoadError(
            f"Model folder {model!r} does not exist.",
            expected="an existing folder, a bundled model name or a hub id",
            fix=f"check the path, or use the bundled default model={DEFAULT_MODEL!r}",
        )
    return ResolvedModel(name=str(model), source=str(model), local_dir=None)


def load_model_and_tokenizer(resolved: ResolvedModel) -> tuple[Any, Any]:
    """Load a masked-LM model (eval mode) and its fast tokenizer."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    local_only = resolved.local_dir is not None
    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per 17 MB load is noise in notebooks and CLIs
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.source, local_files_only=local_only)
        model = AutoModelForMaskedLM.from_pretrained(resolved.source, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        where = "folder" if local_only else "hub id"
        raise ModelLoadError(
            f"Could not load SPLADE model {resolved.source!r} ({where}): {exc}",
            expected="a masked-LM checkpoint (config.json, weights, tokenizer files)",
            fix=(
                "check the folder's files"
                if local_only
                else "connect to the network once to cache it, or download it elsewhere and "
                f"pass its local folder; the bundled model={DEFAULT_MODEL!r} works offline"
            ),
        ) from exc
    finally:
        if bars_were_enabled:
            hf_logging.enable_progress_bar()
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"The tokenizer of {resolved.source!r} is not a fast (Rust) tokenizer.",
            expected="a tokenizer.json next to the model",
            fix="save the tokenizer with a recent transformers to produce tokenizer.json",
        )
    return model.eval(), tokenizer


def load_idf(folder: Path | None) -> dict[str, float] | None:
    """The inference-free query weights shipped as ``idf.json`` ({token: weight}), if any."""
    if folder is None or not (folder / IDF_FILE).is_file():
        return None
    return read_idf(folder / IDF_FILE)


def read_idf(path: Path) -> dict[str, float]:
    """Read and validate an ``idf.json`` file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(
            f"Could not read IDF table {str(path)!r}: {exc}.",
            expected='a JSON object {"token": weight, ...}',
            fix="regenerate the file or remove it to encode queries with the model",
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) for k, v in data.items()
    ):
        raise InvalidInputError(
            f"IDF table {str(path)!r} is not a mapping of token to number.",
            expected='a JSON object {"token": weight, ...}',
            fix="regenerate the file",
        )
    return {k: float(v) for k, v in data.items()}


def vocabulary_hash(vocabulary: dict[str, int]) -> str:
    """A stable hash of the token -> id mapping: indexes refuse another vocabulary."""
    digest = hashlib.sha256()
    for token, token_id in sorted(vocabulary.items(), key=lambda item: item[1]):
        digest.update(f"{token_id}\t{token}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]
