"""Every supported model family and sentence-transformers layout, against sentence-transformers.

Tiny random-weight checkpoints (BERT, DistilBERT, RoBERTa, XLM-R, ModernBERT) are
built here with ``transformers`` (the bundled WordPiece vocabulary, or a byte-level
BPE vocabulary trained on a few sentences), wrapped as sentence-transformers
``SparseEncoder`` models and saved with ``save_pretrained``: nothing is downloaded.
sentence-transformers is the oracle: our documents and queries must equal its
``encode_document`` / ``encode_query`` within 1e-5 per weight (special tokens
excepted: the encoder gives them no weight).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from langchain_splade import ModelLoadError, SparseVector
from langchain_splade.encoders import SpladeEncoder
from langchain_splade.encoders.loading import BUNDLED_MODELS_DIR

st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is a dev extra")
transformers = pytest.importorskip("transformers")
from sentence_transformers import SparseEncoder  # noqa: E402
from sentence_transformers.sparse_encoder.modules import (  # noqa: E402
    Router,
    SparseStaticEmbedding,
    SpladePooling,
    Transformer,
)

DOCUMENTS = [
    "The heart pumps blood through the arteries and veins of the body.",
    "Paris is the capital of France; the Eiffel Tower stands on the Champ de Mars.",
    "short",
    "Photosynthesis turns light into chemical energy stored in glucose. " * 12,
]
QUERIES = ["what does the heart pump", "capital of france", "glucose"]
CORPUS = DOCUMENTS + QUERIES + ["A quick brown fox jumps over the lazy dog near the river."] * 3
TINY = {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64, "init": 0.3}


def _bert_tokenizer(max_length: int) -> Any:
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        BUNDLED_MODELS_DIR / "splade-tiny", local_files_only=True
    )
    tokenizer.model_max_length = max_length
    return tokenizer


def _bpe_tokenizer(max_length: int) -> Any:
    """A byte-level BPE vocabulary (RoBERTa style) trained here on a few sentences."""
    from tokenizers import ByteLevelBPETokenizer, processors

    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(CORPUS * 5, vocab_size=400, min_frequency=1, special_tokens=specials)
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
        model_max_length=max_length,
    )
    tokenizer.model_input_names = ["input_ids", "attention_mask"]
    return tokenizer


def _masked_lm(family: str) -> tuple[Any, Any]:
    """A tiny random-weight ``*ForMaskedLM`` of ``family`` and its tokenizer."""
    t = TINY
    if family == "bert":
        tokenizer = _bert_tokenizer(64)
        config = transformers.BertConfig(
            vocab_size=len(tokenizer), hidden_size=t["hidden"], num_hidden_layers=t["layers"],
            num_attention_heads=t["heads"], intermediate_size=t["intermediate"],
            max_position_embeddings=128, initializer_range=t["init"],
        )  # fmt: skip
        return transformers.BertForMaskedLM(config), tokenizer
    if family == "distilbert":
        tokenizer = _bert_tokenizer(64)
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
        config = transformers.DistilBertConfig(
            vocab_size=len(tokenizer), dim=t["hidden"], n_layers=t["layers"], n_heads=t["heads"],
            hidden_dim=t["intermediate"], max_position_embeddings=128, initializer_range=t["init"],
        )  # fmt: skip
        return transformers.DistilBertForMaskedLM(config), tokenizer
    if family in ("roberta", "xlm-roberta"):
        tokenizer = _bpe_tokenizer(64)
        config_class, model_class = {
            "roberta": (transformers.RobertaConfig, transformers.RobertaForMaskedLM),
            "xlm-roberta": (transformers.XLMRobertaConfig, transformers.XLMRobertaForMaskedLM),
        }[family]
        config = config_class(
            vocab_size=len(tokenizer), hidden_size=t["hidden"], num_hidden_layers=t["layers"],
            num_attention_heads=t["heads"], intermediate_size=t["intermediate"],
            max_position_embeddings=66, pad_token_id=1, bos_token_id=0, eos_token_id=2,
            initializer_range=t["init"],
        )  # fmt: skip
        return model_class(config), tokenizer
    if family == "modernbert":
        tokenizer = _bert_tokenizer(64)
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
        config = transformers.ModernBertConfig(
            vocab_size=len(tokenizer), hidden_size=t["hidden"], num_hidden_layers=t["layers"],
            num_attention_heads=t["heads"], intermediate_size=t["intermediate"],
            max_position_embeddings=128, pad_token_id=0, cls_token_id=101, sep_token_id=102,
            bos_token_id=101, eos_token_id=102, global_attn_every_n_layers=2,
            local_attention=16, initializer_range=t["init"],
        )  # fmt: skip
        return transformers.ModernBertForMaskedLM(config), tokenizer
    raise AssertionError(family)


FAMILIES = ["bert", "distilbert", "roberta", "xlm-roberta"]
if hasattr(transformers, "ModernBertForMaskedLM"):
    FAMILIES.append("modernbert")

# family -> (pooling_strategy, activation_function, prompts): together they cover every
# SpladePooling setting and prompts, one model each.
VARIANTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "bert": ("max", "relu", {"query": "query: ", "document": "passage: "}),
    "distilbert": ("max", "log1p_relu", {}),
    "roberta": ("sum", "relu", {}),
    "xlm-roberta": ("max", "relu", {}),
    "modernbert": ("sum", "log1p_relu", {}),
}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every tiny checkpoint, built and saved once: ``{name: folder}``.

    ``<family>`` is a sentence-transformers SparseEncoder folder, ``<family>-mlm``
    the bare masked-LM folder it wraps, ``doc-only`` a Router with a static query side.
    """
    root = tmp_path_factory.mktemp("families")
    folders: dict[str, Path] = {}
    torch.manual_seed(0)
    for family in FAMILIES:
        model, tokenizer = _masked_lm(family)
        mlm = root / f"{family}-mlm"
        model.eval().save_pretrained(mlm)
        tokenizer.save_pretrained(mlm)
        strategy, activation, prompts = VARIANTS[family]
        encoder = SparseEncoder(
            modules=[
                Transformer(str(mlm), transformer_task="fill-mask", max_seq_length=48),
                SpladePooling(pooling_strategy=strategy, activation_function=activation),
            ],
            prompts=prompts or None,
        )
        encoder.save_pretrained(str(root / family))
        folders[family], folders[f"{family}-mlm"] = root / family, mlm

    bert_mlm = folders["bert-mlm"]
    static = torch.rand(len(_bert_tokenizer(64))) * 3
    doc_only = SparseEncoder(
        modules=[
            Router.for_query_document(
                query_modules=[
                    SparseStaticEmbedding(tokenizer=_bert_tokenizer(64), weight=static, frozen=True)
                ],
                document_modules=[
                    Transformer(str(bert_mlm), transformer_task="fill-mask", max_seq_length=40),
                    SpladePooling(pooling_strategy="max", activation_function="log1p_relu"),
                ],
            )
        ]
    )
    doc_only.save_pretrained(str(root / "doc-only"))
    folders["doc-only"] = root / "doc-only"
    return folders


def _dense(vectors: list[SparseVector], vocab: int) -> torch.Tensor:
    dense = torch.zeros(len(vectors), vocab)
    for row, vector in enumerate(vectors):
        index = torch.from_numpy(vector.indices.astype(np.int64))
        dense[row, index] = torch.from_numpy(vector.values.copy())
    return dense


def _oracle(folder: Path, texts: list[str], side: str, specials: list[int]) -> torch.Tensor:
    model = SparseEncoder(str(folder), device="cpu", local_files_only=True)
    encode = model.encode_query if side == "query" else model.encode_document
    dense = encode(texts, convert_to_tensor=True, convert_to_sparse_tensor=False).float()
    dense[:, specials] = 0.0
    return dense


def _assert_same_as_sentence_transformers(folder: Path, encoder: SpladeEncoder) -> None:
    specials = sorted(set(encoder._tokenizer.all_special_ids))
    for side, texts in (("document", DOCUMENTS), ("query", QUERIES)):
        ours = (
            encoder.embed_documents(texts) if side == "document" else encoder.embed_queries(texts)
        )
        got = _dense(ours, encoder.vocab_size)
        expected = _oracle(folder, texts, side, specials)
        assert got.shape == expected.shape
        assert torch.count_nonzero(expected) > 2 * len(texts), "a vacuous comparison"
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0, msg=f"{side}s differ")


@pytest.mark.parametrize("family", FAMILIES)
def test_sparse_encoder_folder_matches_sentence_transformers(
    checkpoints: dict[str, Path], family: str
) -> None:
    encoder = SpladeEncoder(checkpoints[family], device="cpu", long_documents="truncate")
    strategy, activation, prompts = VARIANTS[family]
    assert (encoder.layout.pooling, encoder.layout.activation) == (strategy, activation)
    assert encoder.layout.query_prompt == prompts.get("query", "")
    assert encoder.max_length == 48  # the folder's max_seq_length
    _assert_same_as_sentence_transformers(checkpoints[family], encoder)


@pytest.mark.parametrize("family", FAMILIES)
def test_plain_masked_lm_folder_matches_sentence_transformers(
    checkpoints: dict[str, Path], family: str
) -> None:
    """A bare masked-LM folder reads as SPLADE's defaults (max, relu), as in ST."""
    folder = checkpoints[f"{family}-mlm"]
    encoder = SpladeEncoder(folder, device="cpu", long_documents="truncate")
    assert (encoder.layout.pooling, encoder.layout.activation) == ("max", "relu")
    assert encoder.max_length == 64  # the tokenizer's model_max_length
    _assert_same_as_sentence_transformers(folder, encoder)


def test_router_with_static_query_side_is_inference_free(checkpoints: dict[str, Path]) -> None:
    folder = checkpoints["doc-only"]
    encoder = SpladeEncoder(folder, device="cpu", long_documents="truncate")
    assert encoder.query_encoder == "idf"
    assert (encoder.layout.activation, encoder.max_length) == ("log1p_relu", 40)

    def no_forward(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran on a query")

    _assert_same_as_sentence_transformers(folder, encoder)
    encoder._model.forward = no_forward
    assert encoder.embed_query("what does the heart pump").nnz > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_are_never_materialised_for_a_whole_batch(
    checkpoints: dict[str, Path], family: str
) -> None:
    """The largest vocabulary-wide tensor of a batch holds one text's rows, not the
    batch x length x vocab logits."""
    encoder = SpladeEncoder(checkpoints[family], device="cpu", batch_size=8)
    texts = [f"{DOCUMENTS[0]} {DOCUMENTS[1]} number {i}" for i in range(8)]
    prompted = [encoder.layout.document_prompt + text for text in texts]
    windows = [len(ids) for ids in encoder._windows(prompted, windowed=True)[0]]
    with _LargestVocabTensor(encoder.vocab_size) as largest:
        encoder.embed_documents(texts)
    assert largest.calls > 0, "the vocabulary projection was never seen"
    assert largest.numel <= max(windows) * encoder.vocab_size
    assert largest.numel < len(texts) * max(windows) * encoder.vocab_size


class _LargestVocabTensor(TorchDispatchMode):
    """Records the largest tensor with ``vocab`` as its last dimension, per op output."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab, self.numel, self.calls = vocab, 0, 0

    def __torch_dispatch__(
        self, func: Callable[..., Any], types: Any, args: Any = (), kwargs: Any = None
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            vocab_wide = isinstance(tensor, torch.Tensor) and tensor.dim() >= 2
            if vocab_wide and tensor.shape[-1] == self.vocab:
                self.calls += 1
                self.numel = max(self.numel, tensor.numel())
        return out


def test_windowing_reaches_past_the_folder_max_length(checkpoints: dict[str, Path]) -> None:
    """Windows follow the folder's max length (48): the tail adds weight that
    truncation never sees, and the first window is kept as is."""
    encoder = SpladeEncoder(checkpoints["bert"], device="cpu")
    truncated = SpladeEncoder(checkpoints["bert"], device="cpu", long_documents="truncate")
    assert encoder.long_documents == "window" and encoder.window_overlap == 12
    text = f"{DOCUMENTS[1]} {'the river flows past the town. ' * 20} {DOCUMENTS[0]}"
    assert len(encoder._tokenizer(text)["input_ids"]) > 3 * encoder.max_length
    windowed = _dense(encoder.embed_documents([text]), encoder.vocab_size)
    first = _dense(truncated.embed_documents([text]), encoder.vocab_size)
    assert bool((windowed >= first - 1e-6).all())
    assert bool((windowed > first + 1e-3).any())


def test_caller_max_length_wins_and_is_capped_by_positions(checkpoints: dict[str, Path]) -> None:
    assert SpladeEncoder(checkpoints["bert"], device="cpu", max_length=96).max_length == 96
    # RoBERTa reserves padding_idx + 1 of its 66 positions: 64 tokens at most.
    assert SpladeEncoder(checkpoints["roberta-mlm"], device="cpu", max_length=64).max_length == 64
    with pytest.raises(Exception, match="64 positions"):
        SpladeEncoder(checkpoints["roberta-mlm"], device="cpu", max_length=65)


def test_bundled_model_keeps_its_documented_length(encoder: SpladeEncoder) -> None:
    assert encoder.max_length == 256
    assert encoder.window_overlap == 32


def _edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def test_unknown_modules_are_named(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "with-dense"
    shutil.copytree(checkpoints["bert"], folder)

    def add_modules(modules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        extra = ["sentence_transformers.base.modules.dense.Dense", "my_package.TopKPruner"]
        return modules + [
            {"idx": 2 + i, "name": str(2 + i), "path": f"{2 + i}", "type": t}
            for i, t in enumerate(extra)
        ]

    _edit_json(folder / "modules.json", add_modules)
    with pytest.raises(ModelLoadError, match=r"Dense.*TopKPruner") as raised:
        SpladeEncoder(folder, device="cpu")
    assert "SpladePooling" in str(raised.value)  # says what is supported


def test_dense_transformer_and_dense_model_are_refused(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    dense_task = tmp_path / "feature-extraction"
    shutil.copytree(checkpoints["bert"], dense_task)
    _edit_json(
        dense_task / "sentence_bert_config.json",
        lambda c: {**c, "transformer_task": "feature-extraction"},
    )
    with pytest.raises(ModelLoadError, match="fill-mask"):
        SpladeEncoder(dense_task, device="cpu")

    dense_model = tmp_path / "dense-model"
    shutil.copytree(checkpoints["bert"], dense_model)
    _edit_json(
        dense_model / "config_sentence_transformers.json",
        lambda c: {**c, "model_type": "SentenceTransformer"},
    )
    with pytest.raises(ModelLoadError, match="not a sparse encoder"):
        SpladeEncoder(dense_model, device="cpu")


def test_bad_pooling_config_is_refused(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "mean-pooling"
    shutil.copytree(checkpoints["bert"], folder)
    _edit_json(
        folder / "1_SpladePooling" / "config.json", lambda c: {**c, "pooling_strategy": "mean"}
    )
    with pytest.raises(ModelLoadError, match="'mean'"):
        SpladeEncoder(folder, device="cpu")


def test_sentence_transformers_5_config_and_max_active_dims(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """5.x folders record ``max_seq_length`` in sentence_bert_config.json and the
    ``MLMTransformer`` type; ``max_active_dims`` caps the terms per vector."""
    folder = tmp_path / "st5"
    shutil.copytree(checkpoints["bert"], folder)
    _edit_json(folder / "sentence_bert_config.json", lambda c: {"max_seq_length": 32})
    _edit_json(
        folder / "modules.json",
        lambda ms: [
            {**m, "type": m["type"].replace("base.modules.transformer.Transformer",
                                            "sparse_encoder.models.MLMTransformer")}
            for m in ms
        ],
    )  # fmt: skip
    _edit_json(folder / "config_sentence_transformers.json", lambda c: {**c, "max_active_dims": 7})
    encoder = SpladeEncoder(folder, device="cpu")
    assert encoder.max_length == 32
    assert encoder.max_terms == encoder.query_max_terms == 7
    assert encoder.embed_documents([DOCUMENTS[0]])[0].nnz == 7
