"""Tiny tokenizers of the three families and tiny random teachers, all built in memory (no downloads)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, Unigram, WordPiece

from ..conftest import WORDS

# Without the distill extra these modules cannot even be imported; pytest skips collecting them.
collect_ignore = (
    ["test_distill.py", "test_bert.py", "test_integration.py"] if importlib.util.find_spec("torch") is None else []
)

BERT_WORDS = [*WORDS[:4], "[MASK]", "[unused0]", "[unused1]", *WORDS[4:], "##ing", "##ed", "play", "new", "york"]


def wordpiece_tokenizer(with_padding: bool = True) -> Tokenizer:
    """A BERT-like WordPiece tokenizer with [CLS]/[SEP] post-processing and (teacher-style) padding."""
    vocab = {word: i for i, word in enumerate(BERT_WORDS)}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    if with_padding:
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=16)
    return tokenizer


def bpe_tokenizer() -> Tokenizer:
    """A RoBERTa-like byte-level BPE tokenizer with <s>/</s> post-processing."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("c", "a"), ("ca", "t"), ("Ġ", "cat"), ("o", "g")]
    tokens = specials + sorted(alphabet)
    for left, right in merges:
        if left + right not in tokens:
            tokens.append(left + right)
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = Tokenizer(BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(specials)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]))
    return tokenizer


def unigram_tokenizer() -> Tokenizer:
    """A T5/XLM-R-like Unigram tokenizer with a Metaspace pre-tokenizer and </s> suffix."""
    pieces = [("<unk>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("▁", -2.0), ("▁the", -3.0), ("▁cat", -4.0)]
    pieces += [(char, -6.0) for char in "abcdefghijklmnopqrstuvwxyz"]
    pieces += [("▁" + char, -7.0) for char in "abcdefghijklmnopqrstuvwxyz"]
    tokenizer = Tokenizer(Unigram(pieces, unk_id=0))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.add_special_tokens(["<unk>", "<pad>", "</s>"])
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 2)])
    return tokenizer


def tiny_bert(vocab_size: int, hidden: int = 16, seed: int = 0) -> object:
    """A one-layer random BERT built from a config (no download)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    return BertModel(config).eval()


def save_transformers_folder(folder: Path, tokenizer: Tokenizer, hidden: int = 16, seed: int = 0) -> Path:
    """Write a tiny transformers teacher (config, weights, tokenizer.json) to `folder`."""
    model = tiny_bert(tokenizer.get_vocab_size(), hidden=hidden, seed=seed)
    model.save_pretrained(str(folder))  # type: ignore[attr-defined]
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def save_sentence_transformers_folder(folder: Path, dense_out: int | None = 8, pooling: str = "mean") -> Path:
    """Write a tiny sentence-transformers teacher: Transformer + Pooling (+ Dense) + Normalize."""
    import torch
    from safetensors.torch import save_file

    save_transformers_folder(folder, wordpiece_tokenizer())
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (folder / "1_Pooling").mkdir()
    pooling_config = {
        "word_embedding_dimension": 16,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
    }
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))
    if dense_out is not None:
        (folder / "2_Dense").mkdir()
        dense_config = {
            "in_features": 16,
            "out_features": dense_out,
            "bias": True,
            "activation_function": "torch.nn.modules.activation.Tanh",
        }
        (folder / "2_Dense" / "config.json").write_text(json.dumps(dense_config))
        generator = torch.Generator().manual_seed(1)
        save_file(
            {
                "linear.weight": torch.randn(dense_out, 16, generator=generator),
                "linear.bias": torch.randn(dense_out, generator=generator),
            },
            str(folder / "2_Dense" / "model.safetensors"),
        )
        modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    modules.append({"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    return folder


def save_tiny_onnx(path: Path, vocab_size: int, hidden: int = 12, seed: int = 0) -> np.ndarray:
    """Write a real ONNX encoder (embedding lookup + tanh) and return its embedding table.

    The graph has the same inputs and output names as exported BERT encoders, so onnxruntime runs it
    exactly like a real teacher while the expected output stays easy to compute.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    table = np.random.default_rng(seed).normal(size=(vocab_size, hidden)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["gathered"], axis=0),
            helper.make_node("Tanh", ["gathered"], ["last_hidden_state"]),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])],
        initializer=[numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return table


@pytest.fixture(scope="session")
def st_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_sentence_transformers_folder(tmp_path_factory.mktemp("st"))
