#!/usr/bin/env python3
"""DistilCL against PyTorch eager and ONNX Runtime on the same machine, in one run.

Creates a distilbert-base-uncased-shaped DistilBertForSequenceClassification with seeded random
weights as a safetensors checkpoint, checks that all engines agree on its logits, then times,
one after another with the same thread count:

  fixed   batch 32 x 128 tokens, every token real
  corpus  the first 2,048 movie-review snippets in file order, max length 128, batch 32
          (the peers pad each batch to its longest text, as a plain transformers pipeline does;
          distilcl sorts by length and skips padding)

Usage (see README "Comparing with PyTorch and ONNX Runtime" for the venv):
  bench-venv/bin/python benchmarks/compare.py [--threads 2] [--repeats 5] [--distilcl .build/release/distilcl]
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(*a):
    print(*a, flush=True)


sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_checkpoint import make_checkpoint  # noqa: E402


def corpus_texts(n):
    lines = (ROOT / "data/movie-reviews.txt").read_text(encoding="utf-8").split("\n")
    return lines[:n]


def batches_padded(tokenizer, texts, batch, max_len):
    for i in range(0, len(texts), batch):
        yield tokenizer(texts[i:i + batch], padding="longest", truncation=True, max_length=max_len,
                        return_tensors="np")


def fixed_inputs(vocab, batch, seq):
    import numpy as np
    rng = np.random.default_rng(42)
    ids = rng.integers(1000, vocab, size=(batch, seq), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def time_runs(fn, repeats):
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of the fixed batch (median)")
    ap.add_argument("--corpus", type=int, default=2048)
    ap.add_argument("--distilcl", default=str(ROOT / ".build/release/distilcl"))
    ap.add_argument("--model-dir", default=str(ROOT / "models/distilbert-base-random"))
    ap.add_argument("--skip", default="", help="comma list of engines to skip: torch,ort,cpu,opencl")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import numpy as np, torch
    from transformers import AutoTokenizer, DistilBertForSequenceClassification
    torch.set_num_threads(args.threads)
    folder = Path(args.model_dir)
    make_checkpoint(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = DistilBertForSequenceClassification.from_pretrained(folder).eval()
    texts = corpus_texts(args.corpus)
    fixed = fixed_inputs(30522, 32, 128)

    # --- agreement on logits (first 8 corpus texts) -------------------------------------
    probe = texts[:8]
    enc = tokenizer(probe, padding="longest", truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        ref = model(**enc).logits.numpy()
    results, diffs = {}, {}

    onnx_path = folder / "model.onnx"
    sess = None
    if "ort" not in skip:
        import onnxruntime as ort
        if not onnx_path.exists():
            torch.onnx.export(model, (enc["input_ids"], enc["attention_mask"]), onnx_path,
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}},
                              opset_version=17, dynamo=False)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        out = sess.run(None, {"input_ids": enc["input_ids"].numpy(), "attention_mask": enc["attention_mask"].numpy()})[0]
        diffs["onnxruntime"] = float(np.abs(out - ref).max())

    devices = [d for d in ("cpu", "opencl") if d not in skip]
    for dev in devices:
        p = subprocess.run([args.distilcl, "classify", "--model", str(folder), "--device", dev, "--logits",
                            "--max-length", "128"], input="\n".join(probe) + "\n", capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"distilcl classify --device {dev} failed: {p.stderr}")
        got = np.array([json.loads(l)["logits"] for l in p.stdout.splitlines()])
        diffs[f"distilcl {dev}"] = float(np.abs(got - ref).max())
    log("logits agreement with PyTorch on 8 texts (max |diff|): " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    if any(v > 1e-3 for v in diffs.values()):
        sys.exit("engines disagree on the logits")

    # --- PyTorch eager ---------------------------------------------------------------------
    if "torch" not in skip:
        tf = {k: torch.from_numpy(v) for k, v in fixed.items()}
        with torch.inference_mode():
            t = time_runs(lambda: model(**tf), args.repeats)
            results[("fixed", "PyTorch eager")] = 32 / t
            corpus = [{k: torch.from_numpy(v) for k, v in b.items()} for b in batches_padded(tokenizer, texts, 32, 128)]
            t0 = time.perf_counter()
            for b in corpus: model(**b)
            results[("corpus", "PyTorch eager")] = len(texts) / (time.perf_counter() - t0)
        log(f"PyTorch {torch.__version__}: fixed {results[('fixed', 'PyTorch eager')]:.1f} seq/s, corpus {results[('corpus', 'PyTorch eager')]:.1f} seq/s")

    # --- ONNX Runtime ----------------------------------------------------------------------
    if sess is not None:
        import onnxruntime as ort
        t = time_runs(lambda: sess.run(None, fixed), args.repeats)
        results[("fixed", "ONNX Runtime")] = 32 / t
        corpus = list(batches_padded(tokenizer, texts, 32, 128))
        t0 = time.perf_counter()
        for b in corpus: sess.run(None, {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]})
        results[("corpus", "ONNX Runtime")] = len(texts) / (time.perf_counter() - t0)
        log(f"ONNX Runtime {ort.__version__}: fixed {results[('fixed', 'ONNX Runtime')]:.1f} seq/s, corpus {results[('corpus', 'ONNX Runtime')]:.1f} seq/s")

    # --- distilcl ----------------------------------------------------------------------------
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))   # oneDNN's OpenMP threads
    corpus_file = folder / "corpus.txt"
    corpus_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
    for dev in devices:
        for name, extra in (("fixed", ["--batch-size", "32", "--seq-len", "128", "--batches", str(args.repeats)]),
                            ("corpus", ["--input", str(corpus_file), "--batch-size", "32", "--max-length", "128"])):
            p = subprocess.run([args.distilcl, "bench", "model", "--model", str(folder), "--device", dev, "--no-cpu",
                                "--json"] + extra, capture_output=True, text=True, env=env)
            if p.returncode != 0:
                sys.exit(f"distilcl bench model --device {dev} failed: {p.stderr}")
            r = json.loads(p.stdout)
            results[(name, f"distilcl {dev}")] = r["results"][0]["sequencesPerSecond"]
            # (peak RSS is not printed: Linux carries a forked child's maximum RSS, this Python
            # process with torch loaded, across exec; run `distilcl bench model` directly for it)
            log(f"distilcl {dev} {name}: {r['results'][0]['sequencesPerSecond']:.1f} seq/s, stages {r['results'][0]['stages']}")

    # --- table -------------------------------------------------------------------------------
    log("")
    log(f"| engine ({args.threads} threads) | fixed seq/s | vs ORT | corpus seq/s | vs ORT |")
    log("| --- | ---: | ---: | ---: | ---: |")
    engines = []
    for (_, e) in results:
        if e not in engines: engines.append(e)
    for e in engines:
        row = [e]
        for w in ("fixed", "corpus"):
            v = results.get((w, e)); o = results.get((w, "ONNX Runtime"))
            row += [f"{v:.1f}" if v else "-", f"{v / o:.2f}x" if v and o else "-"]
        log("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
