from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec.distill.teachers import embed_inputs, load_teacher
from model2vec.pretrain.featurize import (
    MANIFEST,
    cut_stream,
    featurize,
    read_features,
    read_shard,
    teacher_inputs,
    write_shard,
)

from .conftest import corpus


def shard_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("shard-*.safetensors"))}


def test_targets_are_the_teachers_sentence_vectors(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    texts = corpus(11)
    featurize(texts, info, tmp_path / "f", max_length=8, shard_size=4, batch_size=3, show_progress_bar=False)
    seen, targets = read_features(tmp_path / "f")
    assert len(seen) == 11 and targets.shape == (11, info.teacher.width)
    assert sorted(p.name for p in (tmp_path / "f").glob("shard-*")) == [f"shard-0000{i}.safetensors" for i in range(3)]
    # Straightforward reference: tokenize with truncation, run the teacher, pool, normalise.
    ids, _ = teacher_inputs(info.tokenizer, texts, 8)
    expected = embed_inputs(info.teacher, ids, info.pooling or ("mean",), show_progress_bar=False)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(targets, expected, atol=1e-6)
    manifest = json.loads((tmp_path / "f" / MANIFEST).read_text())
    assert manifest["complete"] and manifest["texts"] == 11 and manifest["max_length"] == 8


def test_stored_text_is_what_the_teacher_saw(teacher_folder: Path) -> None:
    info = load_teacher(teacher_folder)
    texts = ["Hello World, the cat sat on the mat and the dog sat too", "hello"]
    ids, seen = teacher_inputs(info.tokenizer, texts, 6)
    assert seen[1] == "hello"
    assert seen[0] == "Hello World, the"  # 4 word tokens + [CLS] + [SEP]
    again, _ = teacher_inputs(info.tokenizer, seen, 6)
    assert again == ids


def test_cut_stream_gives_the_texts_featurize_stores(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    texts = [f"{text} and then some more words after it" for text in corpus(7)]
    featurize(texts, info, tmp_path / "f", max_length=6, shard_size=4, show_progress_bar=False)
    stored, _ = read_features(tmp_path / "f")
    # Chunks smaller than the stream and than a shard: the cut does not depend on batching.
    assert list(cut_stream(info.tokenizer, iter(texts), 6, chunk=3)) == stored
    assert all(len(cut) < len(text) for cut, text in zip(stored, texts, strict=True))
    with pytest.raises(ValueError, match="chunk"):
        list(cut_stream(info.tokenizer, texts, 6, chunk=0))
    with pytest.raises(TypeError, match="str"):
        list(cut_stream(info.tokenizer, [b"bytes"], 6))  # type: ignore[list-item]


def test_read_shard_detects_corruption(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    featurize(corpus(6), info, tmp_path, shard_size=3, show_progress_bar=False)
    path = tmp_path / "shard-00001.safetensors"
    assert read_shard(path).start == 3
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        read_shard(path)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ValueError, match="unreadable"):
        read_shard(path)
    with pytest.raises(ValueError, match="expected 99"):
        read_shard(tmp_path / "shard-00000.safetensors", width=99)


def test_corrupt_or_missing_shards_are_redone(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    texts = corpus(10)
    featurize(texts, info, tmp_path / "clean", shard_size=3, show_progress_bar=False)
    featurize(texts, info, tmp_path / "damaged", shard_size=3, show_progress_bar=False)
    damaged = tmp_path / "damaged"
    (damaged / "shard-00001.safetensors").write_bytes(b"garbage")
    (damaged / "shard-00002.safetensors").unlink()
    featurize(texts, info, damaged, shard_size=3, show_progress_bar=False)
    assert shard_bytes(damaged) == shard_bytes(tmp_path / "clean")


def test_settings_must_match_to_resume(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    featurize(corpus(4), info, tmp_path, shard_size=2, show_progress_bar=False)
    with pytest.raises(ValueError, match="shard_size=2"):
        featurize(corpus(4), info, tmp_path, shard_size=3, show_progress_bar=False)
    featurize(corpus(4), info, tmp_path, shard_size=3, overwrite=True, show_progress_bar=False)
    assert len(read_features(tmp_path)[0]) == 4
    # A shorter stream reads only its own texts but keeps the longer run's later shards (nothing lost).
    featurize(corpus(7), info, tmp_path, shard_size=3, show_progress_bar=False)
    kept = (tmp_path / "shard-00002.safetensors").read_bytes()
    featurize(corpus(5), info, tmp_path, shard_size=3, show_progress_bar=False)
    assert read_features(tmp_path)[0] == read_features(tmp_path, limit=100)[0]
    assert len(read_features(tmp_path)[0]) == 5
    assert (tmp_path / "shard-00002.safetensors").read_bytes() == kept
    # Running the longer stream again reuses that shard as it is.
    featurize(corpus(7), info, tmp_path, shard_size=3, show_progress_bar=False)
    assert (tmp_path / "shard-00002.safetensors").read_bytes() == kept
    assert len(read_features(tmp_path)[0]) == 7


def test_bad_input(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    with pytest.raises(ValueError, match="max_length"):
        featurize(["a"], info, tmp_path, max_length=1)
    with pytest.raises(TypeError, match="must be str"):
        featurize(["hello", 3], info, tmp_path / "t", show_progress_bar=False)  # type: ignore[list-item]
    with pytest.raises(FileNotFoundError):
        read_features(tmp_path / "nothing")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / MANIFEST).write_text(json.dumps({"complete": False}))
    with pytest.raises(ValueError, match="incomplete"):
        read_features(tmp_path / "partial")
    for broken in ("{", "[1, 2]", '{"complete": true, "width": "8", "texts": 2}', '{"complete": true}'):
        (tmp_path / "partial" / MANIFEST).write_text(broken)
        with pytest.raises(ValueError, match=rf"{MANIFEST}"):
            read_features(tmp_path / "partial")
    (tmp_path / "partial" / MANIFEST).write_text("[]")
    with pytest.raises(ValueError, match=r"not a featurisation manifest.* Pass overwrite=True"):
        featurize(["a"], info, tmp_path / "partial", show_progress_bar=False)


KILLED_RUN = """
import os, signal, sys
from model2vec.distill.teachers import load_teacher
from model2vec.pretrain.featurize import featurize
from tests.pretrain.conftest import corpus

def stream():
    for i, text in enumerate(corpus(20)):
        if i == 13:  # mid-way through the fifth shard: a hard kill, no cleanup runs
            os.kill(os.getpid(), signal.SIGKILL)
        yield text

featurize(stream(), load_teacher(sys.argv[1]), sys.argv[2], shard_size=3, show_progress_bar=False)
"""


def test_killed_run_resumes_to_the_same_shards(teacher_folder: Path, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(teacher_folder), str(tmp_path / "resumed")],
        cwd=root,
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr.decode()
    assert len(shard_bytes(tmp_path / "resumed")) == 4
    info = load_teacher(teacher_folder)
    with pytest.raises(ValueError, match="incomplete"):
        read_features(tmp_path / "resumed")
    featurize(corpus(20), info, tmp_path / "resumed", shard_size=3, show_progress_bar=False)
    featurize(corpus(20), info, tmp_path / "uninterrupted", shard_size=3, show_progress_bar=False)
    assert shard_bytes(tmp_path / "resumed") == shard_bytes(tmp_path / "uninterrupted")
    assert len(read_features(tmp_path / "resumed")[0]) == 20


def test_a_changed_corpus_of_the_same_length_is_recomputed(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    first = corpus(7)
    changed = first[:3] + [text.upper() + " changed" for text in first[3:6]] + first[6:]
    featurize(first, info, tmp_path / "resumed", shard_size=3, show_progress_bar=False)
    kept = shard_bytes(tmp_path / "resumed")["shard-00000.safetensors"]
    featurize(changed, info, tmp_path / "resumed", shard_size=3, show_progress_bar=False)
    featurize(changed, info, tmp_path / "fresh", shard_size=3, show_progress_bar=False)
    assert shard_bytes(tmp_path / "resumed") == shard_bytes(tmp_path / "fresh")
    assert shard_bytes(tmp_path / "resumed")["shard-00000.safetensors"] == kept  # unchanged texts: reused
    texts, targets = read_features(tmp_path / "resumed")
    assert texts[3:6] == read_features(tmp_path / "fresh")[0][3:6] and texts[3:6] != first[3:6]
    np.testing.assert_array_equal(targets, read_features(tmp_path / "fresh")[1])


def test_shards_without_a_fingerprint_are_checked_by_their_texts(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    texts = corpus(6)
    featurize(texts, info, tmp_path, shard_size=3, show_progress_bar=False)
    path = tmp_path / "shard-00001.safetensors"
    shard = read_shard(path)
    write_shard(path, shard.texts, shard.embeddings, shard.start)  # as written before fingerprints
    legacy = path.read_bytes()
    assert read_shard(path).source_sha256 is None
    featurize(texts, info, tmp_path, shard_size=3, show_progress_bar=False)
    assert path.read_bytes() == legacy  # same texts: kept, the teacher is not run again
    featurize(texts[:3] + ["hello world"] * 3, info, tmp_path, shard_size=3, show_progress_bar=False)
    assert read_shard(path).texts == ["hello world"] * 3 and read_shard(path).source_sha256 is not None


def test_leftover_temporary_files_are_removed_and_nothing_else(teacher_folder: Path, tmp_path: Path) -> None:
    info = load_teacher(teacher_folder)
    featurize(corpus(4), info, tmp_path, shard_size=2, show_progress_bar=False)
    # What a run killed while writing leaves behind, next to files that only look like ours.
    leftovers = [".shard-00001.safetensors.tmp", ".shard-00007.safetensors.tmp", f".{MANIFEST}.tmp"]
    for name in leftovers:
        (tmp_path / name).write_bytes(b"half written")
    unrelated = {"shard-notes.safetensors": b"mine", ".notes.tmp": b"mine", "shard-1.safetensors.tmp": b"mine"}
    for name, data in unrelated.items():
        (tmp_path / name).write_bytes(data)
    featurize(corpus(4), info, tmp_path, shard_size=2, show_progress_bar=False)
    assert not any((tmp_path / name).exists() for name in leftovers)
    featurize(corpus(2), info, tmp_path, shard_size=3, overwrite=True, show_progress_bar=False)
    assert {name: (tmp_path / name).read_bytes() for name in unrelated} == unrelated
    assert sorted(p.name for p in tmp_path.glob("shard-0*")) == ["shard-00000.safetensors"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_files_follow_the_umask(teacher_folder: Path, tmp_path: Path, umask: int, mode: int) -> None:
    info = load_teacher(teacher_folder)
    previous = os.umask(umask)
    try:
        featurize(corpus(4), info, tmp_path, shard_size=2, show_progress_bar=False)
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert len(modes) == 3 and set(modes.values()) == {mode}, modes
