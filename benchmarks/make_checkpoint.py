#!/usr/bin/env python3
"""Writes a distilbert-base-uncased-shaped DistilBertForSequenceClassification with seeded
random weights (torch.manual_seed(0)) as a Hugging Face checkpoint folder: config.json,
model.safetensors, vocab.txt (bert-base-uncased's, from Tests/Fixtures), tokenizer_config.json.

usage: make_checkpoint.py FOLDER
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_checkpoint(folder: Path):
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification
    folder = Path(folder)
    if (folder / "model.safetensors").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=30522, dim=768, n_heads=12, n_layers=6, hidden_dim=3072,
                              max_position_embeddings=512, num_labels=2,
                              id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    model = DistilBertForSequenceClassification(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "vocab.txt").write_bytes((ROOT / "Tests/Fixtures/bert-base-uncased-vocab.txt").read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))


if __name__ == "__main__":
    make_checkpoint(Path(sys.argv[1]))
