"""On real text and real models, the fast encode equals the straightforward definition."""

from __future__ import annotations

import gzip
import json
from itertools import islice

import numpy as np
import pytest

from model2vec import StaticModel

from ..conftest import SHARED, require_reference_format
from ..test_encode_paths import straightforward

pytestmark = pytest.mark.integration


def corpus_lines(limit: int) -> list[str]:
    path = SHARED / "data" / "corpus" / "enwikinews.txt.gz"
    if not path.is_file():
        pytest.skip(f"corpus not found at {path}")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.strip() for line in islice(handle, limit) if line.strip()]


@pytest.mark.parametrize("name", ["m2v-minilm-l6-fp16", "potion-int8-128d"])
@pytest.mark.parametrize("pipelined", [False, True])
def test_real_text_equals_straightforward(name: str, pipelined: bool) -> None:
    root = require_reference_format()
    model = StaticModel.from_pretrained(root / name)
    golden = json.loads((root / "golden_sentences.json").read_text())["sentences"]
    texts = corpus_lines(3000) + golden
    for max_length in (512, 16):
        # Threshold 0 sends even this input through the two-thread pipeline.
        fast = model.encode(
            texts, batch_size=256, max_length=max_length, multiprocessing_threshold=0 if pipelined else 10**9
        )
        slow = np.stack([straightforward(model, text, max_length) for text in texts])
        np.testing.assert_allclose(fast, slow, atol=1e-6, rtol=0)
