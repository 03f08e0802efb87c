#!/usr/bin/env python3
"""DistilCL at fp32, bf16 and int8 against PyTorch, ONNX Runtime fp32 and ONNX Runtime dynamic
int8, in one run: all-MiniLM-L6-v2 embeddings (mean pooling, L2-normalised, max length 128) of
the 5,303 odd-id movie-review snippets in length-sorted batches of 32, with the same thread count.

For each engine: sequences/s (tokenization included, model loading not; the median of --repeats
passes over the whole set), the lowest
cosine of its embeddings to PyTorch's fp32 ones and to DistilCL's fp32 ones, and zero-shot
sentiment accuracy (POSITIVE when a snippet's embedding is closer to "This movie is great." than
to "This movie is terrible."; ids <= 5331 are positive).

ONNX Runtime int8 is `onnxruntime.quantization.quantize_dynamic` with its defaults (int8
weights, uint8 activations quantised per tensor at run time), as users run it.

Usage (the venv of README "Comparing with PyTorch and ONNX Runtime"):
  swift build -c release && bench-venv/bin/python benchmarks/precision.py [--threads 2]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ["This movie is great.", "This movie is terrible."]


def log(*a):
    print(*a, flush=True)


def odd_snippets():
    texts, positive = [], []
    with open(ROOT / "data/movieReviewSnippets_GroundTruth.txt", encoding="utf-8", newline="") as f:
        for line in f.read().split("\n"):
            fields = line.rstrip("\r").split("\t", 2)
            if len(fields) == 3 and fields[0].isdigit() and int(fields[0]) % 2 == 1:
                texts.append(fields[2])
                positive.append(int(fields[0]) <= 5331)
    return texts, positive


def sorted_batches(tokenizer, texts, batch, max_len):
    """Length-sorted batches (as DistilCL batches them), each padded to its longest text."""
    lengths = [len(tokenizer(t, truncation=True, max_length=max_len)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        yield idx, tokenizer([texts[i] for i in idx], padding="longest", truncation=True, max_length=max_len,
                             return_tensors="np")


def pooled(hidden, mask):
    import numpy as np
    m = mask[..., None].astype(np.float32)
    v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def run_peer(run, tokenizer, texts, max_len, repeats=1):
    """Embeddings of texts by `run(encoding) -> last hidden state`, and the median seconds of
    `repeats` passes."""
    import numpy as np
    out = np.zeros((len(texts), 384), dtype=np.float32)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for idx, enc in sorted_batches(tokenizer, texts, 32, max_len):
            out[idx] = pooled(run(enc), enc["attention_mask"])
        seconds.append(time.perf_counter() - t0)
    return out, statistics.median(seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per engine (the median is reported)")
    ap.add_argument("--distilcl", default=str(ROOT / ".build/release/distilcl"))
    ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    ap.add_argument("--skip", default="", help="comma list to skip: torch,ort,ort-int8,fp32,bf16,int8")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import numpy as np, torch
    from transformers import AutoModel, AutoTokenizer
    torch.set_num_threads(args.threads)
    texts, positive = odd_snippets()
    log(f"{len(texts)} odd-id movie snippets, max length {args.max_length}, batches of 32, {args.threads} threads")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model).eval()
    emb, secs = {}, {}

    with torch.inference_mode():
        def torch_run(enc):
            return model(**{k: torch.from_numpy(v) for k, v in enc.items()}).last_hidden_state.numpy()
        anchors_ref, _ = run_peer(torch_run, tokenizer, ANCHORS, args.max_length)
        if "torch" not in skip:
            run_peer(torch_run, tokenizer, texts[:64], args.max_length)   # warm-up
            emb["PyTorch fp32"], secs["PyTorch fp32"] = run_peer(torch_run, tokenizer, texts, args.max_length,
                                                                 args.repeats)
            emb["PyTorch fp32", "anchors"] = anchors_ref

    work = Path(tempfile.mkdtemp(prefix="distilcl-precision-"))
    onnx_fp32, onnx_int8 = work / "minilm.onnx", work / "minilm.int8.onnx"
    if not ({"ort", "ort-int8"} <= skip):
        import onnxruntime as ort
        from onnxruntime.quantization import quantize_dynamic
        enc = tokenizer(ANCHORS, padding=True, return_tensors="pt")

        class LastHiddenState(torch.nn.Module):   # keyword arguments: transformers 5 trips the tracer otherwise
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

        torch.onnx.export(LastHiddenState(model), (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
                          onnx_fp32, input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"],
                          dynamic_axes={n: {0: "b", 1: "s"} for n in ["input_ids", "attention_mask", "token_type_ids"]},
                          opset_version=17, dynamo=False)
        quantize_dynamic(str(onnx_fp32), str(onnx_int8))
        for name, path in (("ONNX Runtime fp32", onnx_fp32), ("ONNX Runtime int8 (quantize_dynamic)", onnx_int8)):
            if ("ort" if "fp32" in name else "ort-int8") in skip:
                continue
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            run = lambda e, s=sess: s.run(None, {k: v.astype(np.int64) for k, v in e.items()})[0]
            run_peer(run, tokenizer, texts[:64], args.max_length)   # warm-up
            emb[name], secs[name] = run_peer(run, tokenizer, texts, args.max_length, args.repeats)
            emb[name, "anchors"], _ = run_peer(run, tokenizer, ANCHORS, args.max_length)
            log(f"{name} {ort.__version__}: {len(texts) / secs[name]:.1f} seq/s")

    corpus = work / "odd.txt"
    corpus.write_text("\n".join(ANCHORS + texts) + "\n", encoding="utf-8")
    only_texts = work / "odd-texts.txt"
    only_texts.write_text("\n".join(texts) + "\n", encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    devices = subprocess.run([args.distilcl, "devices", "--json"], capture_output=True, text=True, env=env)
    cpu = json.loads(devices.stdout)["cpu"] if devices.returncode == 0 else {}
    for p in ("fp32", "bf16", "int8"):
        if p in skip:
            continue
        name = f"DistilCL {p}"
        out = work / f"{p}.jsonl"
        r = subprocess.run([args.distilcl, "embed", "--model", args.model, "--device", "cpu", "--precision", p,
                            "--normalize", "--max-length", str(args.max_length), "--batch-size", "32",
                            "--input", str(corpus), "--output", str(out)], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            log(f"{name}: distilcl embed failed: {r.stderr.strip()}")
            continue
        rows = np.array([json.loads(l)["embedding"] for l in out.read_text().splitlines()], dtype=np.float32)
        emb[name, "anchors"], emb[name] = rows[:2], rows[2:]
        seconds = []
        for _ in range(args.repeats):
            r = subprocess.run([args.distilcl, "bench", "model", "--model", args.model, "--device", "cpu",
                                "--precision", p, "--no-cpu", "--json", "--input", str(only_texts),
                                "--max-length", str(args.max_length), "--batch-size", "32"],
                               capture_output=True, text=True, env=env)
            if r.returncode != 0:
                sys.exit(f"distilcl bench model --precision {p} failed: {r.stderr}")
            seconds.append(json.loads(r.stdout)["results"][0]["seconds"])
        secs[name] = statistics.median(seconds)
        log(f"{name}: {len(texts) / secs[name]:.1f} seq/s")

    def cos(a, b):
        return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    gold = np.array(positive)
    ref_torch, ref_dcl = emb.get("PyTorch fp32"), emb.get("DistilCL fp32")
    log("")
    log(f"CPU: {cpu.get('model', '?')} [{' '.join(cpu.get('flags', []))}]; DistilCL: {cpu.get('library', '?')}, "
        f"ISA {cpu.get('isa', '?')}; {args.threads} threads; median of {args.repeats} passes; {time.strftime('%Y-%m-%d')}")
    log("| engine | seq/s | vs PyTorch | vs ORT int8 | min cos vs PyTorch fp32 | min cos vs DistilCL fp32 | zero-shot accuracy |")
    log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    base_t, base_q = secs.get("PyTorch fp32"), secs.get("ONNX Runtime int8 (quantize_dynamic)")
    for name in [k for k in emb if isinstance(k, str)]:
        e, a = emb[name], emb[name, "anchors"]
        pred = (e @ a[0]) > (e @ a[1])
        acc = float((pred == gold).mean())
        speed = len(texts) / secs[name]
        row = [name, f"{speed:.1f}",
               f"{base_t / secs[name]:.2f}x" if base_t else "-",
               f"{base_q / secs[name]:.2f}x" if base_q else "-",
               f"{cos(e, ref_torch).min():.4f}" if ref_torch is not None else "-",
               f"{cos(e, ref_dcl).min():.4f}" if ref_dcl is not None else "-",
               f"{acc:.4f}"]
        log("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
