#!/usr/bin/env python3
"""Plots a `distilcl train` / `distilcl distill` run's OUT/train_log.jsonl: training loss (and eval
loss) against the optimiser step in the upper panel, the eval metric (eval_f1, else eval_accuracy,
or --metric) in the lower one, epoch ends marked. Writes a PNG (default docs/training-curve.png).

train_log.jsonl lines, as distilcl writes them:
  --logging-steps N  {"loss", "learning_rate", "grad_norm", "samples_per_second", "step", "epoch"}
  --eval-steps N     {"eval_loss", "eval_accuracy" | "eval_f1", "eval_precision", ..., "step", "epoch"}
  each epoch's end   {"epoch", "step", "train_loss", "eval_loss", "eval_…", "train_samples_per_second", "seconds"}

Usage:
  bench-venv/bin/python benchmarks/plot_training.py OUT/train_log.jsonl [--out docs/training-curve.png]
      [--title "..."] [--metric eval_f1]
"""
import argparse, json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("log", help="a run's train_log.jsonl (or the run folder)")
    ap.add_argument("--out", default=str(ROOT / "docs/training-curve.png"))
    ap.add_argument("--title", default=None)
    ap.add_argument("--metric", default=None, help="eval_f1 if the log has it, else eval_accuracy")
    ap.add_argument("--dpi", type=int, default=100)
    args = ap.parse_args()
    path = Path(args.log)
    if path.is_dir():
        path = path / "train_log.jsonl"
    lines = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]

    train = [(e["step"], e["loss"]) for e in lines if "loss" in e and "step" in e]
    epochs = [e for e in lines if "train_samples_per_second" in e]
    evals = [e for e in lines if any(k.startswith("eval_") for k in e)]
    metric = args.metric or next((m for m in ("eval_f1", "eval_accuracy") if any(m in e for e in evals)), None)
    if not train and not epochs:
        raise SystemExit(f"{path}: no training-loss lines (run with --logging-steps N)")
    if metric is None:
        raise SystemExit(f"{path}: no evaluation lines (run with --eval and --eval-steps N)")
    by_step = {}
    for e in evals:   # an epoch's end and an --eval-steps line at the same step are the same evaluation
        by_step[e["step"]] = e
    ev = sorted(by_step.values(), key=lambda e: e["step"])

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7.5, 5.2), dpi=args.dpi,
                                      gridspec_kw={"height_ratios": [1.1, 1]})
    if train:
        top.plot(*zip(*train), color="tab:blue", lw=1.2, label="training loss (mean over each logging interval)")
    else:
        top.plot([e["step"] for e in epochs], [e["train_loss"] for e in epochs], "o-", color="tab:blue",
                 label="training loss (epoch mean)")
    eloss = [(e["step"], e["eval_loss"]) for e in ev if "eval_loss" in e]
    if eloss:
        top.plot(*zip(*eloss), "o-", color="tab:orange", ms=3.5, lw=1.2, label="eval loss")
    top.set_ylabel("loss")
    top.set_yscale("log")
    top.legend(loc="upper right", fontsize=8, frameon=False)
    top.grid(alpha=0.3)
    name = metric.replace("eval_", "")
    scale = 100 if name in ("f1", "accuracy", "precision", "recall") else 1
    pts = [(e["step"], scale * e[metric]) for e in ev if e.get(metric) is not None]
    bottom.plot(*zip(*pts), "o-", color="tab:green", ms=3.5, lw=1.2,
                label=f"eval {'entity ' if name == 'f1' else ''}{name}{' × 100' if scale == 100 else ''}")
    bottom.set_ylabel(f"eval {name}" + (" (%)" if scale == 100 else ""))
    bottom.set_xlabel("optimiser step")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="lower right", fontsize=8, frameon=False)
    for ax in (top, bottom):
        for e in epochs:
            ax.axvline(e["step"], color="grey", lw=0.6, ls=":")
    if epochs:
        last = epochs[-1]
        bottom.annotate(f"{scale * last[metric]:.1f}" if last.get(metric) is not None else "",
                        (last["step"], scale * last.get(metric, 0)), textcoords="offset points", xytext=(-4, 6),
                        ha="right", fontsize=8)
    fig.suptitle(args.title or f"distilcl run: {path.parent.name}", fontsize=10)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=args.dpi)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB): {len(train)} loss points, {len(pts)} {metric} points")


if __name__ == "__main__":
    main()
