"""Write ONNX model folders: the graph plus the tokenizer and config files transformers.js and fastembed read.

The exported folder looks like a transformers.js model repository::

    out/
      config.json              model_type "model2vec", hidden_size, normalize, pad_token_id, the graph's I/O
      tokenizer.json           the model's tokenizer (padding/truncation off)
      tokenizer_config.json    tokenizer class, model_max_length, do_lower_case, special tokens
      special_tokens_map.json  (padded exports) the special tokens, as transformers writes them
      onnx/model.onnx          the graph (transformers.js loads `onnx/model.onnx` by default)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model2vec.format import atomic_replace_dir, recover_interrupted_save, save_target, staging_dir
from model2vec.onnx.graph import DEFAULT_OPSET, EXTERNAL_DATA_BYTES, build_graph, import_onnx

if TYPE_CHECKING:
    from model2vec.inference import StaticModelPipeline
    from model2vec.model import StaticModel

ONNX_FILE = Path("onnx") / "model.onnx"
EXTERNAL_DATA_FILE = "model.onnx_data"
# transformers.js reads `model_max_length`; texts longer than this are what `encode` truncates.
DEFAULT_MODEL_MAX_LENGTH = 512
PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<|padding|>", "[pad]", "<PAD>")


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


def pad_token(model: StaticModel) -> tuple[str, int]:
    """Pick the token padded batches use: the tokenizer's pad token, else the unknown token, else id 0.

    Padding is masked by `attention_mask` (and the unknown token is dropped anyway), so any id works
    for the graph; a real pad token is preferred because tokenizers and runtimes look for one.

    :param model: The model.
    :return: `(token, id)`.
    """
    for token in PAD_TOKENS:
        token_id = model.tokenizer.token_to_id(token)
        if token_id is not None:
            return token, int(token_id)
    token_id = model.unk_token_id if model.unk_token_id is not None else 0
    return model.tokenizer.id_to_token(token_id) or "", int(token_id)


def tokenizer_config(model: StaticModel, padded: bool = False) -> dict[str, Any]:
    """Build the `tokenizer_config.json` that transformers.js (and transformers) read beside `tokenizer.json`.

    WordPiece tokenizers are declared `BertTokenizer`, others `PreTrainedTokenizerFast`; special tokens
    present in the vocabulary are named so callers can rely on them. `model_max_length` is the model's
    `max_length` config (512 when absent): `encode` truncates there, the graph itself never truncates.

    :param model: The model whose tokenizer is described.
    :param padded: Always name a `pad_token` (padded exports need one; see `pad_token`).
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
    if padded:
        config["pad_token"] = pad_token(model)[0]
    return config


def _tokenizer_json(model: StaticModel, padded: bool) -> str:
    """Write the tokenizer file; padded exports drop the post-processor, so default calls add no special tokens."""
    if not padded:
        text: str = model.tokenizer.to_str(pretty=True)
        return text
    spec = json.loads(model.tokenizer.to_str())
    # `encode` never adds [CLS]/[SEP]; runtimes tokenise with add_special_tokens on by default.
    spec["post_processor"] = None
    spec["padding"] = None
    spec["truncation"] = None
    return json.dumps(spec, indent=2, ensure_ascii=False)


def _model_config(model: StaticModel, opset: int, padded: bool, io: dict[str, Any]) -> dict[str, Any]:
    """Build the `config.json` of the exported folder (transformers.js needs `model_type`)."""
    config: dict[str, Any] = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "hidden_size": model.dim,
        "normalize": model.normalize,
        "pad_token_id": pad_token(model)[1],
        "onnx": {"file": ONNX_FILE.as_posix(), "opset": opset, "padded": padded, **io},
    }
    return config


def _io(proto: Any) -> dict[str, Any]:
    """Describe the graph's inputs and outputs: `{"inputs": {name: "type [dims]"}, "outputs": {...}}`."""
    names = {1: "float32", 7: "int64"}

    def describe(values: Any) -> dict[str, str]:
        result = {}
        for value in values:
            tensor = value.type.tensor_type
            dims = ", ".join(d.dim_param or str(d.dim_value) for d in tensor.shape.dim)
            result[value.name] = f"{names.get(tensor.elem_type, str(tensor.elem_type))} [{dims}]"
        return result

    return {"inputs": describe(proto.graph.input), "outputs": describe(proto.graph.output)}


def _write(model: StaticModel, proto: Any, path: str | Path, padded: bool, opset: int, extra: dict[str, Any]) -> Path:
    """Write the graph and the tokenizer/config files to `path` through a staging folder swapped in whole."""
    onnx = import_onnx()
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} exists and is not a folder.")
    target = save_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_save(target)
    config = {**_model_config(model, opset, padded, _io(proto)), **extra}
    files: dict[str, Any] = {"tokenizer_config.json": tokenizer_config(model, padded), "config.json": config}
    if padded:
        tokens = {key: value for key, value in files["tokenizer_config.json"].items() if key.endswith("_token")}
        files["special_tokens_map.json"] = tokens
    # A locked staging folder with the umask's permissions, swapped in whole; a killed export is
    # repaired by the next export (see `model2vec.format.staging_dir`).
    with staging_dir(target) as staging:
        onnx_path = staging / ONNX_FILE
        onnx_path.parent.mkdir()
        external = sum(len(t.raw_data) for t in proto.graph.initializer) >= EXTERNAL_DATA_BYTES
        onnx.save_model(
            proto,
            str(onnx_path),
            save_as_external_data=external,
            all_tensors_to_one_file=True,
            location=EXTERNAL_DATA_FILE,
        )
        (staging / "tokenizer.json").write_text(_tokenizer_json(model, padded), encoding="utf-8")
        for name, content in files.items():
            (staging / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        atomic_replace_dir(staging, target)
    return target / ONNX_FILE


def export(model: StaticModel, path: str | Path, *, opset: int = DEFAULT_OPSET, padded: bool = False) -> Path:
    """Write `model` as an ONNX model folder that onnxruntime, transformers.js and fastembed load from disk.

    Files written in `path`: `onnx/model.onnx` (the graph, where transformers.js looks by default;
    tables of 1 GiB or more are stored beside it in `onnx/model.onnx_data`), `tokenizer.json`,
    `tokenizer_config.json` and `config.json` (`model_type` "model2vec", `pad_token_id`). Nothing is
    downloaded. See `model2vec.onnx.graph` for the inputs and outputs of each layout.

    Flat layout (default): feed the ids of `model.tokenize(texts)` (or of the tokenizer without special
    tokens: the graph drops the unknown token itself) and each text's start offset. Padded layout
    (`padded=True`): feed `input_ids` and `attention_mask` `[batch, seq]` from the exported tokenizer
    (its post-processor is removed, so default calls add no special tokens, as `encode`), plus
    `special_tokens_map.json`. The graph never truncates: cut texts to `max_length` tokens (512 by
    default, `model_max_length` in the tokenizer config) to match `encode`'s truncation.

    Everything is written to a temporary folder next to `path` first, then swapped in, so a failed
    export never leaves a half-written folder; files already in `path` that the export does not write
    are kept.

    :param model: The model to export.
    :param path: The output folder (created if missing).
    :param opset: The ONNX opset, at least 13.
    :param padded: Use padded `input_ids` + `attention_mask` inputs (transformers-style).
    :return: The path of the written `model.onnx`.
    :raises ValueError: If `opset` is below 13 or `path` exists and is not a folder.
    :raises ImportError: If `onnx` is not installed (`pip install "model2vec[onnx]"`).
    """
    import_onnx()
    if Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"{path} exists and is not a folder.")
    proto = build_graph(model, opset=opset, padded=padded)
    return _write(model, proto, path, padded, opset, {})


def export_pipeline(
    pipeline: StaticModelPipeline, path: str | Path, *, opset: int = DEFAULT_OPSET, padded: bool = False
) -> Path:
    """Write a `StaticModelPipeline` (static model + MLP head) as one ONNX graph, ids to outputs.

    A classifier's graph outputs `probabilities` `[n, n_classes]` (softmax; independent sigmoids for a
    multi-label head; columns in the order of `pipeline.classes_`), a regressor's `predictions`
    `[n, n_outputs]`. `config.json` adds `id2label`/`label2id` (classifiers), `problem_type`
    ("single_label_classification", "multi_label_classification" or "regression") and the labels with
    their original types under `model2vec_pipeline`. Files and inputs are those of `export`.

    :param pipeline: The pipeline (loaded with `StaticModelPipeline.from_pretrained` or made by a trainer).
    :param path: The output folder.
    :param opset: The ONNX opset, at least 13.
    :param padded: Use padded `input_ids` + `attention_mask` inputs.
    :return: The path of the written `model.onnx`.
    :raises ValueError: If the head is not an `MLPClassifier`/`MLPRegressor`, `opset` is below 13, or
        `path` is a file.
    :raises ImportError: If `onnx` is not installed.
    """
    import_onnx()
    if Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"{path} exists and is not a folder.")
    proto = build_graph(pipeline.model, opset=opset, padded=padded, head=pipeline.head, multilabel=pipeline.multilabel)
    extra: dict[str, Any]
    if pipeline.is_regressor:
        extra = {"problem_type": "regression", "model2vec_pipeline": {"head": type(pipeline.head).__name__}}
    else:
        labels = [label.item() if hasattr(label, "item") else label for label in pipeline.classes_]
        extra = {
            "problem_type": "multi_label_classification" if pipeline.multilabel else "single_label_classification",
            "id2label": {str(i): str(label) for i, label in enumerate(labels)},
            "label2id": {str(label): i for i, label in enumerate(labels)},
            "model2vec_pipeline": {
                "head": type(pipeline.head).__name__,
                "classes": labels,
                "multilabel": pipeline.multilabel,
            },
        }
    return _write(pipeline.model, proto, path, padded, opset, extra)
