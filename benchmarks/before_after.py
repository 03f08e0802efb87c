#!/usr/bin/env python3
"""Inference and training speed of two `distilcl` binaries, alternated in one run on one machine, so
a refactoring can show it costs nothing (issue 21). Medians of --repeats runs each; ratios after/before.

    git worktree add /tmp/before <commit> && (cd /tmp/before && swift build -c release)
    swift build -c release
    python3 benchmarks/before_after.py --before /tmp/before/.build/release/distilcl \\
        --after .build/release/distilcl --repeats 3

Workloads (the CPU path, models/all-MiniLM-L6-v2 and data/ from scripts/fetch-models.sh):
  bench model, fixed   `bench model --device cpu --batch-size 32 --seq-len 128 --batches 20`, sequences/s
  bench model, texts   `bench model --device cpu --input data/movie-reviews.txt --limit 2000`, sequences/s
  train                `train --max-length 128 --lr 1e-4 --epochs 1 --device cpu` on 320 lines of
                       data/movie-fit.jsonl (every 13th: both labels), train_samples_per_second from
                       OUT/train_log.jsonl
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_name():
    model, number = "unknown CPU", "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and model == "unknown CPU":
            model = line.split(":", 1)[1].strip()
        if line.startswith("model\t") and number == "?":
            number = line.split(":", 1)[1].strip()
    return f"{model} (cpuid model {number}), {os.cpu_count()} cores"


def bench_model(binary, extra):
    out = subprocess.run([binary, "bench", "model", "--model", "models/all-MiniLM-L6-v2", "--device", "cpu",
                          "--no-cpu", "--json", *extra], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    rows = result if isinstance(result, list) else result.get("results", [result])
    return rows[0]["sequencesPerSecond"] if "sequencesPerSecond" in rows[0] else rows[0]["sequences_per_second"]


def train(binary, sample):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([binary, "train", "--model", "models/all-MiniLM-L6-v2", "--train", str(sample),
                        "--out", f"{tmp}/out", "--max-length", "128", "--lr", "1e-4", "--epochs", "1",
                        "--device", "cpu", "--seed", "1"], cwd=ROOT, check=True, capture_output=True, text=True)
        log = [json.loads(l) for l in Path(f"{tmp}/out/train_log.jsonl").read_text().splitlines() if l.strip()]
        return log[-1]["train_samples_per_second"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    for b in (a.before, a.after):
        if not os.access(b, os.X_OK):
            sys.exit(f"before_after: {b} is not an executable")
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "train-320.jsonl"
        lines = (ROOT / "data/movie-fit.jsonl").read_text().splitlines()[::13][:320]   # both labels
        sample.write_text("\n".join(lines) + "\n")
        workloads = {
            "bench model 32x128, 20 batches (seq/s)": lambda b: bench_model(b, ["--batch-size", "32", "--seq-len", "128",
                                                                                "--batches", "20"]),
            "bench model 2,000 movie texts (seq/s)": lambda b: bench_model(b, ["--input", "data/movie-reviews.txt",
                                                                               "--limit", "2000"]),
            "train 320 texts, 1 epoch (samples/s)": lambda b: train(b, sample),
        }
        figures = {name: {"before": [], "after": []} for name in workloads}
        for r in range(a.repeats):
            for name, run in workloads.items():
                for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
                    v = run(a.before if side == "before" else a.after)
                    figures[name][side].append(v)
                    print(f"  run {r + 1} {side:6} {name}: {v:.1f}", file=sys.stderr, flush=True)
    print(f"CPU: {cpu_name()}; {platform.platform()}")
    print("| workload | before | after | after/before |")
    print("| --- | ---: | ---: | ---: |")
    for name, f in figures.items():
        mb, ma = statistics.median(f["before"]), statistics.median(f["after"])
        rng = lambda xs: f"{min(xs):.1f}–{max(xs):.1f}"
        print(f"| {name} | {mb:.1f} ({rng(f['before'])}) | {ma:.1f} ({rng(f['after'])}) | {ma / mb:.2f} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"cpu": cpu_name(), "figures": figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
