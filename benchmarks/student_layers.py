#!/usr/bin/env python3
"""Which teacher layers should a 3-layer student keep? (issue 22)

`distilcl distill --student-layers L` for L in 0,2,4 (DistilCL's default: every other layer from 0),
0,2,5 (every other from 0 but keeping the teacher's last layer, as transformers'
extract_distilbert.py keeps it) and 1,3,5 (every other ending at the last), everything else equal
(recipe, data, seed), scored on a dev split. DistilCL only (CPU path); nothing here looks at a test
split.

Tasks:
  text   sentiment. Teacher: all-MiniLM-L6-v2 + a new 2-class head fine-tuned by `distilcl train` on
         data/movie-fit.jsonl (movie-train minus movie-dev: movie-dev is a subset of movie-train, so a
         teacher trained on movie-train has seen the dev sentences), the recipe of
         scripts/make-sentiment-model.sh (batch 32, lr 1e-4, warm-up 0.1, weight decay 0.01, clip 1.0,
         seed 0, max length 128) for --text-teacher-epochs epochs; built into WORK/text-teacher unless
         --text-teacher names one. Students: distilled on movie-fit, dev accuracy on movie-dev,
         benchmarks/distill.py's recipe (batch 32, lr 1e-4, T 2, α_kd 0.5, α_ce 0.5, α_cos 0).
  token  NER tweets (data/ner). Teacher: --ner-teacher (a BertForTokenClassification fine-tuned on
         data/ner/train.jsonl, e.g. benchmarks/ner.py --keep DIR's DIR/teacher-distilcl), else one
         trained here with --ner-epochs/--ner-lr (batch 8). Students: distilled on train.jsonl with
         the same epochs/lr/batch, seqeval entity F1 on dev.jsonl (`distilcl distill`'s own
         evaluation after the last epoch, as `distilcl evaluate` computes it).
  qa     extractive question answering on SQuAD excerpts (benchmarks/squad.py's data, v1.1-style:
         unanswerable questions dropped). Split by article, as squad.py --eval-on dev: dev =
         Sky_(United_Kingdom) (108 questions); train = --qa-train-articles (default: squad.py's dev-run
         training articles, University_of_Notre_Dame + Normans + Computational_complexity_theory +
         Southern_California, 742 questions); the test article Victoria_(Australia) is never read.
         Teacher: --qa-teacher (e.g. squad.py --keep DIR's DistilCL teacher), else one trained here by
         `distilcl train --task question-answering` on the training articles alone (--qa-teacher-epochs,
         lr 1e-4, batch 8). Students: squad.py's student recipe (1 epoch, batch 8 windows, lr 1e-4, max
         length 256, doc stride 128, T 2, α_kd 0.5, α_ce 0.5), scored on dev by `distilcl evaluate --task
         question-answering --json` (official v1.1 exact_match and f1, n-best 20, max answer length 30;
         the metric is f1, exact_match is reported beside it).

For text and token, the metric is the one in the last epoch's line of the student's train_log.jsonl (the model after its
last epoch; no early stopping). Each (task, layer set) is distilled once per --seeds seed (the seed
drives shuffling and dropout; the student's weights are copied from the teacher, so no random
initialisation differs).

The defaults are the recipes BENCHMARKS.md "Student layers (issue 22)" ran (short, bounded by time:
teacher 2 epochs and students 1 epoch for text; 2 epochs at lr 3e-4 for NER, benchmarks/ner.py's).
The QA rows there used --qa-teacher benchmarks/squad.py's v1.1-style DistilCL teacher, which was
fine-tuned on all five training articles, Sky_(United_Kingdom) included (so it has seen the dev
questions; all three students share that leak, the comparison between them is relative), and, by
time, --qa-train-articles Normans,Computational_complexity_theory,Southern_California (473 questions,
494 windows).

Usage:
  bench-venv/bin/python benchmarks/student_layers.py [--distilcl BIN] [--tasks text,token]
      [--layer-sets 0,2,4/0,2,5/1,3,5] [--seeds 0,1] [--ner-teacher DIR] [--text-teacher DIR]
      [--text-epochs N] [--ner-epochs N] [--ner-lr LR] [--qa-teacher DIR] [--qa-train-articles A,B,...]
      [--qa-teacher-epochs N] [--squad-data DIR] [--threads 2] [--work DIR] [--out-json FILE]
  e.g. the QA rows: --tasks qa --qa-teacher /tmp/squad-teacher
      --qa-train-articles Normans,Computational_complexity_theory,Southern_California
"""
import argparse, datetime, json, os, statistics, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import log, read_jsonl, run_logged  # noqa: E402  (imports neither torch nor transformers)
from ner import cpu_description  # noqa: E402
from squad import (BATCH_SIZE, DATA as SQUAD_DATA, DEV_ARTICLE, DOC_STRIDE, MAX_LENGTH, STUDENT_EPOCHS,  # noqa: E402
                   STUDENT_LR, TEST_ARTICLE, make_split)

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["--warmup", "0.1", "--weight-decay", "0.01", "--max-grad-norm", "1.0", "--max-length", "128",
          "--device", "cpu"]
COMMON_QA = ["--warmup", "0.1", "--weight-decay", "0.01", "--max-grad-norm", "1.0", "--max-length", str(MAX_LENGTH),
             "--doc-stride", str(DOC_STRIDE), "--device", "cpu"]
DISTIL = ["--temperature", "2.0", "--alpha-kd", "0.5", "--alpha-ce", "0.5", "--alpha-cos", "0"]


def make_qa_split(args, folder):
    """train.json / dev.json (v1.1-style SQuAD JSON) in `folder`, split by article as squad.py --eval-on dev."""
    data_dir = Path(args.squad_data) if args.squad_data else SQUAD_DATA
    paths, counts = make_split(data_dir, "v1", "dev", None, folder)
    assert TEST_ARTICLE not in counts["train_articles"] and counts["eval_article"] == DEV_ARTICLE, counts
    if args.qa_train_articles:
        keep = [a for a in args.qa_train_articles.split(",") if a]
        assert not {TEST_ARTICLE, DEV_ARTICLE} & set(keep), keep
        d = json.loads(paths["train"].read_text(encoding="utf-8"))
        missing = set(keep) - {a["title"] for a in d["data"]}
        assert not missing, f"no such training article: {missing}"
        d["data"] = [a for a in d["data"] if a["title"] in keep]
        paths["train"].write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
        counts["train_articles"] = [a["title"] for a in d["data"]]
        counts["train"] = sum(len(p["qas"]) for a in d["data"] for p in a["paragraphs"])
    return counts


def qa_evaluate(args, model, data, env, cache):
    """`distilcl evaluate --task question-answering --json` on data (squad.py's decoding flags), kept in cache."""
    if Path(cache).exists():
        return json.loads(Path(cache).read_text())
    cmd = [args.distilcl, "evaluate", "--model", str(model), "--data", str(data), "--task", "question-answering",
           "--max-length", str(MAX_LENGTH), "--doc-stride", str(DOC_STRIDE), "--n-best", "20",
           "--max-answer-length", "30", "--null-score-diff-threshold", "0.0", "--json"]
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        log(f"evaluate {model}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
        return {}
    scores = {k[len("eval_"):] if k.startswith("eval_") else k: v for k, v in json.loads(p.stdout).items()}
    Path(cache).write_text(json.dumps(scores) + "\n")
    return scores


def last_epoch_line(out):
    lines = [e for e in read_jsonl(Path(out) / "train_log.jsonl") if "train_samples_per_second" in e]
    return lines[-1], len(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--distilcl", default=str(ROOT / ".build/release/distilcl"))
    ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    ap.add_argument("--tasks", default="text,token")
    ap.add_argument("--layer-sets", default="0,2,4/0,2,5/1,3,5", help="slash-separated")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--text-teacher", default=None)
    ap.add_argument("--text-teacher-epochs", type=int, default=2)
    ap.add_argument("--text-epochs", type=int, default=1, help="students' epochs, text task")
    ap.add_argument("--text-lr", type=float, default=1e-4)
    ap.add_argument("--ner-teacher", default=None)
    ap.add_argument("--ner-epochs", type=int, default=2)
    ap.add_argument("--ner-lr", type=float, default=3e-4)
    ap.add_argument("--ner-batch", type=int, default=8)
    ap.add_argument("--qa-teacher", default=None)
    ap.add_argument("--qa-teacher-epochs", type=int, default=1, help="only when no --qa-teacher")
    ap.add_argument("--qa-train-articles", default=None,
                    help="comma-separated titles (default: every training article but the dev and test ones)")
    ap.add_argument("--squad-data", default=None, help="default: benchmarks/squad.py's ../shared/data/squad")
    ap.add_argument("--work", default=None, help="keep teachers and students here (default: a temporary folder)")
    ap.add_argument("--out-json", default=None)
    args = ap.parse_args()

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    work = Path(args.work or tempfile.mkdtemp(prefix="student-layers-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in args.tasks.split(",") if t]
    layer_sets = [s for s in args.layer_sets.split("/") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    started = datetime.datetime.now().astimezone()
    cpu = cpu_description()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE, text=True).stdout.strip()
    results = {"date": started.isoformat(timespec="seconds"), "cpu": cpu, "threads": args.threads,
               "distilcl": args.distilcl, "head_at_run": commit, "layer_sets": layer_sets, "seeds": seeds,
               "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "tasks": {}}

    qa_split = {}
    if "qa" in tasks:
        qa_split = make_qa_split(args, work / "qa-data")
        log(f"qa split: {qa_split}")
    specs = {
        "text": {"train": ROOT / "data/movie-fit.jsonl", "dev": ROOT / "data/movie-dev.jsonl", "metric": "eval_accuracy",
                 "task": "text-classification", "epochs": args.text_epochs, "lr": args.text_lr, "batch": 32},
        "token": {"train": ROOT / "data/ner/train.jsonl", "dev": ROOT / "data/ner/dev.jsonl", "metric": "eval_f1",
                  "task": "token-classification", "epochs": args.ner_epochs, "lr": args.ner_lr, "batch": args.ner_batch},
        "qa": {"train": work / "qa-data/train.json", "dev": work / "qa-data/dev.json", "metric": "f1",
               "task": "question-answering", "epochs": STUDENT_EPOCHS, "lr": STUDENT_LR, "batch": BATCH_SIZE},
    }
    for task in tasks:
        s = specs[task]
        qa = task == "qa"
        common = COMMON if not qa else COMMON_QA
        rel = lambda f: str(f.relative_to(ROOT)) if f.is_relative_to(ROOT) else str(f)
        t = {"train": rel(s["train"]), "dev": rel(s["dev"]), "metric": s["metric"],
             "recipe": {"epochs": s["epochs"], "lr": s["lr"], "batch_size": s["batch"], "temperature": 2.0,
                        "alpha_kd": 0.5, "alpha_ce": 0.5, "alpha_cos": 0.0, "warmup": 0.1, "weight_decay": 0.01,
                        "max_grad_norm": 1.0, "max_length": 128 if not qa else MAX_LENGTH}, "runs": []}
        if qa:
            t["recipe"].update({"doc_stride": DOC_STRIDE, "n_best": 20, "max_answer_length": 30})
            t["split"] = qa_split
        results["tasks"][task] = t
        teacher = Path(getattr(args, {"text": "text_teacher", "token": "ner_teacher", "qa": "qa_teacher"}[task])
                       or work / f"{task}-teacher")
        if not (teacher / "model.safetensors").exists():
            epochs = {"text": args.text_teacher_epochs, "qa": args.qa_teacher_epochs}.get(task, s["epochs"])
            cmd = [args.distilcl, "train", "--model", args.model, "--task", s["task"], "--train", str(s["train"]),
                   "--out", str(teacher), "--epochs", str(epochs), "--batch-size",
                   str(s["batch"]), "--lr", repr(s["lr"]), "--seed", "0"] + ([] if qa else ["--eval", str(s["dev"])]) + common
            rss, wall, err = run_logged(cmd, env)
            if err:
                sys.exit(f"teacher for {task}: {err}")
        if qa:
            scores = qa_evaluate(args, teacher, s["dev"], env, work / "qa-teacher-dev-eval.json")
            line = {"f1": scores.get("f1"), "exact_match": scores.get("exact_match")}
        else:
            line, _ = last_epoch_line(teacher) if (teacher / "train_log.jsonl").exists() else ({}, 0)
        t["teacher"] = {"path": str(teacher), "dev_metric": line.get(s["metric"]), "train_log_last_epoch": line}
        log(f"{task} teacher {teacher}: dev {s['metric']} {line.get(s['metric'])}")
        for layers in layer_sets:
            for seed in seeds:
                out = work / f"{task}-student-{layers.replace(',', '')}-seed{seed}"
                if (out / "train_log.jsonl").exists() and last_epoch_line(out)[1] == s["epochs"]:
                    log(f"reusing {out}")
                else:
                    cmd = [args.distilcl, "distill", "--teacher", str(teacher), "--task", s["task"], "--train",
                           str(s["train"])] + ([] if qa else ["--eval", str(s["dev"])]) + [
                           "--out", str(out), "--student-layers", layers,
                           "--epochs", str(s["epochs"]), "--batch-size", str(s["batch"]), "--lr", repr(s["lr"]),
                           "--seed", str(seed)] + DISTIL + common
                    rss, wall, err = run_logged(cmd, env)
                    if err:
                        t["runs"].append({"layers": layers, "seed": seed, "error": err})
                        log(f"{task} {layers} seed {seed}: {err}")
                        continue
                line, n = last_epoch_line(out)
                if qa:   # distill does not score QA during training here: evaluate the final model
                    scores = qa_evaluate(args, out, s["dev"], env, out / "dev_eval.json")
                    line = {**line, "f1": scores.get("f1"), "exact_match": scores.get("exact_match"),
                            "eval_loss": scores.get("loss")}
                    per_epoch = [line["f1"]]
                else:
                    per_epoch = [e.get(s["metric"]) for e in read_jsonl(out / "train_log.jsonl") if "train_samples_per_second" in e]
                t["runs"].append({"layers": layers, "seed": seed, "dev_metric": line.get(s["metric"]),
                                  "dev_metric_per_epoch": per_epoch, "eval_loss": line.get("eval_loss"),
                                  "samples_per_second": line.get("train_samples_per_second"),
                                  "seconds": line.get("seconds")})
                if qa:
                    t["runs"][-1]["dev_exact_match"] = line.get("exact_match")
                log(f"{task} layers {layers} seed {seed}: dev {s['metric']} {line.get(s['metric'])} (per epoch {per_epoch})")
                if args.out_json:   # after every run, so a cut-short run keeps what it has
                    Path(args.out_json).write_text(json.dumps(results, indent=1) + "\n")

    # report
    log("")
    log(f"{cpu}, {args.threads} thread(s), {started:%Y-%m-%d %H:%M %Z}, HEAD {commit}, {args.distilcl}")
    for task, t in results["tasks"].items():
        scale = 1 if task == "qa" else 100   # QA scores come ×100 already
        tm = t["teacher"]["dev_metric"]
        log(f"\n{task}: {t['train']} -> {t['dev']}, {t['metric']} {'× 100' if scale == 100 else '(%)'}; teacher "
            + ("-" if tm is None else f"{scale * tm:.2f}"))
        if task == "qa":
            log("exact_match: " + ", ".join(f"{r['layers']} seed {r['seed']} {r.get('dev_exact_match') or 0:.2f}"
                                            for r in t["runs"]))
        log("| student layers | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
        log("| --- | " + " | ".join("---:" for _ in seeds) + " | ---: |")
        for layers in layer_sets:
            vals = {r["seed"]: r.get("dev_metric") for r in t["runs"] if r["layers"] == layers}
            got = [v for v in vals.values() if v is not None]
            mean = statistics.mean(got) if got else None
            log(f"| {layers} | " + " | ".join("-" if vals.get(s) is None else f"{scale * vals[s]:.2f}" for s in seeds)
                + f" | {'-' if mean is None else f'{scale * mean:.2f}'} |")
    if args.out_json:
        Path(args.out_json).write_text(json.dumps(results, indent=1) + "\n")
        log(f"\nwrote {args.out_json}")


if __name__ == "__main__":
    main()
