"""Distillation: vocabulary surgery -> one teacher forward pass per token -> PCA -> token weights -> quantise.

`distill` loads a teacher by name (folder, ONNX file or hub id); `distill_from_model` takes a model and
tokenizer that are already in memory. Both accept the same options and return a `StaticModel`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from model2vec.distill.postprocess import (
    PCADims,
    apply_pca,
    count_corpus_tokens,
    count_probabilities,
    counts_for_tokens,
    resolve_pca_dims,
    sif_weights,
    validate_sif_coefficient,
    zipf_probabilities,
)
from model2vec.distill.teachers import (
    TEACHER_DTYPE_CHOICES,
    DenseLayer,
    Teacher,
    TeacherInfo,
    TorchTeacher,
    default_teacher_path,
    embed_inputs,
    load_teacher,
    parse_pooling,
    st_pooling_modes,
)
from model2vec.distill.vocabulary import build_vocabulary, compile_remove_pattern
from model2vec.model import StaticModel, quantize_model
from model2vec.quantization import DType
from model2vec.tokenization import prepare_tokenizer, tokenize_batch
from model2vec.version import __version__

TEACHER_DTYPES = TEACHER_DTYPE_CHOICES
DEFAULT_REMOVE_PATTERN = r"\[unused\d+\]"


def distill(
    model_name: str | os.PathLike[str] | None = None,
    vocabulary: Sequence[str] | None = None,
    device: str | None = None,
    pca_dims: PCADims = 256,
    sif_coefficient: float | None = 1e-4,
    token_remove_pattern: str | None = DEFAULT_REMOVE_PATTERN,
    trust_remote_code: bool = False,
    quantize_to: DType | str = "float16",
    vocabulary_quantization: int | None = None,
    pooling: str = "mean",
    apply_zipf: bool | None = None,
    use_subword: bool | None = None,
    token_counts: Mapping[str, float] | None = None,
    corpus: Iterable[str] | None = None,
    word_level: bool = False,
    normalize: bool = True,
    normalize_tokens: bool = False,
    teacher_dtype: str = "float32",
    batch_size: int = 256,
    show_progress_bar: bool = True,
    tokenizer: Tokenizer | None = None,
    base_model_name: str | None = None,
) -> StaticModel:
    """Distill a static model from a sentence-transformer, transformers or ONNX teacher.

    Every token of the (cleaned, optionally extended) vocabulary is run through the teacher once,
    wrapped in the teacher's special tokens (`[CLS] token [SEP]`); the pooled output is that token's
    vector. The vectors are reduced with PCA, scaled by SIF weights and quantised.

    :param model_name: A sentence-transformers folder, a transformers folder, an `.onnx` file or folder,
        or a hub id. None uses the packaged default teacher (all-MiniLM-L6-v2).
    :param vocabulary: Extra words/phrases to add (see `build_vocabulary`); None keeps the teacher's.
    :param device: Torch device ("cpu", "cuda", ...); None picks CUDA when available. Ignored for ONNX.
    :param pca_dims: Output dimensions: an int, a float in (0, 1) (share of variance kept), "auto"
        (rotate, keep all dimensions) or None (no PCA). More than the teacher's width warns and clamps.
    :param sif_coefficient: `a` in the token weights `a / (a + p)`, in (0, 1); None disables weighting.
    :param token_remove_pattern: Regex (`re.match`) of tokens to drop; None keeps all.
    :param trust_remote_code: Allow custom modelling code from the teacher folder/repository.
    :param quantize_to: Storage dtype: "float16" (default), "float32", "float64" or "int8".
    :param vocabulary_quantization: Cluster the vocabulary into this many shared rows (k-means).
    :param pooling: How a token's teacher states become one vector: "mean" (default, over the special
        tokens too), "first"/"cls", "last", "max", "mean_sqrt_len", "weightedmean", "pooler", or
        "teacher" (the sentence-transformers Pooling config, "mean" when there is none).
    :param apply_zipf: Legacy switch sent by sentence-transformers: False disables weighting (like
        `sif_coefficient=None`); True keeps it. Warns when it cannot apply.
    :param use_subword: Legacy switch sent by sentence-transformers: False means `word_level=True`;
        True keeps the subword vocabulary. Warns when it conflicts with `word_level`.
    :param token_counts: Token -> count; when given, `p` comes from these counts (add-one smoothed)
        instead of the Zipf rank assumption.
    :param corpus: Texts to count tokens on (with the new tokenizer) instead of `token_counts`.
    :param word_level: Build a tokenizer with only the words of `vocabulary`.
    :param normalize: Whether the static model L2-normalises its outputs (config `normalize`).
    :param normalize_tokens: L2-normalise each token's vector before PCA (what the teacher's Normalize
        module does to a one-token text). Off by default: it scored lower on the STS dev suite.
    :param teacher_dtype: "float32" (default; reproduces the reference library), "bfloat16" (runs a
        bfloat16 copy of the teacher: 2-3x faster forward pass on CPUs with AMX/AVX512-BF16 and on
        GPUs, about 5x slower on CPUs without them; same STS scores, but PCA components are not
        row-comparable with float32 results) or "auto" (bfloat16 only where it is native). Torch
        teachers only.
    :param batch_size: Tokens per teacher forward pass.
    :param show_progress_bar: Show a progress bar during the forward pass.
    :param tokenizer: Tokenizer to use with the teacher (ONNX models without one default to the
        default teacher's tokenizer, which fits BERT-uncased vocabularies).
    :param base_model_name: Name recorded as the base model (default: derived from `model_name`).
    :return: The static model.
    :raises ValueError: For invalid options, a folder that is not a model, or an empty vocabulary.
    :raises FileNotFoundError: If `model_name` is neither a local path nor a reachable hub id.
    :raises ImportError: If torch/transformers (or onnxruntime for ONNX teachers) are missing.
    """
    options = _Options.build(
        pca_dims=pca_dims,
        sif_coefficient=sif_coefficient,
        token_remove_pattern=token_remove_pattern,
        quantize_to=quantize_to,
        vocabulary_quantization=vocabulary_quantization,
        pooling=pooling,
        apply_zipf=apply_zipf,
        use_subword=use_subword,
        word_level=word_level,
        teacher_dtype=teacher_dtype,
        batch_size=batch_size,
    )
    source = model_name if model_name is not None else default_teacher_path()
    info = load_teacher(
        source,
        device=device,
        trust_remote_code=trust_remote_code,
        teacher_dtype=options.teacher_dtype,
        tokenizer=tokenizer,
    )
    if base_model_name is not None:
        info.name = base_model_name
    return _distill(
        info,
        options,
        vocabulary=vocabulary,
        token_counts=token_counts,
        corpus=corpus,
        normalize=normalize,
        normalize_tokens=normalize_tokens,
        show_progress_bar=show_progress_bar,
    )


def distill_from_model(
    model: Any,
    tokenizer: Any,
    vocabulary: Sequence[str] | None = None,
    device: str | None = None,
    pca_dims: PCADims = 256,
    sif_coefficient: float | None = 1e-4,
    token_remove_pattern: str | None = DEFAULT_REMOVE_PATTERN,
    quantize_to: DType | str = "float16",
    vocabulary_quantization: int | None = None,
    pooling: str = "mean",
    apply_zipf: bool | None = None,
    use_subword: bool | None = None,
    token_counts: Mapping[str, float] | None = None,
    corpus: Iterable[str] | None = None,
    word_level: bool = False,
    normalize: bool = True,
    normalize_tokens: bool = False,
    teacher_dtype: str = "float32",
    batch_size: int = 256,
    show_progress_bar: bool = True,
    base_model_name: str | None = None,
) -> StaticModel:
    """Distill a static model from a teacher already in memory. Options as in `distill`.

    :param model: A `transformers` model, a `sentence_transformers.SentenceTransformer` (its Pooling and
        Dense modules are used), or any object implementing the `Teacher` protocol.
    :param tokenizer: A `tokenizers.Tokenizer` or a transformers fast tokenizer.
    :return: The static model.
    :raises TypeError: If the model or tokenizer is of an unsupported type.
    :raises ValueError: For invalid options or an empty vocabulary.
    """
    options = _Options.build(
        pca_dims=pca_dims,
        sif_coefficient=sif_coefficient,
        token_remove_pattern=token_remove_pattern,
        quantize_to=quantize_to,
        vocabulary_quantization=vocabulary_quantization,
        pooling=pooling,
        apply_zipf=apply_zipf,
        use_subword=use_subword,
        word_level=word_level,
        teacher_dtype=teacher_dtype,
        batch_size=batch_size,
    )
    info = _wrap_model(model, _as_tokenizer(tokenizer), device, options.teacher_dtype)
    if base_model_name is not None:
        info.name = base_model_name
    return _distill(
        info,
        options,
        vocabulary=vocabulary,
        token_counts=token_counts,
        corpus=corpus,
        normalize=normalize,
        normalize_tokens=normalize_tokens,
        show_progress_bar=show_progress_bar,
    )


class _Options:
    """Validated options shared by `distill` and `distill_from_model`."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    pca_dims: PCADims
    sif_coefficient: float | None
    token_remove_pattern: str | None
    quantize_to: DType
    vocabulary_quantization: int | None
    pooling: str
    word_level: bool
    teacher_dtype: str
    batch_size: int

    @classmethod
    def build(
        cls,
        pca_dims: PCADims,
        sif_coefficient: float | None,
        token_remove_pattern: str | None,
        quantize_to: DType | str,
        vocabulary_quantization: int | None,
        pooling: str,
        apply_zipf: bool | None,
        use_subword: bool | None,
        word_level: bool,
        teacher_dtype: str,
        batch_size: int,
    ) -> _Options:
        """Validate everything before any model is loaded, so mistakes fail fast."""
        sif = validate_sif_coefficient(sif_coefficient)
        compile_remove_pattern(token_remove_pattern)
        resolve_pca_dims(pca_dims, n_rows=2**31, width=2**31)
        dtype = DType.parse(quantize_to)
        if vocabulary_quantization is not None and (
            isinstance(vocabulary_quantization, bool)
            or not isinstance(vocabulary_quantization, int)
            or vocabulary_quantization < 1
        ):
            raise ValueError(
                f"vocabulary_quantization must be a positive int or None, got {vocabulary_quantization!r}."
            )
        if pooling != "teacher":
            parse_pooling(pooling)
        if teacher_dtype not in TEACHER_DTYPES:
            raise ValueError(f"teacher_dtype must be one of {TEACHER_DTYPES}, got {teacher_dtype!r}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        if apply_zipf is not None:
            if not apply_zipf:
                sif = None
            elif sif is None:
                warnings.warn(
                    "apply_zipf=True is ignored because sif_coefficient=None disables token weighting.",
                    UserWarning,
                    stacklevel=3,
                )
        if use_subword is not None:
            if not use_subword:
                word_level = True
            elif word_level:
                warnings.warn(
                    "use_subword=True is ignored because word_level=True was asked for.", UserWarning, stacklevel=3
                )
        return cls(
            pca_dims=pca_dims,
            sif_coefficient=sif,
            token_remove_pattern=token_remove_pattern,
            quantize_to=dtype,
            vocabulary_quantization=vocabulary_quantization,
            pooling=pooling,
            word_level=bool(word_level),
            teacher_dtype=teacher_dtype,
            batch_size=batch_size,
        )


def _as_tokenizer(tokenizer: Any) -> Tokenizer:
    """Accept a `tokenizers.Tokenizer` or a transformers fast tokenizer (its backend)."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if isinstance(backend, Tokenizer):
        return Tokenizer.from_str(backend.to_str())
    raise TypeError(
        f"tokenizer must be a tokenizers.Tokenizer or a transformers fast tokenizer, got {type(tokenizer).__name__}."
    )


def _wrap_model(model: Any, tokenizer: Tokenizer, device: str | None, teacher_dtype: str) -> TeacherInfo:
    """Turn an in-memory model into a `TeacherInfo`."""
    if isinstance(model, Teacher) and not hasattr(model, "forward"):
        return TeacherInfo(teacher=model, tokenizer=tokenizer, name=type(model).__name__, kind="custom")
    modules = list(model) if hasattr(model, "_modules") and type(model).__name__ == "SentenceTransformer" else None
    if modules:
        first = modules[0]
        auto_model = getattr(first, "auto_model", None) or getattr(first, "model", None)
        if auto_model is None:
            raise TypeError("The SentenceTransformer's first module has no transformers model.")
        pooling: tuple[str, ...] | None = None
        dense: list[Any] = []
        normalizes = False
        for module in modules[1:]:
            name = type(module).__name__
            if name == "Pooling":
                pooling = st_pooling_modes(module.get_config_dict())
            elif name == "Dense":
                dense.append(DenseLayer(module.linear, module.activation_function))
            elif name == "Normalize":
                normalizes = True
        teacher = TorchTeacher(auto_model, device=device, dense=dense, teacher_dtype=teacher_dtype)
        name_or_path = getattr(auto_model.config, "name_or_path", "") or "sentence-transformer"
        pad = getattr(auto_model.config, "pad_token_id", None)
        return TeacherInfo(
            teacher=teacher,
            tokenizer=tokenizer,
            name=os.path.basename(str(name_or_path)) if os.path.exists(str(name_or_path)) else str(name_or_path),
            kind="sentence-transformers",
            pooling=pooling,
            normalizes=normalizes,
            pad_id=pad if isinstance(pad, int) else 0,
        )
    if hasattr(model, "config") and hasattr(model, "forward"):
        teacher = TorchTeacher(model, device=device, teacher_dtype=teacher_dtype)
        name_or_path = str(getattr(model.config, "name_or_path", "") or type(model).__name__)
        pad = getattr(model.config, "pad_token_id", None)
        return TeacherInfo(
            teacher=teacher,
            tokenizer=tokenizer,
            name=os.path.basename(name_or_path) if os.path.exists(name_or_path) else name_or_path,
            kind="transformers",
            pad_id=pad if isinstance(pad, int) else 0,
        )
    raise TypeError(
        "model must be a transformers model, a SentenceTransformer or a Teacher, got " + type(model).__name__ + "."
    )


def _distill(
    info: TeacherInfo,
    options: _Options,
    vocabulary: Sequence[str] | None,
    token_counts: Mapping[str, float] | None,
    corpus: Iterable[str] | None,
    normalize: bool,
    normalize_tokens: bool,
    show_progress_bar: bool,
) -> StaticModel:
    """Run the pipeline shared by both entry points."""
    if token_counts is not None and corpus is not None:
        raise ValueError("Pass either token_counts or corpus, not both.")
    if not isinstance(normalize, bool) or not isinstance(normalize_tokens, bool):
        raise ValueError("normalize and normalize_tokens must be bools.")
    pooling = (info.pooling or ("mean",)) if options.pooling == "teacher" else parse_pooling(options.pooling)
    plan = build_vocabulary(
        info.tokenizer,
        vocabulary,
        compile_remove_pattern(options.token_remove_pattern),
        word_level=options.word_level,
    )
    vectors = embed_inputs(
        info.teacher,
        plan.teacher_inputs,
        pooling,
        pad_id=info.pad_id,
        batch_size=options.batch_size,
        show_progress_bar=show_progress_bar,
    )
    if normalize_tokens:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
    vectors = apply_pca(vectors, options.pca_dims)

    tokens = plan.tokens
    weight_source = "none"
    if options.sif_coefficient is not None:
        if token_counts is not None:
            probabilities = count_probabilities(counts_for_tokens(tokens, token_counts))
            weight_source = "token_counts"
        elif corpus is not None:
            probabilities = count_probabilities(_count_corpus(plan.tokenizer, corpus, len(tokens)))
            weight_source = "corpus"
        else:
            probabilities = zipf_probabilities(len(tokens))
            weight_source = "zipf"
        vectors = (vectors * sif_weights(probabilities, options.sif_coefficient)[:, None]).astype(np.float32)

    config = {
        "tokenizer_name": info.name,
        "apply_pca": options.pca_dims,
        "sif_coefficient": options.sif_coefficient,
        "pooling": "+".join(pooling),
        "distillation": {
            "library": "model2vec",
            "library_version": __version__,
            "teacher": info.name,
            "teacher_kind": info.kind,
            "teacher_package": info.details.get("package"),
            "pca_dims": options.pca_dims,
            "output_dims": int(vectors.shape[1]),
            "sif_coefficient": options.sif_coefficient,
            "token_weights": weight_source,
            "token_remove_pattern": options.token_remove_pattern,
            "pooling": list(pooling),
            "quantize_to": options.quantize_to.value,
            "vocabulary_quantization": options.vocabulary_quantization,
            "custom_vocabulary": 0 if vocabulary is None else len(vocabulary),
            "word_level": options.word_level,
            "normalize": normalize,
            "normalize_tokens": normalize_tokens,
            "teacher_normalizes": info.normalizes,
            "teacher_dtype": getattr(info.teacher, "teacher_dtype", options.teacher_dtype),
            "vocabulary_size": len(tokens),
            "removed_tokens": plan.stats.removed_by_pattern + plan.stats.removed_special,
            "added_tokens": plan.stats.added + plan.stats.added_multiword,
        },
    }
    model = StaticModel(
        vectors=vectors,
        tokenizer=plan.tokenizer,
        config=config,
        normalize=normalize,
        base_model_name=info.name,
    )
    return quantize_model(
        model,
        vocabulary_quantization=options.vocabulary_quantization,
        quantize_to=options.quantize_to,
        show_progress_bar=show_progress_bar,
    )


def _count_corpus(tokenizer: Tokenizer, corpus: Iterable[str], vocab_size: int, chunk: int = 4096) -> np.ndarray:
    """Count how often each token of the new tokenizer occurs in `corpus`."""
    if isinstance(corpus, str):
        raise ValueError("corpus must be an iterable of texts, not a single string.")
    prepared = prepare_tokenizer(tokenizer)

    def batches() -> Iterable[np.ndarray]:
        batch: list[str] = []
        for text in corpus:
            batch.append(text)
            if len(batch) == chunk:
                yield tokenize_batch(prepared, batch, None, None, drop_unknown=False).ids
                batch = []
        if batch:
            yield tokenize_batch(prepared, batch, None, None, drop_unknown=False).ids

    return count_corpus_tokens(batches(), vocab_size)
