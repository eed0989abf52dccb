"""The lean BERT encoder computes what transformers.BertModel computes, and declines anything else."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from model2vec.distill.bert import load_lean_bert

from .conftest import save_transformers_folder, wordpiece_tokenizer


def test_lean_bert_matches_transformers_with_padding(tmp_path: Path) -> None:
    from transformers import AutoModel

    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer(), seed=3)
    lean = load_lean_bert(folder)
    assert lean is not None
    reference = AutoModel.from_pretrained(str(folder)).eval()
    ids = torch.tensor([[2, 7, 9, 12, 3], [2, 8, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    types = torch.zeros_like(ids)
    with torch.inference_mode():
        ours = lean(input_ids=ids, attention_mask=mask, token_type_ids=types)
        theirs = reference(input_ids=ids, attention_mask=mask, token_type_ids=types)
    keep = mask.bool()
    torch.testing.assert_close(ours.last_hidden_state[keep], theirs.last_hidden_state[keep], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.pooler_output, theirs.pooler_output, rtol=1e-5, atol=1e-6)


def test_lean_bert_declines_other_models(tmp_path: Path) -> None:
    folder = save_transformers_folder(tmp_path / "t", wordpiece_tokenizer())
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}))
    assert load_lean_bert(folder) is None
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    assert load_lean_bert(folder) is None
    assert load_lean_bert(tmp_path / "missing") is None
