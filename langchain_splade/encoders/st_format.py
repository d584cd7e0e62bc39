"""Read what a model folder says about encoding: sentence-transformers or plain masked LM.

A sentence-transformers ``SparseEncoder`` folder (``modules.json``) chains a masked-LM
``Transformer`` (``MLMTransformer`` in 5.x) with a ``SpladePooling`` whose config sets
``pooling_strategy`` (``max``: SPLADE v2, Formal et al. 2021; ``sum``: SPLADE v1) and
``activation_function`` (``relu``: ``log(1 + relu(x))``; ``log1p_relu``: the double log
``log(1 + log(1 + relu(x)))`` of OpenSearch's v3 doc-only models, Geng et al. 2025,
arXiv:2504.14839). Inference-free models put a ``Router`` in front: a ``document``
route through the masked LM and a ``query`` route through a ``SparseStaticEmbedding``
(one static weight per vocabulary entry). The folder also records the maximum
sequence length, prompts and ``max_active_dims``.

Nothing here imports sentence-transformers: the JSON files are the format. A plain
masked-LM folder (``config.json``, weights, tokenizer, optional ``idf.json``) reads as
the SPLADE default: max pooling, ``relu``, no prompts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from langchain_splade.errors import InvalidInputError, ModelLoadError, SpladeError

Pooling = Literal["max", "sum"]
Activation = Literal["relu", "log1p_relu"]
POOLINGS: tuple[str, ...] = ("max", "sum")
ACTIVATIONS: tuple[str, ...] = ("relu", "log1p_relu")

_TRANSFORMERS = ("Transformer", "MLMTransformer")
_POOLING = "SpladePooling"
_ROUTERS = ("Router", "Asym")
_STATIC = "SparseStaticEmbedding"
SUPPORTED_MODULES = (*_TRANSFORMERS, _POOLING, *_ROUTERS, _STATIC)
_TRANSFORMER_CONFIGS = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_xlm-roberta_config.json",
)
_DOCUMENT_PROMPTS = ("document", "passage", "corpus")


@dataclass(frozen=True)
class ModelLayout:
    """How to encode with a model folder.

    Attributes:
        transformer_dir: the folder holding the masked LM (config, weights, tokenizer).
        pooling: ``"max"`` or ``"sum"`` over token positions.
        activation: ``"relu"`` (``log1p(relu(x))``) or ``"log1p_relu"`` (double log).
        max_length: the maximum sequence length the folder records, if any.
        query_prompt, document_prompt: text prepended before tokenizing.
        query_weights: static per-vocabulary-id query weights (inference-free route).
        query_tokenizer_dir: the folder of the query route's tokenizer.
        max_active_dims: the folder's cap on non-zero weights per vector.
        source_format: ``"sentence-transformers"`` or ``"masked-lm"``.
    """

    transformer_dir: Path
    pooling: Pooling = "max"
    activation: Activation = "relu"
    max_length: int | None = None
    query_prompt: str = ""
    document_prompt: str = ""
    query_weights: np.ndarray | None = field(default=None, repr=False)
    query_tokenizer_dir: Path | None = None
    max_active_dims: int | None = None
    source_format: str = "masked-lm"


def is_sentence_transformers_folder(folder: Path) -> bool:
    """True when ``folder`` was saved by sentence-transformers (it has ``modules.json``)."""
    return (folder / "modules.json").is_file()


def read_layout(folder: Path) -> ModelLayout:
    """The :class:`ModelLayout` of a local model folder (either format)."""
    if not is_sentence_transformers_folder(folder):
        return ModelLayout(transformer_dir=folder, max_length=_transformer_max_length(folder))
    settings = _read_json(folder / "config_sentence_transformers.json", required=False) or {}
    model_type = settings.get("model_type")
    if model_type not in (None, "SparseEncoder"):
        raise ModelLoadError(
            f"{str(folder)!r} is a sentence-transformers {model_type}, not a sparse encoder.",
            expected='config_sentence_transformers.json with "model_type": "SparseEncoder"',
            fix="use a SPLADE (SparseEncoder) checkpoint; dense embedding models do not "
            "produce vocabulary weights",
        )
    modules = _read_json(folder / "modules.json", required=True)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ModelLoadError(
            f"{str(folder / 'modules.json')!r} is not a list of modules.",
            expected='[{"idx": 0, "path": "", "type": "..."}, ...]',
            fix="re-save the model with SparseEncoder.save_pretrained",
        )
    chain = [
        (_class_name(str(m.get("type", ""))), folder / str(m.get("path", "")))
        for m in sorted(modules, key=lambda m: int(m.get("idx", 0)))
    ]
    _reject_unknown(folder, [name for name, _ in chain])
    prompts = settings.get("prompts") or {}
    default_prompt = prompts.get(settings.get("default_prompt_name") or "", "")
    query_prompt = prompts.get("query", default_prompt) or ""
    document_prompt = next(
        (prompts[name] for name in _DOCUMENT_PROMPTS if name in prompts), default_prompt
    )
    common: dict[str, Any] = {
        "query_prompt": str(query_prompt),
        "document_prompt": str(document_prompt or ""),
        "max_active_dims": settings.get("max_active_dims"),
        "source_format": "sentence-transformers",
    }
    if len(chain) == 1 and chain[0][0] in _ROUTERS:
        return _router_layout(chain[0][1], common)
    return ModelLayout(**_splade_chain(folder, chain), **common)


def _router_layout(router_dir: Path, common: dict[str, Any]) -> ModelLayout:
    """A ``Router``: the document route must be SPLADE; the query route the same
    modules or a ``SparseStaticEmbedding``."""
    config = _read_json(router_dir / "router_config.json", required=False) or _read_json(
        router_dir / "config.json", required=True
    )
    types: dict[str, str] = config.get("types", {})
    structure: dict[str, list[str]] = config.get("structure", {})
    _reject_unknown(router_dir, [_class_name(t) for t in types.values()])
    document_route = structure.get("document") or structure.get(
        config.get("parameters", {}).get("default_route") or ""
    )
    query_route = structure.get("query")
    if not document_route or not query_route:
        raise ModelLoadError(
            f"Router in {str(router_dir)!r} has routes {sorted(structure)}.",
            expected="a 'query' and a 'document' route",
            fix="save the model with Router.for_query_document(query_modules, document_modules)",
        )

    def chain(route: list[str]) -> list[tuple[str, Path]]:
        return [(_class_name(types.get(name, "")), router_dir / name) for name in route]

    document = _splade_chain(router_dir, chain(document_route))
    query = chain(query_route)
    if query_route == document_route:
        return ModelLayout(**document, **common)
    if len(query) == 1 and query[0][0] == _STATIC:
        weights = _static_weights(query[0][1])
        return ModelLayout(
            **document, query_weights=weights, query_tokenizer_dir=query[0][1], **common
        )
    raise ModelLoadError(
        f"Router in {str(router_dir)!r} routes queries through {[n for n, _ in query]}.",
        expected="queries through the document modules or one SparseStaticEmbedding",
        fix="a query model of its own is not supported: encode queries with a separate "
        "SpladeEncoder and documents with this one",
    )


def _splade_chain(folder: Path, chain: list[tuple[str, Path]]) -> dict[str, Any]:
    """``[Transformer(fill-mask), SpladePooling]`` as layout fields."""
    names = [name for name, _ in chain]
    if len(chain) != 2 or names[0] not in _TRANSFORMERS or names[1] != _POOLING:
        raise ModelLoadError(
            f"{str(folder)!r} chains the modules {names}.",
            expected=f"a masked-LM Transformer followed by {_POOLING}",
            fix="use a SPLADE SparseEncoder (Transformer with transformer_task='fill-mask' "
            "+ SpladePooling)",
        )
    transformer_dir, pooling_dir = chain[0][1], chain[1][1]
    transformer = _transformer_config(transformer_dir)
    task = transformer.get("transformer_task", "fill-mask" if names[0] != "Transformer" else None)
    if task != "fill-mask":
        raise ModelLoadError(
            f"The Transformer module in {str(transformer_dir)!r} has "
            f"transformer_task={task!r}: it outputs embeddings, not vocabulary logits.",
            expected="transformer_task='fill-mask' (a masked-LM head)",
            fix="use a SPLADE SparseEncoder checkpoint",
        )
    pooling = _read_json(pooling_dir / "config.json", required=False) or {}
    strategy = pooling.get("pooling_strategy", "max")
    activation = pooling.get("activation_function", "relu")
    if strategy not in POOLINGS or activation not in ACTIVATIONS:
        raise ModelLoadError(
            f"SpladePooling in {str(pooling_dir)!r} has pooling_strategy={strategy!r}, "
            f"activation_function={activation!r}.",
            expected=f"pooling_strategy in {list(POOLINGS)}, activation_function in "
            f"{list(ACTIVATIONS)}",
            fix="use a SpladePooling configuration sentence-transformers supports",
        )
    return {
        "transformer_dir": transformer_dir,
        "pooling": strategy,
        "activation": activation,
        "max_length": _transformer_max_length(transformer_dir),
    }


def _transformer_config(folder: Path) -> dict[str, Any]:
    for name in _TRANSFORMER_CONFIGS:
        config = _read_json(folder / name, required=False)
        if config:
            return dict(config)
    return {}


def _transformer_max_length(folder: Path) -> int | None:
    """``max_seq_length`` from the folder's sentence-transformers config (5.x format);
    6.x keeps it as the tokenizer's ``model_max_length``, read after loading."""
    value = _transformer_config(folder).get("max_seq_length")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _static_weights(folder: Path) -> np.ndarray:
    """A ``SparseStaticEmbedding``'s weight vector (safetensors) or its ``idf.json``."""
    config = _read_json(folder / "config.json", required=False) or {}
    path = config.get("path")
    if isinstance(path, str) and path.endswith(".json"):
        return _idf_json_weights(folder, folder / path)
    file = folder / "model.safetensors"
    if not file.is_file():
        raise ModelLoadError(
            f"SparseStaticEmbedding in {str(folder)!r} has no model.safetensors.",
            expected="model.safetensors with a 'weight' vector, or an idf.json path",
            fix="re-save the model with SparseEncoder.save_pretrained",
        )
    from safetensors.numpy import load_file

    tensors = load_file(str(file))
    weight = tensors.get("weight")
    if weight is None or weight.ndim != 1:
        raise ModelLoadError(
            f"{str(file)!r} holds {sorted(tensors)}.",
            expected="one 1-D 'weight' tensor (a weight per vocabulary id)",
            fix="re-save the model with SparseEncoder.save_pretrained",
        )
    return weight.astype(np.float32)


def _idf_json_weights(folder: Path, path: Path) -> np.ndarray:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    vocab: dict[str, int] = tokenizer.get_vocab()
    weights = np.zeros(max(vocab.values()) + 1, dtype=np.float32)
    for token, weight in read_idf(path).items():
        if token in vocab:
            weights[vocab[token]] = weight
    return weights


def read_idf(path: Path) -> dict[str, float]:
    """Read and validate an ``idf.json`` file: an inference-free model's query weights.

    A plain masked-LM folder ships one beside its weights; a ``SparseStaticEmbedding``
    names one in its config. It lives here with the folder's other formats, so that
    :mod:`~langchain_splade.encoders.loading` imports this module and never the reverse.
    """
    data = _parse_json(
        path,
        InvalidInputError,
        what="IDF table ",
        expected='a JSON object {"token": weight, ...}',
        fix="regenerate the file or remove it to encode queries with the model",
    )
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) for k, v in data.items()
    ):
        raise InvalidInputError(
            f"IDF table {str(path)!r} is not a mapping of token to number.",
            expected='a JSON object {"token": weight, ...}',
            fix="regenerate the file",
        )
    return {k: float(v) for k, v in data.items()}


def _class_name(type_path: str) -> str:
    return type_path.rsplit(".", 1)[-1]


def _reject_unknown(folder: Path, names: list[str]) -> None:
    unknown = sorted({name for name in names if name not in SUPPORTED_MODULES})
    if unknown:
        raise ModelLoadError(
            f"{str(folder)!r} uses sentence-transformers modules {unknown} that this "
            "encoder does not support.",
            expected=f"only {', '.join(SUPPORTED_MODULES)} (SPLADE: a masked-LM Transformer "
            "+ SpladePooling, optionally behind a Router with a SparseStaticEmbedding query "
            "route)",
            fix="use sentence-transformers' SparseEncoder for this model, or a SPLADE checkpoint",
        )


def _read_json(path: Path, required: bool) -> Any:
    if not path.is_file():
        if required:
            raise ModelLoadError(
                f"{str(path)!r} is missing.",
                expected="a complete sentence-transformers model folder",
                fix="re-save the model with SparseEncoder.save_pretrained",
            )
        return None
    return _parse_json(
        path,
        ModelLoadError,
        what="",
        expected="valid JSON",
        fix="re-save the model with SparseEncoder.save_pretrained",
    )


def _parse_json(path: Path, error: type[SpladeError], *, what: str, expected: str, fix: str) -> Any:
    """The JSON value in ``path``; ``error`` (found/expected/fix) if it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise error(
            f"Could not read {what}{str(path)!r}: {exc}.", expected=expected, fix=fix
        ) from exc
