"""Export a `StaticModel` to an ONNX EmbeddingBag-mean graph plus the files transformers.js reads.

The exported folder looks like a transformers.js model repository::

    out/
      config.json            model_type "model2vec", hidden_size, normalize
      tokenizer.json         the model's tokenizer (padding/truncation off)
      tokenizer_config.json  tokenizer class, model_max_length, do_lower_case, special tokens
      onnx/model.onnx        the graph (transformers.js loads `onnx/model.onnx` by default)

The graph takes `input_ids` (int64, 1-D: all texts' token ids concatenated) and `offsets` (int64,
1-D: where each text starts in `input_ids`, first 0, non-decreasing) and returns `embeddings`
(float32, `[n_texts, dim]`): the mean of each text's token vectors, exactly as `StaticModel.encode`
computes it. Only `onnx` is needed to build it and `onnxruntime` to run it; torch is never imported.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.format import atomic_replace_dir, recover_interrupted_save, save_target, staging_dir
from model2vec.pooling import NORM_EPS, float32_table

if TYPE_CHECKING:
    from model2vec.model import StaticModel

# ReduceSum takes its axes as an input from opset 13 on, the form the graph uses.
MIN_OPSET = 13
DEFAULT_OPSET = 17
ONNX_FILE = Path("onnx") / "model.onnx"
# Protobuf cannot hold a message over 2 GiB, so big tables go to a side file transformers.js also knows.
EXTERNAL_DATA_BYTES = 1 << 30
EXTERNAL_DATA_FILE = "model.onnx_data"
# transformers.js reads `model_max_length`; texts longer than this are what `encode` truncates.
DEFAULT_MODEL_MAX_LENGTH = 512


def _import_onnx() -> Any:
    """Import `onnx`, or raise an ImportError naming the extra that provides it."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError('ONNX export needs the onnx package: pip install "model2vec[onnx]"') from error
    return onnx


def build_graph(model: StaticModel, opset: int = DEFAULT_OPSET) -> Any:
    """Build the ONNX `ModelProto` of `model`'s EmbeddingBag-style mean.

    The graph gathers each token's row (through `token_mapping` when the model has one), multiplies
    it by the token's weight, drops the unknown token (`model.unk_token_id`) from both the sum and the
    count, divides each text's sum by its count of remaining tokens (texts without any give zero
    vectors, never NaN) and, when `model.normalize`, divides by the L2 norm + 1e-32. The table is stored
    as float32 whatever its dtype (float16/int8 are converted, as `encode` does before summing), with
    the weights folded into the rows when there is no mapping.

    :param model: The model to export.
    :param opset: The ONNX opset (at least 13).
    :return: The checked `onnx.ModelProto`.
    :raises ValueError: If `opset` is below 13.
    :raises ImportError: If `onnx` is not installed.
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset must be an int >= {MIN_OPSET} (ReduceSum with axes as input), got {opset!r}.")

    table, weights = float32_table(model.embedding, model.weights, model.token_mapping)
    table = np.ascontiguousarray(table, dtype=np.float32)
    dim = int(table.shape[1])
    mapping = model.token_mapping
    unk = model.unk_token_id

    initializers = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one_i"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero_i"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=np.int64), "int64_max"),
        numpy_helper.from_array(np.zeros((1, dim), dtype=np.float64), "zero_row"),
    ]
    nodes = []

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    ids = "input_ids"
    rows = ids
    if mapping is not None:
        initializers.append(numpy_helper.from_array(np.asarray(mapping, dtype=np.int64), "mapping"))
        rows = node("Gather", ["mapping", ids], "rows", axis=0)
    vectors = node("Gather", ["table", rows], "vectors", axis=0)

    # Per-token multiplier: the weight (when not folded into the table) times 0/1 for unknown/known.
    scale = None
    keep = None
    is_known = None
    if unk is not None:
        initializers.append(numpy_helper.from_array(np.array(unk, dtype=np.int64), "unk_id"))
        is_unk = node("Equal", [ids, "unk_id"], "is_unk")
        is_known = node("Not", [is_unk], "is_known")
        keep = node("Cast", [is_known], "keep", to=TensorProto.FLOAT)
        scale = keep
    if weights is not None:
        initializers.append(numpy_helper.from_array(np.asarray(weights, dtype=np.float32), "weights"))
        token_weights = node("Gather", ["weights", ids], "token_weights", axis=0)
        scale = token_weights if keep is None else node("Mul", [token_weights, keep], "scale")
    if scale is not None:
        vectors = node("Mul", [vectors, node("Unsqueeze", [scale, "axis1"], "scale_col")], "scaled")

    # Sums as differences of prefix sums: linear memory, no per-text loop, and deterministic (ORT runs
    # ScatterND's reduction="add" on several threads without ordering, so that path gave racy sums).
    # The prefix sums are float64 so a long batch loses nothing to cancellation; each text's sum then
    # agrees with encode's float32 sum to float32 rounding.
    n_tokens = node("Shape", [ids], "n_tokens")
    bounds = node("Concat", ["offsets", n_tokens], "bounds", axis=0)
    ends = node("Slice", [bounds, "one_i", "int64_max", "zero_i"], "ends")
    wide = node("Cast", [vectors], "vectors_f64", to=TensorProto.DOUBLE)
    cumulative = node("CumSum", [wide, "zero_i"], "cumulative")
    prefix = node("Concat", ["zero_row", cumulative], "prefix", axis=0)
    difference = node(
        "Sub",
        [node("Gather", [prefix, ends], "at_ends", axis=0), node("Gather", [prefix, "offsets"], "at_starts", axis=0)],
        "sums_f64",
    )
    sums = node("Cast", [difference], "sums", to=TensorProto.FLOAT)
    if is_known is None:
        counts = node("Sub", [ends, "offsets"], "counts")
    else:
        known_count = node("CumSum", [node("Cast", [is_known], "known_i", to=TensorProto.INT64), "zero_i"], "known_cum")
        known_prefix = node("Concat", ["zero_i", known_count], "known_prefix", axis=0)
        counts = node(
            "Sub",
            [
                node("Gather", [known_prefix, ends], "known_at_ends", axis=0),
                node("Gather", [known_prefix, "offsets"], "known_at_starts", axis=0),
            ],
            "counts",
        )
    divisor = node("Cast", [node("Max", [counts, "one_i"], "count_at_least_1")], "divisor", to=TensorProto.FLOAT)
    mean = node("Div", [sums, node("Unsqueeze", [divisor, "axis1"], "divisor_col")], "mean")

    if model.normalize:
        initializers.append(numpy_helper.from_array(np.array(NORM_EPS, dtype=np.float32), "eps"))
        squares = node("Mul", [mean, mean], "squares")
        norm_sq = node("ReduceSum", [squares, "axis1"], "norm_sq", keepdims=1)
        norm = node("Add", [node("Sqrt", [norm_sq], "norm"), "eps"], "norm_eps")
        node("Div", [mean, norm], "embeddings")
    else:
        node("Identity", [mean], "embeddings")

    graph = helper.make_graph(
        nodes,
        "model2vec_embedding_bag_mean",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n_tokens"]),
            helper.make_tensor_value_info("offsets", TensorProto.INT64, ["n_texts"]),
        ],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["n_texts", dim])],
        initializer=initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="model2vec",
        doc_string="Mean of token vectors per text; inputs input_ids (flat) and offsets (text starts).",
    )
    # Keep the IR version at what the opset needs, so older onnxruntime builds still load the file.
    proto.ir_version = min(proto.ir_version, 8)
    if table.nbytes < EXTERNAL_DATA_BYTES:
        onnx.checker.check_model(proto)
    return proto


def _lowercases(normalizer: dict[str, Any] | None) -> bool:
    """Whether a tokenizer.json normalizer spec lowercases (BertNormalizer, Lowercase, or in a Sequence)."""
    if not normalizer:
        return False
    kind = normalizer.get("type")
    if kind == "Lowercase":
        return True
    if kind == "BertNormalizer":
        return bool(normalizer.get("lowercase", False))
    if kind == "Sequence":
        return any(_lowercases(part) for part in normalizer.get("normalizers", []))
    return False


def tokenizer_config(model: StaticModel) -> dict[str, Any]:
    """Build the `tokenizer_config.json` that transformers.js (and transformers) read beside `tokenizer.json`.

    WordPiece tokenizers are declared `BertTokenizer`, others `PreTrainedTokenizerFast`; special tokens
    present in the vocabulary are named so callers can rely on them. `model_max_length` is the model's
    `max_length` config (512 when absent): `encode` truncates there, the graph itself never truncates.

    :param model: The model whose tokenizer is described.
    :return: The JSON-serialisable config.
    """
    spec = json.loads(model.tokenizer.to_str())
    kind = (spec.get("model") or {}).get("type")
    max_length = model.config.get("max_length")
    config: dict[str, Any] = {
        "tokenizer_class": "BertTokenizer" if kind == "WordPiece" else "PreTrainedTokenizerFast",
        "model_max_length": int(max_length) if isinstance(max_length, int) else DEFAULT_MODEL_MAX_LENGTH,
        "do_lower_case": _lowercases(spec.get("normalizer")),
        "clean_up_tokenization_spaces": True,
    }
    if model.unk_token_id is not None:
        unk = model.tokenizer.id_to_token(model.unk_token_id)
        if unk is not None:
            config["unk_token"] = unk
    for key, token in (
        ("pad_token", "[PAD]"),
        ("cls_token", "[CLS]"),
        ("sep_token", "[SEP]"),
        ("mask_token", "[MASK]"),
    ):
        if model.tokenizer.token_to_id(token) is not None:
            config[key] = token
    return config


def _model_config(model: StaticModel, opset: int) -> dict[str, Any]:
    """Build the `config.json` of the exported folder (transformers.js needs `model_type`)."""
    return {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "hidden_size": model.dim,
        "normalize": model.normalize,
        "onnx": {
            "file": ONNX_FILE.as_posix(),
            "opset": opset,
            "inputs": {"input_ids": "int64 [n_tokens]", "offsets": "int64 [n_texts]"},
            "outputs": {"embeddings": f"float32 [n_texts, {model.dim}]"},
        },
    }


def export(model: StaticModel, path: str | Path, *, opset: int = DEFAULT_OPSET) -> Path:
    """Write `model` as an ONNX model folder that onnxruntime and transformers.js load from disk.

    Files written in `path`: `onnx/model.onnx` (the graph, where transformers.js looks by default;
    tables of 1 GiB or more are stored beside it in `onnx/model.onnx_data`), `tokenizer.json` (the
    model's tokenizer, padding and truncation off), `tokenizer_config.json` and `config.json`
    (`model_type` "model2vec"). Nothing is downloaded. See `build_graph` for what the graph computes.

    To match `encode`, feed the ids of `model.tokenize(texts)` (or of the tokenizer without special
    tokens: the graph drops the unknown token itself) and the start offset of each text. The graph does
    not truncate: cut texts to `max_length` tokens beforehand if `encode`'s truncation must be matched.

    Everything is written to a temporary folder next to `path` first, then swapped in, so a failed
    export never leaves a half-written folder; files already in `path` that the export does not write
    are kept.

    :param model: The model to export.
    :param path: The output folder (created if missing).
    :param opset: The ONNX opset, at least 13.
    :return: The path of the written `model.onnx`.
    :raises ValueError: If `opset` is below 13 or `path` exists and is not a folder.
    :raises ImportError: If `onnx` is not installed (`pip install "model2vec[onnx]"`).
    """
    onnx = _import_onnx()
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} exists and is not a folder.")
    proto = build_graph(model, opset=opset)
    target = save_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_save(target)
    # A locked staging folder with the umask's permissions, swapped in whole; a killed export is
    # repaired by the next export (see `model2vec.format.staging_dir`).
    with staging_dir(target) as staging:
        onnx_path = staging / ONNX_FILE
        onnx_path.parent.mkdir()
        external = model.embedding.shape[0] * model.dim * 4 >= EXTERNAL_DATA_BYTES
        onnx.save_model(
            proto,
            str(onnx_path),
            save_as_external_data=external,
            all_tensors_to_one_file=True,
            location=EXTERNAL_DATA_FILE,
        )
        (staging / "tokenizer.json").write_text(model.tokenizer.to_str(pretty=True), encoding="utf-8")
        for name, content in (
            ("tokenizer_config.json", tokenizer_config(model)),
            ("config.json", _model_config(model, opset)),
        ):
            (staging / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        atomic_replace_dir(staging, target)
    return target / ONNX_FILE


def _export_command(args: argparse.Namespace) -> int:
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(args.model)
    written = export(model, args.out, opset=args.opset)
    print(f"Exported {args.model} ({model.dim} dims, normalize={model.normalize}) to {written}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `export-onnx` subcommand to the `model2vec` command's subparsers.

    `model2vec export-onnx MODEL --out DIR [--opset N]` loads MODEL (a folder or hub id) and calls
    `export`. Importing this module does not import onnx; the command does, when it runs.

    :param subparsers: The object returned by `ArgumentParser.add_subparsers`.
    :return: The subcommand's parser (its handler is set as `func`).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export-onnx",
        help="Export a static model to ONNX (onnx/model.onnx) with transformers.js tokenizer files.",
        description="Export a static model to an ONNX folder loadable by onnxruntime and transformers.js.",
    )
    parser.add_argument("model", help="Model folder or hub id.")
    parser.add_argument("--out", required=True, help="Folder to write (onnx/model.onnx, tokenizer files, config).")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset, >= {MIN_OPSET}.")
    parser.set_defaults(func=_export_command)
    return parser
