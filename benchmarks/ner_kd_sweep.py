#!/usr/bin/env python3
"""The NER student's distillation loss weights, chosen on dev (issue 22): a DistilCL-only grid.

For each seed, the teacher `DIR/teacher-distilcl` that `benchmarks/ner.py --seed S --keep DIR` left
(its fine-tuned 6-layer MiniLM) is distilled into the 3-layer student (layers 0,2,4) with ner.py's
student recipe (4 epochs, lr 2e-4, batch 8, ...) for every (temperature, alpha_kd) of the grid, with
alpha_ce = 1 - alpha_kd, and scored on dev only (`--eval`, the last epoch's entity F1 in train_log.jsonl).
The student trained without a teacher (alpha_kd 0, alpha_ce 1) is run too, once per seed, as the
reference the grid must beat. The test split is never read.

Usage:
  bench-venv/bin/python benchmarks/ner_kd_sweep.py --distilcl /tmp/distilcl-X --teachers /tmp/ner4-s{seed}
      [--seeds 0,2] [--grid 1:0.5,2:0.5,4:0.5,2:0.2,2:0.8] [--no-baseline] [--threads 2] --out-json FILE
"""
import argparse, datetime, json, statistics, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ner  # noqa: E402  (imports neither torch nor transformers)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distilcl", required=True)
    ap.add_argument("--teachers", required=True, help="folder pattern with {seed}: ner.py's --keep folder of that seed")
    ap.add_argument("--seeds", default="0,2")
    ap.add_argument("--grid", default="1:0.5,2:0.5,4:0.5,2:0.2,2:0.8", help="temperature:alpha_kd pairs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-baseline", action="store_true", help="skip the no-teacher student (a grid extending an earlier one)")
    ap.add_argument("--data", default=str(ner.DATA))
    ap.add_argument("--out-json", required=True)
    args = ap.parse_args()

    grid = [(float(t), float(a)) for t, a in (p.split(":") for p in args.grid.split(","))]
    grid += [] if args.no_baseline else [(1.0, 0.0)]
    r = ner.RECIPE
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "cpu": ner.cpu_description()[0], "distilcl": args.distilcl, "threads": args.threads,
              "recipe": {"epochs": ner.STUDENT_EPOCHS, "lr": ner.STUDENT_LR, **r}, "runs": []}
    work = Path(tempfile.mkdtemp(prefix="ner-kd-sweep-"))
    for seed in [int(s) for s in args.seeds.split(",")]:
        teacher = Path(args.teachers.format(seed=seed)) / "teacher-distilcl"
        for t, a in grid:
            out = work / f"s{seed}-T{t}-a{a}"
            cmd = [args.distilcl, "distill", "--task", "token-classification", "--teacher", str(teacher),
                   "--student-layers", ",".join(map(str, r["student_layers"])), "--temperature", repr(t),
                   "--alpha-kd", repr(a), "--alpha-ce", repr(1 - a), "--alpha-cos", "0",
                   "--train", str(Path(args.data) / "train.jsonl"), "--eval", str(Path(args.data) / "dev.jsonl"),
                   "--out", str(out), "--epochs", str(ner.STUDENT_EPOCHS), "--batch-size", str(r["batch_size"]),
                   "--lr", repr(ner.STUDENT_LR), "--warmup", str(r["warmup"]), "--weight-decay", str(r["weight_decay"]),
                   "--max-grad-norm", str(r["max_grad_norm"]), "--seed", str(seed), "--max-length", str(r["max_length"]),
                   "--device", "cpu", "--threads", str(args.threads)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"{' '.join(cmd)}\nstatus {p.returncode}\n{p.stderr[-2000:]}")
            epochs = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()
                      if l.strip() and "train_samples_per_second" in l]
            dev = [e.get("eval_f1") for e in epochs]
            run = {"seed": seed, "temperature": t, "alpha_kd": a, "alpha_ce": 1 - a, "dev_f1_per_epoch": dev,
                   "dev_f1": dev[-1], "command": " ".join(cmd)}
            result["runs"].append(run)
            ner.log(f"seed {seed} T {t} alpha_kd {a}: dev F1 per epoch {[round(100 * x, 2) for x in dev]}")
            Path(args.out_json).write_text(json.dumps(result, indent=1) + "\n")
    by = {}
    for run in result["runs"]:
        by.setdefault((run["temperature"], run["alpha_kd"]), []).append(run["dev_f1"])
    result["mean_dev_f1"] = [{"temperature": t, "alpha_kd": a, "mean": statistics.mean(v), "per_seed": v}
                             for (t, a), v in sorted(by.items(), key=lambda kv: -statistics.mean(kv[1]))]
    for row in result["mean_dev_f1"]:
        ner.log(f"T {row['temperature']} alpha_kd {row['alpha_kd']}: mean dev F1 {100 * row['mean']:.2f} "
                f"({', '.join(f'{100 * x:.2f}' for x in row['per_seed'])})")
    Path(args.out_json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
