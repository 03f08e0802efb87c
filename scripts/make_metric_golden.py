#!/usr/bin/env python3
"""Writes Tests/Fixtures/metrics-golden.json: the evaluation metrics of issue 22 computed by the Python packages
users compare with, for Tests/DistilCLTests/Metrics (which hold DistilCL's Sources/DistilCL/Metrics to 1e-9).

    bench-venv/bin/pip install seqeval==1.2.2 scikit-learn scipy
    bench-venv/bin/python scripts/make_metric_golden.py            # writes the file
    bench-venv/bin/python scripts/make_metric_golden.py --check    # compares with the committed file

The references, each the real code, none rewritten here:

  seqeval         seqeval.metrics precision_score / recall_score / f1_score / accuracy_score with their
                  defaults (conlleval-style chunking, micro average, 0 where undefined) and
                  classification_report(output_dict=True) for the per-type rows.
  SQuAD v1.1      the official v1.1 script, `evaluate-v1.1.py` ("Official evaluation script for v1.1 of the
                  SQuAD dataset"), as shipped verbatim in the PyPI wheel allennlp==0.9.0
                  (allennlp/tools/squad_eval.py). Hugging Face `evaluate`'s squad metric downloads its
                  code from the Hub at load time (the evaluate 0.4.6 wheel holds no metric code), so it
                  cannot run offline; the script fetches the allennlp wheel with `pip download --no-deps`
                  into a temporary folder, checks its sha256 and loads that one file from it (allennlp
                  itself is not installed). `evaluate()` gives exact_match and f1.
  SQuAD v2.0      transformers.data.metrics.squad_metrics (transformers 4.57.6), the official v2.0 script's
                  logic as transformers ships it: squad_evaluate() over examples with qas_id and answers
                  gives exact, f1, total and the HasAns_/NoAns_ rows (no na_prob file, so no best_*).
                  An unanswerable question has no answers; its only reference is then "".
  classification  sklearn.metrics accuracy_score and f1_score(average="macro", zero_division=0) on class
                  ids (labels: the union of true and predicted ones); multi-label: the same two on
                  indicator rows (accuracy_score is subset accuracy there; macro F1 over every column).
  regression      sklearn.metrics.mean_squared_error and scipy.stats.pearsonr.

Inputs are fixed edge cases plus seeded random ones (random.Random(0)); floats are written with repr
precision (json.dumps), so the Swift side compares within 1e-9.
"""
import argparse
import hashlib
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import types
import warnings
import zipfile
from pathlib import Path

import seqeval
import seqeval.metrics as sq
import sklearn
import sklearn.metrics as skm
import scipy
import scipy.stats
import transformers
from transformers.data.metrics import squad_metrics as squad_v2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/Fixtures/metrics-golden.json"

ALLENNLP_SPEC = "allennlp==0.9.0"
ALLENNLP_WHEEL = "allennlp-0.9.0-py3-none-any.whl"
ALLENNLP_SHA256 = "353752e7b78e48c450e27889d80a3000c4a9af34f70ff9091b3031ad01320940"
ALLENNLP_MEMBER = "allennlp/tools/squad_eval.py"

warnings.filterwarnings("ignore")   # seqeval and sklearn warn on undefined scores and odd tags


def load_squad_v1():
    """The official SQuAD v1.1 evaluation script, from the pinned allennlp wheel."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--disable-pip-version-check", "-d", tmp, ALLENNLP_SPEC], check=True)
        wheel = Path(tmp) / ALLENNLP_WHEEL
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != ALLENNLP_SHA256:
            sys.exit(f"{ALLENNLP_WHEEL}: sha256 {digest}, expected {ALLENNLP_SHA256}")
        with zipfile.ZipFile(wheel) as z:
            source = z.read(ALLENNLP_MEMBER).decode("utf-8")
    assert source.startswith('""" Official evaluation script for v1.1 of the SQuAD dataset. """')
    module = types.ModuleType("squad_eval_v1_1")
    exec(compile(source, ALLENNLP_MEMBER, "exec"), module.__dict__)
    return module


# MARK: - seqeval

TYPES = ["PER", "LOC", "ORG", "geo-loc"]


def random_bio(rng, n, odd=False):
    """n tags: mostly O, B-/I- of several types, I- after O and type changes inside a chunk happen."""
    pool = ["O"] * 6 + [f"{p}-{t}" for t in TYPES for p in "BI"]
    if odd:
        pool += ["E-PER", "S-LOC", "B", "I", ".", "X-ORG", "PER", "B-", "B--x"]
    return [rng.choice(pool) for _ in range(n)]


def perturb(rng, tags, odd=False):
    """A prediction near `tags`: some tags replaced at random."""
    out = list(tags)
    for i in range(len(out)):
        if rng.random() < 0.3:
            out[i] = random_bio(rng, 1, odd)[0]
    return out


def seqeval_cases(rng):
    fixed = [
        ("exact", [["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
        ("seqeval docstring", [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]],
         [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]),
        ("boundary differs", [["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-PER", "O"]]),
        ("type differs", [["B-PER", "I-PER"]], [["B-LOC", "I-LOC"]]),
        ("I after O starts a chunk", [["O", "I-PER", "I-PER", "O"]], [["O", "B-PER", "I-PER", "O"]]),
        ("type change inside a chunk", [["B-PER", "I-LOC", "I-LOC"]], [["B-PER", "B-LOC", "I-LOC"]]),
        ("chunk at the end of one sentence and the start of the next",
         [["O", "B-PER"], ["I-PER", "O"]], [["O", "B-PER"], ["B-PER", "O"]]),
        ("all O", [["O", "O"], ["O"]], [["O", "O"], ["O"]]),
        ("no predicted entities", [["B-PER", "O"], ["B-LOC"]], [["O", "O"], ["O"]]),
        ("no true entities", [["O", "O"], ["O"]], [["B-PER", "O"], ["I-ORG"]]),
        ("empty sentences", [[], ["B-PER"], []], [[], ["B-PER"], []]),
        ("B B of one type", [["B-PER", "B-PER", "I-PER"]], [["B-PER", "I-PER", "I-PER"]]),
        ("IOBES letters", [["S-PER", "O", "B-LOC", "E-LOC", "I-LOC"]], [["B-PER", "O", "B-LOC", "I-LOC", "E-LOC"]]),
        ("bare and odd tags", [["B", "I", "O", ".", "X-ORG", "PER", "B-", "B--x"]],
         [["B", "O", "O", ".", "X-ORG", "PER", "B-", "I--x"]]),
        ("dashed type names", [["B-geo-loc", "I-geo-loc", "O"]], [["B-geo-loc", "I-geo-loc", "O"]]),
    ]
    cases = [{"name": n, "y_true": t, "y_pred": p} for n, t, p in fixed]
    for k in range(40):
        odd = k % 4 == 3
        y_true = [random_bio(rng, rng.randint(0, 12), odd) for _ in range(rng.randint(1, 6))]
        if k % 10 == 5:
            y_pred = [["O"] * len(s) for s in y_true]
        else:
            y_pred = [perturb(rng, s, odd) for s in y_true]
        cases.append({"name": f"random {k}{' (odd tags)' if odd else ''}", "y_true": y_true, "y_pred": y_pred})
    for c in cases:
        t, p = c["y_true"], c["y_pred"]
        c["precision"] = float(sq.precision_score(t, p))
        c["recall"] = float(sq.recall_score(t, p))
        c["f1"] = float(sq.f1_score(t, p))
        c["accuracy"] = float(sq.accuracy_score(t, p)) if sum(map(len, t)) else None
        report = sq.classification_report(t, p, output_dict=True)
        c["per_type"] = {name: {"precision": float(r["precision"]), "recall": float(r["recall"]),
                                "f1": float(r["f1-score"]), "support": int(r["support"])}
                         for name, r in report.items() if not name.endswith(" avg")}
    return cases


# MARK: - SQuAD

NORMALIZE_TEXTS = [
    "", " ", "The", "the", "a", "an", "An apple", "The Cat sat on a mat.", "  Hello,   World!  ", "U.S.A.",
    "don't", "e-mail", "(the) [a] {an}", "theater", "another", "a_b", "the_end", "the-end", "an/the",
    "Café", "naïve CAFÉ", "ΟΔΟΣ", "ΣΑ Σ", "İstanbul", "straße", "ǅungla", "١٢ apples", "²the", "the²",
    "x\u00a0the\u00a0y", "the\u2003end", "a\u200bthe", "the\u0301", "Les Misérables", "“the” quote",
    "it’s the end", "tab\tthe\nnewline", "x\x1cthe\x1fy", "日本の the 東京", "$100.00", "#1 hit", "100%",
    "a\u3000b", "The The the", "Ångström", "ﬁne", "Ⅻ a", "the a an", "—the—",
]


def squad_cases(rng, v1):
    words = ["the", "a", "an", "cat", "Cat", "dog,", "New", "York", "café", "Café", "1976", "U.S.", "'s", "naïve",
             "—", "ΟΔΟΣ", "οδος", "Denver", "Broncos", "(born", "1879)", "x", "x"]

    def phrase(n):
        return " ".join(rng.choice(words) for _ in range(n))

    fixed_v1 = [
        ("exact and article", ["the Denver Broncos", "Broncos"], [["Denver Broncos"], ["The Broncos!", "Broncos"]]),
        ("punctuation and case", ["1976.", "NEW york"], [["1976"], ["New York City"]]),
        ("empty prediction", ["", "cat"], [["a cat"], ["cat", "dog"]]),
        ("reference only an article", ["the", "a"], [["a"], ["cat"]]),
        ("repeated tokens", ["x x x y", "y y"], [["x y y"], ["x y"]]),
        ("unicode", ["Café", "naive"], [["café"], ["naïve"]]),
    ]
    fixed_v2 = fixed_v1 + [
        ("unanswerable, null predicted", ["", "Denver"], [[], ["Denver"]]),
        ("unanswerable, answer predicted", ["the cat", ""], [[], ["Denver"]]),
        ("only unanswerable", ["", "x"], [[], []]),
        ("reference normalises to empty", ["", "the"], [["the"], ["a", "an"]]),
        ("empty reference string", ["", "x"], [[""], ["", "x"]]),
    ]
    cases = [{"name": n, "predictions": p, "references": r} for n, p, r in (fixed_v1 if v1 else fixed_v2)]
    for k in range(30):
        preds, refs = [], []
        for _ in range(rng.randint(1, 8)):
            answers = [phrase(rng.randint(1, 5)) for _ in range(rng.randint(0 if not v1 else 1, 3))]
            if answers and rng.random() < 0.5:
                pred = rng.choice(answers)
                pred = " ".join(w for w in pred.split() if rng.random() < 0.8) or pred
            else:
                pred = "" if rng.random() < 0.3 else phrase(rng.randint(1, 4))
            preds.append(pred)
            refs.append(answers)
        cases.append({"name": f"random {k}", "predictions": preds, "references": refs})
    return cases


def score_v1(module, case):
    dataset = [{"paragraphs": [{"qas": [{"id": str(i), "answers": [{"text": t} for t in refs]}
                                        for i, refs in enumerate(case["references"])]}]}]
    predictions = {str(i): p for i, p in enumerate(case["predictions"])}
    result = module.evaluate(dataset, predictions)
    case["exact_match"] = float(result["exact_match"])
    case["f1"] = float(result["f1"])
    case["per_question"] = [
        {"exact": float(module.metric_max_over_ground_truths(module.exact_match_score, p, refs)),
         "f1": float(module.metric_max_over_ground_truths(module.f1_score, p, refs))}
        for p, refs in zip(case["predictions"], case["references"])]


def score_v2(case):
    examples = [types.SimpleNamespace(qas_id=str(i), answers=[{"text": t} for t in refs])
                for i, refs in enumerate(case["references"])]
    predictions = {str(i): p for i, p in enumerate(case["predictions"])}
    result = squad_v2.squad_evaluate(examples, predictions)
    for key, value in result.items():
        if not key.startswith("best_"):   # threshold search over no-answer probabilities: none given here
            case[key] = value if key.endswith("total") else float(value)


# MARK: - Classification

def classification_cases(rng):
    fixed = [
        ("perfect", [0, 1, 2, 1], [0, 1, 2, 1]),
        ("a class never predicted", [0, 1, 2, 2], [0, 1, 1, 1]),
        ("a class only predicted", [0, 0, 1, 1], [0, 3, 1, 1]),
        ("one class", [4, 4, 4], [4, 4, 4]),
        ("all wrong", [0, 1], [1, 0]),
    ]
    cases = [{"name": n, "y_true": t, "y_pred": p} for n, t, p in fixed]
    for k in range(20):
        n, classes = rng.randint(1, 30), rng.randint(2, 6)
        t = [rng.randrange(classes) for _ in range(n)]
        p = [x if rng.random() < 0.6 else rng.randrange(classes + 1) for x in t]
        cases.append({"name": f"random {k}", "y_true": t, "y_pred": p})
    for c in cases:
        c["accuracy"] = float(skm.accuracy_score(c["y_true"], c["y_pred"]))
        c["macro_f1"] = float(skm.f1_score(c["y_true"], c["y_pred"], average="macro", zero_division=0))
    return cases


def regression_cases(rng):
    cases = [{"name": "line", "y_true": [1.0, 2.0, 3.0], "y_pred": [1.5, 2.5, 2.0]},
             {"name": "anti-correlated", "y_true": [0.0, 1.0, 2.0, 3.0], "y_pred": [3.0, 2.0, 1.0, 0.0]}]
    for k in range(10):
        n = rng.randint(2, 40)
        t = [rng.uniform(0, 5) for _ in range(n)]
        p = [x + rng.gauss(0, 1) * (k / 3) for x in t]
        cases.append({"name": f"random {k}", "y_true": t, "y_pred": p})
    for c in cases:
        c["mse"] = float(skm.mean_squared_error(c["y_true"], c["y_pred"]))
        c["pearson"] = float(scipy.stats.pearsonr(c["y_true"], c["y_pred"])[0])
    return cases


def multilabel_cases(rng):
    cases = [
        {"name": "exact rows", "y_true": [[1, 0, 1], [0, 1, 0]], "y_pred": [[1, 0, 1], [0, 1, 0]]},
        {"name": "a column never set", "y_true": [[1, 0, 0], [1, 1, 0]], "y_pred": [[1, 0, 0], [0, 1, 0]]},
        {"name": "nothing predicted", "y_true": [[1, 0], [0, 1]], "y_pred": [[0, 0], [0, 0]]},
    ]
    for k in range(12):
        n, labels = rng.randint(1, 20), rng.randint(1, 6)
        t = [[int(rng.random() < 0.4) for _ in range(labels)] for _ in range(n)]
        p = [[x if rng.random() < 0.8 else 1 - x for x in row] for row in t]
        cases.append({"name": f"random {k}", "y_true": t, "y_pred": p})
    for c in cases:
        c["subset_accuracy"] = float(skm.accuracy_score(c["y_true"], c["y_pred"]))
        c["macro_f1"] = float(skm.f1_score(c["y_true"], c["y_pred"], average="macro", zero_division=0))
    return cases


def build():
    rng = random.Random(0)
    v1 = load_squad_v1()
    squad1 = squad_cases(rng, v1=True)
    for c in squad1:
        score_v1(v1, c)
    squad2 = squad_cases(rng, v1=False)
    for c in squad2:
        score_v2(c)
    return {
        "generator": "scripts/make_metric_golden.py",
        "versions": {"seqeval": seqeval.__version__ if hasattr(seqeval, "__version__") else "1.2.2",
                     "scikit-learn": sklearn.__version__, "scipy": scipy.__version__,
                     "transformers": transformers.__version__, "squad_v1": f"{ALLENNLP_SPEC} {ALLENNLP_MEMBER}"},
        "seqeval": seqeval_cases(rng),
        "normalize": [{"text": t, "v1": v1.normalize_answer(t), "v2": squad_v2.normalize_answer(t)}
                      for t in NORMALIZE_TEXTS],
        "squad_v1": squad1,
        "squad_v2": squad2,
        "classification": classification_cases(rng),
        "regression": regression_cases(rng),
        "multilabel": multilabel_cases(rng),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    args = parser.parse_args()
    text = json.dumps(build(), ensure_ascii=False, indent=1) + "\n"
    if args.check:
        same = OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.relative_to(ROOT)}: {'identical' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
