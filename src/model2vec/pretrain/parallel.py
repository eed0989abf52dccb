"""Parallel text for pre-training: recover line alignments and read translation pairs.

Multilingual static models learn to put a sentence and its translation at the same place when the
training target of a sentence in any language is the teacher's vector of its English translation
(`pretrain(..., pairs=...)`). Corpora of translations are often line-parallel files from which some
lines were removed (duplicates, evaluation text), so the alignment has to be recovered:
`align_parallel` finds it from sentence vectors of any model (even a weakly aligned one), by dynamic
programming over similarities, allowing lines missing on either side and several translations concatenated in one
block.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model2vec.pretrain.featurize import featurize, read_features

if TYPE_CHECKING:
    from model2vec.distill.teachers import TeacherInfo
    from model2vec.distill.text_teachers import TextTeacher


def relative_scores(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Score every (source, target) pair by its cosine above the average cosine of both lines.

    `cos(i, j) - (mean_j' cos(i, j') + mean_i' cos(i', j)) / 2`: positive when the two lines are closer
    than each is to a typical line of the other side, which is comparable across languages whose raw
    cosines differ in scale. It asks less of the vectors than nearest-neighbour criteria: with a weakly
    aligned model a translation is rarely the nearest line, but usually above average, and the order of
    the lines does the rest (`align_monotonic`).

    :param source: `(n, d)` vectors of the source lines.
    :param target: `(m, d)` vectors of the target lines.
    :return: `(n, m)` float32 scores.
    :raises ValueError: For arrays that are not 2-D with the same width.
    """
    source = np.asarray(source, dtype=np.float32)
    target = np.asarray(target, dtype=np.float32)
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"Expected (n, d) and (m, d) arrays, got shapes {source.shape} and {target.shape}.")
    if not len(source) or not len(target):
        return np.zeros((len(source), len(target)), dtype=np.float32)
    cosine = _normalized(source) @ _normalized(target).T
    average = (cosine.mean(axis=1, keepdims=True) + cosine.mean(axis=0, keepdims=True)) / 2
    return np.asarray(cosine - average, dtype=np.float32)


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def align_monotonic(gain: np.ndarray) -> list[tuple[int, int]]:
    """Find the order-preserving (source, target) matches with the largest total positive gain.

    Dynamic programming over a `(n, m)` gain matrix, as in sequence alignment with free gaps: each line
    is matched at most once, matches never cross, and only matches with a positive gain are worth
    taking, so lines missing on either side are simply left out.

    :param gain: `(n, m)` gains (e.g. `relative_scores`).
    :return: The matches `(i, j)` in increasing order of both indices.
    :raises ValueError: If `gain` is not 2-D.
    """
    gain = np.asarray(gain, dtype=np.float64)
    if gain.ndim != 2:
        raise ValueError(f"gain must be a 2-D array, got shape {gain.shape}.")
    n, m = gain.shape
    if not n or not m:
        return []
    positive = np.maximum(gain, 0.0)
    # total[i, j]: the best total for the first i source and first j target lines.
    total = np.zeros((n + 1, m + 1), dtype=np.float64)
    for i in range(1, n + 1):
        candidate = total[i - 1].copy()
        np.maximum(candidate[1:], total[i - 1, :-1] + positive[i - 1], out=candidate[1:])
        # Skipping target lines carries the best value to the right: a running maximum.
        total[i] = np.maximum.accumulate(candidate)
    matches: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        if positive[i - 1, j - 1] > 0 and total[i, j] == total[i - 1, j - 1] + positive[i - 1, j - 1]:
            matches.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif total[i, j] == total[i - 1, j]:
            i -= 1
        else:
            j -= 1
    matches.reverse()
    return matches


def align_parallel(
    source: np.ndarray,
    target: np.ndarray,
    max_passes: int = 4,
    min_share: float = 0.1,
) -> list[tuple[int, int]]:
    """Recover which source line translates which target line, from sentence vectors of both sides.

    Both sides are assumed to be in the same order up to missing lines; the source side may also hold
    several translations one after another (a second reference, regional variants): after an
    order-preserving alignment (`align_monotonic` on `relative_scores`), the source lines left over are
    aligned again, up to `max_passes` times, while a pass still matches at least `min_share` of what the
    first one did (leftovers of a single translation are lines without a counterpart: stop there). A
    target line may be matched once per pass.

    :param source: `(n, d)` vectors of the source lines, in file order.
    :param target: `(m, d)` vectors of the target lines, in file order.
    :param max_passes: At most this many alignment passes.
    :param min_share: A later pass must match at least this share of the first pass's matches.
    :return: Sorted `(source index, target index)` matches.
    :raises ValueError: For mismatched shapes or bad settings.
    """
    if isinstance(max_passes, bool) or not isinstance(max_passes, int) or max_passes < 1:
        raise ValueError(f"max_passes must be a positive int, got {max_passes!r}.")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be in [0, 1], got {min_share!r}.")
    scores = relative_scores(source, target)
    remaining = np.arange(len(scores))
    matches: list[tuple[int, int]] = []
    first = 0
    for _ in range(max_passes):
        found = align_monotonic(scores[remaining]) if len(remaining) else []
        if not found or (matches and len(found) < min_share * first):
            break
        first = first or len(found)
        matches.extend((int(remaining[i]), j) for i, j in found)
        taken = np.zeros(len(remaining), dtype=bool)
        taken[[i for i, _ in found]] = True
        remaining = remaining[~taken]
    return sorted(matches)


def read_pairs(paths: str | os.PathLike[str] | list[str | os.PathLike[str]]) -> Iterator[tuple[str, str]]:
    """Yield translation pairs from tab-separated files: `text<TAB>target` or `lang<TAB>text<TAB>target`.

    The target is the side the teacher embeds (usually English); a leading language column is ignored.

    :param paths: `.tsv` / `.tsv.gz` files (UTF-8).
    :return: An iterator of `(text, target)` with surrounding whitespace stripped; blank lines are skipped.
    :raises FileNotFoundError: If a file does not exist.
    :raises ValueError: For a line with fewer than two or more than three columns, or an empty side.
    """
    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"Pairs file not found: {path}")
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                columns = line.rstrip("\n").split("\t")
                if len(columns) not in (2, 3):
                    raise ValueError(
                        f"{path}:{number} has {len(columns)} columns: expected text<TAB>target or "
                        "lang<TAB>text<TAB>target."
                    )
                text, target = columns[-2].strip(), columns[-1].strip()
                if not text or not target:
                    raise ValueError(f"{path}:{number} has an empty text or target.")
                yield text, target


def translation_targets(
    pairs: Iterable[tuple[str, str]],
    teacher: TeacherInfo | TextTeacher,
    folder: str | os.PathLike[str],
    max_length: int = 128,
    shard_size: int = 8192,
    batch_size: int = 64,
    show_progress_bar: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Turn translation pairs into training texts and targets: each text learns its target's teacher vector.

    The distinct targets are featurised once (resumable shards in `folder`, see `featurize`), so
    hundreds of thousands of pairs that share a few thousand English sentences cost a few thousand
    teacher passes. The targets are also returned as texts of their own (with their own vectors).

    :param pairs: `(text, target)` pairs, e.g. from `read_pairs`.
    :param teacher: The teacher that embeds the targets (a loaded teacher or a function teacher).
    :param folder: The featurisation folder of the distinct targets.
    :param max_length: Teacher tokens per target.
    :param shard_size: Targets per shard.
    :param batch_size: Targets per teacher forward pass.
    :param show_progress_bar: Show the featurisation's progress bar.
    :return: The texts (pair texts, then the distinct targets) and their `(n, width)` float32 targets.
    :raises TypeError: If a pair is not two strings.
    :raises ValueError: If there are no pairs.
    """
    texts: list[str] = []
    index_of: dict[str, int] = {}
    target_index: list[int] = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(side, str) for side in pair)):
            raise TypeError(f"Each pair must be a (text, target) tuple of two str, got {pair!r}.")
        text, target = pair
        texts.append(text)
        target_index.append(index_of.setdefault(target, len(index_of)))
    if not texts:
        raise ValueError("No translation pairs given.")
    distinct = list(index_of)
    featurize(
        distinct,
        teacher,
        folder,
        max_length=max_length,
        shard_size=shard_size,
        batch_size=batch_size,
        show_progress_bar=show_progress_bar,
    )
    # The stored texts are cut to the teacher's length; the vectors follow the stream's order.
    _, vectors = read_features(folder)
    if len(vectors) != len(distinct):
        raise ValueError(f"{folder} holds {len(vectors)} targets, expected {len(distinct)}: remove it and rerun.")
    return texts + distinct, np.concatenate([vectors[np.asarray(target_index)], vectors])
