"""The task types: which texts each needs, and how its embeddings are scored (MTEB conventions).

A task is loaded once and can then score any number of models. It never calls a model itself: the
runner encodes `task.texts()` (each distinct text once) and hands the task an `EmbeddingLookup`.

Conventions, and where they come from (scores are reported x100, like the MTEB leaderboard):

- BitextMining: for each `sentence1`, the `sentence2` of the same file with the highest cosine
  similarity; weighted F1 over the gold indices (scikit-learn's `average="weighted"`, as MTEB), with
  accuracy, precision and recall also reported.
- STS: Spearman correlation of the cosine similarity of each pair with the gold score.
- Classification: logistic regression (scikit-learn, `max_iter=100`) trained on embeddings of a sampled
  training subset, accuracy on the whole test split, averaged over `n_experiments` subsets. Each subset
  takes the first `samples_per_label` examples of every label in a fresh shuffle of the train split.
  MTEB's defaults are 10 experiments and 8 samples per label, raised to 16 by the tasks that set it
  (e.g. EmotionClassification); we use 10 x 16 for every classification task.
- PairClassification: average precision of the cosine similarity of each pair as a score for "same"
  (label 1); accuracy and F1 at their best thresholds are reported as well.
- Clustering: mini-batch k-means (batch 500, k = number of gold labels) on the raw embeddings,
  V-measure against the labels, averaged over `clustering_seeds` seeds.
- Retrieval: cosine similarity of each judged query with every document of the corpus, documents
  embedded as `title + " " + text`; nDCG@10 (main), MAP@10 and recall@100 as trec_eval computes them.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model2vec.evaluation._deps import require
from model2vec.evaluation.data import (
    LabelledTexts,
    RetrievalData,
    SentencePairs,
    TaskSpec,
    TaskType,
    distinct,
    load_bitext,
    load_labelled,
    load_pairs,
    load_retrieval,
)
from model2vec.evaluation.metrics import (
    average_precision,
    best_threshold_scores,
    bitext_scores,
    map_at_k,
    ndcg_at_k,
    nearest_rows,
    paired_cosine,
    pearson,
    recall_at_k,
    spearman,
    top_k_indices,
    unit_rows,
    v_measure,
)


@dataclass(frozen=True)
class EvaluationSettings:
    """Knobs of the protocol; the defaults follow MTEB (see the module docstring).

    :param n_experiments: Classification: number of sampled training subsets.
    :param samples_per_label: Classification: training examples per label in each subset.
    :param max_iter: Classification: logistic-regression iterations.
    :param clustering_seeds: Clustering: k-means runs (seeds 0..n-1) averaged.
    :param clustering_batch_size: Clustering: mini-batch size of k-means.
    :param retrieval_cutoffs: Retrieval: (nDCG/MAP cut-off, recall cut-off).
    :param seed: Seed of the classification subsets and classifiers.
    """

    n_experiments: int = 10
    samples_per_label: int = 16
    max_iter: int = 100
    clustering_seeds: int = 10
    clustering_batch_size: int = 500
    retrieval_cutoffs: tuple[int, int] = (10, 100)
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("n_experiments", "samples_per_label", "max_iter", "clustering_seeds", "clustering_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if len(self.retrieval_cutoffs) != 2 or min(self.retrieval_cutoffs) < 1:
            raise ValueError(f"retrieval_cutoffs must be two positive ints, got {self.retrieval_cutoffs!r}.")

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-serialisable values."""
        return {
            "n_experiments": self.n_experiments,
            "samples_per_label": self.samples_per_label,
            "max_iter": self.max_iter,
            "clustering_seeds": self.clustering_seeds,
            "clustering_batch_size": self.clustering_batch_size,
            "retrieval_cutoffs": list(self.retrieval_cutoffs),
            "seed": self.seed,
        }


class EmbeddingLookup:
    """Embeddings of a set of distinct texts, looked up by text.

    :param texts: The distinct texts, in row order.
    :param vectors: `(len(texts), dim)` array.
    :raises ValueError: If the row count does not match, the array is not 2-D, or values are not finite.
    """

    def __init__(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        array = np.asarray(vectors)
        if array.ndim != 2 or array.shape[0] != len(texts):
            raise ValueError(f"Expected a ({len(texts)}, dim) array for {len(texts)} texts, got shape {array.shape}.")
        if not np.isfinite(array).all():
            raise ValueError("Embeddings contain NaN or infinite values.")
        self._row = {text: i for i, text in enumerate(texts)}
        self.vectors = array.astype(np.float32, copy=False)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Rows for `texts` (repeats allowed).

        :raises KeyError: If a text was not encoded (a bug in a task's `texts()`).
        """
        return self.vectors[[self._row[t] for t in texts]]


@dataclass
class TaskResult:
    """The outcome of one task for one model.

    :param name: Task name.
    :param type: Task type value (e.g. "STS").
    :param main_score: The task's headline metric x100.
    :param scores: All metrics x100 (plus counts such as `n_texts`).
    :param n_texts: Distinct texts encoded.
    :param encode_seconds: Wall time spent encoding them.
    :param language: The task's language, when the suite records one.
    """

    name: str
    type: str
    main_score: float
    scores: dict[str, float] = field(default_factory=dict)
    n_texts: int = 0
    encode_seconds: float = 0.0
    language: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "main_score": self.main_score,
            "scores": dict(self.scores),
            "n_texts": self.n_texts,
            "encode_seconds": self.encode_seconds,
        }
        if self.language is not None:
            data["language"] = self.language
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskResult:
        """Inverse of `as_dict`.

        :raises KeyError: If a required key is missing.
        """
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            main_score=float(data["main_score"]),
            scores={str(k): float(v) for k, v in data.get("scores", {}).items()},
            n_texts=int(data.get("n_texts", 0)),
            encode_seconds=float(data.get("encode_seconds", 0.0)),
            language=None if data.get("language") is None else str(data["language"]),
        )


class Task(ABC):
    """A loaded task: its data, the texts it needs embedded, and its scoring rule."""

    def __init__(self, spec: TaskSpec, settings: EvaluationSettings) -> None:
        self.spec = spec
        self.settings = settings

    @property
    def name(self) -> str:
        """The task name."""
        return self.spec.name

    @property
    def type(self) -> TaskType:
        """The task type."""
        return self.spec.type

    @abstractmethod
    def texts(self) -> list[str]:
        """Every distinct text the task needs embedded, in a stable order."""

    @abstractmethod
    def score(self, embeddings: EmbeddingLookup) -> dict[str, float]:
        """All metrics (x100) from the embeddings of `texts()`; the headline one is under "main_score"."""


class BitextMiningTask(Task):
    """Bitext mining: find each sentence's translation among all the other side's sentences."""

    def __init__(
        self, spec: TaskSpec, settings: EvaluationSettings, data: tuple[list[str], list[str]] | None = None
    ) -> None:
        super().__init__(spec, settings)
        self.first, self.second = data if data is not None else load_bitext(spec.path)
        if len(self.first) != len(self.second) or len(self.first) < 2:
            raise ValueError(f"Bitext mining task {spec.name} needs at least 2 aligned pairs.")

    def texts(self) -> list[str]:  # noqa: D102 - documented on Task
        return distinct(self.first + self.second)

    def score(self, embeddings: EmbeddingLookup) -> dict[str, float]:  # noqa: D102
        scores = bitext_scores(nearest_rows(embeddings(self.first), embeddings(self.second)))
        return {
            "main_score": 100 * scores["f1"],
            **{name: 100 * value for name, value in scores.items()},
            "n_pairs": float(len(self.first)),
        }


class STSTask(Task):
    """Semantic textual similarity: Spearman of cosine similarity against gold scores."""

    def __init__(self, spec: TaskSpec, settings: EvaluationSettings, data: SentencePairs | None = None) -> None:
        super().__init__(spec, settings)
        self.data = data if data is not None else load_pairs(spec.path, "score")
        if len(self.data.values) < 2:
            raise ValueError(f"STS task {spec.name} needs at least 2 pairs.")

    def texts(self) -> list[str]:  # noqa: D102 - documented on Task
        return distinct(self.data.first + self.data.second)

    def score(self, embeddings: EmbeddingLookup) -> dict[str, float]:  # noqa: D102
        cosine = paired_cosine(embeddings(self.data.first), embeddings(self.data.second))
        rho = spearman(cosine, self.data.values)
        return {
            "main_score": 100 * rho,
            "cosine_spearman": 100 * rho,
            "cosine_pearson": 100 * pearson(cosine, self.data.values),
            "n_pairs": float(len(cosine)),
        }


class PairClassificationTask(Task):
    """Paraphrase / duplicate detection: average precision of cosine similarity for label 1."""

    def __init__(self, spec: TaskSpec, settings: EvaluationSettings, data: SentencePairs | None = None) -> None:
        super().__init__(spec, settings)
        self.data = data if data is not None else load_pairs(spec.path, "label")
        if not np.isin(self.data.values, (0, 1)).all():
            raise ValueError(f"Pair classification task {spec.name}: labels must be 0 or 1.")
        if not (self.data.values == 1).any():
            raise ValueError(f"Pair classification task {spec.name} has no positive pair; AP is undefined.")

    def texts(self) -> list[str]:  # noqa: D102
        return distinct(self.data.first + self.data.second)

    def score(self, embeddings: EmbeddingLookup) -> dict[str, float]:  # noqa: D102
        cosine = paired_cosine(embeddings(self.data.first), embeddings(self.data.second))
        labels = self.data.values.astype(np.int64)
        ap = average_precision(labels, cosine)
        best = best_threshold_scores(labels, cosine)
        return {
            "main_score": 100 * ap,
            "cosine_ap": 100 * ap,
            "cosine_accuracy": 100 * best["accuracy"],
            "cosine_f1": 100 * best["f1"],
            "n_pairs": float(len(labels)),
        }


def sample_per_label(labels: Sequence[str], samples_per_label: int, rng: np.random.Generator) -> np.ndarray:
    """Pick the indices of the first `samples_per_label` examples of every label in a random permutation.

    A label with fewer examples contributes all of them (MTEB's under-sampling rule).

    :param labels: One label per training example.
    :param samples_per_label: Cap per label (positive).
    :param rng: Source of the permutation.
    :return: Sorted int indices into `labels`.
    """
    taken: dict[str, int] = defaultdict(int)
    chosen = []
    for index in rng.permutation(len(labels)):
        label = labels[index]
        if taken[label] < samples_per_label:
            taken[label] += 1
            chosen.append(index)
    return np.sort(np.asarray(chosen, dtype=np.int64))


class ClassificationTask(Task):
    """Logistic regression on embeddings of sampled training subsets; mean test accuracy."""

    def __init__(
        self,
        spec: TaskSpec,
        settings: EvaluationSettings,
        train: LabelledTexts | None = None,
        test: LabelledTexts | None = None,
    ) -> None:
        super().__init__(spec, settings)
        if train is None:
            if spec.train_path is None:
                raise ValueError(f"Classification task {spec.name} has no training split.")
            train = load_labelled(spec.train_path)
        self.train = train
        self.test = test if test is not None else load_labelled(spec.path)
        if len(set(self.train.labels)) < 2:
            raise ValueError(f"Classification task {spec.name}: the training split needs at least 2 labels.")
        # The subsets depend only on the seed, so every model is trained on the same examples.
        rng = np.random.default_rng(settings.seed)
        self.subsets = [
            sample_per_label(self.train.labels, settings.samples_per_label, rng) for _ in range(settings.n_experiments)
        ]

    def texts(self) -> list[str]:  # noqa: D102
        used = sorted({int(i) for subset in self.subsets for i in subset})
        return distinct([self.train.texts[i] for i in used] + self.test.texts)

    def score(self, embeddings: EmbeddingLookup) -> dict[str, float]:  # noqa: D102
        require("sklearn", "scikit-learn")
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score

        test_vectors = embeddings(self.test.texts)
        test_labels = np.asarray(self.test.labels)
        accuracies, f1s = [], []
        for subset in self.subsets:
            train_texts = [self.train.texts[i] for i in subset]
            train_labels = np.asarray([self.train.labels[i] for i in subset])
            classifier = LogisticRegression(max_iter=self.settings.max_iter, random_state=self.settings.seed)
            with warnings.catch_warnings():
                # 100 iterations is MTEB's setting; not converging is part of the protocol, not an error.
                warnings.simplefilter("ignore", ConvergenceWarning)
                classifier.fit(embeddings(train_texts), train_labels)
            predicted = classifier.predict(test_vectors)
            accuracies.append(float(np.mean(predicted == test_labels)))
            f1s.append(float(f1_score(test_labels, predicted, average="macro")))
        return {
            "main_score": 100 * float(np.mean(accuracies)),
            "accuracy": 100 * float(np.mean(accuracies)),
            "accuracy_std": 100 * float(np.std(accuracies)),
            "f1_macro": 100 * float(np.mean(f1s)),
            "n_experiments": float(len(self.subsets)),
            "train_size": float(np.mean([len(s) for s in self.subsets])),
        }


class ClusteringTask(Task):
    """Mini-batch k-means with k = number of labels; mean V-measure over seeds."""

    def __init__(self, spec: TaskSpec, settings: EvaluationSettings, data: LabelledTexts | None = None) -> None:
        super().__init__(spec, settings)
        self.data = data if data is not None else load_labelled(spec.path)
        self.n_clusters = len(set(self.data.labels))
        if self.n_clusters < 2 or len(self.data.texts) <= self.n_clusters:
            raise ValueError(f"Clustering task {spec.name} needs at least 2 labels and more texts than labels.")

    def texts(self) -> list[str]:  # noqa: D102
        return distinct(self.data.texts)

    def score(self, embeddings: EmbeddingLookup) -> dict[str, float]:  # noqa: D102
        require("sklearn", "scikit-learn")
        from sklearn.cluster import MiniBatchKMeans

        vectors = embeddings(self.data.texts)
        measures = []
        for seed in range(self.settings.clustering_seeds):
            kmeans = MiniBatchKMeans(
                n_clusters=self.n_clusters,
                batch_size=self.settings.clustering_batch_size,
                n_init="auto",
                random_state=seed,
            )
            with warnings.catch_warnings():
                # Random or degenerate embeddings may give fewer distinct points than clusters; still a score.
                warnings.simplefilter("ignore")
                assignment = kmeans.fit_predict(vectors)
            measures.append(v_measure(self.data.labels, assignment))
        return {
            "main_score": 100 * float(np.mean(measures)),
            "v_measure": 100 * float(np.mean(measures)),
            "v_measure_std": 100 * float(np.std(measures)),
            "n_clusters": float(self.n_clusters),
        }


class RetrievalTask(Task):
    """Dense retrieval over the whole corpus by cosine similarity; nDCG@10, MAP@10, recall@100."""

    # Queries scored per matrix product; bounds memory to chunk x corpus floats.
    QUERY_CHUNK = 256

    def __init__(self, spec: TaskSpec, settings: EvaluationSettings, data: RetrievalData | None = None) -> None:
        super().__init__(spec, settings)
        self.data = data if data is not None else load_retrieval(spec.path, spec.split)
        if not self.data.query_ids:
            raise ValueError(f"Retrieval task {spec.name} has no judged queries.")

    def texts(self) -> list[str]:  # noqa: D102
        return distinct(self.data.doc_texts + self.data.query_texts)

    def score(self, embeddings: EmbeddingLookup) -> dict[str, float]:  # noqa: D102
        cut, recall_cut = self.settings.retrieval_cutoffs
        depth = max(cut, recall_cut)
        documents = unit_rows(embeddings(self.data.doc_texts))
        queries = unit_rows(embeddings(self.data.query_texts))
        ndcg, mean_ap, recall = [], [], []
        for start in range(0, len(queries), self.QUERY_CHUNK):
            top = top_k_indices(queries[start : start + self.QUERY_CHUNK] @ documents.T, depth)
            for offset, row in enumerate(top):
                judged = self.data.qrels[self.data.query_ids[start + offset]]
                ranked = [self.data.doc_ids[i] for i in row]
                ndcg.append(ndcg_at_k(ranked, judged, cut))
                mean_ap.append(map_at_k(ranked, judged, cut))
                recall.append(recall_at_k(ranked, judged, recall_cut))
        return {
            "main_score": 100 * float(np.mean(ndcg)),
            f"ndcg_at_{cut}": 100 * float(np.mean(ndcg)),
            f"map_at_{cut}": 100 * float(np.mean(mean_ap)),
            f"recall_at_{recall_cut}": 100 * float(np.mean(recall)),
            "n_queries": float(len(ndcg)),
            "n_documents": float(len(documents)),
        }


_TASK_CLASSES: dict[TaskType, type[Task]] = {
    TaskType.BITEXT_MINING: BitextMiningTask,
    TaskType.STS: STSTask,
    TaskType.CLASSIFICATION: ClassificationTask,
    TaskType.PAIR_CLASSIFICATION: PairClassificationTask,
    TaskType.CLUSTERING: ClusteringTask,
    TaskType.RETRIEVAL: RetrievalTask,
}


def load_task(spec: TaskSpec, settings: EvaluationSettings | None = None) -> Task:
    """Read a task's files and prepare it for scoring.

    :param spec: Where the task's files are.
    :param settings: Protocol settings (defaults: `EvaluationSettings()`).
    :return: The loaded task.
    :raises FileNotFoundError: If a file is missing.
    :raises ValueError: If a file is malformed or the data cannot support the metric (e.g. one label).
    """
    return _TASK_CLASSES[spec.type](spec, settings or EvaluationSettings())
