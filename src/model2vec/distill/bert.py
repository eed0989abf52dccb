"""A lean BERT encoder for teachers whose folder holds a plain BERT (most sentence-transformers).

Distillation runs a teacher's encoder and nothing else, so for standard BERT checkpoints we build the
encoder directly from `config.json` and `model.safetensors` with torch. This skips importing
`transformers` and constructing its model (about 1.5 s of the ~10 s a distillation takes on 2 cores)
and computes the same function: a test checks it against `transformers.BertModel`. Anything
unusual (another architecture, relative positions, an activation other than GELU, missing weights,
custom code) returns None and the caller falls back to `transformers.AutoModel`.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from model2vec.distill._deps import require


def load_lean_bert(folder: Path, dtype: str = "float32") -> Any | None:
    """Build a BERT encoder from a folder, or return None when the folder is not a plain BERT.

    :param folder: A folder with `config.json` and `model.safetensors`.
    :param dtype: "float32" or "bfloat16".
    :return: A torch module whose call returns an object with `last_hidden_state` and `pooler_output`,
        or None.
    """
    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        return None
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if (
        config.get("model_type") != "bert"
        or config.get("hidden_act", "gelu") != "gelu"
        or config.get("position_embedding_type", "absolute") != "absolute"
        or config.get("auto_map")
    ):
        return None
    torch = require("torch")
    from safetensors.torch import load_file

    state = load_file(str(weights_path))
    state = {key.removeprefix("bert."): value for key, value in state.items()}
    # Old checkpoints name LayerNorm parameters gamma/beta.
    state = {key.replace(".gamma", ".weight").replace(".beta", ".bias"): value for key, value in state.items()}
    try:
        encoder = _LeanBert(torch, config, state)
    except KeyError:
        return None
    target = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    return encoder.to(dtype=target).eval()


def _module_class(torch: Any) -> type:
    """Create the module class lazily, so that importing this file never imports torch."""
    nn = torch.nn
    functional = torch.nn.functional

    class LeanBert(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, config: dict[str, Any], state: dict[str, Any]) -> None:
            super().__init__()
            self.config = SimpleNamespace(
                hidden_size=int(config["hidden_size"]), pad_token_id=config.get("pad_token_id")
            )
            self.heads = int(config["num_attention_heads"])
            self.eps = float(config.get("layer_norm_eps", 1e-12))
            self.layers = int(config["num_hidden_layers"])
            self.params = nn.ParameterDict()
            names = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight"]
            names += ["embeddings.token_type_embeddings.weight"]
            names += ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
            for index in range(self.layers):
                prefix = f"encoder.layer.{index}."
                for part in (
                    "attention.self.query",
                    "attention.self.key",
                    "attention.self.value",
                    "attention.output.dense",
                    "attention.output.LayerNorm",
                    "intermediate.dense",
                    "output.dense",
                    "output.LayerNorm",
                ):
                    names += [f"{prefix}{part}.weight", f"{prefix}{part}.bias"]
            for name in names:
                self.params[name.replace(".", "__")] = nn.Parameter(state[name], requires_grad=False)
            self.pooler = None
            if "pooler.dense.weight" in state:
                self.pooler = (state["pooler.dense.weight"], state["pooler.dense.bias"])

        def _p(self, name: str) -> Any:
            return self.params[name.replace(".", "__")]

        def _linear(self, x: Any, name: str) -> Any:
            return functional.linear(x, self._p(name + ".weight"), self._p(name + ".bias"))

        def _norm(self, x: Any, name: str) -> Any:
            width = x.shape[-1]
            return functional.layer_norm(x, (width,), self._p(name + ".weight"), self._p(name + ".bias"), self.eps)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            batch, length = input_ids.shape
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            positions = torch.arange(length, device=input_ids.device)
            hidden = (
                functional.embedding(input_ids, self._p("embeddings.word_embeddings.weight"))
                + functional.embedding(token_type_ids, self._p("embeddings.token_type_embeddings.weight"))
                + functional.embedding(positions, self._p("embeddings.position_embeddings.weight"))[None]
            )
            hidden = self._norm(hidden, "embeddings.LayerNorm")
            # A boolean mask: padded keys are never attended to.
            keep = attention_mask.bool()[:, None, None, :]
            head = hidden.shape[-1] // self.heads
            for index in range(self.layers):
                prefix = f"encoder.layer.{index}."

                def split(x: Any) -> Any:
                    return x.view(batch, length, self.heads, head).transpose(1, 2)

                query = split(self._linear(hidden, prefix + "attention.self.query"))
                key = split(self._linear(hidden, prefix + "attention.self.key"))
                value = split(self._linear(hidden, prefix + "attention.self.value"))
                context = functional.scaled_dot_product_attention(query, key, value, attn_mask=keep)
                context = context.transpose(1, 2).reshape(batch, length, -1)
                attended = self._norm(
                    self._linear(context, prefix + "attention.output.dense") + hidden,
                    prefix + "attention.output.LayerNorm",
                )
                inner = functional.gelu(self._linear(attended, prefix + "intermediate.dense"))
                hidden = self._norm(
                    self._linear(inner, prefix + "output.dense") + attended, prefix + "output.LayerNorm"
                )
            pooled = None
            if self.pooler is not None:
                weight, bias = self.pooler
                pooled = torch.tanh(
                    functional.linear(hidden[:, 0], weight.to(hidden.dtype).to(hidden.device), bias.to(hidden.dtype))
                )
            return SimpleNamespace(last_hidden_state=hidden, pooler_output=pooled)

    return LeanBert


_CLASS_CACHE: dict[int, type] = {}


def _LeanBert(torch: Any, config: dict[str, Any], state: dict[str, Any]) -> Any:  # noqa: N802
    """Instantiate the lean BERT module class (created once per torch module)."""
    cls = _CLASS_CACHE.setdefault(id(torch), _module_class(torch))
    return cls(config, state)
