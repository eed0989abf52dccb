"""Export static models and pipelines to ONNX folders that onnxruntime and transformers.js load from disk.

- `export(model, path, padded=False)`: the embeddings of a `StaticModel`.
- `export_pipeline(pipeline, path, padded=False)`: a `StaticModelPipeline`'s class probabilities or
  regression values, computed in the graph from token ids.
- `model2vec export-onnx MODEL_OR_PIPELINE --out DIR [--padded]`: the same from the command line.

`graph.py` builds the graphs (flat EmbeddingBag or padded inputs, MLP heads), `files.py` writes the
folders (tokenizer and config files), `cli.py` registers the command. Only `onnx` is needed to build a
graph and `onnxruntime` to run it; torch is never imported, and importing this package imports neither.
"""

from __future__ import annotations

from model2vec.onnx.cli import register
from model2vec.onnx.files import (
    DEFAULT_MODEL_MAX_LENGTH,
    EXTERNAL_DATA_FILE,
    ONNX_FILE,
    export,
    export_pipeline,
    pad_token,
    tokenizer_config,
)
from model2vec.onnx.graph import DEFAULT_OPSET, EXTERNAL_DATA_BYTES, MIN_OPSET, build_graph

__all__ = [
    "DEFAULT_MODEL_MAX_LENGTH",
    "DEFAULT_OPSET",
    "EXTERNAL_DATA_BYTES",
    "EXTERNAL_DATA_FILE",
    "MIN_OPSET",
    "ONNX_FILE",
    "build_graph",
    "export",
    "export_pipeline",
    "pad_token",
    "register",
    "tokenizer_config",
]
