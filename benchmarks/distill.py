#!/usr/bin/env python3
"""Distilling the fine-tuned sentiment BERT into a DistilBERT student: DistilCL (`distilcl distill`,
CPU path and OpenCL) against transformers' Trainer, the DistilBERT paper's claim checked on real
data in one run (issue 10): the student keeps >= 97% of the teacher's accuracy, is smaller and
classifies >= 1.8x faster, and DistilCL distils >= 2x faster than transformers.

Recipe (defaults; every value a flag): teacher models/minilm-sentiment (BertForSequenceClassification,
all-MiniLM-L6-v2 fine-tuned by scripts/make-sentiment-model.sh: 6 layers, hidden 384, labels
negative/positive); student = the DistilBERT that distil_student() below builds from the teacher's
layers 0, 2, 4 (extract_distilbert.py's mapping, token-type row 0 folded into the positions, the
pooler as pre_classifier, the classifier as is); trained on data/movie-train.jsonl, accuracy on
data/movie-test.jsonl; EPOCHS epochs, batch 32, AdamW lr LR, weight decay 0.01 (biases and LayerNorm
weights exempt), linear warmup over ceil(0.1 x all steps) then linear decay to 0, gradient norm
clipped to 1.0, max length 128, seed 0, the teacher config's dropout (0.1) in the student; loss
(distillation_loss() below)

    loss = alpha_kd * T^2 * KL(softmax(t/T) || softmax(s/T))   (batchmean: mean over the batch's rows)
         + alpha_ce * cross-entropy(s, label)                   (mean over the labelled rows)
         + alpha_cos * mean over real tokens of (1 - cos(h_s, h_t))  (last hidden states)

with T 2, alpha_kd 0.5, alpha_ce 0.5, alpha_cos 0. The teacher runs in eval mode without gradients.
To choose a recipe on a dev split: --train data/movie-fit.jsonl --eval data/movie-dev.jsonl with
--lr/--epochs/--temperature/--alpha-*.

Each engine runs in its own child process, one after another, with the same thread count
(OMP_NUM_THREADS, torch.set_num_threads): this process imports neither torch nor transformers, so a
child's peak RSS (ru_maxrss from wait4) is the engine's own.

  transformers  distil_student() + a Trainer subclass whose compute_loss is distillation_loss()
                (DataCollatorWithPadding, seeded shuffling, no evaluation or saving during
                training). Only trainer.train() is timed (the teacher's forward passes included);
                then accuracy on the eval file. The trained student is saved to a temporary folder
                (parameter count and classify throughput fall back to it when cpu did not run).
  cpu           <distilcl> distill --teacher T --train F --eval E --out DIR ... --device cpu; accuracy
                from the last line of DIR/train_log.jsonl, samples/s from its per-epoch
                train_samples_per_second (as benchmarks/finetune.py reads `distilcl train`'s log).
  baseline      the cpu command with --alpha-kd 0 --alpha-ce 1 --alpha-cos 0: the same student,
                fine-tuned on the labels alone (no teacher signal).
  opencl        the cpu command with --device opencl; PoCL on this machine is slow, so it runs 1
                epoch unless --epochs is given (marked in the table).

Then, in the same run: parameter counts (every tensor of the teacher's and the student's
model.safetensors, from the files' shapes), the teacher's accuracy on the eval file with
`<distilcl> classify --device cpu`, and classify throughput of teacher and student on the eval texts
with `<distilcl> bench model --input TEXTS --device D --json` for each D of --throughput (default
cpu,opencl; --no-cpu beside opencl), batch 32, max length 128.

Table rows: teacher accuracy; student accuracy (DistilCL cpu) and its share of the teacher's
(target >= 97%); baseline accuracy; transformers' and OpenCL's student accuracy; distillation
training seconds and samples/s (training samples x epochs / training seconds), DistilCL cpu against
transformers (target >= 2x); peak RSS; parameters teacher / student; classify sequences/s teacher /
student per device (target >= 1.8x). --out-json writes every engine's full result besides.

Usage (the venv of README "Comparing with PyTorch and ONNX Runtime"; Trainer needs accelerate too):
  swift build -c release && bench-venv/bin/python benchmarks/distill.py [--threads 2]
      [--engines transformers,cpu,baseline,opencl] [--epochs N] [--limit N] [--train FILE]
      [--eval FILE] [--teacher DIR] [--save DIR] [--out-json FILE] [--distilcl PATH]
      [--lr LR] [--temperature T] [--alpha-kd A] [--alpha-ce B] [--alpha-cos C] [--student-layers 0,2,4]
  --limit N    only the first N training and N eval lines (smoke tests)
  --save DIR   the cpu engine distils into DIR (kept) instead of a temporary folder

scripts/make_distill_golden.py imports distil_student() and distillation_loss() from here.
"""
import argparse, datetime, json, math, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import checked_engines, cpu_name, log, read_jsonl, run_child, run_logged  # noqa: E402  (imports neither torch nor transformers)

ROOT = Path(__file__).resolve().parent.parent
TEACHER = ROOT / "models/minilm-sentiment"
TRAIN = ROOT / "data/movie-train.jsonl"
TEST = ROOT / "data/movie-test.jsonl"

# Chosen on the dev split (--train data/movie-fit.jsonl --eval data/movie-dev.jsonl, 3 epochs, DistilCL cpu):
# dev accuracy 0.8868 at lr 1e-4, 0.8764 at 2e-4, 0.8792 at 5e-5 (2026-12-02, AMD EPYC Zen 4).
EPOCHS = 3
LR = 1e-4
OPENCL_EPOCHS = 1   # PoCL is slow here: the opencl engine's epochs unless --epochs is given

RECIPE = {"batch_size": 32, "warmup": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0, "seed": 0,
          "max_length": 128, "temperature": 2.0, "alpha_kd": 0.5, "alpha_ce": 0.5, "alpha_cos": 0.0,
          "student_layers": [0, 2, 4]}
BENCH_BATCH = 32
ENGINES = ("transformers", "cpu", "baseline", "opencl")
TARGETS = {"share_of_teacher": 0.97, "distill_speedup": 2.0, "classify_speedup": 1.8}


# MARK: - the student and the loss (shared with scripts/make_distill_golden.py)

# BERT layer key -> DistilBERT layer key (transformers' extract_distilbert.py).
LAYER_KEYS = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}


def distil_student(teacher, layers):
    """A DistilBertForSequenceClassification built from a BertForSequenceClassification `teacher`:
    its `layers` (increasing indices) whole, word embeddings and embeddings LayerNorm copied,
    position_embeddings = the teacher's + token_type_embeddings row 0 on every position (DistilBERT
    has no token types; BERT adds that row to every single-sentence token), pre_classifier = the
    teacher's pooler dense layer (then ReLU, not tanh), classifier as is. Dropout rates, label names,
    sizes and initializer_range come from the teacher's config (a teacher loaded with dropout 0
    gives a student with dropout 0). The state dict is loaded strict and must cover every key."""
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification
    tc = teacher.config
    assert type(teacher).__name__ == "BertForSequenceClassification", type(teacher).__name__
    assert list(layers) == sorted(set(layers)) and all(0 <= i < tc.num_hidden_layers for i in layers), layers
    assert tc.layer_norm_eps == 1e-12, "DistilBERT's LayerNorm eps is fixed at 1e-12"
    assert getattr(tc, "position_embedding_type", "absolute") == "absolute"
    config = DistilBertConfig(
        vocab_size=tc.vocab_size, max_position_embeddings=tc.max_position_embeddings,
        sinusoidal_pos_embds=False, n_layers=len(layers), n_heads=tc.num_attention_heads,
        dim=tc.hidden_size, hidden_dim=tc.intermediate_size, activation=tc.hidden_act,
        dropout=tc.hidden_dropout_prob, attention_dropout=tc.attention_probs_dropout_prob,
        seq_classif_dropout=tc.classifier_dropout if tc.classifier_dropout is not None else tc.hidden_dropout_prob,
        qa_dropout=tc.hidden_dropout_prob, initializer_range=tc.initializer_range,
        pad_token_id=tc.pad_token_id, id2label=dict(tc.id2label), label2id=dict(tc.label2id))
    t = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
    s = {
        "distilbert.embeddings.word_embeddings.weight": t["bert.embeddings.word_embeddings.weight"],
        "distilbert.embeddings.position_embeddings.weight":
            t["bert.embeddings.position_embeddings.weight"] + t["bert.embeddings.token_type_embeddings.weight"][0],
        "distilbert.embeddings.LayerNorm.weight": t["bert.embeddings.LayerNorm.weight"],
        "distilbert.embeddings.LayerNorm.bias": t["bert.embeddings.LayerNorm.bias"],
        "pre_classifier.weight": t["bert.pooler.dense.weight"],
        "pre_classifier.bias": t["bert.pooler.dense.bias"],
        "classifier.weight": t["classifier.weight"],
        "classifier.bias": t["classifier.bias"],
    }
    for i, src in enumerate(layers):
        for bert_key, distil_key in LAYER_KEYS.items():
            for p in ("weight", "bias"):
                s[f"distilbert.transformer.layer.{i}.{distil_key}.{p}"] = t[f"bert.encoder.layer.{src}.{bert_key}.{p}"]
    student = DistilBertForSequenceClassification(config).to(torch.float32)
    expected = set(student.state_dict())
    assert set(s) == expected, sorted(set(s) ^ expected)
    student.load_state_dict(s, strict=True)
    return student


def distillation_loss(s_logits, t_logits, labels, s_hidden, t_hidden, mask, temperature, alpha_kd, alpha_ce,
                      alpha_cos):
    """The distillation loss and its terms {"kd", "ce", "cos"} (tensors; a term whose alpha is 0 is
    still computed when its inputs are given, and is 0 when they are not):
      kd  = T^2 * KLDivLoss(batchmean)(log_softmax(s/T), softmax(t/T)), over every row
      ce  = cross-entropy of s against labels, mean over the labelled rows (label -1 = unlabelled;
            0 when no row is labelled)
      cos = mean over the real tokens (mask) of 1 - cos(h_s, h_t), h the last hidden states
            (nn.CosineEmbeddingLoss with target 1 over the masked rows, as DistilBERT's distiller)
    loss = alpha_kd * kd + alpha_ce * ce + alpha_cos * cos."""
    import torch
    import torch.nn.functional as F
    T = temperature
    kd = T * T * F.kl_div(F.log_softmax(s_logits / T, dim=-1), F.softmax(t_logits / T, dim=-1),
                          reduction="batchmean")
    labelled = labels >= 0
    ce = F.cross_entropy(s_logits[labelled], labels[labelled]) if bool(labelled.any()) else s_logits.sum() * 0
    if s_hidden is not None and t_hidden is not None:
        m = mask.bool()
        cos = (1 - F.cosine_similarity(s_hidden[m], t_hidden[m], dim=-1)).mean()
    else:
        cos = s_logits.sum() * 0
    total = alpha_kd * kd + alpha_ce * ce + alpha_cos * cos
    return total, {"kd": kd, "ce": ce, "cos": cos}


# MARK: - transformers (child process)

def transformers_child(args):
    """Runs in its own process: distils with Trainer, evaluates, saves the student, writes the result."""
    import numpy as np, torch, transformers
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments, set_seed)
    torch.set_num_threads(args.threads)
    layers = [int(x) for x in args.student_layers.split(",")]
    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    teacher, info = AutoModelForSequenceClassification.from_pretrained(args.teacher, dtype=torch.float32,
                                                                        output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    label2id = dict(teacher.config.label2id)
    train_rows, test_rows = read_jsonl(args.train), read_jsonl(args.eval)

    def dataset(rows):
        # No token_type_ids: DistilBERT takes none, and the teacher's default (all 0) is what a
        # single sentence gets.
        enc = tokenizer([r["text"] for r in rows], truncation=True, max_length=RECIPE["max_length"],
                        return_token_type_ids=False)
        return [{**{k: enc[k][i] for k in enc},
                 "labels": label2id[r["label"]] if r.get("label") is not None else -1} for i, r in enumerate(rows)]

    train_set, test_set = dataset(train_rows), dataset(test_rows)
    set_seed(RECIPE["seed"])
    student = distil_student(teacher, layers)
    n_params = sum(p.numel() for p in student.parameters())
    T, a_kd, a_ce, a_cos = args.temperature, args.alpha_kd, args.alpha_ce, args.alpha_cos

    class DistillationTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            want_hidden = a_cos > 0
            out = model(**inputs, output_hidden_states=want_hidden)
            with torch.no_grad():
                t_out = teacher(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                output_hidden_states=want_hidden)
            loss, _ = distillation_loss(
                out.logits, t_out.logits, labels,
                out.hidden_states[-1] if want_hidden else None, t_out.hidden_states[-1] if want_hidden else None,
                inputs["attention_mask"], T, a_kd, a_ce, a_cos)
            return (loss, out) if return_outputs else loss

    collator = DataCollatorWithPadding(tokenizer)
    with tempfile.TemporaryDirectory(prefix="distill-hf-") as out:
        targs = TrainingArguments(
            output_dir=out, num_train_epochs=args.epochs, per_device_train_batch_size=RECIPE["batch_size"],
            learning_rate=args.lr, warmup_steps=RECIPE["warmup"], weight_decay=RECIPE["weight_decay"],
            max_grad_norm=RECIPE["max_grad_norm"], lr_scheduler_type="linear", seed=RECIPE["seed"],
            eval_strategy="no", save_strategy="no", logging_strategy="epoch", report_to="none", use_cpu=True,
            dataloader_pin_memory=False)
        trainer = DistillationTrainer(model=student, args=targs, train_dataset=train_set, data_collator=collator,
                                      processing_class=tokenizer)
        t0 = time.perf_counter()
        train_out = trainer.train()
        seconds = time.perf_counter() - t0

    def predict(model):   # logits of the eval set, batches of 64 in file order
        model.eval()
        logits = []
        with torch.no_grad():
            for i in range(0, len(test_set), 64):
                batch = collator([{k: v for k, v in r.items() if k != "labels"} for r in test_set[i:i + 64]])
                logits.append(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits)
        return torch.cat(logits)

    labels = torch.tensor([r["labels"] for r in test_set])
    labelled = labels >= 0
    s_logits = predict(student)
    t_logits = predict(teacher)
    accuracy = float((s_logits.argmax(-1) == labels)[labelled].float().mean())
    teacher_accuracy = float((t_logits.argmax(-1) == labels)[labelled].float().mean())
    eval_loss = float(torch.nn.functional.cross_entropy(s_logits[labelled], labels[labelled]))
    student.save_pretrained(args.student_out)
    tokenizer.save_pretrained(args.student_out)
    for name in ("vocab.txt", "special_tokens_map.json"):   # DistilCL reads vocab.txt; transformers 5 may not write it
        if (Path(args.teacher) / name).exists() and not (Path(args.student_out) / name).exists():
            shutil.copy(Path(args.teacher) / name, Path(args.student_out) / name)
    total_steps = trainer.state.max_steps
    result = {
        "accuracy": accuracy, "eval_loss": eval_loss, "train_loss": float(train_out.training_loss),
        "teacher_accuracy": teacher_accuracy,
        "samples_per_second": len(train_set) * args.epochs / seconds, "train_seconds": seconds,
        "epochs": args.epochs, "steps": total_steps, "warmup_steps": targs.get_warmup_steps(total_steps),
        "student_parameters": n_params, "saved": str(args.student_out),
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
    }
    Path(args.result).write_text(json.dumps(result))


# MARK: - children, timed and measured

def run_transformers(args, train, test, epochs, student_out, env):
    with tempfile.TemporaryDirectory(prefix="distill-") as tmp:
        result_file = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-transformers", "--teacher", str(args.teacher),
               "--train", str(train), "--eval", str(test), "--epochs", str(epochs), "--threads", str(args.threads),
               "--lr", repr(args.lr), "--temperature", repr(args.temperature), "--alpha-kd", repr(args.alpha_kd),
               "--alpha-ce", repr(args.alpha_ce), "--alpha-cos", repr(args.alpha_cos),
               "--student-layers", args.student_layers, "--student-out", str(student_out), "--result", str(result_file)]
        rc, rss, wall, tail = run_child(cmd, env)
        if rc != 0 or not result_file.exists():
            return {"error": f"exit {rc}: " + "; ".join(tail[-3:])}
        return {**json.loads(result_file.read_text()), "peak_rss_mib": rss, "wall_seconds": wall}


def read_train_log(log_file, n_train):
    """Accuracy and training throughput from a `distilcl train`/`distill` train_log.jsonl (one line an
    epoch), as benchmarks/finetune.py reads it: samples/s over the summed per-epoch training times."""
    # Epoch lines only: --logging-steps and --eval-steps add step and evaluation lines.
    epochs = [e for e in read_jsonl(log_file) if "train_samples_per_second" in e]
    last = epochs[-1]
    train_seconds = sum(n_train / e["train_samples_per_second"] for e in epochs)
    return {"accuracy": float(last["eval_accuracy"]), "eval_loss": last.get("eval_loss"),
            "train_loss": last.get("train_loss"), "steps": last.get("step"),
            "samples_per_second": n_train * len(epochs) / train_seconds, "train_seconds": train_seconds,
            "epochs_logged": len(epochs), "per_epoch": epochs}


def run_distilcl(args, engine, train, test, n_train, epochs, out, env):
    """One `distilcl distill` run into `out` (made here; the caller removes it)."""
    device = "opencl" if engine == "opencl" else "cpu"
    a_kd, a_ce, a_cos = (0.0, 1.0, 0.0) if engine == "baseline" else (args.alpha_kd, args.alpha_ce, args.alpha_cos)
    cmd = [args.distilcl, "distill", "--teacher", str(args.teacher), "--train", str(train), "--eval", str(test),
           "--out", str(out), "--epochs", str(epochs), "--batch-size", str(RECIPE["batch_size"]),
           "--lr", repr(args.lr), "--warmup", str(RECIPE["warmup"]), "--weight-decay", str(RECIPE["weight_decay"]),
           "--max-grad-norm", str(RECIPE["max_grad_norm"]), "--seed", str(RECIPE["seed"]),
           "--max-length", str(RECIPE["max_length"]), "--temperature", repr(args.temperature),
           "--alpha-kd", repr(a_kd), "--alpha-ce", repr(a_ce), "--alpha-cos", repr(a_cos),
           "--student-layers", args.student_layers, "--device", device]
    rss, wall, error = run_logged(cmd, env)
    if error:
        return {"error": error}
    log_file = out / "train_log.jsonl"
    try:
        r = read_train_log(log_file, n_train)
    except (OSError, ValueError, KeyError, IndexError, ZeroDivisionError, TypeError) as e:
        return {"error": f"could not read {log_file}: {type(e).__name__}: {e}"}
    return {**r, "epochs": epochs, "alphas": {"kd": a_kd, "ce": a_ce, "cos": a_cos}, "peak_rss_mib": rss,
            "wall_seconds": wall, "folder": str(out)}


def count_parameters(folder):
    """Elements of every tensor in folder/model.safetensors (buffers such as position_ids excluded)."""
    from safetensors import safe_open
    total = 0
    with safe_open(str(Path(folder) / "model.safetensors"), framework="np") as f:
        for name in f.keys():
            if not name.endswith("position_ids"):
                total += math.prod(f.get_slice(name).get_shape())
    return total


def distilcl_json(cmd, env):
    """Runs a distilcl command that prints JSON on stdout; returns (object, None) or (None, error)."""
    log("$ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        return None, f"{cmd[0]}: {e.strerror}"
    if p.returncode != 0:
        return None, f"exit {p.returncode}: " + " ".join(p.stderr.strip().splitlines()[-2:])
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, f"not JSON: {e}"


def classify_throughput(args, folder, texts, device, env):
    cmd = [args.distilcl, "bench", "model", "--model", str(folder), "--input", str(texts), "--device", device,
           "--batch-size", str(BENCH_BATCH), "--max-length", str(RECIPE["max_length"]), "--json"]
    if device != "cpu":
        cmd.append("--no-cpu")
    out, err = distilcl_json(cmd, env)
    if err:
        return {"error": err}
    r = out["results"][0]
    return {"sequences_per_second": r["sequencesPerSecond"], "tokens_per_second": r["tokensPerSecond"],
            "seconds": r["seconds"], "sequences": r["sequences"], "backend": r["backend"],
            "peak_resident_mib": out.get("peakResidentBytes", 0) / 2**20}


def teacher_accuracy(args, texts, labels, tmp, env):
    """The teacher's accuracy with `distilcl classify --device cpu` (its "label" per line)."""
    out = Path(tmp) / "teacher-classify.jsonl"
    cmd = [args.distilcl, "classify", "--model", str(args.teacher), "--input", str(texts), "--output", str(out),
           "--device", "cpu", "--batch-size", str(BENCH_BATCH), "--max-length", str(RECIPE["max_length"])]
    log("$ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        return {"error": f"{args.distilcl}: {e.strerror}"}
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: " + " ".join(p.stderr.strip().splitlines()[-2:])}
    predicted = [row["label"] for row in read_jsonl(out)]
    if len(predicted) != len(labels):
        return {"error": f"{len(predicted)} outputs for {len(labels)} texts"}
    scored = [(p_, l) for p_, l in zip(predicted, labels) if l is not None]
    return {"accuracy": sum(p_ == l for p_, l in scored) / len(scored), "texts": len(scored)}


# MARK: - report

def report_rows(results, side, n_train, epochs):
    """The table's rows: (measure, value, target, met)."""
    rows = []
    fmt_acc = lambda r: f"{r['accuracy']:.4f}" if r and "accuracy" in r else (f"error: {r['error']}" if r else "-")
    teacher = side.get("teacher_accuracy", {})
    t_acc = teacher.get("accuracy")
    if t_acc is None and "accuracy" in results.get("transformers", {}):
        t_acc = results["transformers"]["teacher_accuracy"]   # transformers' forward, when distilcl classify is missing
        rows.append(("teacher accuracy (transformers forward; distilcl classify: "
                     f"{teacher.get('error', 'not run')})", f"{t_acc:.4f}", "", ""))
    else:
        rows.append(("teacher accuracy (`distilcl classify`, cpu)", fmt_acc(teacher), "", ""))
    cpu = results.get("cpu")
    rows.append(("student accuracy, DistilCL cpu (distilled)", fmt_acc(cpu), "", ""))
    if cpu and "accuracy" in cpu and t_acc:
        share = cpu["accuracy"] / t_acc
        rows.append(("student share of teacher accuracy", f"{100 * share:.1f}%",
                     f">= {100 * TARGETS['share_of_teacher']:.0f}%", "yes" if share >= TARGETS["share_of_teacher"] else "NO"))
    if "baseline" in results:
        rows.append(("baseline accuracy, DistilCL cpu (same student, labels only: alpha_kd 0, alpha_ce 1)",
                     fmt_acc(results["baseline"]), "", ""))
    if "transformers" in results:
        rows.append(("student accuracy, transformers Trainer (distilled)", fmt_acc(results["transformers"]), "", ""))
    if "opencl" in results:
        rows.append((f"student accuracy, DistilCL opencl ({epochs['opencl']} epoch(s))", fmt_acc(results["opencl"]),
                     "", ""))
    engine_names = (("cpu", "DistilCL cpu"), ("transformers", "transformers"),
                    ("opencl", f"DistilCL opencl ({epochs['opencl']} epoch(s))"))
    sps = [f"{name} {results[e]['samples_per_second']:.1f}" for e, name in engine_names
           if "samples_per_second" in results.get(e, {})]
    if sps:
        rows.append(("distillation samples/s", ", ".join(sps), "", ""))
    hf = results.get("transformers", {})
    for engine, name in engine_names:
        r = results.get(engine, {})
        if engine == "transformers" or "samples_per_second" not in r or "samples_per_second" not in hf:
            continue
        ratio = r["samples_per_second"] / hf["samples_per_second"]
        target = TARGETS["distill_speedup"] if engine == "cpu" else None
        rows.append((f"distillation speed, {name} vs transformers", f"{ratio:.2f}x",
                     f">= {target:.0f}x" if target else "",
                     ("yes" if ratio >= target else "NO") if target else ""))
    secs = [f"{name} {results[e]['train_seconds']:.1f} s ({results[e]['epochs']} epoch(s))"
            for e, name in (("cpu", "DistilCL cpu"), ("transformers", "transformers"), ("opencl", "DistilCL opencl"))
            if "train_seconds" in results.get(e, {})]
    if secs:
        rows.append((f"distillation training seconds ({n_train} texts)", ", ".join(secs), "", ""))
    rss = [f"{name} {results[e]['peak_rss_mib']:.0f}" for e, name in
           (("cpu", "DistilCL cpu"), ("transformers", "transformers"), ("opencl", "DistilCL opencl"))
           if "peak_rss_mib" in results.get(e, {})]
    if rss:
        rows.append(("distillation peak RSS MiB", ", ".join(rss), "", ""))
    params = side.get("parameters", {})
    if "teacher" in params and "student" in params:
        rows.append((f"parameters teacher / student ({params['student_from']})",
                     f"{params['teacher'] / 1e6:.2f} M / {params['student'] / 1e6:.2f} M = "
                     f"{params['teacher'] / params['student']:.2f}x", "", ""))
    for device, th in side.get("throughput", {}).items():
        t, s = th.get("teacher", {}), th.get("student", {})
        if "sequences_per_second" in t and "sequences_per_second" in s:
            ratio = s["sequences_per_second"] / t["sequences_per_second"]
            rows.append((f"classify sequences/s teacher vs student, {device} (`distilcl bench model`)",
                         f"{t['sequences_per_second']:.1f} vs {s['sequences_per_second']:.1f} = {ratio:.2f}x",
                         f">= {TARGETS['classify_speedup']}x", "yes" if ratio >= TARGETS["classify_speedup"] else "NO"))
        else:
            err = t.get("error") or s.get("error") or "not run"
            rows.append((f"classify sequences/s teacher vs student, {device}", f"error: {err}", "", ""))
    return rows


# MARK: - main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma list of: " + ", ".join(ENGINES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--throughput", default="cpu,opencl",
                    help="devices on which teacher and student classify throughput is measured (default cpu,opencl)")
    ap.add_argument("--epochs", type=int, default=None,
                    help=f"default {EPOCHS} ({OPENCL_EPOCHS} for opencl); given, every engine runs it")
    ap.add_argument("--limit", type=int, default=None, help="only the first N training and eval lines")
    ap.add_argument("--out-json", default=None, help="also write the results here")
    ap.add_argument("--save", default=None, help="the cpu engine distils into this folder (kept)")
    ap.add_argument("--distilcl", default=str(ROOT / ".build/release/distilcl"))
    ap.add_argument("--teacher", default=str(TEACHER))
    ap.add_argument("--train", default=str(TRAIN))
    ap.add_argument("--eval", default=str(TEST))
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--temperature", type=float, default=RECIPE["temperature"])
    ap.add_argument("--alpha-kd", type=float, default=RECIPE["alpha_kd"])
    ap.add_argument("--alpha-ce", type=float, default=RECIPE["alpha_ce"])
    ap.add_argument("--alpha-cos", type=float, default=RECIPE["alpha_cos"])
    ap.add_argument("--student-layers", default=",".join(map(str, RECIPE["student_layers"])))
    ap.add_argument("--child-transformers", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--student-out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.child_transformers:
        return transformers_child(args)

    engines = checked_engines(args.engines, ENGINES, (args.teacher, args.train, args.eval),
                              "bash scripts/fetch-models.sh` and `bash scripts/make-sentiment-model.sh")
    epochs = {e: args.epochs if args.epochs is not None else (OPENCL_EPOCHS if e == "opencl" else EPOCHS)
              for e in ENGINES}
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    started = datetime.datetime.now().astimezone()
    results, side = {}, {}
    recipe = {**RECIPE, "lr": args.lr, "temperature": args.temperature, "alpha_kd": args.alpha_kd,
              "alpha_ce": args.alpha_ce, "alpha_cos": args.alpha_cos,
              "student_layers": [int(x) for x in args.student_layers.split(",")], "epochs": epochs}
    with tempfile.TemporaryDirectory(prefix="distill-data-") as tmp:
        tmp = Path(tmp)
        train, test = Path(args.train), Path(args.eval)
        if args.limit is not None:   # the first N lines of each, as files every engine reads
            def head(src, name):
                dst = tmp / name
                dst.write_text("".join(src.read_text(encoding="utf-8").splitlines(keepends=True)[:args.limit]),
                               encoding="utf-8")
                return dst
            train, test = head(train, "train.jsonl"), head(test, "test.jsonl")
        train_rows, test_rows = read_jsonl(train), read_jsonl(test)
        n_train, n_test = len(train_rows), len(test_rows)
        texts = tmp / "eval-texts.txt"
        # One text a line for classify and bench model: none may hold a line break or be blank.
        assert all(r["text"].strip() and "\n" not in r["text"] and "\r" not in r["text"] for r in test_rows)
        texts.write_text("".join(r["text"] + "\n" for r in test_rows), encoding="utf-8")
        log(f"distilling {Path(args.teacher).name} (layers {args.student_layers}): {n_train} training and "
            f"{n_test} eval texts, {args.threads} thread(s), engines {', '.join(engines)}; lr {args.lr}, "
            f"T {args.temperature}, alpha kd/ce/cos {args.alpha_kd}/{args.alpha_ce}/{args.alpha_cos}")
        students = {}   # engine -> folder holding the trained student
        for engine in engines:
            log(f"\n--- {engine} ({epochs[engine]} epoch(s)) ---")
            if engine == "transformers":
                folder = tmp / "student-transformers"
                r = run_transformers(args, train, test, epochs[engine], folder, env)
            else:
                keep = args.save is not None and engine == "cpu"
                folder = Path(args.save).resolve() if keep else tmp / f"student-{engine}"
                r = run_distilcl(args, engine, train, test, n_train, epochs[engine], folder, env)
                if "error" not in r and keep:
                    r["saved"] = str(folder)
            results[engine] = r
            if "error" not in r:
                students[engine] = folder
            log(f"{engine}: " + (f"error: {r['error']}" if "error" in r else
                                 f"accuracy {r['accuracy']:.4f}, {r['samples_per_second']:.1f} samples/s, "
                                 f"{r['train_seconds']:.1f} s, peak RSS {r['peak_rss_mib']:.0f} MiB"))

        # Size and speed: the DistilCL cpu student, else the transformers one.
        log("\n--- teacher and student: parameters, accuracy, classify throughput ---")
        student_from = next((e for e in ("cpu", "transformers") if e in students
                             and (students[e] / "model.safetensors").exists()), None)
        params = {"teacher": count_parameters(args.teacher)}
        if student_from:
            params.update(student=count_parameters(students[student_from]), student_from=student_from)
        side["parameters"] = params
        side["teacher_accuracy"] = teacher_accuracy(args, texts, [r.get("label") for r in test_rows], tmp, env)
        side["throughput"] = {}
        if student_from:
            for device in [d.strip() for d in args.throughput.split(",") if d.strip()]:
                side["throughput"][device] = {
                    "teacher": classify_throughput(args, args.teacher, texts, device, env),
                    "student": classify_throughput(args, students[student_from], texts, device, env)}
        for r in results.values():
            r.pop("folder", None)

    rows = report_rows(results, side, n_train, epochs)
    log("")
    log(f"{cpu_name()}, {args.threads} thread(s), {started:%Y-%m-%d %H:%M %Z}; teacher {Path(args.teacher).name}, "
        f"student layers {args.student_layers}; {n_train} training texts, {n_test} eval texts; epochs "
        + ", ".join(f"{e} {epochs[e]}" for e in engines) + f"; lr {args.lr}, T {args.temperature}, "
        f"alpha kd/ce/cos {args.alpha_kd}/{args.alpha_ce}/{args.alpha_cos}")
    log("")
    log("| measure | value | target | met |")
    log("| --- | --- | --- | --- |")
    for measure, value, target, met in rows:
        log(f"| {measure} | {value[:200].replace('|', '/')} | {target} | {met} |")
    if args.out_json:
        Path(args.out_json).write_text(json.dumps({
            "date": started.isoformat(timespec="seconds"), "cpu": cpu_name(), "threads": args.threads,
            "limit": args.limit, "train": str(args.train), "eval": str(args.eval), "train_texts": n_train,
            "eval_texts": n_test, "teacher": str(args.teacher), "recipe": recipe, "targets": TARGETS,
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "results": results, **side,
            "table": [dict(zip(("measure", "value", "target", "met"), row)) for row in rows]}, indent=1) + "\n")
        log(f"\nwrote {args.out_json}")


if __name__ == "__main__":
    main()
