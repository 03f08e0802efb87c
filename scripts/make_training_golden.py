#!/usr/bin/env python3
"""Writes the training golden files for the tiny reference checkpoints, made with PyTorch autograd
and transformers, against which DistilCL's backward passes and optimizer are held (issue 9).

Run from the repository root (the venv of README "Comparing with PyTorch and ONNX Runtime"):

    bench-venv/bin/python scripts/make_training_golden.py

For each of Tests/Fixtures/tiny-distilbert-sst (DistilBertForSequenceClassification, 2 labels) and
Tests/Fixtures/tiny-bert-pairs (BertForSequenceClassification, 3 labels, text pairs) it writes

  train-golden.safetensors   (all tensors; names below)
    input.<b>.ids        int64 [tokens]  batch b in {0, 1}, packed: only real tokens, texts back to back
    input.<b>.type_ids   int64 [tokens]  token type ids, packed the same way (zeros for DistilBERT)
    input.<b>.lengths    int64 [texts]   tokens per text ([CLS] and [SEP]s included)
    input.<b>.labels     int64 [texts]
    loss                 f32 [1]         batch 0, initial weights: model(**inputs, labels=labels).loss
                                         (cross-entropy, mean over the batch)
    logits               f32 [texts, labels]   batch 0, initial weights
    grad.<name>          f32             d loss / d parameter, every parameter of model.named_parameters()
                                         (transformers' names, full shape)
    steps.losses         f32 [10]        loss of step i (batch i % 2) before its update
    steps.grad_norms     f32 [10]        total L2 norm of all gradients before clipping (as
                                         torch.nn.utils.clip_grad_norm_ returns it)
    steps.lrs            f32 [10]        learning rate used by step i's update
    final.<name>         f32             every parameter after the 10 steps
  train-golden.json          hyper-parameters, the no-decay rule and the names it exempts, which
                             steps clipped, versions, and the texts and labels used

Every dropout probability is 0 (config overrides at load), the model is float32 in train() mode, and
the optimiser is transformers Trainer's recipe: torch.optim.AdamW with two parameter groups (weight
decay for Trainer.get_decay_parameter_names(model), 0 for the rest), clip_grad_norm_ before each step,
get_linear_schedule_with_warmup stepped after each step. Deterministic (torch.manual_seed(0), one
thread); the written files are read back and compared before the script ends.
"""
import json, math, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests/Fixtures"

LR = 1e-3
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.01
WARMUP_STEPS = 3
TOTAL_STEPS = 10
MAX_LENGTH = 64
CLIP_EPS = 1e-6   # clip_grad_norm_: grads *= min(max_norm / (total_norm + 1e-6), 1)

# transformers 5.x Trainer.get_decay_parameter_names: a parameter is decayed unless it belongs to an
# nn.LayerNorm module (ALL_LAYERNORM_LAYERS) or its lower-cased dotted name matches one of these.
NO_DECAY_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]
NO_DECAY_RULE = ("decayed unless the parameter belongs to a torch.nn.LayerNorm module, or its "
                 "lower-cased name matches one of the regexes " + ", ".join(NO_DECAY_PATTERNS) +
                 " (re.search); i.e. every bias and every LayerNorm weight is exempt "
                 "(transformers Trainer.get_decay_parameter_names)")

# Two batches per model: 5 texts, then 4; 1 to ~20 words, several words split into many wordpieces.
# max_grad_norm was chosen from the pre-clip norms (set it to None to print them unclipped) so that
# clipping triggers on some steps but not all (asserted).
MODELS = {
    "tiny-distilbert-sst": {
        "dropout": {"dropout": 0.0, "attention_dropout": 0.0, "seq_classif_dropout": 0.0, "qa_dropout": 0.0},
        "max_grad_norm": 10.0,
        "batches": [
            {"texts": ["Wonderful.",
                       "The unbelievably overwrought screenplay hamstrings Kristin's otherwise luminous performance.",
                       "a dull, plodding mess",
                       "I laughed, I cried, and then I laughed again at the extraordinarily inventive ending of this delightful film!",
                       "Not worth it"],
             "labels": [1, 0, 0, 1, 0]},
            {"texts": ["An exhilarating, kaleidoscopic triumph.",
                       "Nothing here makes sense, and the pseudo-philosophical monologues go on forever.",
                       "meh",
                       "Heartfelt acting rescues an otherwise predictable story about twins"],
             "labels": [1, 0, 0, 1]},
        ],
    },
    "tiny-bert-pairs": {
        "dropout": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0},
        "max_grad_norm": 10.0,
        "batches": [
            {"texts": [["A man is playing a guitar.", "Someone makes music."],
                       ["Kids", "Nobody is outside."],
                       ["The archaeologists meticulously catalogued the overwhelmingly fragmentary inscriptions.",
                        "Researchers recorded the inscriptions."],
                       ["Two dogs chase a frisbee across the unbelievably muddy field near the old lighthouse at dusk.",
                        "The animals are asleep indoors."],
                       ["She smiled.", "The woman is happy, probably because her extraordinarily difficult exam is finally over."]],
             "labels": [2, 0, 2, 0, 1]},
            {"texts": [["A chef slices onions.", "A cook prepares food."],
                       ["Quantum chromodynamics describes interactions between quarks and gluons.", "Physics is boring."],
                       ["Rain", "It is sunny and dry."],
                       ["The orchestra rehearsed Tchaikovsky's symphony twice.", "Musicians practised a piece."]],
             "labels": [2, 1, 0, 2]},
        ],
    },
}


def log(*a):
    print(*a, flush=True)


def decay_parameter_names(model):
    """Trainer.get_decay_parameter_names, computed by transformers itself and by the rule above; both
    must agree."""
    import torch.nn as nn
    from transformers import Trainer
    theirs = list(Trainer.get_decay_parameter_names(None, model))
    layernorm_params = {f"{m}.{p}" if m else p for m, mod in model.named_modules()
                        if isinstance(mod, nn.LayerNorm) for p, _ in mod.named_parameters(recurse=False)}
    ours = [n for n, _ in model.named_parameters()
            if n not in layernorm_params and not any(re.search(p, n.lower()) for p in NO_DECAY_PATTERNS)]
    assert sorted(theirs) == sorted(ours), (sorted(set(theirs) ^ set(ours)))
    return set(theirs)


def load(folder, dropout):
    import torch
    from transformers import AutoModelForSequenceClassification
    model, info = AutoModelForSequenceClassification.from_pretrained(
        folder, dtype=torch.float32, output_loading_info=True, **dropout)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    for k, v in dropout.items():
        assert getattr(model.config, k) == 0.0, (k, getattr(model.config, k))
    assert not any(m.p != 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    return model.train()


def encode(tokenizer, batch, is_pair):
    """Padded model inputs (padding=True, max_length 64) and the packed form of the same tokens."""
    import torch
    texts = batch["texts"]
    if is_pair:
        enc = tokenizer([a for a, _ in texts], [b for _, b in texts], padding=True, truncation=True,
                        max_length=MAX_LENGTH, return_tensors="pt")
    else:
        enc = tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    mask = enc["attention_mask"].bool()
    type_ids = enc.get("token_type_ids", torch.zeros_like(enc["input_ids"]))
    lengths = mask.sum(dim=1)
    # Real tokens come first in each row (right padding), so the mask selects them in order.
    assert all(bool(mask[i, :l].all()) and not bool(mask[i, l:].any()) for i, l in enumerate(lengths.tolist()))
    packed = {
        "ids": enc["input_ids"][mask].to(torch.int64).contiguous(),
        "type_ids": type_ids[mask].to(torch.int64).contiguous(),
        "lengths": lengths.to(torch.int64).contiguous(),
        "labels": torch.tensor(batch["labels"], dtype=torch.int64),
    }
    inputs = {k: v for k, v in enc.items() if k in tokenizer.model_input_names}
    return inputs, packed


def train_steps(model, batches, max_grad_norm):
    """Ten Trainer-recipe AdamW steps; returns (losses, pre-clip norms, lrs)."""
    import torch
    from transformers import get_linear_schedule_with_warmup
    decay = decay_parameter_names(model)
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay and p.requires_grad],
         "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in model.named_parameters() if n not in decay and p.requires_grad],
         "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=WARMUP_STEPS, num_training_steps=TOTAL_STEPS)
    params = [p for p in model.parameters() if p.requires_grad]
    losses, norms, lrs = [], [], []
    for step in range(TOTAL_STEPS):
        inputs, labels = batches[step % 2]
        opt.zero_grad(set_to_none=True)
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        lr = opt.param_groups[0]["lr"]
        assert all(g["lr"] == lr for g in opt.param_groups)
        opt.step()
        sched.step()
        losses.append(float(loss.detach())); norms.append(float(norm)); lrs.append(lr)
    return losses, norms, lrs


def make(name, spec):
    import torch, transformers
    from safetensors.torch import save_file, load_file
    from transformers import AutoTokenizer
    folder = FIXTURES / name
    tokenizer = AutoTokenizer.from_pretrained(folder)
    is_pair = isinstance(spec["batches"][0]["texts"][0], list)
    encoded = [encode(tokenizer, b, is_pair) for b in spec["batches"]]
    assert [len(b["texts"]) for b in spec["batches"]] == [5, 4]
    tensors = {}
    for b, (_, packed) in enumerate(encoded):
        for k, v in packed.items():
            tensors[f"input.{b}.{k}"] = v
    batches = [(inputs, packed["labels"]) for inputs, packed in encoded]

    # Gradient check: batch 0, initial weights.
    torch.manual_seed(0)
    model = load(folder, spec["dropout"])
    names = [n for n, _ in model.named_parameters()]
    out = model(**batches[0][0], labels=batches[0][1])
    ref = torch.nn.functional.cross_entropy(out.logits, batches[0][1])
    assert torch.allclose(out.loss, ref, rtol=0, atol=1e-6), (float(out.loss), float(ref))
    out.loss.backward()
    tensors["loss"] = out.loss.detach().reshape(1).float().contiguous()
    tensors["logits"] = out.logits.detach().float().contiguous()
    for n, p in model.named_parameters():
        assert p.grad is not None, n
        tensors[f"grad.{n}"] = p.grad.detach().float().contiguous()
    log(f"{name}: loss {float(out.loss.detach()):.6f}, {len(names)} parameters, "
        f"tokens {[len(packed['ids']) for _, packed in encoded]}")

    # Ten optimiser steps from the initial weights.
    max_grad_norm = spec["max_grad_norm"]
    if max_grad_norm is None:   # exploration: print the norms without clipping
        losses, norms, _ = train_steps(load(folder, spec["dropout"]), batches, math.inf)
        log(f"  unclipped norms {[round(x, 4) for x in norms]}")
        sys.exit(f"{name}: set max_grad_norm from the norms above")
    torch.manual_seed(0)
    model = load(folder, spec["dropout"])
    decay = decay_parameter_names(model)
    losses, norms, lrs = train_steps(model, batches, max_grad_norm)
    clipped = [i for i, n in enumerate(norms) if max_grad_norm / (n + CLIP_EPS) < 1.0]
    log(f"  losses {[round(x, 5) for x in losses]}")
    log(f"  pre-clip norms {[round(x, 4) for x in norms]} (max_grad_norm {max_grad_norm}: steps {clipped} clipped)")
    log(f"  lrs {lrs}")
    assert 0 < len(clipped) < TOTAL_STEPS, "clipping must trigger on some steps but not all"
    assert abs(losses[0] - float(tensors["loss"][0])) <= 1e-6
    tensors["steps.losses"] = torch.tensor(losses, dtype=torch.float32)
    tensors["steps.grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    tensors["steps.lrs"] = torch.tensor(lrs, dtype=torch.float32)
    for n, p in model.named_parameters():
        tensors[f"final.{n}"] = p.detach().float().contiguous()

    # The attention key bias adds the same amount to every score of a query row, which softmax cancels:
    # its gradient is 0 in exact arithmetic and float32 rounding noise here (asserted below), and Adam
    # normalises that noise into steps of about lr. Its final value is therefore not reproducible by
    # another implementation; compare only |final - initial| <= sum of the step lrs (about 0.005).
    initial = load_file(folder / "model.safetensors")
    largest_grad = max(float(v.abs().max()) for k, v in tensors.items() if k.startswith("grad."))
    key_biases = [n for n in names if re.search(r"(k_lin|attention\.self\.key)\.bias$", n)]
    assert len(key_biases) == model.config.num_hidden_layers
    for n in key_biases:
        assert float(tensors[f"grad.{n}"].abs().max()) <= 1e-5 * largest_grad, n
    key_bias_movement = max(float((tensors[f"final.{n}"] - initial[n]).abs().max()) for n in key_biases)
    assert key_bias_movement <= sum(lrs)

    st_path = folder / "train-golden.safetensors"
    save_file(tensors, st_path, metadata={"format": "pt"})  # one key: a map of several is written in no fixed order
    back = load_file(st_path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k

    meta = {
        "generator": "bench-venv/bin/python scripts/make_training_golden.py",
        "model": name,
        "architecture": type(model).__name__,
        "num_labels": model.config.num_labels,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "dropout_overrides": spec["dropout"],
        "max_length": MAX_LENGTH,
        "gradient_check": "batch 0, initial weights (model.safetensors); loss = cross-entropy, mean over the batch",
        "optimizer": {
            "name": "torch.optim.AdamW (for-loop implementation; Trainer's default optim in transformers 5.x, "
                    "adamw_torch_fused, is the same update fused)",
            "lr": LR, "betas": list(BETAS), "eps": EPS, "weight_decay": WEIGHT_DECAY,
            "bias_correction": True, "decoupled_weight_decay": "p -= lr * weight_decay * p, before the Adam update",
            "no_decay_rule": NO_DECAY_RULE,
            "no_decay_patterns": NO_DECAY_PATTERNS,
            "no_decay_parameters": [n for n in names if n not in decay],
        },
        "max_grad_norm": max_grad_norm,
        "clip_rule": "total = L2 norm over all gradients; grads *= min(max_grad_norm / (total + 1e-6), 1)",
        "clipped_steps": clipped,
        "schedule": {"name": "get_linear_schedule_with_warmup", "num_warmup_steps": WARMUP_STEPS,
                     "num_training_steps": TOTAL_STEPS,
                     "lr(step)": "lr * step / warmup if step < warmup else lr * max(0, (total - step) / (total - warmup)); "
                                 "step 0-based, stepped after each optimiser step (so step 0 uses lr 0)"},
        "zero_gradient_parameters": {
            "names": key_biases,
            "why": "attention key biases shift every score of a query row equally, which softmax cancels: "
                   "their gradient is 0 in exact arithmetic (here float32 rounding noise, <= 1e-5 of the "
                   "largest gradient), and AdamW turns that noise into steps of about lr, so their final.* "
                   "values are not reproducible; hold them to |final - initial| <= movement_bound (the sum of "
                   "the step lrs) instead",
            "movement_bound": sum(lrs),
            "measured_max_movement": key_bias_movement,
        },
        "steps": TOTAL_STEPS, "step_batch": "step i uses batch i % 2",
        "lrs": lrs,
        "losses": losses,
        "grad_norms": norms,
        "batches": [{"texts": b["texts"], "labels": b["labels"],
                     "lengths": encoded[i][1]["lengths"].tolist()} for i, b in enumerate(spec["batches"])],
        "parameters": names,
    }
    (folder / "train-golden.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    size = st_path.stat().st_size
    log(f"  wrote {st_path.relative_to(ROOT)} ({size / 1e6:.2f} MB, {len(tensors)} tensors) and train-golden.json")
    return size


def main():
    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    total = sum(make(name, spec) for name, spec in MODELS.items())
    log(f"total {total / 1e6:.2f} MB")
    assert total < 12e6


if __name__ == "__main__":
    main()
