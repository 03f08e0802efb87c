#!/usr/bin/env bash
# The main job: zero-shot sentiment with all-MiniLM-L6-v2 on the 5,302 even-id movie-review
# snippets (the set minilm-golden.json records): `distilcl classify --labels` prints one JSON
# line per snippet, then the accuracy against the human labels (ids <= 5331 are positive).
# Extra arguments go to distilcl classify (e.g. --device opencl).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DISTILCL_BIN:-.build/release/distilcl}
src=data/movieReviewSnippets_GroundTruth.txt
[ -f "$src" ] || { echo "missing $src: run scripts/fetch-models.sh" >&2; exit 1; }
[ -x "$bin" ] || { echo "missing $bin: run swift build -c release" >&2; exit 1; }

awk -F'\t' '$1 % 2 == 0 { sub(/\r$/, "", $3); print $3 }' "$src" > data/movie-reviews-even.txt
awk -F'\t' '$1 % 2 == 0 { print ($1 <= 5331 ? "POSITIVE" : "NEGATIVE") }' "$src" > data/movie-reviews-even.labels

"$bin" classify --model models/all-MiniLM-L6-v2 \
  --labels "POSITIVE=This movie is great.,NEGATIVE=This movie is terrible." \
  --input data/movie-reviews-even.txt --output data/movie-reviews-even.predictions.jsonl "$@"
cat data/movie-reviews-even.predictions.jsonl

python3 - <<'PY'
import json
pred = [json.loads(l)["label"] for l in open("data/movie-reviews-even.predictions.jsonl", encoding="utf-8")]
gold = open("data/movie-reviews-even.labels").read().split()
right = sum(p == g for p, g in zip(pred, gold))
print(f"accuracy {right / len(gold):.4f} ({right}/{len(gold)} even-id movie snippets; minilm-golden.json records 0.6637)")
PY
