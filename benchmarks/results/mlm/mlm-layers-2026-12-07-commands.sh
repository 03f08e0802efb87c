#!/bin/bash
# Extends benchmarks/results/mlm/mlm-2026-12-07-amd-epyc-zen1.json: the same teacher recipe, then the
# 1-, 2- and 4-layer general students and their downstream fine-tuning (the commands the recipe script runs).
set -uo pipefail
cd /work/main
B=/tmp/bin/distilcl W=/tmp/mlm-work
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
COMMON="--warmup 0.1 --weight-decay 0.01 --max-grad-norm 1.0 --seed 0"
log teacher
$B train --task masked-lm --model models/all-MiniLM-L6-v2 --train data/mlm/train.txt --eval data/mlm/dev.txt --out $W/mlm-teacher --max-length 128 --mlm-probability 0.15 --epochs 1 --batch-size 32 --lr 0.0001 $COMMON 2> $W/teacher.err
$B evaluate --task masked-lm --model $W/mlm-teacher --data data/mlm/dev.txt --max-length 128 --seed 0 --json > $W/teacher-dev.json
log "teacher dev: $(cat $W/teacher-dev.json)"
for L in 0 0,3 0,2,3,5; do
  N=${L//,/}
  log "general $L"
  /usr/bin/time -v $B distill --task masked-lm --teacher $W/mlm-teacher --train data/mlm/train.txt --eval data/mlm/dev.txt --out $W/general-$N --student-layers $L --alpha-kd 5.0 --alpha-mlm 2.0 --alpha-cos 1.0 --temperature 2.0 --mlm-smoothing 0.7 --mlm-probability 0.15 --max-length 128 --epochs 1 --batch-size 16 --gradient-accumulation-steps 4 --lr 0.0002 $COMMON 2> $W/general-$N.err
  $B evaluate --task masked-lm --model $W/general-$N --data data/mlm/dev.txt --max-length 128 --seed 0 --json > $W/general-$N-dev.json
  log "general $L dev: $(cat $W/general-$N-dev.json)"
  $B train --task text-classification --model $W/general-$N --train data/movie-train.jsonl --new-head --out $W/downstream-general-$N --epochs 3 --batch-size 32 --lr 0.0001 $COMMON --max-length 128 2> $W/downstream-$N.err
  $B evaluate --task text-classification --model $W/downstream-general-$N --data data/movie-test.jsonl --max-length 128 --json > $W/downstream-$N-test.json
  log "downstream $L test: $(cat $W/downstream-$N-test.json)"
done
python3 -c "
import json
for l in open('data/movie-test.jsonl'): print(json.loads(l)['text'])" > $W/test-texts.txt
for round in 1 2 3; do
  for N in 0 03 0235; do
    $B bench model --model $W/downstream-general-$N --input $W/test-texts.txt --batch-size 32 --max-length 128 --device cpu --json > $W/bench-$N-$round.json
  done
done
log done
