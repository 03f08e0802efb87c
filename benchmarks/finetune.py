#!/usr/bin/env python3
"""Fine-tuning all-MiniLM-L6-v2 for movie-review sentiment: DistilCL (`distilcl train`, CPU path and
OpenCL) against transformers' Trainer, the same recipe in the same run (issue 9).

Recipe: models/all-MiniLM-L6-v2 (a bare BertModel; its pooler is kept and a new 2-class classifier
is added, id2label {0: negative, 1: positive}), trained on data/movie-train.jsonl (the even-id
snippets) for 3 epochs, batch 32, AdamW lr 1e-4 with weight decay 0.01 (biases and LayerNorm weights
exempt), linear warmup over ceil(0.1 x all steps) then linear decay to 0, gradient norm clipped to
1.0, max length 128, seed 0, the config's dropout (0.1); accuracy on data/movie-test.jsonl (the odd
ids). `bash scripts/fetch-models.sh` makes the model and the data.

Each engine runs in its own child process, one after another, with the same thread count
(OMP_NUM_THREADS and torch.set_num_threads): this process imports neither torch nor transformers, so
a child's peak RSS (ru_maxrss from wait4; Linux carries the parent's RSS at fork into it) is the
engine's own.

  transformers  AutoModelForSequenceClassification + Trainer (DataCollatorWithPadding: each batch
                padded to its longest text; seeded shuffling; no evaluation or saving during
                training). Only trainer.train() is timed; tokenization is not.
  cpu, opencl   .build/release/distilcl train ... --device cpu|opencl; accuracy from the last line of
                <out>/train_log.jsonl, samples/s from its per-epoch train_samples_per_second
                (samples x epochs / the summed per-epoch training times they imply).

Columns: test accuracy, training samples/s (training samples x epochs / training seconds), the
ratio to transformers' samples/s, peak RSS in MiB.

Usage (the venv of README "Comparing with PyTorch and ONNX Runtime"; Trainer needs accelerate too):
  swift build -c release && bench-venv/bin/python benchmarks/finetune.py [--threads 2]
      [--engines transformers,cpu,opencl] [--epochs 3] [--limit N] [--out-json FILE] [--save DIR]
  --limit N    only the first N training and N test lines (smoke tests)
  --save DIR   the cpu engine trains into DIR (kept) instead of a temporary folder
"""
import argparse, collections, datetime, json, math, os, platform, shutil, subprocess, sys, tempfile
import threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models/all-MiniLM-L6-v2"
TRAIN = ROOT / "data/movie-train.jsonl"
TEST = ROOT / "data/movie-test.jsonl"
LABELS = ["negative", "positive"]
RECIPE = {"batch_size": 32, "lr": 1e-4, "warmup": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0,
          "seed": 0, "max_length": 128}
ENGINES = ("transformers", "cpu", "opencl")


def log(*a):
    print(*a, flush=True)


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# MARK: - transformers (child process)

def transformers_child(args):
    """Runs in its own process: trains with Trainer, evaluates, writes the result JSON."""
    import numpy as np, torch, transformers
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments, set_seed)
    torch.set_num_threads(args.threads)
    train_rows, test_rows = read_jsonl(args.train), read_jsonl(args.eval)
    label2id = {name: i for i, name in enumerate(LABELS)}
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    def dataset(rows):
        enc = tokenizer([r["text"] for r in rows], truncation=True, max_length=RECIPE["max_length"])
        return [{**{k: enc[k][i] for k in enc}, "labels": label2id[r["label"]]} for i, r in enumerate(rows)]

    train_set, test_set = dataset(train_rows), dataset(test_rows)
    set_seed(RECIPE["seed"])   # the new classifier's initialisation
    model, info = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=2, id2label=dict(enumerate(LABELS)), label2id=label2id,
        dtype=torch.float32, output_loading_info=True)
    missing = sorted(info["missing_keys"])
    log(f"transformers: newly initialised {missing}; checkpoint keys not used {sorted(info['unexpected_keys'])}")
    with tempfile.TemporaryDirectory(prefix="finetune-hf-") as out:
        targs = TrainingArguments(
            output_dir=out, num_train_epochs=args.epochs, per_device_train_batch_size=RECIPE["batch_size"],
            per_device_eval_batch_size=64, learning_rate=RECIPE["lr"], warmup_steps=RECIPE["warmup"],
            weight_decay=RECIPE["weight_decay"], max_grad_norm=RECIPE["max_grad_norm"],
            lr_scheduler_type="linear", seed=RECIPE["seed"], eval_strategy="no", save_strategy="no",
            logging_strategy="epoch", report_to="none", use_cpu=True, dataloader_pin_memory=False)
        trainer = Trainer(model=model, args=targs, train_dataset=train_set,
                          data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
        t0 = time.perf_counter()
        train_out = trainer.train()
        seconds = time.perf_counter() - t0
        pred = trainer.predict(test_set)
    accuracy = float((np.argmax(pred.predictions, axis=1) == pred.label_ids).mean())
    total_steps = trainer.state.max_steps
    result = {
        "accuracy": accuracy, "eval_loss": float(pred.metrics["test_loss"]),
        "train_loss": float(train_out.training_loss),
        "samples_per_second": len(train_set) * args.epochs / seconds, "train_seconds": seconds,
        "steps": total_steps, "warmup_steps": targs.get_warmup_steps(total_steps),
        "newly_initialised": missing, "pooler_from_checkpoint": not any("pooler" in k for k in missing),
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
    }
    Path(args.result).write_text(json.dumps(result))


# MARK: - children, timed and measured

def run_logged(cmd, env):
    """Echoes and runs cmd (run_child); returns (peak RSS MiB, wall seconds, None), or
    (None, None, error message) when it cannot start or exits non-zero."""
    log("$ " + " ".join(cmd))
    try:
        rc, rss, wall, tail = run_child(cmd, env)
    except OSError as e:
        return None, None, f"{cmd[0]}: {e.strerror}"
    if rc != 0:
        return None, None, f"exit {rc}: " + "; ".join(tail[-3:])
    return rss, wall, None


def run_child(cmd, env):
    """Runs cmd, echoing its standard error live; returns (exit status, peak RSS MiB, wall seconds,
    the last lines of its output)."""
    tail = collections.deque(maxlen=15)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)

    def pump():
        for raw in iter(lambda: p.stdout.read1(65536), b""):
            sys.stdout.buffer.write(raw); sys.stdout.buffer.flush()
            tail.extend(raw.decode("utf-8", "replace").replace("\r", "\n").splitlines())
    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    p.stdout.close()
    return p.returncode, usage.ru_maxrss / 1024, time.perf_counter() - t0, [l for l in tail if l.strip()]


def run_transformers(args, train, test, env):
    with tempfile.TemporaryDirectory(prefix="finetune-") as tmp:
        result_file = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-transformers", "--model", str(args.model),
               "--train", str(train), "--eval", str(test), "--epochs", str(args.epochs),
               "--threads", str(args.threads), "--result", str(result_file)]
        rc, rss, wall, tail = run_child(cmd, env)
        if rc != 0 or not result_file.exists():
            return {"error": f"exit {rc}: " + "; ".join(tail[-3:])}
        return {**json.loads(result_file.read_text()), "peak_rss_mib": rss, "wall_seconds": wall}


def run_distilcl(args, device, train, test, n_train, env):
    keep = args.save is not None and device == "cpu"
    out = Path(args.save).resolve() if keep else Path(tempfile.mkdtemp(prefix=f"finetune-{device}-"))
    try:
        cmd = [args.distilcl, "train", "--model", str(args.model), "--train", str(train), "--eval", str(test),
               "--out", str(out), "--epochs", str(args.epochs), "--batch-size", str(RECIPE["batch_size"]),
               "--lr", str(RECIPE["lr"]), "--warmup", str(RECIPE["warmup"]),
               "--weight-decay", str(RECIPE["weight_decay"]), "--max-grad-norm", str(RECIPE["max_grad_norm"]),
               "--seed", str(RECIPE["seed"]), "--max-length", str(RECIPE["max_length"]), "--device", device]
        rss, wall, error = run_logged(cmd, env)
        if error:
            return {"error": error}
        log_file = out / "train_log.jsonl"
        try:
            # Epoch lines only: --logging-steps and --eval-steps add step and evaluation lines.
            epochs = [e for e in read_jsonl(log_file) if "train_samples_per_second" in e]
            last = epochs[-1]
            # The summed per-epoch training times their samples/s imply: evaluation is not counted.
            train_seconds = sum(n_train / e["train_samples_per_second"] for e in epochs)
            return {"accuracy": float(last["eval_accuracy"]), "eval_loss": last.get("eval_loss"),
                    "train_loss": last.get("train_loss"), "steps": last.get("step"),
                    "samples_per_second": n_train * len(epochs) / train_seconds, "train_seconds": train_seconds,
                    "epochs_logged": len(epochs), "peak_rss_mib": rss, "wall_seconds": wall,
                    **({"saved": str(out)} if keep else {})}
        except (OSError, ValueError, KeyError, IndexError, ZeroDivisionError, TypeError) as e:
            return {"error": f"could not read {log_file}: {type(e).__name__}: {e}"}
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)


# MARK: - main

def checked_engines(spec, known, paths, remedy):
    """The engines a comma list names, each one of `known`, once `paths` all exist (else exit
    with `remedy`)."""
    engines = [e.strip() for e in spec.split(",") if e.strip()]
    if unknown := [e for e in engines if e not in known]:
        sys.exit(f"unknown engine(s) {unknown}; choose from {', '.join(known)}")
    for path in paths:
        if not Path(path).exists():
            sys.exit(f"{path} is missing: run `{remedy}`")
    return engines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma list of: " + ", ".join(ENGINES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="only the first N training and test lines")
    ap.add_argument("--out-json", default=None, help="also write the results here")
    ap.add_argument("--save", default=None, help="the cpu engine trains into this folder (kept)")
    ap.add_argument("--distilcl", default=str(ROOT / ".build/release/distilcl"))
    ap.add_argument("--model", default=str(MODEL))
    ap.add_argument("--train", default=str(TRAIN))
    ap.add_argument("--eval", default=str(TEST))
    ap.add_argument("--child-transformers", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.child_transformers:
        return transformers_child(args)

    engines = checked_engines(args.engines, ENGINES, (args.model, args.train, args.eval), "bash scripts/fetch-models.sh")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    started = datetime.datetime.now().astimezone()
    results = {}
    with tempfile.TemporaryDirectory(prefix="finetune-data-") as tmp:
        train, test = Path(args.train), Path(args.eval)
        if args.limit is not None:   # the first N lines of each, as files every engine reads
            def head(src, name):
                dst = Path(tmp) / name
                dst.write_text("".join(src.read_text(encoding="utf-8").splitlines(keepends=True)[:args.limit]),
                               encoding="utf-8")
                return dst
            train, test = head(train, "train.jsonl"), head(test, "test.jsonl")
        n_train, n_test = len(read_jsonl(train)), len(read_jsonl(test))
        log(f"fine-tuning {Path(args.model).name}: {n_train} training and {n_test} test texts, "
            f"{args.epochs} epoch(s), {args.threads} thread(s), engines {', '.join(engines)}")
        for engine in engines:
            log(f"\n--- {engine} ---")
            if engine == "transformers":
                r = run_transformers(args, train, test, env)
            else:
                r = run_distilcl(args, engine, train, test, n_train, env)
            results[engine] = r
            log(f"{engine}: " + (f"error: {r['error']}" if "error" in r else
                                 f"accuracy {r['accuracy']:.4f}, {r['samples_per_second']:.1f} samples/s, "
                                 f"peak RSS {r['peak_rss_mib']:.0f} MiB"))

    names = {"transformers": "transformers Trainer", "cpu": "DistilCL cpu", "opencl": "DistilCL opencl (PoCL)"}
    base = results.get("transformers", {}).get("samples_per_second")
    log("")
    log(f"{cpu_name()}, {args.threads} thread(s), {started:%Y-%m-%d %H:%M %Z}; {n_train} training texts x "
        f"{args.epochs} epoch(s), {n_test} test texts")
    log("")
    log("| engine | accuracy | train samples/s | vs transformers | peak RSS MiB |")
    log("| --- | ---: | ---: | ---: | ---: |")
    for engine, r in results.items():
        if "error" in r:
            log(f"| {names[engine]} | error: {r['error'][:160].replace('|', '/')} | - | - | - |")
            continue
        sps = r["samples_per_second"]
        log(f"| {names[engine]} | {r['accuracy']:.4f} | {sps:.1f} | "
            f"{f'{sps / base:.2f}x' if base else '-'} | {r['peak_rss_mib']:.0f} |")
    if args.out_json:
        Path(args.out_json).write_text(json.dumps({
            "date": started.isoformat(timespec="seconds"), "cpu": cpu_name(), "threads": args.threads,
            "epochs": args.epochs, "limit": args.limit, "train_texts": n_train, "test_texts": n_test,
            "recipe": RECIPE, "model": str(args.model), "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
            "results": results}, indent=1) + "\n")
        log(f"\nwrote {args.out_json}")


if __name__ == "__main__":
    main()
