#!/usr/bin/env python3
"""Saved folders in transformers (issue 22): every folder `distilcl train` / `distilcl distill` writes
loads with the matching transformers AutoModelFor… class, with no missing, unexpected or mismatched
keys, and gives the same outputs as distilcl on the CPU path (fp32) within 1e-4.

Everything runs in a temporary folder (--keep DIR keeps it): a few tiny training runs
(--max-steps 3 --batch-size 4 --lr 1e-3, seed 0, CPU path) on JSON Lines files written here, then:

  text classification   `distilcl train` from Tests/Fixtures/tiny-distilbert-sst (keeps its head) and
                        from models/all-MiniLM-L6-v2 (a bare BertModel: a fresh head), and
                        `distilcl distill --student-layers 0,2,4` from the trained MiniLM classifier (a
                        DistilBERT student). Loaded with AutoModelForSequenceClassification; compared: the
                        raw logits of `distilcl classify --logits` against the model's logits, on a few
                        texts.
  token classification  `distilcl train --task token-classification` from models/all-MiniLM-L6-v2
                        (fresh head) and from Tests/Fixtures/tiny-distilbert-ner (keeps its head), and
                        `distilcl distill --task token-classification --student-layers 0,2,4` from the
                        trained MiniLM tagger (a DistilBERT student). Loaded with
                        AutoModelForTokenClassification. distilcl has no raw per-token logit output, so
                        three comparisons cover the head and the encoder instead:
                          ner       `distilcl ner --aggregation none`: every token transformers labels
                                    other than O must be listed with the same label and a score (the
                                    softmax probability of that label) within 1e-4, and no token
                                    transformers labels O may be listed;
                          eval_loss `distilcl evaluate --json`'s eval_loss (mean cross-entropy over every
                                    word's first piece, so every labelled token's full logit vector
                                    counts, O tokens included) against the same mean computed from
                                    transformers' logits with run_ner.py's label alignment;
                          hidden    `distilcl embed --pooling none` (the last hidden state of every token)
                                    against transformers' last hidden state: the encoder the head reads.
                        The logit comparisons pass the model only the tokenizer outputs its forward takes.
  pipeline              every saved folder also goes through transformers.pipeline(task, model=OUT), as a
                        user would load it (AutoTokenizer from the folder's tokenizer files): it must run,
                        and for text classification give distilcl's label and score.
  question answering    `distilcl train --task question-answering` from Tests/Fixtures/tiny-bert-qa when
                        it is built (loaded with AutoModelForQuestionAnswering, compared: the best
                        answer's text and score from `distilcl qa` against transformers'
                        question-answering pipeline; distilcl has no raw start/end logit output);
                        while it is not built the script says so and skips it. Either way it checks
                        `distilcl qa` on the fixture itself the same way (a folder transformers wrote,
                        not a saved one: it validates the comparison, not the writer).

Prints a table (task, source model, class loaded, what was compared, max |diff|, pass/fail) and exits 1
on any mismatch or loading problem.

Usage:
  bench-venv/bin/python benchmarks/saved_heads.py [--bin .build/debug/distilcl] [--keep DIR] [--threads 1]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-4
STEPS = ["--max-steps", "3", "--batch-size", "4", "--lr", "1e-3", "--seed", "0", "--device", "cpu"]

SST = ROOT / "Tests/Fixtures/tiny-distilbert-sst"
NER = ROOT / "Tests/Fixtures/tiny-distilbert-ner"
QA = ROOT / "Tests/Fixtures/tiny-bert-qa"
MINILM = ROOT / "models/all-MiniLM-L6-v2"

TEXT_TRAIN = [
    ("A wonderful, moving film with superb acting.", "POSITIVE"),
    ("Dull, predictable and far too long.", "NEGATIVE"),
    ("I loved every minute of it.", "POSITIVE"),
    ("The plot makes no sense and the jokes fall flat.", "NEGATIVE"),
    ("Charming characters and a clever script.", "POSITIVE"),
    ("A waste of two hours.", "NEGATIVE"),
    ("Beautifully shot, warm and funny.", "POSITIVE"),
    ("The worst sequel I have ever seen.", "NEGATIVE"),
]
TEXT_CHECK = [
    "An absolute delight from start to finish!",
    "Boring.",
    "The acting was fine but the story dragged on and on, and I left before the end.",
    "Not bad at all, actually quite good",
    "naïve café résumé: unicode and accents survive tokenisation",
]

TOKEN_TRAIN = [
    (["Ada", "Lovelace", "lived", "in", "London", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
    (["Alan", "Turing", "worked", "at", "Bletchley", "Park", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]),
    (["Grace", "Hopper", "joined", "the", "US", "Navy", "."], ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "O"]),
    (["Marie", "Curie", "studied", "in", "Paris", "with", "Pierre", "Curie", "."],
     ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-PER", "I-PER", "O"]),
    (["The", "Olympics", "came", "to", "Tokyo", "."], ["O", "B-MISC", "O", "O", "B-LOC", "O"]),
    (["Google", "opened", "an", "office", "in", "Zurich", "."], ["B-ORG", "O", "O", "O", "O", "B-LOC", "O"]),
    (["Linus", "Torvalds", "wrote", "Linux", "in", "Helsinki", "."], ["B-PER", "I-PER", "O", "B-MISC", "O", "B-LOC", "O"]),
    (["Barbara", "Liskov", "teaches", "at", "MIT", "."], ["B-PER", "I-PER", "O", "O", "B-ORG", "O"]),
]
TOKEN_CHECK = [
    "Ada Lovelace met Charles Babbage in London.",
    "Katherine Johnson worked for NASA in Virginia.",
    "Tim Berners-Lee invented the Web at CERN near Geneva.",
    "Nothing to see here.",
]

QA_TRAIN = [
    {"id": "q1", "question": "Who wrote it?", "context": "Ada wrote the first program in London.",
     "answers": {"text": ["Ada"], "answer_start": [0]}},
    {"id": "q2", "question": "Where did Ada write it?", "context": "Ada wrote the first program in London.",
     "answers": {"text": ["London"], "answer_start": [31]}},
    {"id": "q3", "question": "What did Ada write?", "context": "Ada wrote the first program in London.",
     "answers": {"text": ["the first program"], "answer_start": [10]}},
    {"id": "q4", "question": "Who painted it?", "context": "The picture was painted by Monet in Paris.",
     "answers": {"text": ["Monet"], "answer_start": [27]}},
]
QA_CHECK = [
    {"question": "Who painted the picture?", "context": "The picture was painted by Claude Monet in Paris in 1872."},
    {"question": "Where did Ada live?", "context": "Ada Lovelace lived in London and wrote about the Analytical Engine."},
    {"question": "When was it built?", "context": "The bridge was built in 1890. It is made of steel and stone."},
]

ROWS = []   # (task, source, class loaded, compared, max |diff| or note, ok)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def distilcl(args, *cmd, check=True):
    full = [str(args.bin), *map(str, cmd)]
    log("$ " + " ".join(full))
    p = subprocess.run(full, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    return p


def jsonl_out(p):
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def load(auto, folder):
    """from_pretrained with the loading info; a list of problems (empty when the load is clean)."""
    import transformers
    model, info = getattr(transformers, auto).from_pretrained(str(folder), output_loading_info=True)
    model.eval()
    problems = [f"{k}: {v}" for k, v in info.items() if v]
    cfg = json.loads((Path(folder) / "config.json").read_text())
    arch = (cfg.get("architectures") or ["?"])[0]
    if arch != type(model).__name__:
        problems.append(f"config architectures {arch} but {auto} built {type(model).__name__}")
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    return model, tok, problems


def inputs(model, enc):
    """The tokenizer's outputs the model's forward takes (a DistilBERT takes no token_type_ids, which a
    folder whose tokenizer_config says BertTokenizer still produces: the pipeline row reports that)."""
    import inspect
    takes = inspect.signature(model.forward).parameters
    return {k: v for k, v in enc.items() if k in takes}


def pipeline_check(task, folder, text, source, cls, expect=None):
    """transformers.pipeline(task, model=FOLDER) as a user would call it: it must run (and, for text
    classification, give distilcl's label and score)."""
    import transformers
    try:
        pipe = transformers.pipeline(task, model=str(folder), device=-1)
        got = pipe(text)
    except Exception as e:
        record(task, source, cls, f"pipeline('{task}', model=OUT)", "-", False,
               f"{type(e).__name__}: {str(e).splitlines()[0]}")
        return
    if expect is None:
        record(task, source, cls, f"pipeline('{task}', model=OUT) runs", "-", True)
        return
    got = got[0]
    diff = abs(got["score"] - expect["score"])
    ok = got["label"] == expect["label"] and diff <= TOL
    record(task, source, cls, f"pipeline('{task}', model=OUT): score", diff, ok,
           "" if got["label"] == expect["label"] else f"label {got['label']} against {expect['label']}")


def record(task, source, cls, compared, diff, ok, note=""):
    ROWS.append((task, source, cls, compared, diff, ok, note))
    log(f"  {task} / {source} / {compared}: max|diff| {diff} {'pass' if ok else 'FAIL'} {note}")


def fmt(d):
    return d if isinstance(d, str) else f"{d:.2e}"


# ---------------------------------------------------------------- text classification

def text_classification(args, tmp, source, name, distil=False):
    import torch
    train = tmp / "text-train.jsonl"
    write_jsonl(train, [{"text": t, "label": l} for t, l in TEXT_TRAIN])
    if distil:
        out = tmp / "tc-student"
        distilcl(args, "distill", "--teacher", source, "--student-layers", "0,2,4", "--train", train, "--out", out,
                 "--max-length", 64, *STEPS)
    else:
        out = tmp / f"tc-{source.name}"
        distilcl(args, "train", "--model", source, "--train", train, "--out", out, "--max-length", 64, *STEPS)
    model, tok, problems = load("AutoModelForSequenceClassification", out)
    cls = type(model).__name__
    texts = tmp / "text-check.txt"
    texts.write_text("".join(t + "\n" for t in TEXT_CHECK), encoding="utf-8")
    ours = jsonl_out(distilcl(args, "classify", "--model", out, "--input", texts, "--logits", "--device", "cpu"))
    worst, mismatches = 0.0, []
    with torch.no_grad():
        for text, o in zip(TEXT_CHECK, ours, strict=True):
            logits = model(**inputs(model, tok(text, return_tensors="pt"))).logits[0].tolist()
            if len(logits) != len(o["logits"]):
                mismatches.append(f"{len(logits)} logits against {len(o['logits'])}")
                continue
            worst = max(worst, max(abs(a - b) for a, b in zip(logits, o["logits"])))
            label = model.config.id2label[max(range(len(logits)), key=logits.__getitem__)]
            if label != o["label"]:
                mismatches.append(f"{text!r}: label {o['label']} against {label}")
    ok = not problems and not mismatches and worst <= TOL
    record("text-classification", name, cls, "classify --logits: logits", worst, ok, "; ".join(problems + mismatches))
    pipeline_check("text-classification", out, TEXT_CHECK[0], name, cls, expect=ours[0])


# ---------------------------------------------------------------- token classification

def token_checks(args, tmp, out, task, name):
    import torch
    model, tok, problems = load("AutoModelForTokenClassification", out)
    cls = type(model).__name__
    id2label = model.config.id2label

    # 1. ner --aggregation none: labels and scores of every token not labelled O.
    texts = tmp / "token-check.txt"
    texts.write_text("".join(t + "\n" for t in TOKEN_CHECK), encoding="utf-8")
    ours = jsonl_out(distilcl(args, "ner", "--model", out, "--input", texts, "--aggregation", "none", "--device", "cpu"))
    worst, mismatches, compared = 0.0, [], 0
    with torch.no_grad():
        for text, o in zip(TOKEN_CHECK, ours, strict=True):
            enc = tok(text, return_tensors="pt", return_special_tokens_mask=True)
            special = enc.pop("special_tokens_mask")[0].tolist()
            probs = torch.softmax(model(**inputs(model, enc)).logits[0], dim=-1)
            listed = {e["index"]: e for e in o["entities"]}
            for i, sp in enumerate(special):
                if sp:
                    if i in listed:
                        mismatches.append(f"{text!r}: special token {i} listed")
                    continue
                best = int(probs[i].argmax())
                label = id2label[best]
                if label == "O":
                    if i in listed:
                        mismatches.append(f"{text!r}: token {i} is O in transformers, {listed[i]['entity']} in distilcl")
                    continue
                e = listed.get(i)
                if e is None or e["entity"] != label:
                    mismatches.append(f"{text!r}: token {i} {label} in transformers, {e and e['entity']} in distilcl")
                    continue
                compared += 1
                worst = max(worst, abs(float(probs[i, best]) - e["score"]))
    ok = not problems and not mismatches and worst <= TOL
    note = "; ".join(problems + mismatches[:3]) or f"{compared} tokens"
    if compared == 0:
        note += " (every token O: only the O placement is checked)"
    record("token-classification", name, cls, "ner --aggregation none: scores", worst, ok, note)

    # 2. evaluate --json eval_loss: every labelled token's logits through the cross-entropy.
    data = tmp / "token-train.jsonl"
    ev = json.loads(distilcl(args, "evaluate", "--model", out, "--data", data, "--task", "token-classification",
                             "--max-length", 64, "--batch-size", 64, "--json", "--device", "cpu").stdout)
    label2id = {v: k for k, v in id2label.items()}
    total, count = 0.0, 0
    with torch.no_grad():
        for words, tags in TOKEN_TRAIN:
            enc = tok(words, is_split_into_words=True, truncation=True, max_length=64, return_tensors="pt")
            logp = torch.log_softmax(model(**inputs(model, enc)).logits[0].double(), dim=-1)
            previous = None
            for i, w in enumerate(enc.word_ids(0)):
                if w is not None and w != previous:    # run_ner.py: the first piece of each word
                    total -= float(logp[i, label2id[tags[w]]])
                    count += 1
                previous = w
    diff = abs(total / count - ev["eval_loss"])
    record("token-classification", name, cls, "evaluate eval_loss", diff, not problems and diff <= TOL,
           f"{count} tokens")

    # 3. embed --pooling none: the last hidden state of every token, which the head reads.
    ours = jsonl_out(distilcl(args, "embed", "--model", out, "--input", texts, "--pooling", "none",
                              "--no-normalize", "--device", "cpu"))
    worst, mismatches = 0.0, []
    with torch.no_grad():
        for text, o in zip(TOKEN_CHECK, ours, strict=True):
            hidden = model(**inputs(model, tok(text, return_tensors="pt")), output_hidden_states=True).hidden_states[-1][0]
            if list(hidden.shape) != [len(o["hidden"]), len(o["hidden"][0])]:
                mismatches.append(f"{text!r}: shape {list(hidden.shape)} against {len(o['hidden'])}")
                continue
            worst = max(worst, float((hidden - torch.tensor(o["hidden"])).abs().max()))
    record("token-classification", name, cls, "embed --pooling none: hidden", worst,
           not problems and not mismatches and worst <= TOL, "; ".join(mismatches))
    pipeline_check("token-classification", out, TOKEN_CHECK[0], name, cls)


def token_classification(args, tmp):
    train = tmp / "token-train.jsonl"
    write_jsonl(train, [{"tokens": w, "tags": t} for w, t in TOKEN_TRAIN])
    outs = {}
    for source, name in [(MINILM, "all-MiniLM-L6-v2 (new head)"), (NER, "tiny-distilbert-ner")]:
        out = tmp / f"tok-{source.name}"
        distilcl(args, "train", "--task", "token-classification", "--model", source, "--train", train, "--out", out,
                 "--max-length", 64, *STEPS)
        outs[source] = out
        token_checks(args, tmp, out, "token-classification", name)
    student = tmp / "tok-student"
    distilcl(args, "distill", "--task", "token-classification", "--teacher", outs[MINILM], "--student-layers", "0,2,4",
             "--train", train, "--out", student, "--max-length", 64, *STEPS)
    token_checks(args, tmp, student, "token-classification", "distilled from MiniLM tagger (layers 0,2,4)")


# ---------------------------------------------------------------- question answering

def qa_checks(args, tmp, folder, name, saved):
    import transformers
    model, tok, problems = load("AutoModelForQuestionAnswering", folder)
    cls = type(model).__name__
    pipe = transformers.pipeline("question-answering", model=model, tokenizer=tok, device=-1)
    inputs = tmp / "qa-check.jsonl"
    write_jsonl(inputs, QA_CHECK)
    ours = jsonl_out(distilcl(args, "qa", "--model", folder, "--input", inputs, "--device", "cpu"))
    worst, mismatches = 0.0, []
    for q, o in zip(QA_CHECK, ours, strict=True):
        theirs = pipe(question=q["question"], context=q["context"], top_k=1)
        a = o["answers"][0]
        if (a["start"], a["end"]) != (theirs["start"], theirs["end"]):
            mismatches.append(f"{q['question']!r}: {a['answer']!r} against {theirs['answer']!r}")
            continue
        worst = max(worst, abs(a["score"] - theirs["score"]))
    compared = "qa: best answer's score" + ("" if saved else " (fixture as is, not a saved folder)")
    record("question-answering", name, cls, compared, worst, not problems and not mismatches and worst <= TOL,
           "; ".join(problems + mismatches))


def question_answering(args, tmp):
    qa_checks(args, tmp, QA, "tiny-bert-qa fixture", saved=False)
    train = tmp / "qa-train.jsonl"
    write_jsonl(train, QA_TRAIN)
    out = tmp / "qa-tiny-bert-qa"
    p = distilcl(args, "train", "--task", "question-answering", "--model", QA, "--train", train, "--out", out,
                 *STEPS, check=False)
    if p.returncode != 0:
        note = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"
        print(f"NOTE: question answering skipped: `distilcl train --task question-answering` fails here ({note});"
              " no saved QA folder to check.")
        ROWS.append(("question-answering", "tiny-bert-qa", "-", "saved folder", "skipped", None, note))
        return
    qa_checks(args, tmp, out, "tiny-bert-qa", saved=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / ".build/debug/distilcl")
    ap.add_argument("--keep", type=Path, help="keep the runs in this folder (emptied first)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    args.bin = args.bin.absolute()
    import torch
    torch.set_num_threads(args.threads)
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        args.keep.mkdir(parents=True)
        tmp = args.keep.resolve()
    else:
        tmp = Path(tempfile.mkdtemp(prefix="saved-heads-"))
    failures = []
    try:
        for part, fn in [("text classification", lambda: (text_classification(args, tmp, SST, "tiny-distilbert-sst"),
                                                          text_classification(args, tmp, MINILM, "all-MiniLM-L6-v2 (new head)"),
                                                          text_classification(args, tmp, tmp / "tc-all-MiniLM-L6-v2",
                                                                              "distilled from MiniLM classifier (layers 0,2,4)",
                                                                              distil=True))),
                         ("token classification", lambda: token_classification(args, tmp)),
                         ("question answering", lambda: question_answering(args, tmp))]:
            try:
                fn()
            except Exception as e:   # a failed run or load is a failure of this check, reported in the table
                failures.append(f"{part}: {e}")
                ROWS.append((part.replace(" ", "-"), "-", "-", "error", "-", False, str(e).splitlines()[0]))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"\ntolerance {TOL}; distilcl {args.bin.relative_to(ROOT) if args.bin.is_relative_to(ROOT) else args.bin}, CPU path, fp32\n")
    print("| task | source model | class loaded | compared | max \\|diff\\| | result |")
    print("| --- | --- | --- | --- | ---: | --- |")
    for task, source, cls, compared, diff, ok, note in ROWS:
        result = "skipped" if ok is None else ("pass" if ok else "FAIL")
        extra = f" ({note})" if note else ""
        print(f"| {task} | {source} | {cls} | {compared} | {fmt(diff)} | {result}{extra} |")
    for f in failures:
        print("error:", f, file=sys.stderr)
    bad = [r for r in ROWS if r[5] is False]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
