#!/usr/bin/env bash
# GPU check for a lent NVIDIA machine (no Swift, no network there). Runs a carried static
# `distilcl` through NVIDIA's OpenCL: devices, `distilcl tune` first (at most 3 minutes; its
# winners go to the tuning file the later commands read), parity on the reference checkpoints
# and on a DistilBERT-base-shaped checkpoint, bench kernels (tuned, and the heuristic with
# DISTILCL_NO_TUNING=1), bench model (fixed workload), and PyTorch float32 (TF32 off) on the same
# card for the same model and GEMM shapes; prints a table. About 7 minutes in all.
#
# Prepare here: bash scripts/gpu-pack.sh, which writes .dist/distilcl.xz (swift build -c release
# --static-swift-stdlib) and .dist/libs.tar.xz (libdnnl, libgomp, the
# ocl-icd loader). Then, with .dist carried: bash scripts/gpu-check.sh (outputs to $OUT or ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }
[ -f .dist/distilcl.xz ] || { echo "missing .dist/distilcl.xz (run scripts/gpu-pack.sh first)"; exit 2; }
BIN=/tmp/distilcl-bin/distilcl
mkdir -p /tmp/distilcl-bin && xz -dc .dist/distilcl.xz > "$BIN" && chmod +x "$BIN"

# 1. Libraries the binary links against, unpacked beside it.
LIB=/tmp/distilcl-lib; mkdir -p "$LIB"
tar -xJf .dist/libs.tar.xz -C "$LIB"
export LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# 2. NVIDIA's OpenCL driver: use the system ICD files if one names NVIDIA, else write one.
nv=$(ls /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/local/nvidia/lib/libnvidia-opencl.so.1 \
        /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 /usr/lib64/libnvidia-opencl.so.1 /usr/lib/libnvidia-opencl.so.1 2>/dev/null | head -n1)
[ -n "$nv" ] || nv=$(find / -xdev -name 'libnvidia-opencl.so.1' 2>/dev/null | head -n1)
log "NVIDIA OpenCL library: ${nv:-not found}"
if ! grep -qs nvidia /etc/OpenCL/vendors/*.icd 2>/dev/null && [ -n "$nv" ]; then
  mkdir -p /tmp/distilcl-icd && echo "$nv" > /tmp/distilcl-icd/nvidia.icd
  export OCL_ICD_VENDORS=/tmp/distilcl-icd
  log "wrote ICD file /tmp/distilcl-icd/nvidia.icd"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/summary.txt"

export DISTILCL_CACHE_DIR=/tmp/distilcl-cache
"$BIN" devices | tee "$OUT/devices.txt"

# 2b. Tune the GEMM family for this card (the DistilBERT-base shapes at 128, 1024, 4096 tokens).
timeout 200 "$BIN" tune --device opencl --budget-seconds 170 --json > "$OUT/tune.json" 2> "$OUT/tune.err" \
  || log "tune exited $?"
cp "$DISTILCL_CACHE_DIR/tuning.json" "$OUT/tuning.json" 2>/dev/null

# 3. Parity on every reference checkpoint.
status=0
for m in tiny-distilbert-sst tiny-distilbert-qa tiny-distilbert-mlm tiny-distilbert-ner tiny-bert-pairs; do
  if "$BIN" parity --model "Tests/Fixtures/$m" --device opencl > "$OUT/parity-$m.txt" 2>&1; then
    log "parity $m: PASS"; else log "parity $m: FAIL ($(tail -n1 "$OUT/parity-$m.txt"))"; status=1; fi
done

# 4. A DistilBERT-base-shaped checkpoint (seeded random weights), parity, then the benchmarks.
BASE=/tmp/distilbert-base-random
python3 benchmarks/make_checkpoint.py "$BASE" > "$OUT/make-checkpoint.log" 2>&1 || log "checkpoint creation failed"
"$BIN" parity --model "$BASE" --device opencl > "$OUT/parity-base.txt" 2>&1 && log "parity distilbert-base: PASS" \
  || { log "parity distilbert-base: FAIL"; status=1; }
timeout 90 "$BIN" bench kernels --device opencl --repeats 10 --json > "$OUT/bench-kernels.json" 2> "$OUT/bench-kernels.err" \
  || log "bench kernels exited $?"
DISTILCL_NO_TUNING=1 timeout 60 "$BIN" bench kernels --device opencl --repeats 10 --json \
  > "$OUT/bench-kernels-default.json" 2> "$OUT/bench-kernels-default.err" || log "bench kernels (heuristic) exited $?"
timeout 90 "$BIN" bench model --model "$BASE" --device opencl --no-cpu --batch-size 32 --seq-len 128 --batches 20 --json \
  > "$OUT/bench-model.json" 2> "$OUT/bench-model.err" || log "bench model exited $?"
timeout 150 python3 benchmarks/gpu_torch.py "$BASE" --batches 20 > "$OUT/torch.json" 2> "$OUT/torch.err" || log "PyTorch part exited $?"

# 5. The table.
python3 - "$OUT" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys, os
out = sys.argv[1]
def load(name):
    try: return json.load(open(os.path.join(out, name)))
    except Exception as e: return None
k, m, t = load("bench-kernels.json"), load("bench-model.json"), load("torch.json")
def gemm_rates(report):
    return {r["shape"]: r["work"] / r["deviceMilliseconds"] / 1e6
            for r in (report or {}).get("rows", []) if r["op"].startswith("linear")}
default = gemm_rates(load("bench-kernels-default.json"))
tune = load("tune.json")
print(f"card: {t['device'] if t else '?'}; OpenCL device: {k['device'] if k else '?'}")
if tune:
    print(f"tune: {tune['seconds']:.0f} s of a {tune['budgetSeconds']:.0f} s budget")
    for o in tune["shapes"]:
        print(f"  {o['shape']}: {o['defaultVariant']} {o['defaultGFLOPS']:.0f} -> {o['best']} {o['bestGFLOPS']:.0f} GFLOP/s "
              f"({o['timed']} timed, {o['droppedEarly']} dropped, {o['invalid']} invalid, {o['skipped']} over budget)")
    a = tune.get("attention")
    if a:
        print(f"  attention {a['shape']}: ATT_KB={a['defaultKeyBlock']} v{a['defaultVectorWidth']} {a['defaultGFLOPS']:.0f} -> "
              f"ATT_KB={a['bestKeyBlock']} v{a['bestVectorWidth']} {a['bestGFLOPS']:.0f} GFLOP/s")
if m and t:
    d = m["results"][0]["sequencesPerSecond"]; p = t["fixed_sequences_per_second"]
    print(f"DistilBERT-base fixed 32x128: distilcl {d:.1f} seq/s, PyTorch fp32 {p:.1f} seq/s, ratio {d/p:.2f}")
if k and t:
    cu = {(g["m"], g["n"], g["k"]): g["gflops"] for g in t["sgemm"]}
    print("GEMM GFLOP/s: heuristic, tuned (the tuning file), cuBLAS, tuned/cuBLAS (target >= 0.70 at M >= 1024)")
    print("| op M N K | heuristic | tuned | cuBLAS | tuned/cuBLAS |")
    for r in k["rows"]:
        if not r["op"].startswith("linear"): continue
        mm, nn, kk = [int(x[1:]) for x in r["shape"].split()]
        g = r["work"] / r["deviceMilliseconds"] / 1e6; c = cu.get((mm, nn, kk)); h = default.get(r["shape"])
        print(f"| {r['op']} {mm} {nn} {kk} | {h:.0f} | {g:.0f} | " if h else f"| {r['op']} {mm} {nn} {kk} | - | {g:.0f} | ",
              end="")
        print(f"{c:.0f} | {g / c:.2f} |" if c else "- | - |")
    for r in k["rows"]:
        if r["op"].startswith("linear") or r["op"].startswith("openblas"): continue
        print(f"| {r['op']} {r['shape']} | {r['deviceMilliseconds']:.3f} ms | {r['work'] / r['deviceMilliseconds'] / 1e6:.1f} {r['unit']} |")
PY
exit $status
