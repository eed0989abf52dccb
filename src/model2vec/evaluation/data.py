"""Where evaluation data lives and how it is read: the folder schema, task discovery and file loaders.

The suite is a folder with one sub-folder per task type (the layout of `../shared/data/eval`)::

    sts/NAME.test.jsonl                  {"sentence1", "sentence2", "score"}
    classification/NAME.{train,test}.jsonl  {"text", "label"}
    pair_classification/NAME.test.jsonl  {"sentence1", "sentence2", "label"}  (label 0/1)
    clustering/NAME.test.jsonl           {"text", "label"}
    retrieval/NAME/                      BEIR: corpus.jsonl (_id, title, text), queries.jsonl (_id, text),
                                         qrels/test.tsv (query-id, corpus-id, score; header line)

Any folder in this schema can be added with `discover_tasks`, and a single file or BEIR folder with
`task_from_path`, so new tasks need no code. Only the files are described here; scoring is in `tasks`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from model2vec.format import parse_json_line

DATA_ENV = "MODEL2VEC_DATA"
# Relative to the working directory and to the repository root: the project's shared data sits next to it.
DEFAULT_RELATIVE_DATA = Path("..") / "shared" / "data" / "eval"
MULTILINGUAL_DATA_ENV = "MODEL2VEC_MULTILINGUAL_DATA"
# Named suites: environment variable and default folder (relative, like DEFAULT_RELATIVE_DATA).
SUITES = {
    "english": (DATA_ENV, DEFAULT_RELATIVE_DATA),
    "multilingual": (MULTILINGUAL_DATA_ENV, Path("..") / "shared" / "data" / "multilingual" / "eval"),
}
TEST_SUFFIX = ".test.jsonl"
TRAIN_SUFFIX = ".train.jsonl"


class TaskType(str, Enum):
    """The task types, named as on the MTEB leaderboard."""

    BITEXT_MINING = "BitextMining"
    STS = "STS"
    CLASSIFICATION = "Classification"
    PAIR_CLASSIFICATION = "PairClassification"
    CLUSTERING = "Clustering"
    RETRIEVAL = "Retrieval"

    @property
    def folder(self) -> str:
        """Sub-folder of a suite that holds tasks of this type."""
        return _FOLDERS[self]

    @classmethod
    def parse(cls, value: str | TaskType) -> TaskType:
        """Read a task type from its name or folder name, ignoring case, "-" and "_".

        :param value: E.g. "STS", "pair_classification", "PairClassification", "retrieval".
        :return: The task type.
        :raises ValueError: For an unknown name (the message lists the valid ones).
        """
        if isinstance(value, TaskType):
            return value
        key = str(value).lower().replace("_", "").replace("-", "")
        for member in cls:
            if key in (member.value.lower(), member.folder.replace("_", "")):
                return member
        valid = ", ".join(m.value for m in cls)
        raise ValueError(f"Unknown task type {value!r}; expected one of {valid}.")


_FOLDERS = {
    TaskType.BITEXT_MINING: "bitext_mining",
    TaskType.STS: "sts",
    TaskType.CLASSIFICATION: "classification",
    TaskType.PAIR_CLASSIFICATION: "pair_classification",
    TaskType.CLUSTERING: "clustering",
    TaskType.RETRIEVAL: "retrieval",
}

# Our file names for datasets that MTEB also has (same split and size); used to label results.
MTEB_NAMES = {
    "stsb": "STSBenchmark",
    "sickr": "SICK-R",
    "sts12": "STS12",
    "sts14": "STS14",
    "emotion": "EmotionClassification",
    "scifact": "SciFact",
}


@dataclass(frozen=True)
class TaskSpec:
    """Where one task's files are; cheap to create, nothing is read until the task is loaded.

    :param name: Unique task name (the file or folder stem, e.g. "stsb").
    :param type: The task type.
    :param path: The evaluated split: a `.jsonl` file, or a BEIR folder for retrieval.
    :param train_path: Classification only: the training split `.jsonl`.
    :param split: Retrieval only: which `qrels/SPLIT.tsv` to evaluate.
    :param language: The task's language (e.g. "deu_Latn" from a suite's MANIFEST.json, else the code
        in the file name such as "deu" or "de"); None for monolingual English suites.
    """

    name: str
    type: TaskType
    path: Path
    train_path: Path | None = None
    split: str = "test"
    language: str | None = None

    @property
    def mteb_name(self) -> str | None:
        """The MTEB task with the same data, if there is one."""
        return MTEB_NAMES.get(self.name)


def default_data_dir(start: Path | None = None, suite: str = "english") -> Path | None:
    """Find a named evaluation suite when no `--data` is given.

    Looks at `$MODEL2VEC_DATA` (english) or `$MODEL2VEC_MULTILINGUAL_DATA` (multilingual), then
    the suite's folder under `../shared/data` relative to `start` (default: the working directory),
    then relative to the repository that contains this package.

    :param start: Folder to resolve the relative default against.
    :param suite: "english" (`../shared/data/eval`) or "multilingual" (`../shared/data/multilingual/eval`).
    :return: The first candidate that is a folder, or None (also when the environment variable names a
        missing folder, which `resolve_data_dir` reports as an error).
    :raises ValueError: For an unknown suite.
    """
    variable, relative = _suite(suite)
    env = os.environ.get(variable)
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    repository = Path(__file__).resolve().parents[3]
    for base in (start or Path.cwd(), repository):
        candidate = (base / relative).resolve()
        if candidate.is_dir():
            return candidate
    return None


def _suite(suite: str) -> tuple[str, Path]:
    """Return the environment variable and default relative folder of a named suite."""
    if suite not in SUITES:
        raise ValueError(f"Unknown suite {suite!r}; expected one of {', '.join(SUITES)}.")
    return SUITES[suite]


def resolve_data_dir(path: str | os.PathLike[str] | None = None, suite: str = "english") -> Path:
    """Return the suite folder to use: `path` if given, else `default_data_dir(suite=suite)`.

    :param path: Explicit folder, or None for the default.
    :param suite: The named suite to find when `path` is None ("english" or "multilingual").
    :return: An existing folder.
    :raises FileNotFoundError: If the folder does not exist, or no default could be found (the
        message says how to point at one).
    :raises ValueError: For an unknown suite.
    """
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"Evaluation data folder {folder} does not exist.")
        return folder
    variable, relative = _suite(suite)
    found = default_data_dir(suite=suite)
    if found is None:
        env = os.environ.get(variable)
        where = f"${variable}={env} is not a folder" if env else f"no {relative} found"
        raise FileNotFoundError(f"No evaluation data: {where}. Pass --data DIR or set ${variable}.")
    return found


def _stem(path: Path, suffix: str) -> str:
    name = path.name
    return name[: -len(suffix)] if name.endswith(suffix) else path.stem


def task_from_path(
    task_type: str | TaskType,
    path: str | os.PathLike[str],
    name: str | None = None,
    train_path: str | os.PathLike[str] | None = None,
    split: str = "test",
) -> TaskSpec:
    """Describe one task from a file (or, for retrieval, a BEIR folder) in the suite schema.

    :param task_type: The task type (any spelling `TaskType.parse` accepts).
    :param path: The evaluated split's `.jsonl`, or the BEIR folder for retrieval.
    :param name: Task name; defaults to the file name without `.test.jsonl` / the folder name.
    :param train_path: Classification: the training split; defaults to the sibling `NAME.train.jsonl`.
    :param split: Retrieval: the qrels split to evaluate.
    :return: The task description.
    :raises FileNotFoundError: If a needed file or folder is missing.
    :raises ValueError: For an unknown task type.
    """
    kind = TaskType.parse(task_type)
    location = Path(path).expanduser()
    if kind is TaskType.BITEXT_MINING:
        if not location.is_file():
            raise FileNotFoundError(f"Task file {location} does not exist.")
        stem = _stem(location, TEST_SUFFIX if location.name.endswith(TEST_SUFFIX) else ".jsonl")
        return TaskSpec(name or stem, kind, location)
    if kind is TaskType.RETRIEVAL:
        for required in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
            if not (location / required).is_file():
                raise FileNotFoundError(f"Retrieval task folder {location} has no {required} (BEIR layout).")
        return TaskSpec(name or location.name, kind, location, split=split)
    if not location.is_file():
        raise FileNotFoundError(f"Task file {location} does not exist.")
    stem = _stem(location, TEST_SUFFIX)
    train: Path | None = None
    if kind is TaskType.CLASSIFICATION:
        train = Path(train_path) if train_path is not None else location.with_name(stem + TRAIN_SUFFIX)
        if not train.is_file():
            raise FileNotFoundError(f"Classification task {stem} needs a training split; {train} does not exist.")
    return TaskSpec(name or stem, kind, location, train_path=train)


def discover_tasks(root: str | os.PathLike[str]) -> list[TaskSpec]:
    """Every task in a suite folder, in type order then name order.

    :param root: A folder in the suite schema (missing type sub-folders are fine).
    :return: The task descriptions (possibly empty).
    :raises FileNotFoundError: If `root` does not exist, or a classification test split has no train split.
    """
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Evaluation data folder {folder} does not exist.")
    specs: list[TaskSpec] = []
    for kind in TaskType:
        sub = folder / kind.folder
        if not sub.is_dir():
            continue
        if kind is TaskType.RETRIEVAL:
            specs.extend(task_from_path(kind, d) for d in sorted(sub.iterdir()) if (d / "corpus.jsonl").is_file())
        elif kind is TaskType.BITEXT_MINING:
            # Bitext sets have one split; files named NAME.jsonl (or NAME.test.jsonl).
            skip = (TRAIN_SUFFIX, ".validation.jsonl", ".dev.jsonl")
            files = [f for f in sorted(sub.glob("*.jsonl")) if not f.name.endswith(skip)]
            specs.extend(task_from_path(kind, f) for f in files)
        else:
            specs.extend(task_from_path(kind, f) for f in sorted(sub.glob("*" + TEST_SUFFIX)))
    languages = manifest_languages(folder)
    return [replace(spec, language=languages.get(spec.path.resolve()) or name_language(spec.name)) for spec in specs]


def manifest_languages(suite: Path) -> dict[Path, str]:
    """File -> language of a suite described by a `MANIFEST.json` next to it or in its parent folder.

    The manifest's `files` list holds `{"path": ..., "lang": ...}` entries, paths relative to the
    manifest's folder (the layout of ../shared/data/multilingual). A missing or unreadable manifest
    gives an empty mapping: languages then come from the file names.

    :param suite: The suite folder.
    :return: Resolved file path -> language code.
    """
    for candidate in (suite / "MANIFEST.json", suite.parent / "MANIFEST.json"):
        if not candidate.is_file():
            continue
        try:
            manifest = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return {}
        files = manifest.get("files") if isinstance(manifest, dict) else None
        found: dict[Path, str] = {}
        for entry in files if isinstance(files, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("lang"), str):
                found[(candidate.parent / entry["path"]).resolve()] = entry["lang"]
        return found
    return {}


def name_language(name: str) -> str | None:
    """Return the language code in a task name: "tatoeba.deu-eng" -> "deu", "stsb_multi_mt.de" -> "de"."""
    if "." not in name:
        return None
    code = name.rsplit(".", 1)[1]
    return code.split("-", 1)[0] or None


def select_tasks(specs: Sequence[TaskSpec], selectors: Iterable[str] | None) -> list[TaskSpec]:
    """Keep the tasks named by `selectors`, in suite order.

    A selector is a task name ("stsb"), a task type ("sts", "Retrieval"), an MTEB name ("SICK-R") or
    "all"; comma-separated lists are split. Matching ignores case.

    :param specs: Available tasks.
    :param selectors: What to keep; None or empty keeps everything.
    :return: The selected tasks.
    :raises ValueError: If a selector matches nothing (the message lists the task names), or two
        tasks share a name.
    """
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"Task names must be unique; found duplicates {duplicates}.")
    wanted = [part.strip() for item in (selectors or []) for part in item.split(",") if part.strip()]
    if not wanted or any(w.lower() == "all" for w in wanted):
        return list(specs)
    keep: set[str] = set()
    for selector in wanted:
        key = selector.lower()
        matched = {s.name for s in specs if key in (s.name.lower(), (s.mteb_name or "").lower())}
        if not matched:
            try:
                kind = TaskType.parse(selector)
            except ValueError:
                kind = None
            matched = {s.name for s in specs if s.type is kind}
        if not matched:
            raise ValueError(f"No task matches {selector!r}; available: {', '.join(names) or 'none'}.")
        keep |= matched
    return [s for s in specs if s.name in keep]


# -- file readers ------------------------------------------------------------------------------------


def read_jsonl(path: Path, fields: Sequence[str]) -> list[dict[str, Any]]:
    """Read a JSON-lines file whose records must carry `fields`.

    :param path: The file (UTF-8; blank lines are skipped).
    :param fields: Keys every record must have.
    :return: The records.
    :raises FileNotFoundError: If the file is missing.
    :raises ValueError: For invalid JSON, a non-object line, a missing field or an empty file (the
        message names the file and line).
    """
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = parse_json_line(line, f"{path}:{number}")
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}.")
            missing = [f for f in fields if f not in record]
            if missing:
                raise ValueError(f"{path}:{number}: missing field(s) {missing}.")
            records.append(record)
    if not records:
        raise ValueError(f"{path} contains no records.")
    return records


def _text(value: Any, path: Path, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: field {field!r} must be a string, got {type(value).__name__}.")
    return value


@dataclass(frozen=True)
class SentencePairs:
    """Pairs of sentences with a number per pair (a similarity score or a 0/1 label)."""

    first: list[str]
    second: list[str]
    values: np.ndarray


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with one class label each (labels kept as strings so int and str labels mix safely)."""

    texts: list[str]
    labels: list[str]


@dataclass(frozen=True)
class RetrievalData:
    """A BEIR retrieval split: corpus, the judged queries and their relevance judgements.

    :param doc_ids: Corpus ids in file order.
    :param doc_texts: `title + " " + text`, stripped (the BEIR / MTEB convention), per `doc_ids`.
    :param query_ids: Ids of the queries that have judgements in the split, in queries-file order.
    :param query_texts: Their texts.
    :param qrels: Query id -> {document id -> relevance}.
    """

    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, float]]


def load_pairs(path: Path, value_field: str) -> SentencePairs:
    """Read `{"sentence1", "sentence2", value_field}` records.

    :raises ValueError: For a malformed file or a value that is not a number.
    """
    records = read_jsonl(path, ("sentence1", "sentence2", value_field))
    try:
        values = np.array([float(r[value_field]) for r in records], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {value_field!r} must be numeric ({error}).") from error
    return SentencePairs(
        [_text(r["sentence1"], path, "sentence1") for r in records],
        [_text(r["sentence2"], path, "sentence2") for r in records],
        values,
    )


def load_bitext(path: Path) -> tuple[list[str], list[str]]:
    """Read `{"sentence1", "sentence2"}` records: sentence `i`'s translation is `sentence2` of line `i`.

    :raises ValueError: For a malformed file or a non-string sentence.
    """
    records = read_jsonl(path, ("sentence1", "sentence2"))
    return [_text(r["sentence1"], path, "sentence1") for r in records], [
        _text(r["sentence2"], path, "sentence2") for r in records
    ]


def load_labelled(path: Path) -> LabelledTexts:
    """Read `{"text", "label"}` records.

    :raises ValueError: For a malformed file, or a label that is a list/object/null.
    """
    records = read_jsonl(path, ("text", "label"))
    labels = []
    for record in records:
        label = record["label"]
        if not isinstance(label, str | int | float) or isinstance(label, bool):
            raise ValueError(f"{path}: label must be a string or number, got {label!r}.")
        labels.append(str(label))
    return LabelledTexts([_text(r["text"], path, "text") for r in records], labels)


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """Read a BEIR qrels TSV (`query-id`, `corpus-id`, `score`, with a header line).

    :raises ValueError: For a row without three columns or a non-numeric score.
    """
    qrels: dict[str, dict[str, float]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for number, row in enumerate(rows, start=1):
            if number == 1 and row and not _is_number(row[-1]):
                continue  # the header line
            if not row:
                continue
            if len(row) < 3 or not _is_number(row[2]):
                raise ValueError(f"{path}:{number}: expected query-id, corpus-id, numeric score; got {row}.")
            qrels.setdefault(row[0], {})[row[1]] = float(row[2])
    return qrels


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def load_retrieval(folder: Path, split: str = "test") -> RetrievalData:
    """Read a BEIR folder for one qrels split.

    Only queries that have judgements in the split are kept. Judgements that point at documents or
    queries absent from the files are an error, since they would silently distort the scores.

    :raises FileNotFoundError: If a BEIR file is missing.
    :raises ValueError: For malformed files, duplicate ids or dangling judgements.
    """
    corpus = read_jsonl(folder / "corpus.jsonl", ("_id", "text"))
    queries = read_jsonl(folder / "queries.jsonl", ("_id", "text"))
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    doc_ids = [str(d["_id"]) for d in corpus]
    if len(set(doc_ids)) != len(doc_ids):
        raise ValueError(f"{folder / 'corpus.jsonl'} has duplicate _id values.")
    doc_texts = [
        (str(d.get("title") or "") + " " + _text(d["text"], folder / "corpus.jsonl", "text")).strip() for d in corpus
    ]
    query_text = {str(q["_id"]): _text(q["text"], folder / "queries.jsonl", "text") for q in queries}
    missing_queries = sorted(set(qrels) - set(query_text))
    known_docs = set(doc_ids)
    missing_docs = sorted({d for judged in qrels.values() for d in judged} - known_docs)
    if missing_queries or missing_docs:
        raise ValueError(
            f"{folder}: qrels/{split}.tsv judges unknown queries {missing_queries[:5]} or documents {missing_docs[:5]}."
        )
    query_ids = [q for q in query_text if q in qrels]
    return RetrievalData(doc_ids, doc_texts, query_ids, [query_text[q] for q in query_ids], qrels)


def distinct(texts: Iterable[str]) -> list[str]:
    """Return the distinct texts in first-seen order."""
    return list(dict.fromkeys(texts))
