"""ONNX graphs of static models and pipelines, built node by node with `onnx.helper` (no torch).

Two input layouts share one pooling computation:

- flat (EmbeddingBag): `input_ids` int64 `[n_tokens]` (all texts' ids concatenated) and `offsets` int64
  `[n_texts]` (where each text starts); output `embeddings` `[n_texts, dim]`.
- padded (transformers-style, as fastembed and transformers.js feed models): `input_ids` and
  `attention_mask`, int64 `[batch, seq]`; outputs `embeddings` `[batch, dim]` and `last_hidden_state`
  `[batch, seq, dim]` (token vectors scaled so that an attention-masked mean of them is `embeddings`
  before normalisation, what transformers.js' `pooling: "mean"` computes).

A pipeline graph adds its scikit-learn MLP head after the pooled vectors: `probabilities` for a
classifier (softmax, or independent sigmoids for multi-label) or `predictions` for a regressor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.pooling import NORM_EPS, float32_table

if TYPE_CHECKING:
    from model2vec.model import StaticModel

# ReduceSum takes its axes as an input from opset 13 on, the form the graph uses.
MIN_OPSET = 13
DEFAULT_OPSET = 18
# Protobuf cannot hold a message over 2 GiB, so big tables go to a side file transformers.js also knows.
EXTERNAL_DATA_BYTES = 1 << 30
# scikit-learn MLP activations and their ONNX operators.
ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "identity": "Identity"}


def import_onnx() -> Any:
    """Import `onnx`, or raise an ImportError naming the extra that provides it.

    :return: The `onnx` module.
    :raises ImportError: If `onnx` is not installed.
    """
    try:
        import onnx
    except ImportError as error:
        raise ImportError('ONNX export needs the onnx package: pip install "model2vec[onnx]"') from error
    return onnx


def check_opset(opset: Any) -> None:
    """Check an opset number.

    :param opset: The requested opset.
    :raises ValueError: If it is not an int of at least 13.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset must be an int >= {MIN_OPSET} (ReduceSum with axes as input), got {opset!r}.")


class GraphBuilder:
    """Collects nodes and initialisers; `node` names each node after its single output."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.table_bytes = 0

    def const(self, name: str, value: Any, dtype: Any = None) -> str:
        """Add an initialiser and return its name."""
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: Sequence[str], output: str, **attrs: Any) -> str:
        """Add a node with one output and return the output's name."""
        from onnx import helper

        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output

    def finish(self, name: str, inputs: list[Any], outputs: list[Any], opset: int, doc: str, big: bool) -> Any:
        """Make the checked `ModelProto` (the checker is skipped for tables over 1 GiB)."""
        onnx = import_onnx()
        from onnx import helper

        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.initializers)
        proto = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="model2vec", doc_string=doc
        )
        # Keep the IR version at what the opset needs, so older onnxruntime builds still load the file.
        proto.ir_version = min(proto.ir_version, 8)
        if not big:
            onnx.checker.check_model(proto)
        return proto


def _token_scale(
    g: GraphBuilder, model: StaticModel, ids: str, weights: np.ndarray | None
) -> tuple[str | None, str | None]:
    """Per-token multiplier (weight times 0/1 for unknown/known) and the 0/1 known indicator, if any."""
    from onnx import TensorProto

    scale = keep = None
    if model.unk_token_id is not None:
        g.const("unk_id", model.unk_token_id, np.int64)
        is_known = g.node("Not", [g.node("Equal", [ids, "unk_id"], "is_unk")], "is_known")
        keep = scale = g.node("Cast", [is_known], "keep", to=TensorProto.FLOAT)
    if weights is not None:
        g.const("weights", weights, np.float32)
        token_weights = g.node("Gather", ["weights", ids], "token_weights", axis=0)
        scale = token_weights if keep is None else g.node("Mul", [token_weights, keep], "scale")
    return scale, keep


def _gather_rows(g: GraphBuilder, model: StaticModel, ids: str) -> tuple[str, np.ndarray | None, int]:
    """Gather each token's float32 row (through the vocabulary mapping when there is one)."""
    table, weights = float32_table(model.embedding, model.weights, model.token_mapping)
    g.const("table", np.ascontiguousarray(table, dtype=np.float32))
    g.table_bytes = int(table.shape[0] * table.shape[1] * 4)
    rows = ids
    if model.token_mapping is not None:
        g.const("mapping", np.asarray(model.token_mapping), np.int64)
        rows = g.node("Gather", ["mapping", ids], "rows", axis=0)
    return g.node("Gather", ["table", rows], "vectors", axis=0), weights, int(table.shape[1])


def _normalize(g: GraphBuilder, model: StaticModel, mean: str, axis: str) -> str:
    """Divide by the L2 norm + 1e-32 when the model normalises, as `encode` does."""
    if not model.normalize:
        return mean
    g.const("eps", NORM_EPS, np.float32)
    norm_sq = g.node("ReduceSum", [g.node("Mul", [mean, mean], "squares"), axis], "norm_sq", keepdims=1)
    return g.node("Div", [mean, g.node("Add", [g.node("Sqrt", [norm_sq], "norm"), "eps"], "norm_eps")], "normalized")


def pool_flat(g: GraphBuilder, model: StaticModel) -> tuple[str, int]:
    """Add the EmbeddingBag-style mean over `input_ids` `[n_tokens]` and `offsets` `[n_texts]`.

    The unknown token is dropped from the sum and the count; texts without tokens give zero vectors.
    Sums are differences of float64 prefix sums: linear memory, no per-text loop, and deterministic
    (ORT runs ScatterND's reduction="add" on several threads without ordering, so that path gave racy
    sums); each text's sum agrees with encode's float32 sum to float32 rounding.

    :param g: The graph being built.
    :param model: The model.
    :return: The name of the `[n_texts, dim]` pooled tensor and the width.
    """
    from onnx import TensorProto

    ids = "input_ids"
    vectors, weights, dim = _gather_rows(g, model, ids)
    scale, keep = _token_scale(g, model, ids, weights)
    g.const("one_i", [1], np.int64)
    g.const("zero_i", [0], np.int64)
    g.const("axis1", [1], np.int64)
    g.const("int64_max", [np.iinfo(np.int64).max], np.int64)
    g.const("zero_row", np.zeros((1, dim)), np.float64)
    if scale is not None:
        vectors = g.node("Mul", [vectors, g.node("Unsqueeze", [scale, "axis1"], "scale_col")], "scaled")
    bounds = g.node("Concat", ["offsets", g.node("Shape", [ids], "n_tokens")], "bounds", axis=0)
    ends = g.node("Slice", [bounds, "one_i", "int64_max", "zero_i"], "ends")
    cumulative = g.node("CumSum", [g.node("Cast", [vectors], "vectors_f64", to=TensorProto.DOUBLE), "zero_i"], "cum")
    prefix = g.node("Concat", ["zero_row", cumulative], "prefix", axis=0)
    at_ends = g.node("Gather", [prefix, ends], "at_ends", axis=0)
    at_starts = g.node("Gather", [prefix, "offsets"], "at_starts", axis=0)
    sums = g.node("Cast", [g.node("Sub", [at_ends, at_starts], "sums_f64")], "sums", to=TensorProto.FLOAT)
    if keep is None:
        counts = g.node("Sub", [ends, "offsets"], "counts")
    else:
        known = g.node("CumSum", [g.node("Cast", [keep], "known_i", to=TensorProto.INT64), "zero_i"], "known_cum")
        known_prefix = g.node("Concat", ["zero_i", known], "known_prefix", axis=0)
        counts = g.node(
            "Sub",
            [
                g.node("Gather", [known_prefix, ends], "known_at_ends", axis=0),
                g.node("Gather", [known_prefix, "offsets"], "known_at_starts", axis=0),
            ],
            "counts",
        )
    divisor = g.node("Cast", [g.node("Max", [counts, "one_i"], "count_at_least_1")], "divisor", to=TensorProto.FLOAT)
    mean = g.node("Div", [sums, g.node("Unsqueeze", [divisor, "axis1"], "divisor_col")], "mean")
    return _normalize(g, model, mean, "axis1"), dim


def pool_padded(g: GraphBuilder, model: StaticModel) -> tuple[str, str, int]:
    """Add the masked mean over padded `input_ids` and `attention_mask` (int64 `[batch, seq]`).

    Positions with mask 0 and the unknown token count for nothing; a row without tokens gives zeros.

    :param g: The graph being built.
    :param model: The model.
    :return: The names of the pooled `[batch, dim]` tensor and of the `[batch, seq, dim]` token vectors
        (scaled by tokens-in-mask / tokens-counted, so a mean over the mask gives the unnormalised
        pooled vector), and the width.
    """
    from onnx import TensorProto

    ids = "input_ids"
    vectors, weights, dim = _gather_rows(g, model, ids)
    scale, keep = _token_scale(g, model, ids, weights)
    g.const("axis1", [1], np.int64)
    g.const("axis2", [2], np.int64)
    g.const("one_f", 1.0, np.float32)
    mask = g.node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    counted = mask if keep is None else g.node("Mul", [mask, keep], "counted")
    token_scale = counted if scale is None else g.node("Mul", [mask, scale], "token_scale")
    scaled = g.node("Mul", [vectors, g.node("Unsqueeze", [token_scale, "axis2"], "token_scale_col")], "scaled")
    sums = g.node("ReduceSum", [scaled, "axis1"], "sums", keepdims=0)
    count = g.node("Max", [g.node("ReduceSum", [counted, "axis1"], "counts", keepdims=1), "one_f"], "count_at_least_1")
    mean = g.node("Div", [sums, count], "mean")
    in_mask = g.node(
        "Max", [g.node("ReduceSum", [mask, "axis1"], "mask_counts", keepdims=1), "one_f"], "mask_at_least_1"
    )
    token_ratio = g.node("Unsqueeze", [g.node("Div", [in_mask, count], "ratio"), "axis2"], "ratio_col")
    tokens = g.node("Mul", [scaled, token_ratio], "token_vectors")
    return _normalize(g, model, mean, "axis1"), tokens, dim


def mlp_head(g: GraphBuilder, head: Any, pooled: str, multilabel: bool) -> tuple[str, int]:
    """Add a fitted scikit-learn `MLPClassifier` or `MLPRegressor` after the pooled vectors.

    :param g: The graph being built.
    :param head: The fitted head.
    :param pooled: The pooled `[n, dim]` tensor.
    :param multilabel: The classifier was fitted on an indicator matrix (independent sigmoids).
    :return: The output tensor (`[n, n_classes]` probabilities, columns in the order of `classes_`, or
        `[n, n_outputs]` predictions) and its width.
    :raises ValueError: If the head is not an MLP, or uses an activation ONNX export does not know.
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if not isinstance(head, (MLPClassifier, MLPRegressor)):
        raise ValueError(
            f"ONNX export supports MLPClassifier and MLPRegressor heads (what model2vec.train writes); "
            f"this pipeline's head is a {type(head).__name__}."
        )
    if head.activation not in ACTIVATIONS or head.out_activation_ not in ("softmax", "logistic", "identity"):
        raise ValueError(f"Unsupported MLP activations: {head.activation!r} / {head.out_activation_!r}.")
    x = pooled
    last = len(head.coefs_) - 1
    for layer, (coef, intercept) in enumerate(zip(head.coefs_, head.intercepts_, strict=True)):
        w = g.const(f"coef_{layer}", coef, np.float32)
        b = g.const(f"intercept_{layer}", intercept, np.float32)
        x = g.node("Add", [g.node("MatMul", [x, w], f"matmul_{layer}"), b], f"linear_{layer}")
        if layer < last:
            x = g.node(ACTIVATIONS[head.activation], [x], f"hidden_{layer}")
    width = int(head.coefs_[-1].shape[1])
    if head.out_activation_ == "identity":
        return g.node("Identity", [x], "predictions"), width
    if head.out_activation_ == "softmax":
        return g.node("Softmax", [x], "probabilities", axis=-1), width
    positive = g.node("Sigmoid", [x], "positive" if width == 1 and not multilabel else "probabilities")
    if width > 1 or multilabel:
        return positive, width
    # Two classes: scikit-learn keeps one logistic output p and reports [1 - p, p].
    g.const("one_col", [[1.0]], np.float32)
    return g.node("Concat", [g.node("Sub", ["one_col", positive], "negative"), positive], "probabilities", axis=1), 2


def build_graph(
    model: StaticModel, opset: int = DEFAULT_OPSET, *, padded: bool = False, head: Any = None, multilabel: bool = False
) -> Any:
    """Build the ONNX `ModelProto` of `model`'s pooling, optionally followed by a pipeline head.

    The graph gathers each token's row (through `token_mapping` when the model has one), multiplies
    it by the token's weight, drops the unknown token (`model.unk_token_id`) from both the sum and the
    count, divides each text's sum by its count of remaining tokens (texts without any give zero
    vectors, never NaN) and, when `model.normalize`, divides by the L2 norm + 1e-32. The table is stored
    as float32 whatever its dtype (float16/int8 are converted, as `encode` does before summing), with
    the weights folded into the rows when there is no mapping.

    :param model: The model to export.
    :param opset: The ONNX opset (at least 13).
    :param padded: Take padded `input_ids` + `attention_mask` `[batch, seq]` instead of flat ids and offsets.
    :param head: A fitted scikit-learn MLP head to apply after pooling, or None for the embeddings.
    :param multilabel: The head is a multi-label classifier.
    :return: The checked `onnx.ModelProto`.
    :raises ValueError: If `opset` is below 13 or the head cannot be exported.
    :raises ImportError: If `onnx` is not installed.
    """
    import_onnx()
    from onnx import TensorProto, helper

    check_opset(opset)
    g = GraphBuilder()
    if padded:
        pooled, tokens, dim = pool_padded(g, model)
        batch, seq = "batch", "sequence"
        inputs = [
            helper.make_tensor_value_info(n, TensorProto.INT64, [batch, seq]) for n in ("input_ids", "attention_mask")
        ]
    else:
        pooled, dim = pool_flat(g, model)
        batch = "n_texts"
        inputs = [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n_tokens"]),
            helper.make_tensor_value_info("offsets", TensorProto.INT64, [batch]),
        ]
    if head is None:
        outputs = [
            helper.make_tensor_value_info(g.node("Identity", [pooled], "embeddings"), TensorProto.FLOAT, [batch, dim])
        ]
        if padded:
            last = g.node("Identity", [tokens], "last_hidden_state")
            outputs.append(helper.make_tensor_value_info(last, TensorProto.FLOAT, [batch, seq, dim]))
        doc = "Mean of token vectors per text."
    else:
        output, width = mlp_head(g, head, pooled, multilabel)
        outputs = [helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, width])]
        doc = f"Static model pooling followed by a scikit-learn {type(head).__name__} head ({output})."
    return g.finish("model2vec_static_model", inputs, outputs, opset, doc, g.table_bytes >= EXTERNAL_DATA_BYTES)
