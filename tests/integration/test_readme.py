"""Every Python block of README.md runs as written, in order, in one namespace (a snippet that breaks fails CI).

The README states the prelude its snippets assume (`texts`, `labels`, `test_texts`, `test_labels`,
`documents`, a Dask `client`); this test defines exactly those, then runs the blocks in a scratch folder
holding a copy of the distilled default model at `models/minilm-distilled`, a `corpus.txt` and
`data/*.jsonl`, as a user's working folder would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "minilm-distilled"

pytestmark = pytest.mark.integration

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_blocks(path: Path = REPO / "README.md") -> list[tuple[int, str]]:
    """Return the Python blocks of a Markdown file with the line each starts on."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 2, match.group(1)) for match in _BLOCK.finditer(text)]


def _prelude() -> dict[str, object]:
    """The names README.md says its snippets assume."""
    texts = [
        "I loved this film, it was wonderful.",
        "What a great and moving story.",
        "A delightful, funny and warm movie.",
        "Terrible acting and a boring plot.",
        "I hated every minute of it.",
        "The worst film I have seen this year.",
    ] * 4
    labels = ["pos", "pos", "pos", "neg", "neg", "neg"] * 4
    return {
        "texts": texts,
        "labels": labels,
        "test_texts": ["A wonderful, moving film.", "Boring and terrible."],
        "test_labels": ["pos", "neg"],
        "documents": [f"Static embeddings are fast: note {i} on how they work." for i in range(50)],
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    if not (MODEL / "model.safetensors").is_file():
        pytest.skip(f"the distilled default model is not built at {MODEL} (run `make distill`)")
    shutil.copytree(MODEL, tmp_path / "models" / "minilm-distilled")
    (tmp_path / "corpus.txt").write_text("first line of a corpus\nsecond line\n" * 100, encoding="utf-8")
    (tmp_path / "data").mkdir()
    rows = [json.dumps({"text": f"document number {i}"}) for i in range(20)]
    (tmp_path / "data" / "part.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def test_readme_states_the_prelude() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for name in _prelude():
        assert f"`{name}`" in text, f"README.md should say that its snippets assume `{name}`"


def test_readme_python_blocks_run(workdir: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="the batch snippet needs dask[distributed]")
    blocks = readme_blocks()
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "__readme__", **_prelude()}
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        namespace["client"] = client
        for line, code in blocks:
            try:
                exec(compile(code, f"README.md:{line}", "exec"), namespace)  # our own README, as written
            except Exception as error:
                raise AssertionError(
                    f"README.md block at line {line} failed: {type(error).__name__}: {error}"
                ) from error
    assert (workdir / "my-model" / "model.safetensors").is_file()
    assert (workdir / "my-index").is_dir()
    assert any((workdir / "out").glob("*.parquet"))
