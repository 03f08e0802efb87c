#!/usr/bin/env python3
"""Writes the golden files for transformers' other two sequence-classification problem types
(issue 22), made with PyTorch autograd and transformers, against which DistilCL's regression and
multi-label training are held:

    bench-venv/bin/python scripts/make_problem_golden.py

  Tests/Fixtures/tiny-distilbert-sst/regression-golden.{safetensors,json}
      DistilBertForSequenceClassification with problem_type "regression" and one label: the
      fixture's classifier cut to its first row (weight[0:1], bias[0:1]), every other weight as
      stored. Loss: MSELoss()(logits.squeeze(), labels.squeeze()).
  Tests/Fixtures/tiny-bert-pairs/multilabel-golden.{safetensors,json}
      BertForSequenceClassification (3 labels, text pairs) with problem_type
      "multi_label_classification". Loss: BCEWithLogitsLoss()(logits, labels), labels multi-hot.
  Tests/Fixtures/problem-loss-golden.json
      The losses alone on given logits, for the distillation terms DistilCL adds beside them:
      hard = MSE / BCE-with-logits against the labels (mean over labelled texts x outputs) and
      soft = alpha_kd * (s - t)^2 (regression) or alpha_kd * T^2 * BCEWithLogits(s / T, sigmoid(t / T))
      (multi-label), a mean over every text x output; loss = alpha_ce * hard + soft; with the
      gradient d loss / d s by autograd.

Each safetensors file holds input.<b>.{ids,type_ids,lengths} (packed: real tokens only, texts back to
back), input.<b>.targets f32 [texts, labels]; loss, logits and grad.<name> for batch 0 at the initial
weights; then five Trainer-recipe AdamW steps (batch i % 2; lr 1e-3, warm-up 1 step of 5, linear
decay, weight decay 0.01 but not on biases and LayerNorm weights, clipping at max_grad_norm):
steps.losses, steps.grad_norms and final.<name>. Dropout is off; float32, one thread, seed 0.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_training_golden import FIXTURES, MODELS, decay_parameter_names, encode, log  # noqa: E402

LR, BETAS, EPS, WEIGHT_DECAY = 1e-3, (0.9, 0.999), 1e-8, 0.01
WARMUP_STEPS, TOTAL_STEPS = 1, 5

PROBLEMS = {
    "regression": {
        "model": "tiny-distilbert-sst", "labels": 1, "max_grad_norm": 60.0,
        "targets": [[[0.5], [-1.25], [3.0], [2.25], [0.0]], [[1.5], [-0.3], [2.0], [0.7]]],
    },
    "multilabel": {
        "model": "tiny-bert-pairs", "labels": 3, "max_grad_norm": 8.0,
        "targets": [[[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1], [1, 1, 1]],
                    [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 1]]],
    },
}
PROBLEM_TYPE = {"regression": "regression", "multilabel": "multi_label_classification"}


def load(name, problem, spec):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification
    folder = FIXTURES / spec["model"]
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, dtype=torch.float32, num_labels=spec["labels"], problem_type=PROBLEM_TYPE[problem],
        ignore_mismatched_sizes=True, **MODELS[spec["model"]]["dropout"])
    stored = load_file(folder / "model.safetensors")
    with torch.no_grad():   # a cut head is the stored one's first rows, not a random one
        model.classifier.weight.copy_(stored["classifier.weight"][: spec["labels"]])
        model.classifier.bias.copy_(stored["classifier.bias"][: spec["labels"]])
    assert model.config.problem_type == PROBLEM_TYPE[problem]
    assert not any(m.p != 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    return model.train()


def make(problem, spec):
    import torch, transformers
    from safetensors.torch import save_file, load_file
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup
    folder = FIXTURES / spec["model"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batches_spec = MODELS[spec["model"]]["batches"]
    is_pair = isinstance(batches_spec[0]["texts"][0], list)
    tensors, batches = {}, []
    for b, (bs, targets) in enumerate(zip(batches_spec, spec["targets"])):
        inputs, packed = encode(tokenizer, bs, is_pair)
        y = torch.tensor(targets, dtype=torch.float32)
        assert y.shape == (len(bs["texts"]), spec["labels"])
        for k in ("ids", "type_ids", "lengths"):
            tensors[f"input.{b}.{k}"] = packed[k]
        tensors[f"input.{b}.targets"] = y.contiguous()
        # transformers' regression with one label squeezes both sides: give it [texts].
        batches.append((inputs, y[:, 0] if spec["labels"] == 1 else y))

    torch.manual_seed(0)
    model = load(spec["model"], problem, spec)
    names = [n for n, _ in model.named_parameters()]
    out = model(**batches[0][0], labels=batches[0][1])
    y0 = tensors["input.0.targets"]
    ref = (torch.nn.functional.mse_loss(out.logits, y0) if problem == "regression"
           else torch.nn.functional.binary_cross_entropy_with_logits(out.logits, y0))
    assert torch.allclose(out.loss, ref, rtol=0, atol=1e-6), (float(out.loss), float(ref))
    out.loss.backward()
    tensors["loss"] = out.loss.detach().reshape(1).contiguous()
    tensors["logits"] = out.logits.detach().contiguous()
    for n, p in model.named_parameters():
        tensors[f"grad.{n}"] = p.grad.detach().contiguous()
    log(f"{problem} ({spec['model']}): loss {float(out.loss.detach()):.6f}")

    torch.manual_seed(0)
    model = load(spec["model"], problem, spec)
    decay = decay_parameter_names(model)
    groups = [{"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": WEIGHT_DECAY},
              {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=WARMUP_STEPS, num_training_steps=TOTAL_STEPS)
    losses, norms, lrs = [], [], []
    for step in range(TOTAL_STEPS):
        inputs, labels = batches[step % 2]
        opt.zero_grad(set_to_none=True)
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), spec["max_grad_norm"])))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    clipped = [i for i, n in enumerate(norms) if n > spec["max_grad_norm"]]
    log(f"  losses {[round(x, 5) for x in losses]}, norms {[round(x, 4) for x in norms]}, clipped {clipped}")
    assert abs(losses[0] - float(tensors["loss"][0])) <= 1e-6
    assert 0 < len(clipped) < TOTAL_STEPS, "clipping must trigger on some steps but not all"
    tensors["steps.losses"] = torch.tensor(losses, dtype=torch.float32)
    tensors["steps.grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    for n, p in model.named_parameters():
        tensors[f"final.{n}"] = p.detach().contiguous()

    initial = load_file(folder / "model.safetensors")
    key_biases = [n for n in names if n.endswith(("k_lin.bias", "attention.self.key.bias"))]
    movement = max(float((tensors[f"final.{n}"] - initial[n]).abs().max()) for n in key_biases)
    assert movement <= sum(lrs)
    path = folder / f"{problem}-golden.safetensors"
    save_file(tensors, path, metadata={"format": "pt"})
    back = load_file(path)
    assert set(back) == set(tensors) and all(torch.equal(back[k], v) for k, v in tensors.items())
    meta = {
        "generator": "bench-venv/bin/python scripts/make_problem_golden.py",
        "model": spec["model"], "architecture": type(model).__name__, "problem_type": model.config.problem_type,
        "num_labels": spec["labels"], "head": f"the fixture's classifier rows 0..{spec['labels'] - 1}",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "optimizer": {"name": "torch.optim.AdamW", "lr": LR, "betas": list(BETAS), "eps": EPS,
                      "weight_decay": WEIGHT_DECAY, "no_decay_parameters": [n for n in names if n not in decay]},
        "schedule": {"name": "get_linear_schedule_with_warmup", "num_warmup_steps": WARMUP_STEPS,
                     "num_training_steps": TOTAL_STEPS},
        "max_grad_norm": spec["max_grad_norm"], "clipped_steps": clipped,
        "zero_gradient_parameters": {"names": key_biases, "movement_bound": sum(lrs), "measured_max_movement": movement},
        "losses": losses, "grad_norms": norms, "lrs": lrs, "targets": spec["targets"],
    }
    (folder / f"{problem}-golden.json").write_text(json.dumps(meta, indent=1) + "\n")
    log(f"  wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.2f} MB)")


def loss_cases():
    """The losses on given logits, hard and soft terms, with autograd's gradient."""
    import torch
    g = torch.Generator().manual_seed(7)
    cases = []
    for problem, classes in (("regression", 1), ("regression", 2), ("multilabel", 3)):
        for temperature, alpha_kd, alpha_ce in ((2.0, 0.5, 0.5), (1.0, 1.0, 0.0), (3.0, 0.0, 1.0)):
            rows = 5
            s = (torch.randn(rows, classes, generator=g, dtype=torch.float64) * 3).requires_grad_(True)
            t = torch.randn(rows, classes, generator=g, dtype=torch.float64) * 3
            labelled = [True, False, True, True, False]
            if problem == "regression":
                y = torch.randn(rows, classes, generator=g, dtype=torch.float64) * 2
                hard = ((s - y) ** 2)[labelled].mean()
                soft = alpha_kd * ((s - t) ** 2).mean()
            else:
                y = (torch.rand(rows, classes, generator=g, dtype=torch.float64) > 0.5).double()
                hard = torch.nn.functional.binary_cross_entropy_with_logits(s[labelled], y[labelled])
                soft = alpha_kd * temperature ** 2 * torch.nn.functional.binary_cross_entropy_with_logits(
                    s / temperature, torch.sigmoid(t / temperature))
            loss = alpha_ce * hard + soft
            loss.backward()
            cases.append({"problem": problem, "classes": classes, "temperature": temperature, "alpha_kd": alpha_kd,
                          "alpha_ce": alpha_ce, "labelled": labelled, "logits": s.detach().flatten().tolist(),
                          "teacher": t.flatten().tolist(), "targets": y.flatten().tolist(),
                          "hard": float(hard), "soft": float(soft), "loss": float(loss),
                          "gradient": s.grad.flatten().tolist()})
    (FIXTURES / "problem-loss-golden.json").write_text(json.dumps({
        "generator": "bench-venv/bin/python scripts/make_problem_golden.py",
        "what": "float64 PyTorch: hard = MSELoss / BCEWithLogitsLoss over the labelled rows, soft = alpha_kd*(s-t)^2 mean "
                "(regression) or alpha_kd*T^2*BCEWithLogits(s/T, sigmoid(t/T)) mean (multi-label) over every row; "
                "loss = alpha_ce*hard + soft; gradient = d loss / d logits (row-major [rows, classes])",
        "cases": cases}, indent=1) + "\n")
    log(f"wrote Tests/Fixtures/problem-loss-golden.json ({len(cases)} cases)")


def main():
    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for problem, spec in PROBLEMS.items():
        make(problem, spec)
    loss_cases()


if __name__ == "__main__":
    main()
