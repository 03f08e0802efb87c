#!/usr/bin/env python3
"""Data-parallel training throughput on this machine (issue 24): MPI processes against threads.

Three configurations train the same texts with the same global batch (the same recipe: one process
with batch 2b is what two ranks with batch b run, gradients summed by MPI_Allreduce):

  a  1 process  × 1 thread,   batch 2b           distilcl train ... --threads 1
  b  2 processes × 1 thread,  batch b per rank   mpirun -np 2 --bind-to core distilcl train ... --threads 1
  c  1 process  × 2 threads,  batch 2b           distilcl train ... --threads 2
  d  as b, with --ddp-bucket-cap-mb 4096: one bucket summed after the whole backward pass (what the
     bucketed, overlapped MPI_Iallreduce of b saves)
  e  two copies of a at once, pinned to cores 0 and 1 (taskset), no MPI: the sum of their samples/s
     is what this machine's two cores give two independent single-thread jobs, the ceiling of b / a
     that no reduction scheme can pass (memory bandwidth, shared cache and clocks under load)

With --accumulation K every configuration accumulates K micro-batches per optimiser step (global batch
2b x K). b and d then halve the micro-batch (b texts per process, K steps: --keep accumulation, the
default), or keep a's micro-batch of 2b and halve the accumulation (K/2 steps: --keep micro-batch, what a
DDP user does to keep the global batch when adding processes; the GEMMs of both runs then have the same
shapes).

Workloads (--workloads):
  text  text-classification fine-tuning of models/all-MiniLM-L6-v2 (a fresh 2-class head) on
        --texts texts of data/movie-train.jsonl (every --stride-th line from the first, by default the
        file's lines / --texts, so both labels occur: the file is sorted by label), --max-length 128, --max-steps steps (one epoch by default).
  mlm   masked-LM distillation (`distill --task masked-lm`, the triple loss, student layers 0,2,4) of a
        BertForMaskedLM teacher on the first --mlm-lines lines of data/mlm/train.txt. Teacher:
        --mlm-teacher, else all-MiniLM-L6-v2 with a fresh masked-LM head trained one step here (its
        quality does not matter for throughput).
  qa    question-answering fine-tuning (`train --task question-answering`) of all-MiniLM-L6-v2 with a
        fresh qa_outputs head on squad.py's v1.1-style training split of the SQuAD excerpts in
        --squad-data (read there, derived into --work; 951 windows of max length 256, stride 128, about
        200 tokens each), batch --qa-batch per process of b, --qa-max-steps steps.

Each configuration runs --reps times, alternating a, b, c, a, b, c, ...; samples/s is the epoch line's
train_samples_per_second in OUT/train_log.jsonl (the training loop alone, model loading excluded; for
an MPI run rank 0's, the global samples). Reported: the median per configuration, b/a (issue 24's
target: >= 1.8) and b/c. With every run: the load average before and after (`uptime`), the job's CPU
seconds (getrusage of the waited children: mpirun and its ranks) and the whole machine's busy CPU
seconds over the run from /proc/stat, so "other" = machine - job is what other processes took from
the cores meanwhile. The weights of b are compared with a's (max |diff|: the same model, up to the
summation order).

Usage:
  bench-venv/bin/python benchmarks/mpi_scaling.py [--distilcl /tmp/distilcl-mpi/distilcl]
      [--workloads text,mlm,qa] [--reps 3] [--texts 640] [--batch 16] [--max-steps 20] [--accumulation 1]
      [--squad-data ../shared/data/squad] [--qa-batch 8] [--qa-max-steps 10]
      [--keep accumulation|micro-batch]
      [--work DIR] [--out-json benchmarks/results/mpi/FILE.json]
"""
import argparse, datetime, json, os, platform, resource, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(msg):
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def cpu_name():
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            k, _, v = line.partition(":")
            info[k.strip()] = v.strip()
    except OSError:
        pass
    flags = info.get("Flags", "").split()
    return {"model_name": info.get("Model name"), "cpu_family": info.get("CPU family"), "model": info.get("Model"),
            "cpus": info.get("CPU(s)"), "avx2": "avx2" in flags, "avx512f": "avx512f" in flags,
            "hypervisor": info.get("Hypervisor vendor")}


def machine_busy():
    """Busy and total jiffies of all CPUs (/proc/stat's cpu line), in seconds."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / hz, sum(fields) / hz


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def others():
    """The processes taking CPU besides ours (ps: top five by %CPU, which is each one's average over
    its lifetime, with their nice values)."""
    out = subprocess.run(["ps", "-eo", "pid,ni,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines()[1:]:
        pid, ni, pcpu, args = line.split(None, 3)
        if int(pid) == os.getpid() or float(pcpu) < 5:
            continue
        rows.append({"pid": int(pid), "nice": ni, "pcpu": float(pcpu), "args": args[:160]})
    return rows[:5]


def read_weights(folder):
    """name -> float32 array of a model.safetensors (numpy, no safetensors package needed)."""
    import numpy as np
    path = Path(folder) / "model.safetensors"
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=np.float32)
    return out


def max_diff(x, y):
    import numpy as np
    wx, wy = read_weights(x), read_weights(y)
    worst, worst_k = 0.0, 0.0
    for name, a in wx.items():
        d = float(np.max(np.abs(a - wy[name]))) if a.size else 0.0
        if name.endswith("key.bias") or name.endswith("k_lin.bias"):
            worst_k = max(worst_k, d)
        else:
            worst = max(worst, d)
    return {"max_abs_diff": worst, "max_abs_diff_key_biases": worst_k}


def run(cmd, out):
    """Runs one training job; returns its measurements."""
    shutil.rmtree(out, ignore_errors=True)
    before = others()
    load0, (busy0, tot0) = loadavg(), machine_busy()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    (busy1, tot1), load1 = machine_busy(), loadavg()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\nstatus {p.returncode}\n{p.stderr[-3000:]}")
    lines = [json.loads(l) for l in (Path(out) / "train_log.jsonl").read_text().splitlines() if l.strip()]
    epoch = [l for l in lines if "train_samples_per_second" in l][-1]
    job_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    machine = busy1 - busy0
    return {"samples_per_second": epoch["train_samples_per_second"], "train_seconds": epoch["seconds"],
            "step": epoch["step"], "train_loss": epoch["train_loss"], "wall_seconds": round(wall, 2),
            "job_cpu_seconds": round(job_cpu, 2), "machine_busy_cpu_seconds": round(machine, 2),
            "other_cpu_seconds": round(max(0.0, machine - job_cpu), 2),
            "machine_cpu_seconds_available": round(tot1 - tot0, 2),
            "loadavg_before": load0, "loadavg_after": load1, "other_processes_before": before,
            "stderr_head": p.stderr.splitlines()[:1]}


def run_pair(cmd, outs):
    """Runs two copies of `cmd` at once, the first pinned to core 0, the second to core 1; returns
    their summed samples/s and each one's measurements."""
    procs = []
    for core, out in enumerate(outs):
        shutil.rmtree(out, ignore_errors=True)
        procs.append(subprocess.Popen(["taskset", "-c", str(core)] + cmd + ["--out", str(out)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    each = []
    for p, out in zip(procs, outs):
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}\nstatus {p.returncode}\n{err[-3000:]}")
        lines = [json.loads(l) for l in (Path(out) / "train_log.jsonl").read_text().splitlines() if l.strip()]
        epoch = [l for l in lines if "train_samples_per_second" in l][-1]
        each.append({"samples_per_second": epoch["train_samples_per_second"], "train_seconds": epoch["seconds"]})
    return {"samples_per_second": sum(e["samples_per_second"] for e in each), "each": each,
            "train_seconds": max(e["train_seconds"] for e in each), "job_cpu_seconds": None,
            "other_cpu_seconds": None, "loadavg_before": loadavg()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distilcl", default="/tmp/distilcl-mpi/distilcl")
    ap.add_argument("--mpirun", default=shutil.which("mpirun") or "/usr/bin/mpirun")
    ap.add_argument("--workloads", default="text")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    ap.add_argument("--data", default=str(ROOT / "data/movie-train.jsonl"))
    ap.add_argument("--texts", type=int, default=640)
    ap.add_argument("--stride", type=int, help="default: the file's lines / --texts")
    ap.add_argument("--batch", type=int, default=16, help="per process of b; a and c use twice this")
    ap.add_argument("--max-steps", type=int, default=20)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--mlm-data", default=str(ROOT / "data/mlm/train.txt"))
    ap.add_argument("--mlm-lines", type=int, default=2000)
    ap.add_argument("--mlm-teacher")
    ap.add_argument("--mlm-batch", type=int, default=8)
    ap.add_argument("--mlm-max-steps", type=int, default=10)
    ap.add_argument("--squad-data", help="default: squad.py's (../shared/data/squad)")
    ap.add_argument("--qa-batch", type=int, default=8)
    ap.add_argument("--qa-max-steps", type=int, default=10)
    ap.add_argument("--accumulation", type=int, default=1,
                    help="--gradient-accumulation-steps of every configuration: the global batch is 2b x this, "
                         "and the ranks sum once per optimiser step (DistilBERT's recipe accumulates to large batches)")
    ap.add_argument("--keep", choices=["accumulation", "micro-batch"], default="accumulation",
                    help="what b and d keep of a's recipe while halving the per-process share of the global "
                         "batch: 'accumulation' (default) halves the micro-batch (b texts per process); "
                         "'micro-batch' keeps a's micro-batch of 2b and halves --accumulation instead (even, "
                         ">= 2), as a DDP user keeps the global batch when adding processes")
    ap.add_argument("--work")
    ap.add_argument("--out-json")
    args = ap.parse_args()
    if args.keep == "micro-batch" and (args.accumulation < 2 or args.accumulation % 2):
        ap.error("--keep micro-batch halves --accumulation: give an even --accumulation >= 2")

    work = Path(args.work or tempfile.mkdtemp(prefix="mpi-scaling-"))
    work.mkdir(parents=True, exist_ok=True)
    mpi = [args.mpirun, "--allow-run-as-root", "--mca", "btl_vader_single_copy_mechanism", "none",
           "-np", "2", "--bind-to", "core"]
    b = args.batch

    def global_batch(per_process, unit=""):
        """'global batch N[ unit][ (2p x K accumulated)]' for a workload of `per_process` per rank of b."""
        k = args.accumulation
        return (f"global batch {2 * per_process * k}{unit}"
                + (f" ({2 * per_process} x {k} accumulated)" if k > 1 else ""))

    workloads = {}
    if "text" in args.workloads.split(","):
        texts = work / "texts.jsonl"
        every = Path(args.data).read_text().splitlines()
        args.stride = args.stride or max(1, len(every) // args.texts)
        lines = every[::args.stride][:args.texts]
        texts.write_text("\n".join(lines) + "\n")
        base = ["train", "--model", args.model, "--train", str(texts), "--max-length", str(args.max_length),
                "--max-steps", str(args.max_steps), "--seed", "0", "--device", "cpu", "--lr", "1e-4"]
        workloads["text"] = {"base": base, "batch": b,
                             "what": f"train: all-MiniLM-L6-v2 + new 2-class head, {len(lines)} texts of "
                                     f"{Path(args.data).name} (every {args.stride}th line), max length "
                                     f"{args.max_length}, {args.max_steps} steps, {global_batch(b)}"}
    if "mlm" in args.workloads.split(","):
        text = work / "mlm.txt"
        text.write_text("\n".join(Path(args.mlm_data).read_text().splitlines()[:args.mlm_lines]) + "\n")
        teacher = args.mlm_teacher
        if not teacher:
            teacher = str(work / "mlm-teacher")
            if not (Path(teacher) / "model.safetensors").exists():
                log("a masked-LM teacher: all-MiniLM-L6-v2 + a fresh head, one step")
                subprocess.run([args.distilcl, "train", "--task", "masked-lm", "--model", args.model, "--train", str(text),
                                "--max-length", str(args.max_length), "--max-steps", "1", "--batch-size", "2",
                                "--device", "cpu", "--out", teacher], check=True, capture_output=True)
        mb = args.mlm_batch
        base = ["distill", "--task", "masked-lm", "--teacher", teacher, "--student-layers", "0,2,4",
                "--train", str(text), "--max-length", str(args.max_length), "--max-steps", str(args.mlm_max_steps),
                "--seed", "0", "--device", "cpu"]
        workloads["mlm"] = {"base": base, "batch": mb,
                            "what": f"distill --task masked-lm: {Path(teacher).name} (BertForMaskedLM, 6 layers) "
                                    f"-> 3-layer student (0,2,4), first {args.mlm_lines} lines of "
                                    f"{Path(args.mlm_data).name} in blocks of {args.max_length}, "
                                    f"{args.mlm_max_steps} steps, {global_batch(mb, ' blocks')}"}

    if "qa" in args.workloads.split(","):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import squad   # imports neither torch nor transformers
        paths, counts = squad.make_split(args.squad_data or squad.DATA, "v1", "test", None, work / "squad")
        qb = args.qa_batch
        base = ["train", "--task", "question-answering", "--model", args.model, "--train", str(paths["train"]),
                "--max-length", str(squad.MAX_LENGTH), "--doc-stride", str(squad.DOC_STRIDE), "--max-steps", str(args.qa_max_steps),
                "--seed", "0", "--device", "cpu", "--lr", "1e-4"]
        workloads["qa"] = {"base": base, "batch": qb,
                           "what": f"train --task question-answering: all-MiniLM-L6-v2 + new qa_outputs head, "
                                   f"squad.py's v1.1-style training split ({counts['train']} questions), max length {squad.MAX_LENGTH}, "
                                   f"stride {squad.DOC_STRIDE}, {args.qa_max_steps} steps, {global_batch(qb, ' windows')}"}

    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "cpu": cpu_name(), "kernel": platform.release(), "distilcl": args.distilcl,
              "mpirun": subprocess.run([args.mpirun, "--version"], capture_output=True, text=True).stdout.splitlines()[0],
              "configs": {"a": "1 process x 1 thread, batch 2b", "b": "2 processes (mpirun -np 2 --bind-to core) x 1 thread, batch b each",
                          "c": "1 process x 2 threads, batch 2b",
                          "d": "as b with --ddp-bucket-cap-mb 4096 (one bucket, summed after the backward)",
                          "e": "two copies of a at once on cores 0 and 1, no MPI: summed samples/s (the machine's ceiling for b)"},
              "keep": args.keep, "accumulation": args.accumulation,
              "other_processes_at_start": others(), "workloads": {}}
    for name, w in workloads.items():
        b = w["batch"]
        def steps(k):
            return ["--gradient-accumulation-steps", str(k)] if k > 1 else []
        one = w["base"] + steps(args.accumulation)
        # Two processes: half the micro-batch, or (--keep micro-batch) a's micro-batch and half the accumulation.
        two = (w["base"] + steps(args.accumulation // 2) + ["--batch-size", str(2 * b)] if args.keep == "micro-batch"
               else w["base"] + steps(args.accumulation) + ["--batch-size", str(b)])
        cmds = {"a": [args.distilcl] + one + ["--threads", "1", "--batch-size", str(2 * b)],
                "b": mpi + [args.distilcl] + two + ["--threads", "1"],
                "c": [args.distilcl] + one + ["--threads", "2", "--batch-size", str(2 * b)],
                "d": mpi + [args.distilcl] + two + ["--threads", "1", "--ddp-bucket-cap-mb", "4096"]}
        runs = {k: [] for k in cmds}
        for rep in range(args.reps):
            for k, cmd in cmds.items():
                out = work / f"{name}-{k}"
                r = run(cmd + ["--out", str(out)], str(out))
                r["rep"] = rep
                runs[k].append(r)
                log(f"{name} {k} rep {rep}: {r['samples_per_second']:.2f} samples/s, {r['train_seconds']:.1f} s, "
                    f"job cpu {r['job_cpu_seconds']} s, others {r['other_cpu_seconds']} s, load {r['loadavg_before'][0]}")
            r = run_pair(cmds["a"], [work / f"{name}-e0", work / f"{name}-e1"])
            r["rep"] = rep
            runs.setdefault("e", []).append(r)
            log(f"{name} e rep {rep}: {r['samples_per_second']:.2f} samples/s ({', '.join(str(e['samples_per_second']) for e in r['each'])})")
        med = {k: statistics.median(r["samples_per_second"] for r in v) for k, v in runs.items()}
        cmds["e"] = ["taskset", "-c", "0|1"] + cmds["a"]
        entry = {"what": w["what"], "commands": {k: " ".join(v) for k, v in cmds.items()}, "runs": runs,
                 "median_samples_per_second": med,
                 "ratio_b_over_a": med["b"] / med["a"], "ratio_b_over_c": med["b"] / med["c"],
                 "ratio_c_over_a": med["c"] / med["a"], "ratio_b_over_d": med["b"] / med["d"],
                 "ratio_e_over_a": med["e"] / med["a"], "ratio_b_over_e": med["b"] / med["e"],
                 "median_other_cpu_seconds_per_train_second": {
                     k: statistics.median(r["other_cpu_seconds"] / r["wall_seconds"] for r in v)
                     for k, v in runs.items() if k != "e"},
                 "weights_b_vs_a": max_diff(work / f"{name}-a", work / f"{name}-b")}
        log(f"{name}: medians {med}; b/a {entry['ratio_b_over_a']:.2f}, b/c {entry['ratio_b_over_c']:.2f}, "
            f"ceiling e/a {entry['ratio_e_over_a']:.2f}, b/e {entry['ratio_b_over_e']:.2f}; "
            f"weights b vs a {entry['weights_b_vs_a']}")
        result["workloads"][name] = entry
        if args.out_json:   # after each workload, so a cut-short run keeps what it measured
            Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out_json).write_text(json.dumps(result, indent=1) + "\n")
    result["other_processes_at_end"] = others()
    text = json.dumps(result, indent=1) + "\n"
    if args.out_json:
        Path(args.out_json).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
