"""Find and load a SPLADE checkpoint: the bundled default, a local folder, or a hub id.

The bundled model is loaded from the package folder with ``local_files_only``, so
the default path never touches the network. A hub id is fetched (or found in the
cache) as a folder snapshot first, so a hub model and a local folder are read the
same way (:mod:`langchain_splade.encoders.st_format`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from langchain_splade.encoders.st_format import ModelLayout, read_idf, read_layout
from langchain_splade.errors import ModelLoadError

logger = logging.getLogger(__name__)

BUNDLED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "splade-tiny"
IDF_FILE = "idf.json"
# The length the bundled model is documented and measured with (its tokenizer's
# model_max_length, 512, is BERT's position limit, not the length it was tuned at).
BUNDLED_MAX_LENGTH = {"splade-tiny": 256}
_PADDING_OFFSET_MODELS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert")


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


def model_folder(resolved: ResolvedModel) -> Path:
    """The local folder of ``resolved``: its own, or the hub snapshot (cached or fetched)."""
    if resolved.local_dir is not None:
        return resolved.local_dir
    try:
        from huggingface_hub import snapshot_download

        # ONNX/OpenVINO exports and other frameworks' weights are not needed here.
        return Path(
            snapshot_download(
                resolved.source,
                ignore_patterns=["onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot"],
            )
        )
    except Exception as exc:  # offline, unknown repo, gated repo: all say the same to a user
        raise ModelLoadError(
            f"Could not load SPLADE model {resolved.source!r} (hub id): {exc}",
            expected="a cached hub id, a local folder or a bundled model name",
            fix="connect to the network once to cache it, or download it elsewhere and "
            f"pass its local folder; the bundled model={DEFAULT_MODEL!r} works offline",
        ) from exc


def load_model_and_tokenizer(folder: Path) -> tuple[Any, Any]:
    """Load a masked-LM model (eval mode, float32) and its fast tokenizer from ``folder``."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per 17 MB load is noise in notebooks and CLIs
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForMaskedLM.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"Could not load SPLADE model from folder {str(folder)!r}: {exc}",
            expected="a masked-LM checkpoint (config.json, weights, tokenizer files)",
            fix="check the folder's files",
        ) from exc
    finally:
        if bars_were_enabled:
            hf_logging.enable_progress_bar()
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"The tokenizer in {str(folder)!r} is not a fast (Rust) tokenizer.",
            expected="a tokenizer.json next to the model",
            fix="save the tokenizer with a recent transformers to produce tokenizer.json",
        )
    return model.float().eval(), tokenizer


def position_limit(config: Any) -> int:
    """The most tokens one window may hold: the model's position table, less the
    offset RoBERTa-style models reserve for padding (514 positions -> 512 tokens)."""
    limit = int(getattr(config, "max_position_embeddings", None) or 512)
    if getattr(config, "model_type", "") in _PADDING_OFFSET_MODELS:
        limit -= int(getattr(config, "pad_token_id", None) or 1) + 1
    return limit


def default_max_length(
    recorded: int | None, tokenizer: Any, config: Any, bundled_name: str | None
) -> int:
    """The window length when the caller gives none: what the model folder records.

    Order: the folder's ``max_seq_length`` (sentence-transformers), the tokenizer's
    ``model_max_length`` when it is a real limit (not transformers' 1e30 "unset"),
    the bundled model's documented length, then the position limit (at most 512).
    Always capped by the position limit.
    """
    limit = position_limit(config)
    if bundled_name in BUNDLED_MAX_LENGTH:
        return min(BUNDLED_MAX_LENGTH[bundled_name], limit)
    if recorded is not None:
        return min(recorded, limit)
    from_tokenizer = getattr(tokenizer, "model_max_length", None)
    if isinstance(from_tokenizer, int) and 8 <= from_tokenizer <= limit:
        return from_tokenizer
    return min(limit, 512)


@dataclass
class LoadedSplade:
    """A checkpoint ready to encode: model with its projection detached, tokenizer(s),
    the folder's layout and the window length it records."""

    resolved: ResolvedModel
    folder: Path
    layout: ModelLayout
    model: Any
    tokenizer: Any
    weight: torch.Tensor
    bias: torch.Tensor | None
    default_max_length: int
    position_limit: int
    query_tokenizer: Any | None


def load_splade(resolved: ResolvedModel) -> LoadedSplade:
    """Read the folder's layout, load its masked LM and split off the vocabulary head."""
    from langchain_splade.encoders.heads import split_vocab_projection

    folder = model_folder(resolved)
    layout = read_layout(folder)
    model, tokenizer = load_model_and_tokenizer(layout.transformer_dir)
    weight, bias = split_vocab_projection(model, tokenizer)
    query_tokenizer = None
    if (
        layout.query_tokenizer_dir is not None
        and (layout.query_tokenizer_dir / "tokenizer.json").is_file()
    ):
        from transformers import AutoTokenizer

        query_tokenizer = AutoTokenizer.from_pretrained(
            str(layout.query_tokenizer_dir), local_files_only=True
        )
    bundled = resolved.name if folder.parent == BUNDLED_MODELS_DIR else None
    return LoadedSplade(
        resolved=resolved,
        folder=folder,
        layout=layout,
        model=model,
        tokenizer=tokenizer,
        weight=weight,
        bias=bias,
        default_max_length=default_max_length(layout.max_length, tokenizer, model.config, bundled),
        position_limit=position_limit(model.config),
        query_tokenizer=query_tokenizer,
    )


def load_idf(folder: Path | None) -> dict[str, float] | None:
    """The inference-free query weights shipped as ``idf.json`` ({token: weight}), if any."""
    if folder is None or not (folder / IDF_FILE).is_file():
        return None
    return read_idf(folder / IDF_FILE)


def vocabulary_hash(vocabulary: dict[str, int]) -> str:
    """A stable hash of the token -> id mapping: indexes refuse another vocabulary."""
    digest = hashlib.sha256()
    for token, token_id in sorted(vocabulary.items(), key=lambda item: item[1]):
        digest.update(f"{token_id}\t{token}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]
