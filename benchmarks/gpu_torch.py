#!/usr/bin/env python3
"""PyTorch on the GPU for scripts/gpu-check.sh: float32 with TF32 off, the DistilBERT-base
checkpoint's throughput on the fixed workload (batch 32 x 128 real tokens), and SGEMM GFLOP/s at
the shapes `distilcl bench kernels` times. Prints one JSON object.

usage: gpu_torch.py CHECKPOINT [--batches N]
"""
import json, sys, time
import torch


def main():
    folder = sys.argv[1]
    batches = int(sys.argv[sys.argv.index("--batches") + 1]) if "--batches" in sys.argv else 20
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device("cuda")
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}

    from transformers import DistilBertForSequenceClassification
    model = DistilBertForSequenceClassification.from_pretrained(folder, torch_dtype=torch.float32).to(dev).eval()
    g = torch.Generator().manual_seed(42)
    ids = torch.randint(1000, 30522, (32, 128), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    ids, mask = ids.to(dev), torch.ones(32, 128, dtype=torch.long, device=dev)
    with torch.inference_mode():
        for _ in range(3): model(input_ids=ids, attention_mask=mask)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(batches): model(input_ids=ids, attention_mask=mask).logits.cpu()
        dt = time.perf_counter() - t0
    out["fixed_sequences_per_second"] = 32 * batches / dt

    gemms = []
    for m in (128, 1024, 4096):
        for n, k in ((2304, 768), (768, 768), (3072, 768), (768, 3072)):
            a = torch.randn(m, k, device=dev); w = torch.randn(n, k, device=dev); b = torch.randn(n, device=dev)
            for _ in range(3): torch.addmm(b, a, w.t())
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            times = []
            for _ in range(10):
                start.record(); torch.addmm(b, a, w.t()); end.record(); end.synchronize()
                times.append(start.elapsed_time(end))
            ms = sorted(times)[len(times) // 2]
            gemms.append({"m": m, "n": n, "k": k, "ms": ms, "gflops": 2 * m * n * k / ms / 1e6})
    out["sgemm"] = gemms
    print(json.dumps(out))


if __name__ == "__main__":
    main()
