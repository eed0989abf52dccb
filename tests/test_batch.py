"""model2vec.batch: embed_files reproduces single-process encode exactly, locally and on a 2-worker Dask cluster."""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel
from model2vec.batch import embed_files, read_embeddings

from .conftest import WORDS, make_model

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def make_texts(n: int, seed: int = 0) -> list[str]:
    """Texts of 0-12 known and unknown words (some empty, some with non-ASCII)."""
    rng = np.random.default_rng(seed)
    words = [w for w in WORDS if not w.startswith("[")] + ["zebra", "Ünïcode"]
    return [" ".join(rng.choice(words, size=rng.integers(0, 13))) for _ in range(n)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    make_model(dim=12, seed=3, normalize=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model(model_dir: Path) -> StaticModel:
    return StaticModel.from_pretrained(model_dir)


def write_jsonl(path: Path, texts: list[str], first_id: int = 0, blank_every: int = 0) -> Path:
    """One object per line with text, id and label; optionally a blank line every `blank_every` lines."""
    lines = []
    for i, text in enumerate(texts):
        lines.append(json.dumps({"id": f"doc-{first_id + i}", "text": text, "label": i % 3}))
        if blank_every and i % blank_every == 0:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_parquet(path: Path, texts: list[str], row_group_size: int = 40) -> Path:
    ids = [f"p-{i}" for i in range(len(texts))]
    pq.write_table(pa.table({"id": ids, "body": texts}), path, row_group_size=row_group_size)
    return path


def check_output(output: Path, model: StaticModel, texts: list[str], ids: list[str] | None = None) -> None:
    table, embeddings = read_embeddings(output)
    assert np.array_equal(embeddings, model.encode(texts))
    assert table.column("row").to_pylist() == list(range(len(texts)))
    if ids is not None:
        assert table.column("id").to_pylist() == ids


@pytest.mark.parametrize("partition_bytes", [1, 97, 10**6])
def test_local_jsonl_matches_encode(tmp_path: Path, model: StaticModel, partition_bytes: int) -> None:
    first, second = make_texts(120, seed=1), make_texts(80, seed=2)
    write_jsonl(tmp_path / "a.jsonl", first, blank_every=7)
    write_jsonl(tmp_path / "b.jsonl", second, first_id=120)
    result = embed_files(
        model, str(tmp_path / "*.jsonl"), tmp_path / "out", columns=["id"], partition_bytes=partition_bytes
    )
    assert result.rows == 200 and result.dim == 12
    check_output(tmp_path / "out", model, first + second, [f"doc-{i}" for i in range(200)])


def test_local_parquet_and_gzip_jsonl(tmp_path: Path, model_dir: Path, model: StaticModel) -> None:
    texts = make_texts(150, seed=4)
    write_parquet(tmp_path / "in.parquet", texts)
    with gzip.open(tmp_path / "more.jsonl.gz", "wt", encoding="utf-8") as stream:
        stream.write("".join(json.dumps({"body": t, "id": "gz"}) + "\n" for t in texts[:10]))
    embed_files(
        str(model_dir),
        [tmp_path / "in.parquet", tmp_path / "more.jsonl.gz"],
        tmp_path / "out",
        text_column="body",
        columns=["id"],
        partition_bytes=500,
    )
    check_output(tmp_path / "out", model, texts + texts[:10], [f"p-{i}" for i in range(150)] + ["gz"] * 10)
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) > 2


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_reproduces_encode(tmp_path: Path, model_dir: Path, model: StaticModel, dask_client: object) -> None:
    texts = make_texts(300, seed=5)
    write_jsonl(tmp_path / "a.jsonl", texts[:170], blank_every=11)
    write_jsonl(tmp_path / "b.jsonl", texts[170:], first_id=170)
    write_parquet(tmp_path / "c.parquet", texts, row_group_size=30)
    seen: list[tuple[int, int]] = []
    result = embed_files(
        model_dir,
        [tmp_path / "a.jsonl", tmp_path / "b.jsonl"],
        tmp_path / "jsonl-out",
        columns=["id", "label"],
        backend="dask",
        client=dask_client,
        partition_bytes=2000,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.rows == 300 and len(result.files) > 2
    check_output(tmp_path / "jsonl-out", model, texts, [f"doc-{i}" for i in range(300)])
    assert seen[-1] == (300, 300) and len(seen) >= len(result.files)  # one call per partition
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    embed_files(
        model_dir,
        tmp_path / "c.parquet",
        tmp_path / "parquet-out",
        text_column="body",
        backend="dask",
        client=dask_client,
        partition_bytes=1,
    )
    check_output(tmp_path / "parquet-out", model, texts)


def test_dask_task_error_reaches_caller(tmp_path: Path, model_dir: Path, dask_client: object) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", make_texts(50))
    with path.open("a", encoding="utf-8") as stream:
        stream.write('{"id": "x", "label": 0}\n')  # no text, far from the first line
    with pytest.raises(ValueError, match="no 'text' key"):
        embed_files(model_dir, path, tmp_path / "out", backend="dask", client=dask_client, partition_bytes=100)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))  # the staging folder is removed


def test_output_exists_and_overwrite(tmp_path: Path, model: StaticModel) -> None:
    texts = make_texts(60)
    path = write_jsonl(tmp_path / "a.jsonl", texts)
    embed_files(model, path, tmp_path / "out", partition_bytes=100)
    with pytest.raises(FileExistsError, match="overwrite"):
        embed_files(model, path, tmp_path / "out")
    embed_files(model, path, tmp_path / "out", overwrite=True)  # one partition now: old parts must go
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["batch.json", "part-00000.parquet"]
    check_output(tmp_path / "out", model, texts)


def test_input_errors(tmp_path: Path, model: StaticModel) -> None:
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="No file matches"):
        embed_files(model, str(tmp_path / "*.jsonl"), out)
    with pytest.raises(FileNotFoundError, match="not found"):
        embed_files(model, tmp_path / "missing.jsonl", out)
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ValueError, match="unsupported input"):
        embed_files(model, tmp_path / "notes.txt", out)
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ValueError, match="no rows"):
        embed_files(model, tmp_path / "empty.jsonl", out)
    write_jsonl(tmp_path / "a.jsonl", ["hello"])
    with pytest.raises(ValueError, match="first line has no 'body' key"):
        embed_files(model, tmp_path / "a.jsonl", out, text_column="body")
    (tmp_path / "bad.jsonl").write_text('{"text": "hello"}\n{"text": \n')
    with pytest.raises(ValueError, match="invalid JSON"):
        embed_files(model, tmp_path / "bad.jsonl", out)
    (tmp_path / "null.jsonl").write_text('{"text": "hello"}\n{"text": null}\n')
    with pytest.raises(ValueError, match=r"row 1 .* NoneType"):
        embed_files(model, tmp_path / "null.jsonl", out)
    write_parquet(tmp_path / "t.parquet", ["hello"])
    with pytest.raises(ValueError, match="no column 'text'; it has body, id"):
        embed_files(model, tmp_path / "t.parquet", out)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        embed_files(model, tmp_path / "broken.parquet", out)
    assert not out.exists()


def test_truncated_corrupt_or_deep_inputs_name_the_file(tmp_path: Path, model: StaticModel) -> None:
    out = tmp_path / "out"
    lines = "".join(json.dumps({"text": text}) + "\n" for text in make_texts(400, seed=6)).encode()
    data = gzip.compress(lines, mtime=0)
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.jsonl\.gz: truncated or corrupt gzip data after line [1-9]\d* \("):
        embed_files(model, tmp_path / "cut.jsonl.gz", out)
    (tmp_path / "head.jsonl.gz").write_bytes(data[:20])  # cut inside the first line: found before any task
    with pytest.raises(ValueError, match=r"head\.jsonl\.gz: truncated or corrupt gzip data after line 0"):
        embed_files(model, tmp_path / "head.jsonl.gz", out)
    corrupt = bytearray(data)
    corrupt[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    (tmp_path / "corrupt.jsonl.gz").write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match=r"corrupt\.jsonl\.gz: truncated or corrupt gzip data"):
        embed_files(model, tmp_path / "corrupt.jsonl.gz", out)
    (tmp_path / "plain.jsonl.gz").write_bytes(lines)
    with pytest.raises(ValueError, match=r"plain\.jsonl\.gz: truncated or corrupt gzip data after line 0 \(Not a gzip"):
        embed_files(model, tmp_path / "plain.jsonl.gz", out)
    (tmp_path / "deep.jsonl").write_text('{"text": "fine"}\n{"text": ' + "[" * 100_000 + "\n")
    with pytest.raises(ValueError, match=r"deep\.jsonl: the line at byte 17 is nested too deeply"):
        embed_files(model, tmp_path / "deep.jsonl", out)
    write_parquet(tmp_path / "cut.parquet", make_texts(100))
    whole = (tmp_path / "cut.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"cut\.parquet: not a readable Parquet file"):
        embed_files(model, tmp_path / "cut.parquet", out, text_column="body")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_file()) == []  # no output, no staging


def test_setting_errors(tmp_path: Path, model: StaticModel) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", ["hello"])
    with pytest.raises(ValueError, match="Unknown backend"):
        embed_files(model, path, tmp_path / "out", backend="spark")
    with pytest.raises(TypeError, match="folder path or hub id"):
        embed_files(model, path, tmp_path / "out", backend="dask")
    with pytest.raises(ValueError, match="columns must be distinct"):
        embed_files(model, path, tmp_path / "out", columns=["text"])


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed")
def test_ray_backend_without_ray_names_the_install(tmp_path: Path, model_dir: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", ["hello"])
    with pytest.raises(ImportError, match=r'backend="ray" needs ray: pip install "ray\[data\]'):
        embed_files(model_dir, path, tmp_path / "out", backend="ray")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))
