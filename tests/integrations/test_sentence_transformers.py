"""sentence-transformers both ways: StaticEmbedding.from_model2vec / from_distillation on our library,
SentenceTransformer on our folders, and our loader on folders sentence-transformers saved.

Where the two libraries differ by design (unknown tokens, truncation, float16 arithmetic) the tests pin
down exactly what happens, as documented in docs/integrations/sentence-transformers.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from model2vec import StaticModel, quantize_model

from ..conftest import make_model, make_tokenizer, require_reference_format

st = pytest.importorskip("sentence_transformers", reason="sentence-transformers (dev extra) not installed")
from sentence_transformers.sentence_transformer.modules import StaticEmbedding  # noqa: E402

pytestmark = pytest.mark.integrations

# Every token of these is in the tiny test vocabulary (tests/conftest.py WORDS), so both libraries must
# agree; the empty text checks zero vectors.
KNOWN = ["hello world", "The big red cat sat on the mat.", "dogs, cats!", "日本", "a big dog.", ""]
VARIANTS = ["float32", "float16", "int8", "vocabulary-quantised"]


def _variant(name: str, normalize: bool) -> StaticModel:
    base = make_model(dim=16, seed=3, normalize=normalize)
    if name == "vocabulary-quantised":
        pytest.importorskip("sklearn", reason="vocabulary quantisation needs scikit-learn")
        return quantize_model(base, vocabulary_quantization=6)
    return quantize_model(base, quantize_to=name)


def _load(folder: Path) -> st.SentenceTransformer:
    return st.SentenceTransformer(str(folder), device="cpu")


# -- our folders in sentence-transformers -------------------------------------------------------------


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("variant", VARIANTS)
def test_sentence_transformer_on_our_folder_equals_encode(tmp_path: Path, variant: str, normalize: bool) -> None:
    model = _variant(variant, normalize)
    model.save_pretrained(tmp_path / "m")
    theirs = _load(tmp_path / "m").encode(KNOWN)  # no .float(): every saved folder computes in float32
    assert theirs.dtype == np.float32
    np.testing.assert_allclose(theirs, model.encode(KNOWN), rtol=0, atol=1e-6)
    # The empty text is a zero vector in both, also behind Normalize.
    np.testing.assert_array_equal(theirs[-1], 0)


@pytest.mark.parametrize("variant", ["float16", "int8", "vocabulary-quantised"])
def test_compact_folders_give_float32_without_nan_in_sentence_transformers(tmp_path: Path, variant: str) -> None:
    # Saving adds float16 ones as token weights, which sentence-transformers folds into a float32 table.
    model = _variant(variant, normalize=True)
    model.save_pretrained(tmp_path / "m")
    theirs = _load(tmp_path / "m").encode(KNOWN)
    assert theirs.dtype == np.float32
    assert np.isfinite(theirs).all()
    np.testing.assert_allclose(theirs, model.encode(KNOWN), rtol=0, atol=1e-6)
    # Our loader gives back the same model (added ones are read as "no weights").
    again = StaticModel.from_pretrained(tmp_path / "m")
    if model.weights is None:
        assert again.weights is None
    else:
        np.testing.assert_array_equal(again.weights, model.weights)
    assert again.encode(KNOWN).tobytes() == model.encode(KNOWN).tobytes()


def test_default_model_in_sentence_transformers_is_float32_and_size_grows_under_5_percent(tmp_path: Path) -> None:
    folder = Path(__file__).resolve().parents[2] / "models" / "minilm-distilled"
    if not (folder / "model.safetensors").is_file():
        pytest.skip(f"the distilled default model is not built at {folder} (run `make distill`)")
    model = StaticModel.from_pretrained(folder)
    assert model.embedding.dtype == np.float16
    model.save_pretrained(tmp_path / "m")
    table_only = model.embedding.nbytes
    assert (tmp_path / "m" / "model.safetensors").stat().st_size <= 1.05 * table_only
    texts = ["The cat sat on the mat.", "", "Stock markets fell sharply on Monday."]
    theirs = _load(tmp_path / "m").encode(texts)
    assert theirs.dtype == np.float32 and np.isfinite(theirs).all()
    np.testing.assert_allclose(theirs, model.encode(texts), rtol=0, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_from_model2vec_gives_our_unnormalised_vectors(tmp_path: Path, variant: str) -> None:
    model = _variant(variant, normalize=True)
    model.save_pretrained(tmp_path / "m")
    module = StaticEmbedding.from_model2vec(str(tmp_path / "m"))
    # Mapping and weights are folded into one row per token id, so the vocabulary is complete again.
    assert module.num_embeddings == len(model.tokens)
    expected_dtype = "torch.float16" if variant == "float16" else "torch.float32"
    assert str(module.embedding.weight.dtype) == expected_dtype
    # from_model2vec builds only the StaticEmbedding module: our Normalize is not carried over.
    theirs = st.SentenceTransformer(modules=[module], device="cpu").float().encode(KNOWN)
    np.testing.assert_allclose(theirs, model.encode(KNOWN, normalize=False), rtol=0, atol=1e-6)


def test_unknown_tokens_count_in_sentence_transformers_mean(tmp_path: Path) -> None:
    model = make_model(dim=16, seed=3)
    model.save_pretrained(tmp_path / "m")
    text = "hello zebra world"  # "zebra" is [UNK] (id 1)
    ids = model.tokenizer.encode(text, add_special_tokens=False).ids
    assert ids == [4, 1, 5]
    theirs = _load(tmp_path / "m").encode([text])[0]
    np.testing.assert_allclose(theirs, model.embedding[ids].mean(0), rtol=0, atol=1e-6)  # [UNK] row included
    np.testing.assert_allclose(model.encode(text), model.embedding[[4, 5]].mean(0), rtol=0, atol=1e-6)  # dropped
    # A text of unknown tokens only: our zero vector, their [UNK] row.
    np.testing.assert_array_equal(model.encode("zebra"), 0)
    np.testing.assert_allclose(_load(tmp_path / "m").encode(["zebra"])[0], model.embedding[1], atol=1e-6)


def test_truncation_follows_the_saved_tokenizer_in_sentence_transformers(tmp_path: Path) -> None:
    text = "hello world the cat sat on the big red mat"
    # A model without truncation is saved with max_length 512 (what encode cuts at), so a long text gives
    # the same vector in both; sentence-transformers itself has no limit (max_seq_length is inf).
    plain = make_model(dim=16, seed=3)
    plain.save_pretrained(tmp_path / "plain")
    long_text = " ".join(["hello world the cat"] * 100 + ["big red mat dog"] * 100)
    assert len(plain.tokenize(long_text, max_length=None)[0]) > 512
    theirs_long = _load(tmp_path / "plain").encode([long_text])[0]
    np.testing.assert_allclose(theirs_long, plain.encode(long_text), rtol=0, atol=1e-6)
    assert not np.allclose(theirs_long, plain.encode(long_text, max_length=None), atol=1e-4)
    # With truncation in tokenizer.json (kept from the teacher on save), it cuts there; we use max_length.
    cut = StaticModel(plain.embedding, make_tokenizer(with_padding=True))  # truncation max_length=4
    cut.save_pretrained(tmp_path / "cut")
    theirs = _load(tmp_path / "cut").encode([text])[0]
    np.testing.assert_allclose(theirs, cut.encode(text, max_length=4), rtol=0, atol=1e-6)
    assert not np.allclose(theirs, cut.encode(text))


def test_reference_folder_truncates_at_512_in_both(tmp_path: Path) -> None:
    # The reference library writes truncation max_length=512 into tokenizer.json, so a long text gives
    # the same vector in sentence-transformers as our default encode (max_length=512).
    root = require_reference_format()
    model = StaticModel.from_pretrained(root / "m2v-minilm-l6-fp16")
    text = " ".join(f"apple banana cherry number {i}" for i in range(150))
    assert len(model.tokenize(text, max_length=None)[0]) > 512
    theirs = _load(root / "m2v-minilm-l6-fp16").float().encode([text])[0]
    np.testing.assert_allclose(theirs, model.encode(text), rtol=0, atol=1e-6)
    assert not np.allclose(theirs, model.encode(text, max_length=None), atol=1e-4)


# -- sentence-transformers folders in our loader ------------------------------------------------------


@pytest.mark.parametrize("normalize", [False, True])
def test_our_loader_on_a_folder_sentence_transformers_saved(tmp_path: Path, normalize: bool) -> None:
    table = np.random.default_rng(5).normal(size=(make_tokenizer().get_vocab_size(), 16)).astype(np.float32)
    modules = [StaticEmbedding(make_tokenizer(), embedding_weights=table)]
    if normalize:
        modules.append(st.models.Normalize())
    saved = st.SentenceTransformer(modules=modules, device="cpu")
    saved.save(str(tmp_path / "st"))
    ours = StaticModel.from_pretrained(tmp_path / "st")
    assert ours.normalize is normalize  # from the Normalize module in modules.json
    np.testing.assert_allclose(ours.encode(KNOWN), saved.encode(KNOWN), rtol=0, atol=1e-6)
    # And back: our save of it loads in sentence-transformers with the same output.
    ours.save_pretrained(tmp_path / "ours")
    np.testing.assert_allclose(_load(tmp_path / "ours").encode(KNOWN), saved.encode(KNOWN), rtol=0, atol=1e-6)


# -- StaticEmbedding.from_distillation drives model2vec.distill.distill ------------------------------

# Exactly the keyword arguments sentence-transformers 6.x passes (its defaults), besides model_name.
FROM_DISTILLATION_KWARGS = {
    "vocabulary",
    "device",
    "pca_dims",
    "apply_zipf",
    "use_subword",
    "quantize_to",
    "sif_coefficient",
    "token_remove_pattern",
}


def test_distill_accepts_every_argument_from_distillation_passes() -> None:
    import inspect

    from model2vec.distill import distill

    assert set(inspect.signature(distill).parameters) >= FROM_DISTILLATION_KWARGS


def test_from_distillation_uses_our_distill(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("torch", reason="distillation needs the distill extra")
    from model2vec.distill import distill

    from ..distill.conftest import save_sentence_transformers_folder

    teacher = str(save_sentence_transformers_folder(tmp_path / "teacher"))
    with caplog.at_level(logging.WARNING, logger="sentence_transformers"):
        module = StaticEmbedding.from_distillation(teacher, device="cpu", pca_dims=4, show_progress_bar=False)
    # No "Your version of model2vec does not support ..." warning: every argument was accepted.
    assert "does not support" not in caplog.text
    assert module.embedding_dim == 4 and module.base_model == teacher
    ours = distill(
        teacher, device="cpu", pca_dims=4, apply_zipf=True, use_subword=True, quantize_to="float32",
        show_progress_bar=False,
    )  # fmt: skip
    texts = ["hello world", "the cat sat"]
    theirs = st.SentenceTransformer(modules=[module], device="cpu").encode(texts)
    np.testing.assert_allclose(theirs, ours.encode(texts, normalize=False, max_length=None), rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_from_model2vec_module_can_be_trained(tmp_path: Path, dtype: str) -> None:
    import subprocess
    import sys

    quantize_model(make_model(dim=16), quantize_to=dtype).save_pretrained(tmp_path / "m")
    # Training updates the embedding in place (float16 tables without weights are used as they are);
    # tables are mapped copy-on-write so this works (a read-only mapping would be a segmentation fault,
    # hence the child process).
    script = (
        "import torch\n"
        "from sentence_transformers.sentence_transformer.modules import StaticEmbedding\n"
        f"module = StaticEmbedding.from_model2vec({str(tmp_path / 'm')!r})\n"
        "with torch.no_grad():\n"
        "    module.embedding.weight.add_(1.0)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.returncode
