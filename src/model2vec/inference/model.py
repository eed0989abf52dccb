"""`StaticModelPipeline`: a static model followed by a scikit-learn head, with safe skops storage.

Prediction needs numpy, tokenizers and scikit-learn only; this module never imports torch. The head is
stored with skops, and loading accepts only scikit-learn classes unless the caller opts in explicitly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model2vec import format as fmt
from model2vec.hub import push_saved, resolve_model_path
from model2vec.inference.evaluation import evaluate_regression, evaluate_single_or_multi_label
from model2vec.inference.trust import UntrustedTypesError, check_head_file
from model2vec.model import DEFAULT_MAX_LENGTH, StaticModel

HEAD_FILE = "pipeline.skops"
PIPELINE_CONFIG_FILE = "pipeline.json"


def save_head(head: Any, path: str | os.PathLike[str]) -> None:
    """Write a scikit-learn head to a skops file.

    :param head: A fitted scikit-learn estimator.
    :param path: The destination file.
    """
    import skops.io as sio

    sio.dump(head, str(path))


def load_head(path: str | os.PathLike[str], trust_remote_code: bool = False) -> Any:
    """Load a skops head file, refusing types outside the allow-list (see `model2vec.inference.trust`).

    The check reads the file's schema only; nothing is constructed unless every type passes (or
    `trust_remote_code` is True).

    :param path: The skops file.
    :param trust_remote_code: Load whatever the file contains. Only for files from a source you trust:
        a skops file can name arbitrary functions and classes.
    :return: The head.
    :raises UntrustedTypesError: If the file names types outside the allow-list and `trust_remote_code`
        is False; the message lists them.
    :raises FileNotFoundError: If the file does not exist.
    :raises ModelFormatError: If the file is not a readable skops archive.
    """
    import skops.io as sio

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Pipeline head {file} does not exist.")
    allowed, refused = check_head_file(file)
    if refused and not trust_remote_code:
        raise UntrustedTypesError(
            f"Refusing to load the pipeline head {file}: it uses types outside the allow-list (scikit-learn "
            f"estimators and the helper types they hold, as instances): {', '.join(refused)}. Nothing in the "
            "file was constructed. If you trust the file's source, load it with trust_remote_code=True."
        )
    return sio.load(str(file), trusted=allowed + refused)


def _head_is_multilabel(head: Any) -> bool:
    """Tell whether a head was fitted on a 0/1 indicator matrix (several labels per text)."""
    binarizer = getattr(head, "_label_binarizer", None)
    return getattr(binarizer, "y_type_", None) == "multilabel-indicator"


def _head_is_regressor(head: Any) -> bool:
    """Tell whether a head is a scikit-learn regressor (predicts values, has no classes)."""
    from sklearn.base import is_regressor

    try:
        return bool(is_regressor(head))
    except (AttributeError, TypeError):  # not a scikit-learn estimator (a trusted custom head): a classifier
        return False


def _pipeline_card(model_name: str, model: StaticModel, kind: str = "classification") -> str:
    """Write the model card of a pipeline: the static model's card plus how to load the pipeline."""
    language = [model.language] if isinstance(model.language, str) else model.language
    card = fmt.model_card(
        model_name,
        model.base_model_name,
        language,
        extra_description=f"This repository also holds a scikit-learn {kind} head (`pipeline.skops`).",
    )
    return (
        card
        + f"""
## {kind.capitalize()} pipeline

```python
from model2vec.inference import StaticModelPipeline

pipeline = StaticModelPipeline.from_pretrained("{model_name}")
predictions = pipeline.predict(["It's dangerous to go alone!"])
```

Prediction needs only numpy and scikit-learn: `pip install "model2vec[inference]"`.
"""
    )


class StaticModelPipeline:
    """A static model followed by a scikit-learn classifier (or regressor) head.

    :param model: The static model; its `encode` output (normalised or not, per `model.normalize`) is
        exactly what the head receives.
    :param head: A fitted scikit-learn classifier with `predict` and `predict_proba`, or a fitted
        regressor (then `predict` returns floats, `evaluate` regression metrics, and there are no
        classes or probabilities).
    :param multilabel_classes: For a multi-label head (fitted on a 0/1 indicator matrix): the label of each
        output column. None for a single-label head, or to use the column indices as labels.
    """

    def __init__(self, model: StaticModel, head: Any, multilabel_classes: Sequence[Any] | None = None) -> None:
        self.model = model
        self.head = head
        self.is_regressor = _head_is_regressor(head)
        self.multilabel = multilabel_classes is not None or _head_is_multilabel(head)
        if self.multilabel and multilabel_classes is None:
            n_outputs = int(getattr(head, "n_outputs_", len(getattr(head, "classes_", []))))
            multilabel_classes = list(range(n_outputs))
        self.multilabel_classes: list[Any] | None = list(multilabel_classes) if multilabel_classes is not None else None

    def __repr__(self) -> str:
        return (
            f"StaticModelPipeline(model={self.model!r}, head={type(self.head).__name__}, multilabel={self.multilabel})"
        )

    @property
    def classes_(self) -> np.ndarray:
        """The labels the head can predict (a regression pipeline has none: AttributeError)."""
        if self.is_regressor:
            raise AttributeError("A regression pipeline predicts values; it has no classes_.")
        if self.multilabel_classes is not None:
            return np.asarray(self.multilabel_classes)
        classes: np.ndarray = np.asarray(self.head.classes_)
        return classes

    # -- loading and saving -------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        token: str | None = None,
        subfolder: str | None = None,
        force_download: bool = False,
        trust_remote_code: bool = False,
    ) -> StaticModelPipeline:
        """Load a pipeline from a local folder or a hub repository id.

        :param path: Local folder or hub id.
        :param token: Hub token for private repositories.
        :param subfolder: Folder inside `path` holding the pipeline.
        :param force_download: Download from the hub even if cached.
        :param trust_remote_code: Load the head even if it names types outside scikit-learn (see `load_head`).
        :return: The pipeline.
        :raises FileNotFoundError: If the folder, or its head file, is missing.
        :raises UntrustedTypesError: If the head names untrusted types and `trust_remote_code` is False.
        """
        folder = resolve_model_path(path, token=token, subfolder=subfolder, force_download=force_download)
        head_path = folder / HEAD_FILE
        if not head_path.is_file():
            raise FileNotFoundError(f"{path} holds a static model but no pipeline head ({HEAD_FILE}).")
        model = StaticModel.from_pretrained(folder)
        head = load_head(head_path, trust_remote_code=trust_remote_code)
        settings: dict[str, Any] = {}
        if (folder / PIPELINE_CONFIG_FILE).is_file():
            settings = fmt.read_json(folder / PIPELINE_CONFIG_FILE)
        return cls(model, head, multilabel_classes=settings.get("multilabel_classes"))

    def save_pretrained(self, path: str | os.PathLike[str], model_name: str | None = None) -> Path:
        """Save the static model, the head (skops), the pipeline settings and a model card to a folder.

        Everything is written to a temporary sibling folder and swapped in, so an interrupted save never
        leaves a half-written pipeline where a good one was. Unrelated files in the folder are kept.

        :param path: Destination folder.
        :param model_name: Name shown in the model card (defaults to the folder name).
        :return: The folder written.
        :raises NotADirectoryError: If the destination is a file.
        """
        target = Path(path)
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(f"Cannot save a pipeline to {target}: it is a file.")
        name = model_name or Path(os.path.abspath(target)).name

        def add_pipeline_files(staging: Path) -> None:
            save_head(self.head, staging / HEAD_FILE)
            settings = {"multilabel_classes": self.multilabel_classes, "head": type(self.head).__name__}
            (staging / PIPELINE_CONFIG_FILE).write_text(json.dumps(settings, indent=4) + "\n", encoding="utf-8")
            # Replaces the plain static-model card written with the model.
            kind = "regression" if self.is_regressor else "classification"
            (staging / fmt.README_FILE).write_text(_pipeline_card(name, self.model, kind), encoding="utf-8")

        # One staging folder for the model and the head, swapped in together (see `format.save_folder`).
        self.model.save_pretrained(target, model_name=name, _extra=add_pipeline_files)
        return target

    def push_to_hub(
        self, repo_id: str, private: bool = False, token: str | None = None, subfolder: str | None = None
    ) -> str:
        """Save the pipeline (with its model card) to a temporary folder and upload it.

        :param repo_id: Target repository, e.g. "org/name" (created if missing).
        :param private: Create the repository as private.
        :param token: Hub token.
        :param subfolder: Folder inside the repository.
        :return: The commit reference returned by the hub.
        """
        return push_saved(
            lambda folder: self.save_pretrained(folder, model_name=repo_id), repo_id, private, token, subfolder
        )

    # -- prediction ---------------------------------------------------------------------------------

    def _encode(
        self,
        X: str | Sequence[str],  # noqa: N803
        show_progress_bar: bool,
        batch_size: int,
        use_multiprocessing: bool,
        multiprocessing_threshold: int,
        max_length: int | None,
    ) -> np.ndarray:
        texts = [X] if isinstance(X, str) else X
        embeddings: np.ndarray = self.model.encode(
            texts,
            show_progress_bar=show_progress_bar,
            max_length=max_length,
            batch_size=batch_size,
            use_multiprocessing=use_multiprocessing,
            multiprocessing_threshold=multiprocessing_threshold,
        )
        return embeddings

    def predict_proba(
        self,
        X: str | Sequence[str],  # noqa: N803
        show_progress_bar: bool = False,
        batch_size: int = 1024,
        use_multiprocessing: bool = True,
        multiprocessing_threshold: int = 10_000,
        max_length: int | None = DEFAULT_MAX_LENGTH,
    ) -> np.ndarray:
        """Class probabilities of each text.

        :param X: Texts (a single str counts as one text).
        :param show_progress_bar: Show a progress bar while encoding.
        :param batch_size: Texts encoded per batch.
        :param use_multiprocessing: Encode large inputs in parallel threads.
        :param multiprocessing_threshold: Minimum number of texts to go parallel.
        :param max_length: Tokens used per text; None for no limit.
        :return: `(n, n_classes)` probabilities, columns in the order of `classes_`. For a multi-label
            head each column is an independent probability.
        :raises TypeError: If an item of X is not a str, or the head is a regressor (no probabilities).
        """
        if self.is_regressor:
            raise TypeError("A regression pipeline has no probabilities; use predict for its values.")
        embeddings = self._encode(
            X, show_progress_bar, batch_size, use_multiprocessing, multiprocessing_threshold, max_length
        )
        if len(embeddings) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        proba = self.head.predict_proba(embeddings)
        if isinstance(proba, list):
            # Multi-output scikit-learn heads give one (n, 2) array per label; keep P(label present).
            proba = np.stack([column[:, 1] for column in proba], axis=1)
        result: np.ndarray = np.asarray(proba)
        return result

    def predict(
        self,
        X: str | Sequence[str],  # noqa: N803
        show_progress_bar: bool = False,
        batch_size: int = 1024,
        use_multiprocessing: bool = True,
        multiprocessing_threshold: int = 10_000,
        max_length: int | None = DEFAULT_MAX_LENGTH,
        threshold: float = 0.5,
    ) -> np.ndarray | list[list[Any]]:
        """Predict the label of each text (single-label) or its list of labels (multi-label).

        :param X: Texts (a single str counts as one text).
        :param show_progress_bar: Show a progress bar while encoding.
        :param batch_size: Texts encoded per batch.
        :param use_multiprocessing: Encode large inputs in parallel threads.
        :param multiprocessing_threshold: Minimum number of texts to go parallel.
        :param max_length: Tokens used per text; None for no limit.
        :param threshold: Multi-label only: a label is predicted when its probability is at least this.
        :return: A 1-D array of labels, or for a multi-label head one list of labels per text (possibly empty).
            A regression head gives floats: `(n,)` for one target, `(n, k)` for k targets.
        :raises TypeError: If an item of X is not a str.
        """
        if self.multilabel:
            proba = self.predict_proba(
                X, show_progress_bar, batch_size, use_multiprocessing, multiprocessing_threshold, max_length
            )
            classes = self.multilabel_classes or []
            return [[classes[j] for j in np.flatnonzero(row >= threshold)] for row in proba]
        embeddings = self._encode(
            X, show_progress_bar, batch_size, use_multiprocessing, multiprocessing_threshold, max_length
        )
        if len(embeddings) == 0:
            if self.is_regressor:
                outputs = int(getattr(self.head, "n_outputs_", 1))
                return np.zeros((0,) if outputs == 1 else (0, outputs), dtype=np.float32)
            return np.asarray([], dtype=self.classes_.dtype)
        predictions: np.ndarray = np.asarray(self.head.predict(embeddings))
        return predictions

    def evaluate(
        self,
        X: Sequence[str],  # noqa: N803
        y: Sequence[Any],
        batch_size: int = 1024,
        threshold: float = 0.5,
        output_dict: bool = False,
    ) -> str | dict[str, Any]:
        """Predict X and return scikit-learn's classification report against the true labels y.

        A regression pipeline returns `evaluate_regression`'s metrics (mse, rmse, mae, r2, pearson,
        spearman) as a dict instead.

        :param X: Texts.
        :param y: True labels (or lists of labels for a multi-label pipeline), one per text; true values
            for a regression pipeline.
        :param batch_size: Texts encoded per batch.
        :param threshold: Multi-label decision threshold.
        :param output_dict: Return a dict instead of text.
        :return: The report.
        :raises ValueError: If X and y have different lengths.
        """
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} texts but y has {len(y)} labels; they must match.")
        predictions = self.predict(X, batch_size=batch_size, threshold=threshold)
        if self.is_regressor:
            return evaluate_regression(predictions, y)
        return evaluate_single_or_multi_label(predictions, y, output_dict=output_dict)
