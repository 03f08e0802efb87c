#!/usr/bin/env bash
# Makes models/minilm-sentiment, the fine-tuned sentiment model the distillation issue starts from:
# builds the release binary, then fine-tunes all-MiniLM-L6-v2 with a new 2-class head
# (negative, positive) on the even-id movie-review snippets with `distilcl train` on the CPU path,
# evaluating on the odd ids after each epoch: the recipe of benchmarks/finetune.py (3 epochs,
# batch 32, lr 1e-4, warmup 0.1, weight decay 0.01, max grad norm 1.0, seed 0, max length 128).
# The folder is a Hugging Face checkpoint (config.json, model.safetensors, tokenizer files) with
# train_log.jsonl beside it. Extra arguments go to distilcl train (e.g. --resume, --device opencl).
#
#   bash scripts/fetch-models.sh && bash scripts/make-sentiment-model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DISTILCL_BIN:-.build/release/distilcl}
for f in models/all-MiniLM-L6-v2/model.safetensors data/movie-train.jsonl data/movie-test.jsonl; do
  [ -f "$f" ] || { echo "missing $f: run scripts/fetch-models.sh" >&2; exit 1; }
done

swift build -c release
"$bin" train --model models/all-MiniLM-L6-v2 \
  --train data/movie-train.jsonl --eval data/movie-test.jsonl --out models/minilm-sentiment \
  --epochs 3 --batch-size 32 --lr 1e-4 --warmup 0.1 --weight-decay 0.01 --max-grad-norm 1.0 \
  --seed 0 --max-length 128 --device cpu "$@"
tail -n 1 models/minilm-sentiment/train_log.jsonl
