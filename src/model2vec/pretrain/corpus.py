"""Reading a plain-text corpus for pre-training: deterministic, streaming, several files interleaved."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO

CORPUS_SUFFIXES = (".txt", ".txt.gz")


def corpus_files(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Resolve corpus paths: files are kept, folders contribute their `*.txt` and `*.txt.gz` files (sorted).

    :param paths: One path or several.
    :return: The files, in a deterministic order.
    :raises FileNotFoundError: If a path does not exist or a folder holds no text file.
    """
    return _resolve(paths, CORPUS_SUFFIXES)


def _resolve(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], suffixes: tuple[str, ...]) -> list[Path]:
    """Files as given, plus the files of given folders whose names end in one of `suffixes` (sorted)."""
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not items:
        raise FileNotFoundError("No corpus path given.")
    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(suffixes))
            if not found:
                raise FileNotFoundError(f"{path} holds no {' or '.join(suffixes)} file.")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"Corpus path {path} does not exist.")
    return files


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def read_corpus(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    limit: int | None = None,
    min_words: int = 5,
) -> Iterator[str]:
    """Yield the corpus's paragraphs (one per non-blank line), taking one line from each file in turn.

    Interleaving the files gives a subset that mixes every source (the first `limit` paragraphs of a
    round-robin are not just the first file's). Lines shorter than `min_words` words (headings, list
    fragments) are skipped. The order depends only on the files, so a restart sees the same stream.

    :param paths: Files (`.txt` or `.txt.gz`, UTF-8, one paragraph per line) or folders of them.
    :param limit: Stop after this many paragraphs (None: all).
    :param min_words: Skip lines with fewer whitespace-separated words.
    :return: An iterator of paragraphs (stripped).
    :raises FileNotFoundError: See `corpus_files`.
    :raises ValueError: If `limit` is negative or `min_words` is below 1.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}.")
    if min_words < 1:
        raise ValueError(f"min_words must be >= 1, got {min_words}.")
    files = corpus_files(paths)

    def generate() -> Iterator[str]:
        produced = 0
        with ExitStack() as stack:
            handles: list[Iterator[str]] = [iter(stack.enter_context(_open_text(path))) for path in files]
            while handles and (limit is None or produced < limit):
                alive = []
                for handle in handles:
                    line = _next_paragraph(handle, min_words)
                    if line is None:
                        continue
                    alive.append(handle)
                    yield line
                    produced += 1
                    if limit is not None and produced >= limit:
                        return
                handles = alive

    return generate()


def _next_paragraph(lines: Iterator[str], min_words: int) -> str | None:
    """Return the next line of at least `min_words` words, or None at the end of the file."""
    for line in lines:
        text = line.strip()
        if text and len(text.split(None, min_words)) >= min_words:
            return text
    return None


def sentences_by_language(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    per_language: int | None = None,
    languages: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Read a `lang<TAB>text` corpus into a shuffled list of sentences per language.

    Every language's sentences are shuffled with a seeded generator (a source's files are often
    grouped by domain) and cut to `per_language`. Empty lines and texts are skipped.

    :param paths: `.tsv`/`.tsv.gz` files (UTF-8, `lang<TAB>text` per line) or folders of them.
    :param per_language: At most this many sentences per language (None: all).
    :param languages: Keep only these language codes (None: all).
    :param seed: Seed of the per-language shuffle.
    :return: `{language: sentences}` in sorted language order.
    :raises FileNotFoundError: If a path does not exist or a folder holds no tsv file.
    :raises ValueError: For a negative `per_language` or a line without a tab.
    """
    _check_size("per_language", per_language)
    files = _resolve(paths, (".tsv", ".tsv.gz"))
    wanted = None if languages is None else set(languages)
    by_language: dict[str, list[str]] = {}
    for path in files:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                if "\t" not in line:
                    raise ValueError(f"{path}:{number} has no tab: expected 'lang<TAB>text'.")
                language, text = line.rstrip("\n").split("\t", 1)
                text = text.strip()
                if text and (wanted is None or language in wanted):
                    by_language.setdefault(language, []).append(text)
    import numpy as np

    rng = np.random.default_rng(seed)
    shuffled: dict[str, list[str]] = {}
    for language in sorted(by_language):
        texts = by_language[language]
        order = rng.permutation(len(texts))
        shuffled[language] = [texts[i] for i in order[:per_language]]
    return shuffled


def _check_size(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be a non-negative int or None, got {value!r}.")


def read_tagged_corpus(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    per_language: int | None = None,
    limit: int | None = None,
    languages: Sequence[str] | None = None,
    seed: int = 0,
) -> Iterator[str]:
    """Yield a `lang<TAB>text` corpus (one sentence per line) interleaved across languages.

    Every language's sentences are shuffled with a seeded generator (`sentences_by_language`), then the
    stream takes one sentence from each language in turn, in sorted language order. Any prefix of the
    stream is therefore balanced: the first `k * L` sentences hold `k` of each of the `L` languages
    (until small languages run out). The whole corpus is read into memory first (the shared
    476k-sentence corpus takes ~150 MB).

    :param paths: `.tsv`/`.tsv.gz` files (UTF-8, `lang<TAB>text` per line) or folders of them.
    :param per_language: At most this many sentences per language (None: all).
    :param limit: Stop after this many sentences (None: all).
    :param languages: Keep only these language codes (None: all).
    :param seed: Seed of the per-language shuffle.
    :return: An iterator of sentences (stripped, without their language tag).
    :raises FileNotFoundError: If a path does not exist or a folder holds no tsv file.
    :raises ValueError: For negative sizes or a line without a tab.
    """
    _check_size("per_language", per_language)
    _check_size("limit", limit)
    queues = list(sentences_by_language(paths, per_language, languages, seed).values())

    def generate() -> Iterator[str]:
        produced = 0
        depth = 0
        while limit is None or produced < limit:
            row = [queue[depth] for queue in queues if depth < len(queue)]
            if not row:
                return
            for text in row:
                if limit is not None and produced >= limit:
                    return
                yield text
                produced += 1
            depth += 1

    return generate()
