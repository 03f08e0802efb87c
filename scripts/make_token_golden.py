#!/usr/bin/env python3
"""Writes the token-classification training golden files, made with PyTorch autograd and
transformers, against which DistilCL's token-classification step, its distillation loss and five
optimiser steps are held (issue 22).

Run from the repository root (the venv of README "Comparing with PyTorch and ONNX Runtime"):

    bench-venv/bin/python scripts/make_token_golden.py

Models:
  Tests/Fixtures/tiny-distilbert-ner  DistilBertForTokenClassification, 9 labels (existing fixture)
  Tests/Fixtures/tiny-bert-ner        BertForTokenClassification, 5 labels: written here from
                                      tiny-bert-pairs' encoder and a classifier drawn with
                                      torch.manual_seed(0) (initializer_range 0.3), then reloaded

Each gets token-golden.safetensors and token-golden.json:
  input.<b>.ids / type_ids / word_ids / labels   int64 [tokens], batch b in {0, 1}, packed (real
                           tokens only, sentences back to back); word_ids -1 for special tokens;
                           labels as run_ner.py aligns them (first piece of a word its tag, the
                           rest and special tokens -100)
  input.<b>.lengths        int64 [sentences]
  loss, logits             batch 0, initial weights: cross-entropy over the labelled tokens (mean),
                           logits packed [tokens, labels]
  grad.<name>              every parameter's gradient of that loss
  distill.teacher_logits   f32 [tokens, labels], batch 0 (drawn with torch.manual_seed(1), std 2)
  distill.loss             alpha_kd * T^2 * KLDivLoss(batchmean over every real token)(log_softmax(s/T),
                           softmax(t/T)) + alpha_ce * CE(labelled tokens, mean); T 2, alpha_kd 0.6,
                           alpha_ce 0.4
  distill.grad.<name>      its gradient
  steps.losses, steps.grad_norms, steps.lrs, final.<name>
                           five AdamW steps (Trainer's recipe, as scripts/make_training_golden.py:
                           two groups, linear warm-up 2 then decay over 5, clipping), batch i % 2

Sentences are given as words (is_split_into_words=True), padded to the batch's longest with
padding=True: a padded position's label is -100, so the loss, logits of real tokens and gradients
equal those of the unpadded (packed) batch. Every dropout probability is 0.
"""
import json, shutil, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_training_golden as mtg   # noqa: E402  (its optimiser recipe and decay rule)

ROOT = mtg.ROOT
FIXTURES = ROOT / "Tests/Fixtures"
STEPS, WARMUP = 5, 2
T, ALPHA_KD, ALPHA_CE = 2.0, 0.6, 0.4

BATCHES = [
    {"words": [["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
               ["Peter", "Blackburn"],
               ["The", "unbelievably", "overwrought", "Kristin", "Scott-Thomas", "visited", "Reykjavík", "yesterday"],
               ["@user", "loves", "#NewYork", "!!!"],
               ["Hi"]],
     "tags": [["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"],
              ["B-PER", "I-PER"],
              ["O", "O", "O", "B-PER", "I-PER", "O", "B-LOC", "O"],
              ["O", "O", "B-LOC", "O"],
              ["O"]]},
    {"words": [["Heartfelt", "acting", "by", "Meryl", "Streep", "rescues", "Universal", "Pictures"],
               ["Quantum", "chromodynamics", "at", "CERN", "in", "Geneva"],
               ["meh"],
               ["Two", "dogs", "chase", "a", "frisbee", "near", "the", "Golden", "Gate", "Bridge"]],
     "tags": [["O", "O", "O", "B-PER", "I-PER", "O", "B-ORG", "I-ORG"],
              ["O", "O", "O", "B-ORG", "O", "B-LOC"],
              ["O"],
              ["O", "O", "O", "O", "O", "O", "O", "B-LOC", "I-LOC", "I-LOC"]]},
]
BERT_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
# tiny-bert-ner knows PER and LOC only: the other types are O there.
MODELS = {
    "tiny-distilbert-ner": {
        "dropout": {"dropout": 0.0, "attention_dropout": 0.0, "seq_classif_dropout": 0.0, "qa_dropout": 0.0},
        "max_grad_norm": 15.0,
    },
    "tiny-bert-ner": {
        "dropout": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0},
        "max_grad_norm": 20.0,
    },
}


def log(*a):
    print(*a, flush=True)


def make_bert_fixture():
    """tiny-bert-ner: tiny-bert-pairs' encoder with a fresh token classifier."""
    import torch
    from transformers import BertForTokenClassification
    src, dst = FIXTURES / "tiny-bert-pairs", FIXTURES / "tiny-bert-ner"
    torch.manual_seed(0)
    model = BertForTokenClassification.from_pretrained(
        src, num_labels=len(BERT_LABELS), id2label=dict(enumerate(BERT_LABELS)),
        label2id={n: i for i, n in enumerate(BERT_LABELS)}, ignore_mismatched_sizes=True, dtype=torch.float32)
    dst.mkdir(exist_ok=True)
    model.save_pretrained(dst, safe_serialization=True)
    for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(src / f, dst / f)


def load(folder, dropout):
    import torch
    from transformers import AutoModelForTokenClassification
    model, info = AutoModelForTokenClassification.from_pretrained(
        folder, dtype=torch.float32, output_loading_info=True, **dropout)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert not any(m.p != 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    return model.train()


def encode(tokenizer, batch, label2id):
    """Padded inputs with run_ner's aligned labels, and the packed form of the same tokens."""
    import torch
    tags = [[t if t in label2id else "O" for t in s] for s in batch["tags"]]
    enc = tokenizer(batch["words"], is_split_into_words=True, padding=True, truncation=True, max_length=64,
                    return_tensors="pt")
    labels, word_ids = [], []
    for i in range(len(batch["words"])):
        previous, row, wids = None, [], []
        for w in enc.word_ids(i):
            wids.append(-1 if w is None else w)
            # run_ner.py tokenize_and_align_labels, label_all_tokens False
            row.append(-100 if w is None or w == previous else label2id[tags[i][w]])
            previous = w
        labels.append(row)
        word_ids.append(wids)
    labels, word_ids = torch.tensor(labels), torch.tensor(word_ids)
    mask = enc["attention_mask"].bool()
    type_ids = enc.get("token_type_ids", torch.zeros_like(enc["input_ids"]))
    packed = {
        "ids": enc["input_ids"][mask].to(torch.int64).contiguous(),
        "type_ids": type_ids[mask].to(torch.int64).contiguous(),
        "word_ids": word_ids[mask].to(torch.int64).contiguous(),
        "labels": labels[mask].to(torch.int64).contiguous(),
        "lengths": mask.sum(dim=1).to(torch.int64).contiguous(),
    }
    inputs = {k: v for k, v in enc.items() if k in tokenizer.model_input_names}
    return inputs, labels, packed, tags


def make(name, spec):
    import torch, transformers
    import torch.nn.functional as F
    from safetensors.torch import save_file, load_file
    from transformers import AutoTokenizer
    folder = FIXTURES / name
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = load(folder, spec["dropout"])
    label2id = dict(model.config.label2id)
    encoded = [encode(tokenizer, b, label2id) for b in BATCHES]
    tensors = {}
    for b, (_, _, packed, _) in enumerate(encoded):
        for k, v in packed.items():
            tensors[f"input.{b}.{k}"] = v
    batches = [(inputs, labels) for inputs, labels, _, _ in encoded]
    names = [n for n, _ in model.named_parameters()]

    # One step's loss and gradients, batch 0.
    inputs, labels = batches[0]
    mask = inputs["attention_mask"].bool()
    out = model(**inputs, labels=labels)
    ref = F.cross_entropy(out.logits[mask], labels[mask], ignore_index=-100)
    assert torch.allclose(out.loss, ref, rtol=0, atol=1e-6)
    out.loss.backward()
    tensors["loss"] = out.loss.detach().reshape(1).float().contiguous()
    tensors["logits"] = out.logits[mask].detach().float().contiguous()
    for n, p in model.named_parameters():
        tensors[f"grad.{n}"] = p.grad.detach().float().contiguous()
    log(f"{name}: loss {float(out.loss):.6f}, tokens {[int(p['ids'].numel()) for _, _, p, _ in encoded]}")

    # Distillation loss against fixed teacher logits, batch 0.
    model = load(folder, spec["dropout"])
    s = model(**inputs).logits[mask]
    torch.manual_seed(1)
    teacher = (torch.randn(s.shape) * 2).float()
    kd = F.kl_div(F.log_softmax(s / T, dim=-1), F.softmax(teacher / T, dim=-1), reduction="batchmean") * T * T
    ce = F.cross_entropy(s, labels[mask], ignore_index=-100)
    loss = ALPHA_KD * kd + ALPHA_CE * ce
    loss.backward()
    tensors["distill.teacher_logits"] = teacher.contiguous()
    tensors["distill.loss"] = loss.detach().reshape(1).float().contiguous()
    for n, p in model.named_parameters():
        tensors[f"distill.grad.{n}"] = p.grad.detach().float().contiguous()
    log(f"  distill loss {float(loss):.6f} (kd {float(kd):.6f}, ce {float(ce):.6f})")

    # Five optimiser steps.
    mtg.TOTAL_STEPS, mtg.WARMUP_STEPS = STEPS, WARMUP
    torch.manual_seed(0)
    model = load(folder, spec["dropout"])
    decay = mtg.decay_parameter_names(model)
    losses, norms, lrs = mtg.train_steps(model, batches, spec["max_grad_norm"])
    clipped = [i for i, n in enumerate(norms) if spec["max_grad_norm"] / (n + mtg.CLIP_EPS) < 1.0]
    log(f"  losses {[round(x, 5) for x in losses]}, norms {[round(x, 4) for x in norms]}, clipped {clipped}")
    tensors["steps.losses"] = torch.tensor(losses, dtype=torch.float32)
    tensors["steps.grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    tensors["steps.lrs"] = torch.tensor(lrs, dtype=torch.float32)
    for n, p in model.named_parameters():
        tensors[f"final.{n}"] = p.detach().float().contiguous()
    initial = load_file(folder / "model.safetensors")
    key_biases = [n for n in names if n.endswith(("k_lin.bias", "attention.self.key.bias"))]
    movement = max(float((tensors[f"final.{n}"] - initial[n].float()).abs().max()) for n in key_biases)
    assert movement <= sum(lrs)
    assert 0 < len(clipped) < STEPS, "clipping must trigger on some steps but not all"

    path = folder / "token-golden.safetensors"
    save_file(tensors, path, metadata={"format": "pt"})
    back = load_file(path)
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    meta = {
        "generator": "bench-venv/bin/python scripts/make_token_golden.py",
        "model": name, "architecture": type(model).__name__, "labels": [model.config.id2label[i] for i in range(model.config.num_labels)],
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "dropout_overrides": spec["dropout"],
        "batches": [{"words": b["words"], "tags": encoded[i][3]} for i, b in enumerate(BATCHES)],
        "distillation": {"temperature": T, "alpha_kd": ALPHA_KD, "alpha_ce": ALPHA_CE},
        "optimizer": {"lr": mtg.LR, "betas": list(mtg.BETAS), "eps": mtg.EPS, "weight_decay": mtg.WEIGHT_DECAY,
                      "warmup_steps": WARMUP, "total_steps": STEPS},
        "max_grad_norm": spec["max_grad_norm"], "clipped_steps": clipped,
        "zero_gradient_parameters": {"names": key_biases, "movement_bound": sum(lrs)},
        "losses": losses, "grad_norms": norms, "lrs": lrs,
    }
    (folder / "token-golden.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    log(f"  wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.2f} MB)")


def main():
    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    make_bert_fixture()
    for name, spec in MODELS.items():
        make(name, spec)


if __name__ == "__main__":
    main()
