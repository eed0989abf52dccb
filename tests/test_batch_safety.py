"""embed_files and `model2vec batch` remove or replace only what an earlier run wrote, on a real folder tree."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from model2vec.batch import embed_files, read_embeddings

from .conftest import make_model
from .test_search_batch_cli import assert_user_error, run_cli

pytest.importorskip("pyarrow")

TEXTS = ["hello world", "the cat sat on the mat", "a big red dog"]


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under `root`: file bytes and mode, link targets, folders (to prove nothing changed)."""
    entries: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            entries[key] = ("link", os.readlink(path))
        elif path.is_dir():
            entries[key] = ("dir", stat.S_IMODE(path.stat().st_mode))
        else:
            entries[key] = ("file", path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return entries


def write_jsonl(path: Path, texts: list[str] = TEXTS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    make_model(dim=8, seed=2).save_pretrained(folder)
    return folder


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """data/sub/x.jsonl (the input) next to unrelated files and folders."""
    data = tmp_path / "data"
    write_jsonl(data / "sub" / "x.jsonl")
    (data / "notes.txt").write_text("keep me\n")
    (data / "other").mkdir()
    (data / "other" / "weights.bin").write_bytes(bytes(range(256)))
    (data / "sub" / "y.parquet").write_bytes(b"not read")
    return data


@pytest.mark.parametrize("output", ["data", "data/sub", "."])
def test_output_containing_an_input_is_refused(tmp_path: Path, tree: Path, model_dir: Path, output: str) -> None:
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"contains the input .*x\.jsonl"):
        embed_files(model_dir, tree / "sub" / "x.jsonl", tmp_path / output, overwrite=True)
    assert snapshot(tmp_path) == before


def test_output_equal_to_an_input_file_is_refused(tmp_path: Path, tree: Path, model_dir: Path) -> None:
    before = snapshot(tmp_path)
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"is the input file .*x\.jsonl"):
            embed_files(model_dir, tree / "sub" / "x.jsonl", tree / "sub" / "x.jsonl", overwrite=overwrite)
    assert snapshot(tmp_path) == before


def test_symlinks_are_resolved_before_comparing(tmp_path: Path, tree: Path, model_dir: Path) -> None:
    (tmp_path / "alias").symlink_to(tree, target_is_directory=True)
    (tmp_path / "file-alias.jsonl").symlink_to(tree / "sub" / "x.jsonl")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="contains the input"):
        embed_files(model_dir, tree / "sub" / "x.jsonl", tmp_path / "alias", overwrite=True)
    with pytest.raises(ValueError, match="contains the input"):
        embed_files(model_dir, tmp_path / "alias" / "sub" / "x.jsonl", tree, overwrite=True)
    with pytest.raises(ValueError, match="is the input file"):
        embed_files(model_dir, tree / "sub" / "x.jsonl", tmp_path / "file-alias.jsonl", overwrite=True)
    assert snapshot(tmp_path) == before
    # A second name of the same file (a hard link here; a bind mount or a case-insensitive file
    # system give the same situation) is caught by device and inode.
    os.link(tree / "sub" / "x.jsonl", tmp_path / "hard-link.jsonl")
    with pytest.raises(ValueError, match="is the input file"):
        embed_files(model_dir, tree / "sub" / "x.jsonl", tmp_path / "hard-link.jsonl", overwrite=True)


def test_overwrite_refuses_a_folder_an_earlier_run_did_not_write(tmp_path: Path, model_dir: Path) -> None:
    source = write_jsonl(tmp_path / "in" / "a.jsonl")
    (tmp_path / "out" / "nested").mkdir(parents=True)
    (tmp_path / "out" / "thesis.tex").write_text("years of work\n")
    (tmp_path / "out" / "part-00000.parquet").write_bytes(b"someone else's")
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match=r"not an embed_files output \(no batch\.json\)"):
        embed_files(model_dir, source, tmp_path / "out", overwrite=True)
    assert snapshot(tmp_path) == before
    (tmp_path / "file-out").write_text("a file")
    with pytest.raises(FileExistsError, match="not an embed_files output"):
        embed_files(model_dir, source, tmp_path / "file-out", overwrite=True)
    assert (tmp_path / "file-out").read_text() == "a file"


def test_overwrite_refuses_an_earlier_output_holding_other_files(tmp_path: Path, model_dir: Path) -> None:
    source = write_jsonl(tmp_path / "a.jsonl")
    embed_files(model_dir, source, tmp_path / "out")
    (tmp_path / "out" / "analysis.ipynb").write_text("{}")
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match=r"analysis\.ipynb"):
        embed_files(model_dir, source, tmp_path / "out", overwrite=True)
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_an_earlier_output_and_nothing_else(tmp_path: Path, model_dir: Path) -> None:
    source = write_jsonl(tmp_path / "data" / "a.jsonl", TEXTS * 30)
    (tmp_path / "data" / "notes.txt").write_text("keep")
    embed_files(model_dir, source, tmp_path / "out", partition_bytes=200)
    (tmp_path / "empty").mkdir()
    before = snapshot(tmp_path / "data")
    embed_files(model_dir, source, tmp_path / "out", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["batch.json", "part-00000.parquet"]
    assert snapshot(tmp_path / "data") == before
    embed_files(model_dir, source, tmp_path / "empty", overwrite=True)  # an empty folder holds nothing to lose
    assert len(read_embeddings(tmp_path / "empty")[1]) == 90
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty", "out"]  # no staging or backup left


def test_output_that_a_glob_input_would_read_back_is_refused(tmp_path: Path, model_dir: Path) -> None:
    write_jsonl(tmp_path / "data" / "a" / "x.jsonl")
    write_jsonl(tmp_path / "data" / "a" / "x.json")
    (tmp_path / "data" / "a" / "y.parquet").write_bytes(b"never read: refused first")
    for pattern in ("data/*/*", "data/**/*.json", "data/**/*.parquet"):
        with pytest.raises(ValueError, match="would read"):
            embed_files(model_dir, str(tmp_path / pattern), tmp_path / "data" / "emb")
    assert not (tmp_path / "data" / "emb").exists()
    # A glob or folder that cannot reach the output's files is fine.
    embed_files(model_dir, str(tmp_path / "data" / "a" / "*.jsonl"), tmp_path / "data" / "a" / "emb")
    write_jsonl(tmp_path / "flat" / "x.jsonl")
    embed_files(model_dir, tmp_path / "flat", tmp_path / "flat" / "emb")
    assert len(read_embeddings(tmp_path / "flat" / "emb")[1]) == 3


def test_cli_overwrite_keeps_the_input_and_unrelated_files(tmp_path: Path, tree: Path, model_dir: Path) -> None:
    before = snapshot(tmp_path)
    result = run_cli("batch", model_dir, tree / "sub" / "x.jsonl", "--out", tree, "--overwrite", "--quiet")
    assert_user_error(result, "contains the input")
    result = run_cli("batch", model_dir, tree / "sub" / "x.jsonl", "--out", tree / "sub" / "x.jsonl", "--overwrite")
    assert_user_error(result, "is the input file")
    result = run_cli("batch", model_dir, tree / "sub" / "x.jsonl", "--out", tree / "other", "--overwrite")
    assert_user_error(result, "not an embed_files output")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("umask", "folder_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_output_modes_follow_the_umask(
    tmp_path: Path, model_dir: Path, umask: int, folder_mode: int, file_mode: int
) -> None:
    source = write_jsonl(tmp_path / "a.jsonl", TEXTS * 20)
    previous = os.umask(umask)
    try:
        embed_files(model_dir, source, tmp_path / "out", partition_bytes=300)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == folder_mode
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "out").iterdir()}
    assert len(modes) > 2 and set(modes.values()) == {file_mode}, modes


KILLED_JOB = """
import os, signal, sys
from model2vec.batch import embed_files

def die(done, total):  # after the first part is written: a hard kill, no cleanup runs
    os.kill(os.getpid(), signal.SIGKILL)

embed_files(sys.argv[1], sys.argv[2], sys.argv[3], partition_bytes=50, progress=die)
"""


def test_a_killed_jobs_staging_folder_is_removed_by_the_next_job(tmp_path: Path, model_dir: Path) -> None:
    from model2vec.batch.staging import MARKER, create_staging, release_staging

    source = write_jsonl(tmp_path / "a.jsonl", TEXTS * 5)
    target = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_JOB, str(model_dir), str(source), str(target)], capture_output=True, check=False
    )
    assert killed.returncode == -9, killed.stderr.decode()
    [left] = tmp_path.glob(".out.batch-staging-*")
    assert sorted(p.name for p in left.iterdir()) == [MARKER, "part-00000.parquet"]
    foreign = tmp_path / ".out.batch-staging-mine"  # our prefix but no marker: not ours, kept
    foreign.mkdir()
    (foreign / "part-00000.parquet").write_bytes(b"keep")
    live, marker = create_staging(target)  # a job still running holds its marker's lock: kept
    embed_files(model_dir, source, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.jsonl", "out", foreign.name, live.name])
    assert (foreign / "part-00000.parquet").read_bytes() == b"keep"
    marker.close()  # the job dies without cleaning up: its lock is released, the folder is now stale
    embed_files(model_dir, source, target, overwrite=True)
    assert not live.exists() and foreign.exists()
    release_staging(live, marker)  # already gone: harmless


def test_an_output_moved_aside_by_a_killed_swap_is_recovered(tmp_path: Path, model_dir: Path) -> None:
    source = write_jsonl(tmp_path / "a.jsonl")
    embed_files(model_dir, source, tmp_path / "out")
    old = snapshot(tmp_path / "out")
    # A kill between the swap's two renames leaves the old output here and no output.
    (tmp_path / "out").rename(tmp_path / ".out.batch-old-0a1b2c")
    with pytest.raises(FileExistsError, match="exists"):
        embed_files(model_dir, source, tmp_path / "out")
    assert snapshot(tmp_path / "out") == old
    (tmp_path / "out").rename(tmp_path / ".out.batch-old-0a1b2c")
    embed_files(model_dir, source, tmp_path / "out", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "out"]


def test_cli_truncated_gzip_is_one_line_and_status_2(tmp_path: Path, model_dir: Path) -> None:
    data = gzip.compress(("".join(json.dumps({"text": text}) + "\n" for text in TEXTS * 200)).encode(), mtime=0)
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    result = run_cli("batch", model_dir, tmp_path / "cut.jsonl.gz", "--out", tmp_path / "out", "--quiet")
    assert_user_error(result, "cut.jsonl.gz: truncated or corrupt gzip data after line")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.jsonl.gz"]


def test_read_embeddings_checks_the_manifest_and_stays_in_its_folder(tmp_path: Path, model_dir: Path) -> None:
    source = write_jsonl(tmp_path / "a.jsonl")
    embed_files(model_dir, source, tmp_path / "out")
    embed_files(model_dir, source, tmp_path / "elsewhere")
    path = tmp_path / "out" / "batch.json"
    manifest = json.loads(path.read_text())
    for parts in (["../elsewhere/part-00000.parquet"], [str(tmp_path / "elsewhere" / "part-00000.parquet")], [], "x"):
        path.write_text(json.dumps({**manifest, "parts": parts}))
        with pytest.raises(ValueError, match=r"batch\.json is not an embed_files manifest: 'parts' must list"):
            read_embeddings(tmp_path / "out")
    path.write_text(json.dumps({**manifest, "dim": "8"}))
    with pytest.raises(ValueError, match="'dim' must be a positive integer"):
        read_embeddings(tmp_path / "out")
    path.write_text(json.dumps({**manifest, "dim": 5}))
    with pytest.raises(ValueError, match="do not hold 5-d vectors"):
        read_embeddings(tmp_path / "out")
    path.write_text("{")
    with pytest.raises(ValueError, match=r"batch\.json is unreadable"):
        read_embeddings(tmp_path / "out")
    path.write_text(json.dumps(manifest))
    (tmp_path / "out" / "part-00000.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(ValueError, match=r"part-00000\.parquet: cannot read this part"):
        read_embeddings(tmp_path / "out")
