#!/usr/bin/env python3
"""Extractive question answering on SQuAD excerpts (issue 22): DistilCL (`distilcl train` / `distill` /
`evaluate --task question-answering`, CPU path) against transformers + PyTorch with the same recipe,
the same data and the same seed, in one run at the same thread count.

Data: ../shared/data/squad (read there, never copied into the project): the SQuAD v1.1 training
article University_of_Notre_Dame (269 questions) and five SQuAD v2.0 dev articles (Normans,
Computational_complexity_theory, Southern_California, Sky_(United_Kingdom), Victoria_(Australia);
1,407 questions, 702 unanswerable). Split by article: train = the v1.1 article + the first four v2.0
articles, test = the fifth, Victoria_(Australia) (247 questions, 123 unanswerable). Two versions:
  v1   v1.1-style: every unanswerable question dropped, from training and test alike (850 training,
       124 test questions); scored with the official v1.1 metric (exact_match, f1), never "no answer".
  v2   every question (1,429 training, 247 test); v2.0 metric (exact, f1, HasAns_*, NoAns_*), the
       empty answer predicted when its score beats the best span's by more than 0 (null threshold 0).
The derived SQuAD-JSON files go to a temporary folder (or --keep).

Nothing is chosen on the test article. `--eval-on dev` trains on the v1.1 article and three v2.0
articles and scores on Sky_(United_Kingdom) (the dev article) instead, for any choice of recipe; the
choices made so far (epochs, learning rates and the students' loss weights, on dev; the window length
from time alone) are recorded at EPOCHS/LR below.

Recipe (both engines): windows as transformers' run_qa.py prepare_train_features (question
left-stripped and first, truncation only_second, max length MAX_LENGTH, stride DOC_STRIDE,
overflowing windows, offsets; a window without the whole first answer, or an unanswerable question,
labelled [CLS] for start and end), batch BATCH_SIZE windows, AdamW (β 0.9/0.999, ε 1e-8) with weight
decay 0.01 (biases and LayerNorm weights exempt), linear warm-up over ceil(0.1 × all steps) then linear
decay to 0, gradient norm clipped to 1.0, seed 0, the config's dropout (0.1). Loss: BertForQuestionAnswering's
(CE_start + CE_end) / 2. Prediction as run_qa's utils_qa.postprocess_qa_predictions (n_best 20,
max_answer_length 30, v2 null_score_diff_threshold 0) for transformers and `distilcl evaluate` for
DistilCL, both scored with the official SQuAD normalisation (lower case, punctuation and a/an/the
removed, whitespace collapsed; the best over the reference answers).

  teacher   models/all-MiniLM-L6-v2 (a BertModel) with a fresh qa_outputs head.
            transformers: BertForQuestionAnswering.from_pretrained + the loop below (the loop
            transformers' Trainer runs: seeded shuffle, DataCollatorWithPadding (dynamic padding, see
            the caveat), torch AdamW, get_linear_schedule_with_warmup, clip_grad_norm_; `accelerate`,
            which Trainer needs, is not in the venv). DistilCL: `distilcl train --task question-answering`.
  student   3-layer DistilBERT cut from DistilCL's fine-tuned teacher (layers 0,2,4; token-type row 0
            folded into the positions; the teacher's qa_outputs as is, as `distilcl distill` builds
            it), distilled as run_squad_w_distillation.py:
              loss = α_kd · T² · (KL_start + KL_end)/2 + α_ce · (CE_start + CE_end)/2
            (KL(softmax(t/T) ‖ softmax(s/T)) a mean over windows; T 2, α_kd 0.2, α_ce 0.8, chosen on dev
            (the comment above EPOCHS; 0.5 / 0.5, DistilCL's defaults, before 2026-12-08, then 0.8 / 0.2 for the one-epoch recipe); the teacher in eval mode): `distilcl distill --task question-answering`; with
            `--parts ...,hf-student` also transformers (the KL over real tokens only, as DistilCL).
  baseline  the same student without a teacher: `distill --alpha-kd 0 --alpha-ce 1` (as
            benchmarks/ner.py); with hf-baseline also transformers.

Caveats built into the comparison:
  * Padding. DistilCL trains on unpadded windows. transformers' QA heads do not mask padded positions,
    so padding takes part in its start/end softmaxes; run_qa pads every window to max_length, which
    would move the loss a lot; this script pads each batch only to its longest window
    (DataCollatorWithPadding), which keeps the difference small but not zero.
  * Answer at a window's last context token: run_qa's start loop walks past the context into [SEP]
    (its comment calls it an edge case) and labels [SEP]; DistilCL labels that token, and so does
    this script (the count of windows where the two differ is logged and saved).
  * Decoding: run_qa ranks spans across windows by logit sums; DistilCL's evaluate ranks by each
    window's start × end probabilities and merges spans of equal text (the QA pipeline's way). With
    one window per question (most contexts fit MAX_LENGTH) the two agree; each side's teacher is
    also scored by the other side's decoder as a cross-check.
With --aligned both engines start from one initial checkpoint (transformers' seeded fresh qa_outputs on
the MiniLM body, saved once) and walk the same windows in the same batches (DistilCL's seeded Fisher–Yates
order, reimplemented here), so that of the three things a seed draws only the dropout masks still differ;
--dropout R sets every dropout rate of both engines (0: none, the two runs differ then only by float
rounding and the padding caveat); --mask-padding leaves padded positions out of transformers' start and
end softmaxes, as DistilCL's loss (which sees no padding) does; --keyed-dropout (with --aligned, teacher
runs) makes transformers' teacher draw DistilCL's own dropout masks (benchmarks/keyed_dropout.py), so that
with all three the engines differ only by float rounding at the recipe's dropout. All four are diagnostics of the engines' agreement, not the recipe.
Samples/s: training windows × epochs / training seconds (transformers: the loop alone; DistilCL: the
per-epoch `seconds` of train_log.jsonl, evaluation excluded).

Each engine runs in its own child process (this process imports neither torch nor transformers).

Usage:
  swiftlock build -c release --product distilcl
  bench-venv/bin/python benchmarks/squad.py [--threads 2] [--versions v1,v2] [--epochs N] [--lr LR]
      [--student-epochs N] [--student-lr LR] [--parts teacher,student[,hf-student,hf-baseline]]
      [--engines transformers,distilcl] [--eval-on test|dev] [--limit N] [--out-json FILE] [--keep DIR]
      [--distilcl PATH] [--aligned [--keyed-dropout]] [--mask-padding] [--dropout R]
  --limit N       the first N questions of the training articles and of the evaluation article (smoke tests)
"""
import argparse, collections, datetime, json, math, os, re, shutil, string, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune import log, run_child, run_logged  # noqa: E402  (imports neither torch nor transformers)
from ner import LAYER_KEYS, cpu_description  # noqa: E402  (neither does ner.py at import time)

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models/all-MiniLM-L6-v2"
DATA = (ROOT / "../shared/data/squad").resolve()
V1_FILE = "squad-v1.1-train-University_of_Notre_Dame.json"
V2_FILE = "squad-v2.0-dev-5-articles.json"
TEST_ARTICLE = "Victoria_(Australia)"
DEV_ARTICLE = "Sky_(United_Kingdom)"

# The first recipe, superseded by the converging one at the end of this comment: bounded by time, not tuned (BENCHMARKS.md "SQuAD excerpts (issue 22)"). On this shared 2-core Zen 1
# machine transformers fine-tunes the teacher at ~0.7 windows/s of ~200 tokens (DistilCL ~1.4), so the
# v1.1-style comparison alone (951 training windows) takes ~1 hour at one epoch of each run; v2.0
# (1,560 windows) did not fit the same session. Nothing was chosen on dev or test: one epoch and max
# length 256 / stride 128 follow from the time (contexts are ~100-200 tokens: 951 windows for 850
# questions), lr 1e-4 and batch 8 are the NER benchmark's, fixed before any SQuAD run. The only dev run
# (`--limit 48 --eval-on dev`, 48 questions on Sky_(United_Kingdom)) measured speed and checked the plumbing;
# before it, a 24-question transformers-only plumbing check scored the test article's first 24 questions
# (nothing was chosen from it); after the v1.1-style run, a 24-question DistilCL-only v2.0 plumbing
# run on dev (`--versions v2 --engines distilcl --limit 24 --eval-on dev`).
# v2.0 (2026-12-07, AMD EPYC Zen 2): after one epoch every model predicted the empty answer for every
# question, so the epochs of the v2.0 run were chosen on dev: DistilCL's teacher at lr 1e-4 over a 4-epoch
# schedule, scored on Sky_(United_Kingdom) after each epoch, gave dev F1 48.15 / 44.07 / 48.91 / 45.58 and
# dev loss 2.500 / 1.733 / 1.680 / 1.881: `--versions v2 --epochs 3 --student-epochs 3` since
# (benchmarks/results/squad-v2-dev-curve-2026-12-07-amd-epyc-zen2.json). The default below stays the
# v1.1-style run's.
# The students' loss weights (2026-12-08, Intel Xeon model 207): on dev (`--eval-on dev`, teachers trained on the
# four other articles, seeds 0/1/2, T 2) the distilled student's mean dev F1 was 12.01 at alpha_kd 0.2, 11.06 at
# 0.5 and 12.59 at 0.8, the no-teacher student's 11.57: alpha_kd 0.8 / alpha_ce 0.2 then, for the one-epoch recipe.
# (benchmarks/results/squad-v1-kd-sweep-dev-*-2026-12-08-intel-xeon-emr.json; the runs before it used 0.5 / 0.5).
# A converging recipe (2026-12-08, Intel Xeon model 207): the one-epoch teachers above were far from converged
# (F1 10-16). DistilCL's teacher on dev (`--versions v1 --eval-on dev --parts teacher`, seeds 0 and 2) gave dev F1
# 57.35 / 48.51 at 3 epochs lr 2e-4, 66.05 / 59.13 at 5 epochs lr 2e-4 and 64.44 / 64.97 at 5 epochs lr 1e-4:
# 5 epochs at lr 1e-4 for teachers and students since (benchmarks/results/squad-sweep/v1-dev-e*). The students'
# weights again, on dev with those teachers (5 epochs each): the distilled student's dev F1 was 47.38 / 46.65 at
# alpha_kd 0.2, 45.75 / 44.37 at 0.5 and 45.08 (seed 0 only) at 0.8, the no-teacher student's 45.76 / 44.75:
# alpha_kd 0.2 / alpha_ce 0.8 since, as for NER (benchmarks/results/squad-sweep/v1-dev-students-e5-*).
EPOCHS = 5
LR = 1e-4
STUDENT_EPOCHS = 5
STUDENT_LR = 1e-4
BATCH_SIZE = 8
MAX_LENGTH = 256
DOC_STRIDE = 128
RECIPE = {"batch_size": BATCH_SIZE, "warmup": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0, "seed": 0,
          "max_length": MAX_LENGTH, "doc_stride": DOC_STRIDE, "n_best": 20, "max_answer_length": 30,
          "null_score_diff_threshold": 0.0, "temperature": 2.0, "alpha_kd": 0.2, "alpha_ce": 0.8,
          "student_layers": [0, 2, 4]}
TARGETS = {"f1_gap_points": 1.0, "speedup": 2.0}


def distilcl_order(count, epoch, seed):
    """`TrainingOptions.order(count, epoch:)`: the windows' order in `epoch` (1-based), a Fisher–Yates
    shuffle driven by SplitMix64 from seed + epoch × 0x9E3779B97F4A7C15."""
    mask, golden = (1 << 64) - 1, 0x9E3779B97F4A7C15
    order, state = list(range(count)), (seed + epoch * golden) & mask
    for i in range(count - 1, 0, -1):
        state = (state + golden) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        j = (z ^ (z >> 31)) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


# MARK: - data (no torch)

def make_split(data_dir, version, eval_on, limit, folder):
    """Writes train.json and <eval_on>.json (official SQuAD layout) for `version` into `folder`;
    returns their paths and question counts."""
    v1 = json.loads((Path(data_dir) / V1_FILE).read_text(encoding="utf-8"))
    v2 = json.loads((Path(data_dir) / V2_FILE).read_text(encoding="utf-8"))
    titles = [a["title"] for a in v2["data"]]
    assert TEST_ARTICLE in titles and DEV_ARTICLE in titles, titles
    held = DEV_ARTICLE if eval_on == "dev" else TEST_ARTICLE
    train_articles = v1["data"] + [a for a in v2["data"] if a["title"] not in (TEST_ARTICLE, held)]
    eval_articles = [a for a in v2["data"] if a["title"] == held]

    def keep(articles, n):
        out, count = [], 0
        for a in articles:
            paragraphs = []
            for p in a["paragraphs"]:
                qas = [q for q in p["qas"] if version == "v2" or not q.get("is_impossible", False)]
                if n is not None:
                    qas = qas[:max(0, n - count)]
                count += len(qas)
                if qas:
                    paragraphs.append({**p, "qas": qas})
            if paragraphs:
                out.append({**a, "paragraphs": paragraphs})
        return out, count

    train, n_train = keep(train_articles, limit)
    ev, n_eval = keep(eval_articles, limit)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"train": folder / "train.json", eval_on: folder / f"{eval_on}.json"}
    paths["train"].write_text(json.dumps({"version": version, "data": train}, ensure_ascii=False), encoding="utf-8")
    paths[eval_on].write_text(json.dumps({"version": version, "data": ev}, ensure_ascii=False), encoding="utf-8")
    unanswerable = sum(q.get("is_impossible", False) for a in ev for p in a["paragraphs"] for q in p["qas"])
    return paths, {"train": n_train, eval_on: n_eval, f"{eval_on}_unanswerable": unanswerable,
                   "train_articles": [a["title"] for a in train], "eval_article": held}


def read_squad(path):
    """Every question of a SQuAD JSON file: {id, question, context, answers: [{text, answer_start}]}."""
    rows = []
    for a in json.loads(Path(path).read_text(encoding="utf-8"))["data"]:
        for p in a["paragraphs"]:
            for q in p["qas"]:
                rows.append({"id": q["id"], "question": q["question"], "context": p["context"],
                             "answers": [] if q.get("is_impossible", False) else q["answers"]})
    return rows


# The official SQuAD evaluation (evaluate-v2.0.py; v1.1's EM and F1 agree with it on answerable questions).
def normalize_answer(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def compute_f1(gold, pred):
    g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
    if len(g) == 0 or len(p) == 0:
        return float(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(rows, predictions, version2):
    """v1: {exact_match, f1}; v2: {exact, f1, total, HasAns_*, NoAns_*}; all ×100."""
    exact, f1 = {}, {}
    for r in rows:
        golds = [a["text"] for a in r["answers"] if normalize_answer(a["text"])] or [""]
        pred = predictions[r["id"]]
        exact[r["id"]] = max(float(normalize_answer(g) == normalize_answer(pred)) for g in golds)
        f1[r["id"]] = max(compute_f1(g, pred) for g in golds)

    def mean(ids, table):
        return 100 * sum(table[i] for i in ids) / len(ids) if ids else None
    ids = [r["id"] for r in rows]
    if not version2:
        return {"exact_match": mean(ids, exact), "f1": mean(ids, f1), "total": len(ids)}
    has = [r["id"] for r in rows if r["answers"]]
    no = [r["id"] for r in rows if not r["answers"]]
    out = {"exact": mean(ids, exact), "f1": mean(ids, f1), "total": len(ids),
           "HasAns_exact": mean(has, exact), "HasAns_f1": mean(has, f1), "HasAns_total": len(has)}
    if no:
        out.update({"NoAns_exact": mean(no, exact), "NoAns_f1": mean(no, f1), "NoAns_total": len(no)})
    return out


# MARK: - transformers (child processes)

def hf_child(args):
    """Runs in its own process: one transformers run (teacher fine-tuning, or a student distilled or
    trained alone, or a saved model scored), scored on the eval files; writes the result JSON."""
    import numpy as np, torch, torch.nn.functional as F, transformers
    from transformers import AutoTokenizer, BertForQuestionAnswering, DataCollatorWithPadding, set_seed
    from transformers import get_linear_schedule_with_warmup
    torch.set_num_threads(args.threads)
    version2 = args.version == "v2"
    train_rows = read_squad(args.train)
    evals = {name: read_squad(path) for name, path in zip(args.eval_names.split(","), args.eval_files.split(","))}
    L, S = args.max_length, args.doc_stride

    drop = {} if args.dropout is None else {"hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout}
    if args.child in ("teacher", "init"):
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        set_seed(RECIPE["seed"])   # the new head's initialisation
        keyed = {"attn_implementation": "eager"} if args.keyed_dropout and args.child == "teacher" else {}
        model, info = BertForQuestionAnswering.from_pretrained(args.model, dtype=torch.float32, output_loading_info=True,
                                                               **drop, **keyed)
        log(f"transformers: newly initialised {sorted(info['missing_keys'])}")
        teacher, use_types = None, True
        if keyed:
            import keyed_dropout
            keyed_dropout.install(model, RECIPE["seed"], model.config.hidden_dropout_prob,
                                  model.config.attention_probs_dropout_prob)
            log("transformers teacher: DistilCL's keyed dropout masks installed")
        if args.child == "init":   # --aligned: the one initial checkpoint both engines train from
            model.save_pretrained(args.save)
            tokenizer.save_pretrained(args.save)
            if not (Path(args.save) / "vocab.txt").exists():
                shutil.copy(Path(args.model) / "vocab.txt", Path(args.save) / "vocab.txt")
            Path(args.result).write_text(json.dumps({"initialised": sorted(info["missing_keys"])}))
            return
    elif args.child == "score":   # no training: a saved BertForQuestionAnswering scored by utils_qa's decoding here
        tokenizer = AutoTokenizer.from_pretrained(args.teacher)
        model = BertForQuestionAnswering.from_pretrained(args.teacher, dtype=torch.float32)
        teacher, use_types = None, True
    else:
        tokenizer = AutoTokenizer.from_pretrained(args.teacher)
        teacher, info = BertForQuestionAnswering.from_pretrained(args.teacher, dtype=torch.float32,
                                                                  output_loading_info=True)
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        set_seed(RECIPE["seed"])
        model = distil_qa_student(teacher, [int(x) for x in args.student_layers.split(",")], args.dropout)
        use_types = False

    def tokenize(rows):
        return tokenizer([r["question"].lstrip() for r in rows], [r["context"] for r in rows], truncation="only_second",
                         max_length=L, stride=S, return_overflowing_tokens=True, return_offsets_mapping=True,
                         padding=False, return_token_type_ids=use_types)

    edge = [0]

    def train_features(rows):   # run_qa.py's prepare_train_features (the start loop bounded, see the docstring)
        enc = tokenize(rows)
        out = []
        for i, ids in enumerate(enc["input_ids"]):
            offsets, seq = enc["offset_mapping"][i], enc.sequence_ids(i)
            cls = ids.index(tokenizer.cls_token_id)
            answers = rows[enc["overflow_to_sample_mapping"][i]]["answers"]
            start = end = cls
            if answers:
                start_char = answers[0]["answer_start"]
                end_char = start_char + len(answers[0]["text"])
                first = seq.index(1)
                last = len(seq) - 1 - seq[::-1].index(1)
                if offsets[first][0] <= start_char and offsets[last][1] >= end_char:
                    s = first
                    while s < last and offsets[s + 1][0] <= start_char:
                        s += 1
                    e = last
                    while e > first and offsets[e - 1][1] >= end_char:
                        e -= 1
                    # run_qa's own start loop, for the log: it does not stop at `last`.
                    r = first
                    while r < len(offsets) and offsets[r][0] <= start_char:
                        r += 1
                    if r - 1 != s:
                        edge[0] += 1
                    start, end = s, e
            f = {k: enc[k][i] for k in enc if k not in ("offset_mapping", "overflow_to_sample_mapping")}
            out.append({**f, "start_positions": start, "end_positions": end})
        return out

    def eval_features(rows):   # prepare_validation_features: offsets of non-context tokens dropped
        enc = tokenize(rows)
        feats, meta = [], []
        for i, ids in enumerate(enc["input_ids"]):
            seq = enc.sequence_ids(i)
            feats.append({k: enc[k][i] for k in enc if k not in ("offset_mapping", "overflow_to_sample_mapping")})
            meta.append({"example": enc["overflow_to_sample_mapping"][i],
                         "offsets": [o if seq[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][i])]})
        return feats, meta

    train_set = train_features(train_rows) if args.epochs > 0 else []
    if train_set:
        log(f"transformers {args.child}: {len(train_rows)} questions -> {len(train_set)} windows; "
            f"{edge[0]} window(s) where run_qa's unbounded start loop would label [SEP]")
    collator = DataCollatorWithPadding(tokenizer)
    steps_per_epoch = math.ceil(len(train_set) / RECIPE["batch_size"])
    total = steps_per_epoch * args.epochs
    warmup = math.ceil(RECIPE["warmup"] * total)
    # Trainer.get_decay_parameter_names: no decay on biases and LayerNorm weights.
    nd = lambda n: "bias" in n or "LayerNorm" in n or "layer_norm" in n   # noqa: E731
    opt = torch.optim.AdamW([{"params": [p for n, p in model.named_parameters() if not nd(n)],
                              "weight_decay": RECIPE["weight_decay"]},
                             {"params": [p for n, p in model.named_parameters() if nd(n)], "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, warmup, max(total, 1))
    T, a_kd, a_ce = args.temperature, args.alpha_kd, args.alpha_ce
    generator = torch.Generator().manual_seed(RECIPE["seed"])
    model.train()
    losses = []
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        order = (distilcl_order(len(train_set), epoch + 1, RECIPE["seed"]) if args.aligned
                 else torch.randperm(len(train_set), generator=generator).tolist())
        for s in range(steps_per_epoch):
            picked = order[s * RECIPE["batch_size"]:(s + 1) * RECIPE["batch_size"]]
            batch = collator([train_set[i] for i in picked])
            if args.keyed_dropout and args.child == "teacher":   # DistilCL's example: the global draw number
                keyed_dropout.set_batch([epoch * len(train_set) + s * RECIPE["batch_size"] + k for k in range(len(picked))],
                                        [len(train_set[i]["input_ids"]) for i in picked])
            out = model(**batch)   # BertForQuestionAnswering's loss: (CE_start + CE_end) / 2
            hard = out.loss
            if args.mask_padding:   # the same loss over each window's real tokens only, as DistilCL's
                pad = ~batch["attention_mask"].bool()
                hard = (F.cross_entropy(out.start_logits.masked_fill(pad, -1e9), batch["start_positions"])
                        + F.cross_entropy(out.end_logits.masked_fill(pad, -1e9), batch["end_positions"])) / 2
            if teacher is None:
                loss = hard
            else:
                loss = a_ce * hard
                if a_kd > 0:
                    with torch.no_grad():
                        t = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                    pad = ~batch["attention_mask"].bool()   # KL over real tokens only, as DistilCL

                    def kl(s_logits, t_logits):
                        s_logits = s_logits.masked_fill(pad, -1e9)
                        t_logits = t_logits.masked_fill(pad, -1e9)
                        return F.kl_div(F.log_softmax(s_logits / T, dim=-1), F.softmax(t_logits / T, dim=-1),
                                        reduction="batchmean")
                    loss = loss + a_kd * T * T * (kl(out.start_logits, t.start_logits) + kl(out.end_logits, t.end_logits)) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), RECIPE["max_grad_norm"])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        if epoch == 0:
            log(f"transformers {args.child}: the first steps' losses " + ", ".join(f"{x:.6f}" for x in losses[:5]))
        log(f"transformers {args.child}: epoch {epoch + 1}/{args.epochs}, mean loss {np.mean(losses[-steps_per_epoch:]):.4f}, "
            f"{time.perf_counter() - t0:.1f} s")
    seconds = time.perf_counter() - t0

    model.eval()
    scores = {}
    for name, rows in evals.items():
        feats, meta = eval_features(rows)
        all_start, all_end = [], []
        with torch.no_grad():
            for i in range(0, len(feats), 32):
                part = feats[i:i + 32]
                o = model(**collator(part))
                for k, f in enumerate(part):
                    n = len(f["input_ids"])
                    all_start.append(o.start_logits[k, :n].numpy())
                    all_end.append(o.end_logits[k, :n].numpy())
        predictions = postprocess(rows, meta, all_start, all_end, version2, RECIPE["n_best"], RECIPE["max_answer_length"],
                                  RECIPE["null_score_diff_threshold"])
        scores[name] = squad_scores(rows, predictions, version2)
        log(f"transformers {args.child}: {name} {json.dumps(scores[name])}")
    if args.save:
        model.save_pretrained(args.save)
        tokenizer.save_pretrained(args.save)
        src = Path(args.model if args.child == "teacher" else args.teacher)
        if (src / "vocab.txt").exists() and not (Path(args.save) / "vocab.txt").exists():
            shutil.copy(src / "vocab.txt", Path(args.save) / "vocab.txt")
    Path(args.result).write_text(json.dumps({
        "scores": scores, "train_seconds": seconds, "train_windows": len(train_set), "train_questions": len(train_rows),
        "samples_per_second": len(train_set) * args.epochs / max(seconds, 1e-9) if train_set else None,
        "run_qa_sep_label_windows": edge[0],
        "train_loss_last_epoch": float(np.mean(losses[-steps_per_epoch:])) if losses else None, "steps": total,
        "warmup_steps": warmup, "epochs": args.epochs, "lr": args.lr,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__}}))


def postprocess(rows, meta, all_start, all_end, version2, n_best, max_answer_length, threshold):
    """utils_qa.postprocess_qa_predictions (run_qa.py), without token_is_max_context: the answer
    text of every question."""
    import numpy as np
    by_example = collections.defaultdict(list)
    for i, m in enumerate(meta):
        by_example[m["example"]].append(i)
    out = {}
    for e, r in enumerate(rows):
        min_null, preds = None, []
        for fi in by_example[e]:
            sl, el, offsets = all_start[fi], all_end[fi], meta[fi]["offsets"]
            null = float(sl[0] + el[0])
            if min_null is None or min_null["score"] > null:
                min_null = {"offsets": (0, 0), "score": null, "start_logit": float(sl[0]), "end_logit": float(el[0])}
            for s in np.argsort(sl)[-1:-n_best - 1:-1].tolist():
                for t in np.argsort(el)[-1:-n_best - 1:-1].tolist():
                    if s >= len(offsets) or t >= len(offsets) or offsets[s] is None or len(offsets[s]) < 2 \
                            or offsets[t] is None or len(offsets[t]) < 2:
                        continue
                    if t < s or t - s + 1 > max_answer_length:
                        continue
                    preds.append({"offsets": (offsets[s][0], offsets[t][1]), "score": float(sl[s] + el[t]),
                                  "start_logit": float(sl[s]), "end_logit": float(el[t])})
        if version2 and min_null is not None:
            preds.append(min_null)
            null_score = min_null["score"]
        preds = sorted(preds, key=lambda x: x["score"], reverse=True)[:n_best]
        if version2 and min_null is not None and not any(p["offsets"] == (0, 0) for p in preds):
            preds.append(min_null)
        for p in preds:
            p["text"] = r["context"][p["offsets"][0]:p["offsets"][1]]
        if len(preds) == 0 or (len(preds) == 1 and preds[0]["text"] == ""):
            preds.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})
        if not version2:
            out[r["id"]] = preds[0]["text"]
        else:
            i = 0
            while preds[i]["text"] == "":
                i += 1
            best = preds[i]
            diff = null_score - best["start_logit"] - best["end_logit"]
            out[r["id"]] = "" if diff > threshold else best["text"]
    return out


def distil_qa_student(teacher, layers, dropout=None):
    """A DistilBertForQuestionAnswering cut from a BertForQuestionAnswering as `distilcl distill`
    cuts one: `layers` whole, word embeddings and embeddings LayerNorm copied, position table = the
    teacher's + token_type row 0, the teacher's qa_outputs as is, dropout = the teacher's hidden
    dropout (qa_dropout too). The state dict covers every key."""
    import torch
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering
    tc = teacher.config
    assert tc.layer_norm_eps == 1e-12
    hidden = tc.hidden_dropout_prob if dropout is None else dropout
    attention = tc.attention_probs_dropout_prob if dropout is None else dropout
    config = DistilBertConfig(
        vocab_size=tc.vocab_size, max_position_embeddings=tc.max_position_embeddings, sinusoidal_pos_embds=False,
        n_layers=len(layers), n_heads=tc.num_attention_heads, dim=tc.hidden_size, hidden_dim=tc.intermediate_size,
        activation=tc.hidden_act, dropout=hidden, attention_dropout=attention, qa_dropout=hidden, initializer_range=tc.initializer_range, pad_token_id=tc.pad_token_id)
    student = DistilBertForQuestionAnswering(config).to(torch.float32)
    t = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
    s = dict(student.state_dict())
    s.update({
        "distilbert.embeddings.word_embeddings.weight": t["bert.embeddings.word_embeddings.weight"],
        "distilbert.embeddings.position_embeddings.weight":
            t["bert.embeddings.position_embeddings.weight"] + t["bert.embeddings.token_type_embeddings.weight"][0],
        "distilbert.embeddings.LayerNorm.weight": t["bert.embeddings.LayerNorm.weight"],
        "distilbert.embeddings.LayerNorm.bias": t["bert.embeddings.LayerNorm.bias"],
        "qa_outputs.weight": t["qa_outputs.weight"],
        "qa_outputs.bias": t["qa_outputs.bias"],
    })
    for i, src in enumerate(layers):
        for bert_key, distil_key in LAYER_KEYS.items():
            for p in ("weight", "bias"):
                s[f"distilbert.transformer.layer.{i}.{distil_key}.{p}"] = t[f"bert.encoder.layer.{src}.{bert_key}.{p}"]
    student.load_state_dict(s, strict=True)
    return student


def run_hf(args, version, part, train, evals, epochs, lr, env, save=None, teacher=None, alphas=None, model=None):
    with tempfile.TemporaryDirectory(prefix="squad-hf-") as tmp:
        result = Path(tmp) / "result.json"
        a_kd, a_ce = alphas or (RECIPE["alpha_kd"], RECIPE["alpha_ce"])
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", part, "--version", version,
               "--model", str(model or args.model), "--train", str(train), "--eval-names", ",".join(evals),
               "--eval-files", ",".join(map(str, evals.values())), "--epochs", str(epochs), "--lr", repr(lr),
               "--threads", str(args.threads), "--seed", str(args.seed), "--max-length", str(args.max_length), "--doc-stride", str(args.doc_stride),
               "--temperature", repr(RECIPE["temperature"]), "--alpha-kd", repr(a_kd), "--alpha-ce", repr(a_ce),
               "--student-layers", ",".join(map(str, RECIPE["student_layers"])), "--result", str(result)]
        if teacher:
            cmd += ["--teacher", str(teacher)]
        if args.aligned:
            cmd += ["--aligned"]
        if args.dropout is not None:
            cmd += ["--dropout", repr(args.dropout)]
        if args.mask_padding:
            cmd += ["--mask-padding"]
        if args.keyed_dropout:
            cmd += ["--keyed-dropout"]
        if save:
            cmd += ["--save", str(save)]
        log("$ " + " ".join(cmd[2:]))
        rc, rss, wall, tail = run_child(cmd, env)
        if rc != 0 or not result.exists():
            return {"error": f"exit {rc}: " + "; ".join(tail[-3:])}
        return {**json.loads(result.read_text()), "peak_rss_mib": rss, "wall_seconds": wall}


# MARK: - DistilCL

def distilcl_evaluate(args, model, data, env):
    cmd = [args.distilcl, "evaluate", "--model", str(model), "--data", str(data), "--task", "question-answering",
           "--max-length", str(args.max_length), "--doc-stride", str(args.doc_stride),
           "--n-best", str(RECIPE["n_best"]), "--max-answer-length", str(RECIPE["max_answer_length"]),
           "--null-score-diff-threshold", repr(RECIPE["null_score_diff_threshold"]), "--json"]
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: " + " ".join(p.stderr.strip().splitlines()[-2:])}
    o = json.loads(p.stdout)
    return {k[len("eval_"):] if k.startswith("eval_") else k: v for k, v in o.items()}


def run_distilcl(args, part, train, evals, epochs, lr, out, env, teacher=None, alphas=None, init=None):
    """`distilcl train` (part teacher) or `distilcl distill` (student, baseline) into `out`, then
    `distilcl evaluate` on every eval file."""
    common = ["--train", str(train), "--out", str(out), "--task", "question-answering",
              "--epochs", str(epochs), "--batch-size", str(RECIPE["batch_size"]), "--lr", repr(lr),
              "--warmup", str(RECIPE["warmup"]), "--weight-decay", str(RECIPE["weight_decay"]),
              "--max-grad-norm", str(RECIPE["max_grad_norm"]), "--seed", str(RECIPE["seed"]),
              "--max-length", str(args.max_length), "--doc-stride", str(args.doc_stride), "--device", "cpu"]
    if args.dropout is not None:
        common += ["--dropout", repr(args.dropout)]
    if part == "teacher":
        cmd = [args.distilcl, "train", "--model", str(init or args.model)] + common
    else:
        a_kd, a_ce = alphas or (RECIPE["alpha_kd"], RECIPE["alpha_ce"])
        cmd = [args.distilcl, "distill", "--teacher", str(teacher), "--student-layers",
               ",".join(map(str, RECIPE["student_layers"])), "--temperature", repr(RECIPE["temperature"]),
               "--alpha-kd", repr(a_kd), "--alpha-ce", repr(a_ce), "--alpha-cos", "0"] + common
    rss, wall, error = run_logged(cmd, env)
    if error:
        return {"error": error}
    try:
        lines = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines() if l.strip()]
        lines = [e for e in lines if "train_samples_per_second" in e]   # per-epoch lines only
        train_seconds = sum(e["seconds"] for e in lines)
        windows = sum(e["train_samples_per_second"] * e["seconds"] for e in lines)
    except (OSError, ValueError, KeyError) as e:
        return {"error": f"could not read {out}/train_log.jsonl: {type(e).__name__}: {e}"}
    r = {"train_seconds": train_seconds, "samples_per_second": windows / max(train_seconds, 1e-9),
         "train_windows": round(windows / max(1, len(lines))), "epochs_logged": len(lines), "epochs": epochs, "lr": lr,
         "peak_rss_mib": rss, "wall_seconds": wall, "per_epoch": lines}
    r["scores"] = {name: distilcl_evaluate(args, out, path, env) for name, path in evals.items()}
    return r


# MARK: - main

def f1(r, split):
    return (r or {}).get("scores", {}).get(split, {}).get("f1")


def em(r, split):
    s = (r or {}).get("scores", {}).get(split, {})
    return s.get("exact_match", s.get("exact"))


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=RECIPE["seed"],
                    help="seed of the shuffle, the dropout masks and the new head, both engines (repeated runs)")
    ap.add_argument("--versions", default="v1,v2", help="v1 (answerable questions only), v2 (with unanswerable ones)")
    ap.add_argument("--epochs", type=int, default=EPOCHS, help="teacher epochs")
    ap.add_argument("--lr", type=float, default=LR, help="teacher learning rate")
    ap.add_argument("--student-epochs", type=int, default=STUDENT_EPOCHS)
    ap.add_argument("--student-lr", type=float, default=STUDENT_LR)
    ap.add_argument("--student-alpha-kd", type=float, default=RECIPE["alpha_kd"],
                    help="the students' soft-target weight (alpha_ce = 1 - it), both engines")
    ap.add_argument("--student-temperature", type=float, default=RECIPE["temperature"])
    ap.add_argument("--max-length", type=int, default=MAX_LENGTH)
    ap.add_argument("--doc-stride", type=int, default=DOC_STRIDE)
    ap.add_argument("--parts", default="teacher,student",
                    help="teacher, student (DistilCL's distilled student and no-teacher baseline; needs teacher), "
                         "distilled (DistilCL's distilled student alone), "
                         "hf-student (transformers' distilled student), hf-baseline (transformers' no-teacher student)")
    ap.add_argument("--engines", default="transformers,distilcl")
    ap.add_argument("--eval-on", default="test", choices=["test", "dev"])
    ap.add_argument("--no-cross-check", action="store_true")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out-json", default=None)
    ap.add_argument("--keep", default=None, help="keep the derived data and trained models in this folder")
    ap.add_argument("--distilcl", default=str(ROOT / ".build/release/distilcl"))
    ap.add_argument("--binary-commit", default=None,
                    help="the commit the distilcl binary was built at (default: HEAD now), for the record")
    ap.add_argument("--model", default=str(MODEL))
    ap.add_argument("--aligned", action="store_true",
                    help="both engines start from one saved initial checkpoint and walk DistilCL's window order "
                         "(only the dropout masks differ): a diagnostic, see the docstring")
    ap.add_argument("--keyed-dropout", action="store_true",
                    help="with --aligned: transformers' teacher draws DistilCL's dropout masks (benchmarks/keyed_dropout.py)")
    ap.add_argument("--mask-padding", action="store_true",
                    help="transformers' hard loss over each window's real tokens only, as DistilCL's (see the padding caveat)")
    ap.add_argument("--dropout", type=float, default=None, help="every dropout rate, both engines (default: the config's)")
    ap.add_argument("--data", default=str(DATA))
    # child-only
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--version", default="v1", help=argparse.SUPPRESS)
    ap.add_argument("--train", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--eval-names", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--eval-files", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--teacher", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--temperature", type=float, default=RECIPE["temperature"], help=argparse.SUPPRESS)
    ap.add_argument("--alpha-kd", type=float, default=RECIPE["alpha_kd"], help=argparse.SUPPRESS)
    ap.add_argument("--alpha-ce", type=float, default=RECIPE["alpha_ce"], help=argparse.SUPPRESS)
    ap.add_argument("--student-layers", default="0,2,4", help=argparse.SUPPRESS)
    ap.add_argument("--save", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    RECIPE["seed"] = args.seed
    if not args.child:
        if not 0 <= args.student_alpha_kd <= 1 or args.student_temperature <= 0:
            ap.error("--student-alpha-kd takes 0...1 and --student-temperature a positive number")
        RECIPE["alpha_kd"], RECIPE["alpha_ce"] = args.student_alpha_kd, 1 - args.student_alpha_kd
        RECIPE["temperature"] = args.student_temperature
    if args.keyed_dropout and not args.aligned:
        ap.error("--keyed-dropout needs --aligned (the same windows in the same order)")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.child:
        return hf_child(args)

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    split = args.eval_on
    for path in (args.model, Path(args.data) / V1_FILE, Path(args.data) / V2_FILE, args.distilcl):
        if not Path(path).exists():
            sys.exit(f"{path} is missing")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    started = datetime.datetime.now().astimezone()
    cpu, cpu_model_name, family, model_no = cpu_description()
    commit = args.binary_commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                  stdout=subprocess.PIPE, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "Sources", "Package.swift"],
                           cwd=ROOT, stdout=subprocess.PIPE, text=True).stdout.strip()
    keep = Path(args.keep).resolve() if args.keep else None
    tmp = Path(tempfile.mkdtemp(prefix="squad-bench-"))
    work = keep or tmp
    work.mkdir(parents=True, exist_ok=True)
    results, counts = {}, {}
    out_json = Path(args.out_json).resolve() if args.out_json else None

    def report(final=False):
        rows, targets = [], []
        for v in versions:
            res = results.get(v, {})
            for key, label in (("teacher", "teacher (6 layers), fine-tuned"), ("student", "student (3 layers), distilled"),
                               ("baseline", "student (3 layers), no teacher (α_kd 0, α_ce 1)")):
                for engine, ename in (("transformers", "transformers + PyTorch"), ("distilcl", "DistilCL cpu")):
                    r = res.get(f"{key}_{engine}")
                    if r is None:
                        continue
                    if "error" in r:
                        rows.append([v, label, ename, f"error: {r['error'][:120]}", "", "", "", "", ""])
                        continue
                    sc = r["scores"].get(split, {})
                    rows.append([v, label, ename, fmt(em(r, split)), fmt(f1(r, split)),
                                 fmt(sc.get("HasAns_f1")) if v == "v2" else "", fmt(sc.get("NoAns_f1")) if v == "v2" else "",
                                 fmt(r.get("samples_per_second"), 1), fmt(r.get("train_seconds"), 0)])
            th, td = res.get("teacher_transformers", {}), res.get("teacher_distilcl", {})
            if f1(th, split) is not None and f1(td, split) is not None:
                gap = f1(td, split) - f1(th, split)
                targets.append([f"{v}: teacher {split} F1, DistilCL − transformers (points)", f"{gap:+.2f}", "within ±1",
                                "yes" if abs(gap) <= TARGETS["f1_gap_points"] else "NO"])
            for key, what in (("teacher", "fine-tuning"), ("student", "distillation")):
                a, b = res.get(f"{key}_distilcl", {}), res.get(f"{key}_transformers", {})
                if a.get("samples_per_second") and b.get("samples_per_second"):
                    ratio = a["samples_per_second"] / b["samples_per_second"]
                    targets.append([f"{v}: {what} samples/s, DistilCL / transformers", f"{ratio:.2f}×", "≥ 2×",
                                    "yes" if ratio >= TARGETS["speedup"] else "NO"])
            for engine, ename in (("distilcl", "DistilCL"), ("transformers", "transformers")):
                s, b = res.get(f"student_{engine}", {}), res.get(f"baseline_{engine}", {})
                if f1(s, split) is not None and f1(b, split) is not None:
                    d = f1(s, split) - f1(b, split)
                    targets.append([f"{v}: {ename} distilled student − student without teacher, {split} F1 (points)",
                                    f"{d:+.2f}", "≥ 0", "yes" if d >= 0 else "NO"])
        if final:
            log("")
            log(f"{cpu}, {args.threads} thread(s), {started:%Y-%m-%d %H:%M %Z}, DistilCL at {commit}"
                f"{' (+ uncommitted Sources changes)' if dirty else ''}; max length {args.max_length}, stride {args.doc_stride}; "
                f"teacher {args.epochs} epochs lr {args.lr}, student {args.student_epochs} epochs lr {args.student_lr}; "
                f"questions {json.dumps(counts)}")
            log("")
            log(f"| data | model | engine | {split} EM | {split} F1 | HasAns F1 | NoAns F1 | train windows/s | train s |")
            log("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            for r in rows:
                log("| " + " | ".join(r) + " |")
            log("")
            log("| target | value | wanted | met |")
            log("| --- | ---: | --- | --- |")
            for t in targets:
                log("| " + " | ".join(t) + " |")
            for v in versions:
                for k, x in results.get(v, {}).get("evaluator_cross_check", {}).items():
                    log(f"cross-check {v} {k}: " + json.dumps({s: (y.get('f1') if isinstance(y, dict) else y) for s, y in x.items()}))
        if out_json:
            out_json.write_text(json.dumps({
                "date": started.isoformat(timespec="seconds"), "cpu": cpu, "cpu_model_name": cpu_model_name,
                "cpuid_family": family, "cpuid_model": model_no, "threads": args.threads, "commit": commit,
                "sources_dirty": bool(dirty), "limit": args.limit, "questions": counts, "eval_on": split,
                "versions": versions,
                "recipe": {**RECIPE, "max_length": args.max_length, "doc_stride": args.doc_stride, "epochs": args.epochs,
                           "lr": args.lr, "student_epochs": args.student_epochs, "student_lr": args.student_lr,
                           "aligned": args.aligned, "mask_padding": args.mask_padding, "keyed_dropout": args.keyed_dropout, "dropout": args.dropout if args.dropout is not None else "config"},
                "targets": TARGETS, "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "results": results,
                "table": rows, "target_rows": targets}, indent=1, ensure_ascii=False) + "\n")
            if final:
                log(f"\nwrote {out_json}")

    try:
        for v in versions:
            vdir = work / v
            files, counts[v] = make_split(args.data, v, split, args.limit, vdir / "data")
            evals = {split: files[split]}
            res = results.setdefault(v, {})
            log(f"\n=== {v}: {counts[v]['train']} training questions ({', '.join(counts[v]['train_articles'])}), "
                f"{counts[v][split]} {split} questions ({counts[v]['eval_article']}, {counts[v][split + '_unanswerable']} "
                f"unanswerable); {cpu}; {args.threads} thread(s) ===")

            def run(key, fn):
                log(f"\n--- {v} {key} ---")
                res[key] = fn()
                r = res[key]
                log(f"{v} {key}: " + (f"error: {r['error']}" if "error" in r else
                                      f"{fmt(r.get('samples_per_second'), 1)} windows/s, {fmt(r.get('train_seconds'), 1)} s; "
                                      f"{split} EM {fmt(em(r, split))} F1 {fmt(f1(r, split))}"))
                report()   # the JSON so far, after every run

            teacher_dir = vdir / "teacher-distilcl"
            init = None
            if args.aligned and "teacher" in parts:
                init = vdir / "teacher-init"
                r = run_hf(args, v, "init", files["train"], evals, 0, args.lr, env, save=init)
                if "error" in r:
                    sys.exit(f"--aligned: the initial checkpoint failed: {r['error']}")
                res["aligned_init"] = {"folder": str(init), **r}
            if "teacher" in parts:
                if "distilcl" in engines:
                    run("teacher_distilcl", lambda: run_distilcl(args, "teacher", files["train"], evals, args.epochs,
                                                                 args.lr, teacher_dir, env, init=init))
                if "transformers" in engines:
                    run("teacher_transformers", lambda: run_hf(args, v, "teacher", files["train"], evals, args.epochs,
                                                               args.lr, env, save=vdir / "teacher-transformers", model=init))
                cross = {}
                if not args.no_cross_check:
                    if "scores" in res.get("teacher_transformers", {}) and "distilcl" in engines:
                        cross["transformers_teacher_by_distilcl_evaluate"] = {
                            s: distilcl_evaluate(args, vdir / "teacher-transformers", p, env) for s, p in evals.items()}
                    if "scores" in res.get("teacher_distilcl", {}) and "transformers" in engines:
                        r = run_hf(args, v, "score", files["train"], evals, 0, args.lr, env, teacher=teacher_dir)
                        cross["distilcl_teacher_by_utils_qa"] = r.get("scores", r)
                res["evaluator_cross_check"] = cross
                report()
            if (teacher_dir / "model.safetensors").exists():
                se, slr = args.student_epochs, args.student_lr
                if ("student" in parts or "distilled" in parts) and "distilcl" in engines:
                    run("student_distilcl", lambda: run_distilcl(args, "student", files["train"], evals, se, slr,
                                                                 vdir / "student-distilcl", env, teacher=teacher_dir))
                if "student" in parts and "distilcl" in engines:
                    run("baseline_distilcl", lambda: run_distilcl(args, "baseline", files["train"], evals, se, slr,
                                                                  vdir / "baseline-distilcl", env, teacher=teacher_dir,
                                                                  alphas=(0.0, 1.0)))
                if "hf-student" in parts and "transformers" in engines:
                    run("student_transformers", lambda: run_hf(args, v, "student", files["train"], evals, se, slr, env,
                                                               teacher=teacher_dir))
                if "hf-baseline" in parts and "transformers" in engines:
                    run("baseline_transformers", lambda: run_hf(args, v, "student", files["train"], evals, se, slr, env,
                                                                teacher=teacher_dir, alphas=(0.0, 1.0)))
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    report(final=True)


if __name__ == "__main__":
    main()
