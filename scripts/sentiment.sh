#!/usr/bin/env bash
# The main job, DistilBERT's own pipeline on real data, on the CPU path:
#   1. fine-tune the teacher: all-MiniLM-L6-v2 (a 6-layer BERT) with a new 2-class head on the
#      5,302 even-id movie-review snippets (`distilcl train`, scripts/make-sentiment-model.sh's
#      recipe) -> models/minilm-sentiment;
#   2. distil it into a 3-layer DistilBERT student built from its layers 0, 2, 4 (`distilcl
#      distill`, T 2, alpha_kd = alpha_ce = 0.5) -> models/minilm-sentiment-student;
#   3. classify the 5,303 odd-id snippets (never trained on) with both, and print the teacher's
#      accuracy, the student's, its share of the teacher's and the student's speed-up.
# A model folder whose last epoch's checkpoint is complete is reused; one interrupted after a
# complete epoch is resumed (--resume); so a second run only classifies.
#
#   bash scripts/setup.sh && bash scripts/fetch-models.sh && swift build -c release
#   bash scripts/sentiment.sh                 # the pipeline (about 4 minutes on 2 Zen 4 cores)
#   bash scripts/sentiment.sh --zero-shot     # zero-shot MiniLM on the even ids instead (no training)
#
# Environment: DISTILCL_BIN (default .build/release/distilcl); DISTILCL_DEVICE (default cpu);
# TEACHER_EPOCHS (3), STUDENT_EPOCHS (3), STUDENT_LR (1e-4). Extra arguments go to
# distilcl classify with --zero-shot; the pipeline takes none.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DISTILCL_BIN:-.build/release/distilcl}
device=${DISTILCL_DEVICE:-cpu}
[ -x "$bin" ] || { echo "missing $bin: run swift build -c release" >&2; exit 1; }

if [ "${1:-}" = "--zero-shot" ]; then
  # Zero-shot sentiment with all-MiniLM-L6-v2 on the even-id snippets (the set minilm-golden.json
  # records): label descriptions embedded like the texts, the most similar label wins.
  shift
  src=data/movieReviewSnippets_GroundTruth.txt
  [ -f "$src" ] || { echo "missing $src: run scripts/fetch-models.sh" >&2; exit 1; }
  awk -F'\t' '$1 % 2 == 0 { sub(/\r$/, "", $3); print $3 }' "$src" > data/movie-reviews-even.txt
  awk -F'\t' '$1 % 2 == 0 { print ($1 <= 5331 ? "POSITIVE" : "NEGATIVE") }' "$src" > data/movie-reviews-even.labels
  "$bin" classify --model models/all-MiniLM-L6-v2 --device "$device" \
    --labels "POSITIVE=This movie is great.,NEGATIVE=This movie is terrible." \
    --input data/movie-reviews-even.txt --output data/movie-reviews-even.predictions.jsonl "$@"
  python3 - <<'PY'
import json
pred = [json.loads(l)["label"] for l in open("data/movie-reviews-even.predictions.jsonl", encoding="utf-8")]
gold = open("data/movie-reviews-even.labels").read().split()
right = sum(p == g for p, g in zip(pred, gold))
print(f"zero-shot accuracy {right / len(gold):.4f} ({right}/{len(gold)} even-id movie snippets; minilm-golden.json records 0.6637)")
PY
  exit 0
fi

[ $# -eq 0 ] || { echo "usage: $0 [--zero-shot [distilcl classify flags]]" >&2; exit 64; }
for f in models/all-MiniLM-L6-v2/model.safetensors data/movie-train.jsonl data/movie-test.jsonl; do
  [ -f "$f" ] || { echo "missing $f: run scripts/fetch-models.sh" >&2; exit 1; }
done
teacher=models/minilm-sentiment
student=models/minilm-sentiment-student
recipe=(--batch-size 32 --warmup 0.1 --weight-decay 0.01 --max-grad-norm 1.0 --seed 0 --max-length 128
        --device "$device" --progress)

# Runs `distilcl <command> … --out DIR --epochs N`, unless DIR is complete: its checkpoint of
# epoch N is complete, DIR's model is that checkpoint's (an interrupted save can leave them apart),
# and it is newer than `newer_than` (the student is redone when the teacher was). Otherwise
# resumes from DIR's last complete checkpoint when there is one (the same flags are needed:
# changing TEACHER_EPOCHS or STUDENT_* between runs makes distilcl refuse with status 64).
train_once() {
  local title=$1 out=$2 epochs=$3 newer_than=$4; shift 4
  if [ -f "$out/checkpoint-epoch$epochs/trainer_state.json" ] \
     && [ "$out/model.safetensors" -ef "$out/checkpoint-epoch$epochs/model.safetensors" ] \
     && ! [ "$newer_than" -nt "$out/model.safetensors" ]; then
    echo "== $title: reusing $out (complete: $epochs epochs)" >&2
    return
  fi
  local resume=()
  if [ "$newer_than" -nt "$out/model.safetensors" ] && [ -e "$out/model.safetensors" ]; then
    echo "== $title: $newer_than is newer than $out: starting again" >&2
    rm -rf "$out"
  elif compgen -G "$out/checkpoint-epoch*/trainer_state.json" > /dev/null; then
    resume=(--resume)
  fi
  echo "== $title -> $out${resume[0]:+ (resuming)}" >&2
  "$bin" "$@" --out "$out" --epochs "$epochs" ${resume[@]+"${resume[@]}"}
}

train_once "1/3 fine-tuning the teacher (6 layers)" "$teacher" "${TEACHER_EPOCHS:-3}" models/all-MiniLM-L6-v2/model.safetensors \
  train --model models/all-MiniLM-L6-v2 --train data/movie-train.jsonl --lr 1e-4 "${recipe[@]}"
train_once "2/3 distilling the student (3 layers)" "$student" "${STUDENT_EPOCHS:-3}" "$teacher/model.safetensors" \
  distill --teacher "$teacher" --train data/movie-train.jsonl --lr "${STUDENT_LR:-1e-4}" \
  --student-layers 0,2,4 --temperature 2 --alpha-kd 0.5 --alpha-ce 0.5 "${recipe[@]}"

echo "== 3/3 classifying the 5,303 odd-id snippets with both" >&2
for m in "$teacher" "$student"; do
  "$bin" classify --model "$m" --jsonl --input data/movie-test.jsonl --output "$m/movie-test.predictions.jsonl" \
    --batch-size 32 --max-length 128 --device "$device" --progress
done
# Speed: `distilcl bench model` on the same texts, teacher and student alternated three times
# (the machine may be shared): the median sequences/s of each.
python3 -c 'import json, sys
for l in open("data/movie-test.jsonl", encoding="utf-8"): print(json.loads(l)["text"])' > data/movie-test.txt
bench=()
for round in 1 2 3; do
  for m in "$teacher" "$student"; do
    echo "   timing $m (round $round of 3)" >&2
    bench+=("$("$bin" bench model --model "$m" --input data/movie-test.txt --batch-size 32 --max-length 128 \
      --device "$device" $([ "$device" = cpu ] || echo --no-cpu) --json)")
  done
done

python3 - "$teacher" "$student" "${bench[@]}" <<'PY'
import json, statistics, sys
teacher, student, runs = sys.argv[1], sys.argv[2], [json.loads(r) for r in sys.argv[3:]]
rate = {m: statistics.median(r["results"][0]["sequencesPerSecond"] for r in runs[i::2])
        for i, m in enumerate((teacher, student))}
gold = [json.loads(l)["label"] for l in open("data/movie-test.jsonl", encoding="utf-8")]
def accuracy(folder):
    pred = [json.loads(l)["label"] for l in open(f"{folder}/movie-test.predictions.jsonl", encoding="utf-8")]
    assert len(pred) == len(gold), f"{folder}: {len(pred)} predictions for {len(gold)} texts"
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)
ta, sa = accuracy(teacher), accuracy(student)
print(f"teacher {teacher} (6 layers): accuracy {ta:.4f}, {rate[teacher]:.0f} texts/s")
print(f"student {student} (3 layers): accuracy {sa:.4f} ({100 * sa / ta:.1f}% of the teacher's), {rate[student]:.0f} texts/s")
print(f"speed-up {rate[student] / rate[teacher]:.2f}x on {len(gold)} odd-id movie snippets "
      f"(distilcl bench model, median of 3, {runs[0]['results'][0]['backend']})")
PY
