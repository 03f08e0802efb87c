#!/usr/bin/env python3
"""Writes the question-answering training goldens (issue 22), made with transformers and PyTorch
autograd, against which DistilCL's QA features, loss, backward pass and optimiser are held.

Run from the repository root:

    bench-venv/bin/python scripts/make_qa_golden.py

It first builds Tests/Fixtures/tiny-bert-qa (once; an existing folder is kept): a
BertForQuestionAnswering with tiny-bert-pairs' encoder and a qa_outputs seeded with
torch.manual_seed(BERT_QA_SEED), normal(0, initializer_range) weight and zero bias, float32, with its
tokenizer files. Then, for Tests/Fixtures/tiny-distilbert-qa (DistilBertForQuestionAnswering) and
tiny-bert-qa, it writes qa-train-golden.{json,safetensors}:

  features    run_qa.py's prepare_train_features on the raw examples in the json (question
              lstripped, truncation="only_second", max_length 40, doc_stride 8, no padding): one
              example's context cut into several windows (the answer in the last alone, the
              others labelled [CLS] = 0), one answered in a single window, one unanswerable, one
              whose context holds an emoji and an accented word before the answer (code points).
    feature.<i>.ids / .type_ids   int64 [tokens of window i]
    feature.starts / .ends / .examples   int64 [windows]
  one step    the batch of every window, each run unpadded (a forward per window, so no padding
              enters any softmax), dropout 0:
    loss      f32 [1]   mean over windows of transformers' own QA loss, (CE_start + CE_end) / 2
    start_logits, end_logits   f32 [tokens]   packed, window after window
    grad.<name>   d loss / d parameter (word embeddings: only the rows the batch reads, listed in
                  word_rows; every other row's gradient is exactly 0)
  distillation  teacher = the same model with a second qa_outputs (torch.manual_seed(23)), T = 2:
    teacher.start_logits / .end_logits   f32 [tokens]
    distill.loss  f32 [1]   run_squad_w_distillation.py's loss per window, averaged over windows:
                  alpha_ce * T^2 * (KL_start + KL_end) / 2 + alpha_squad * (CE_start + CE_end) / 2
                  (KLDivLoss batchmean of log_softmax(student / T) against softmax(teacher / T))
    distill.soft, distill.hard   f32 [1]   the two terms before weighting
    distill.grad.<name>   as grad.<name>
  five steps  the hard loss on the same batch, Trainer's recipe as make_training_golden.py:
              torch.optim.AdamW (eps 1e-5, see ADAM_EPS), decay / no-decay groups, clip_grad_norm_, linear
              schedule
    steps.losses, steps.grad_norms, steps.lrs   f32 [5]
    final.<name>   every parameter after the steps (word embeddings: the word_rows alone; any
                   other row only decays, to initial * prod(1 - lr_i * weight_decay))

Deterministic (one thread, deterministic algorithms); the written files are read back and compared.
"""
import json, math, re, shutil
from pathlib import Path

import make_training_golden as base

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests/Fixtures"

MAX_LENGTH = 40
DOC_STRIDE = 8
TEMPERATURE = 2.0
BERT_QA_SEED = 22
# Adam's first update is lr * g / (|g| + eps): with eps = 1e-8 it is lr * sign(g) for any gradient above
# 1e-8, so an element whose gradient lies within float32 noise of 0 (a few in 1e5 here, down to 1e-7 of the
# largest) moves by +-lr on a sign that noise decides. eps = 1e-5 keeps such a step at noise * lr / eps.
ADAM_EPS = 1e-5
ALPHA_KD = 0.7   # run_squad_w_distillation.py's --alpha_ce (the soft term)
ALPHA_CE = 0.3   # its --alpha_squad (the hard loss)
STEPS = 5
WARMUP_STEPS = 1
LR, BETAS, WEIGHT_DECAY = base.LR, base.BETAS, base.WEIGHT_DECAY

EXAMPLES = [
    {"id": "long", "question": "  Where did the expedition finally arrive?",
     "context": "The expedition left the northern coast in early spring. For many weeks the travellers crossed "
                "deserts, mountains and frozen rivers, losing horses and supplies along the way. Several members "
                "turned back, but the leader insisted that the journey continue. After a long winter in the "
                "highlands they descended towards the sea and finally arrived at the old harbour of Valparaiso.",
     "answers": {"text": ["the old harbour of Valparaiso"], "answer_start": [None]}},
    {"id": "short", "question": "Who wrote the letter?",
     "context": "The letter was written by Margaret Hale in 1851.",
     "answers": {"text": ["Margaret Hale", "Margaret"], "answer_start": [None, None]}},
    {"id": "impossible", "question": "What colour was the cat?",
     "context": "Nobody in the village owned a dog.",
     "answers": {"text": [], "answer_start": []}},
    {"id": "unicode", "question": "Which café opened?",
     "context": "🙂 In Zürich the café Blümli opened on Monday.",
     "answers": {"text": ["Blümli"], "answer_start": [None]}},
]

MODELS = {
    "tiny-distilbert-qa": {
        "dropout": {"dropout": 0.0, "attention_dropout": 0.0, "qa_dropout": 0.0, "seq_classif_dropout": 0.0},
    },
    "tiny-bert-qa": {
        "dropout": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0},
    },
}
MAX_GRAD_NORM = {"tiny-distilbert-qa": 8.7, "tiny-bert-qa": 9.0}

log = base.log


def fill_answer_starts():
    for e in EXAMPLES:
        e["answers"]["answer_start"] = [e["context"].index(t) for t in e["answers"]["text"]]


def make_bert_qa():
    """Tests/Fixtures/tiny-bert-qa from tiny-bert-pairs' encoder and a seeded qa_outputs."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertForSequenceClassification
    folder = FIXTURES / "tiny-bert-qa"
    if (folder / "model.safetensors").exists():
        return
    source = FIXTURES / "tiny-bert-pairs"
    classifier = BertForSequenceClassification.from_pretrained(source, dtype=torch.float32)
    config = BertConfig.from_pretrained(source)
    config.architectures = ["BertForQuestionAnswering"]
    config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    config.label2id = {"LABEL_0": 0, "LABEL_1": 1}
    model = BertForQuestionAnswering(config).float()
    encoder = {k: v for k, v in classifier.bert.state_dict().items() if not k.startswith("pooler.")}
    model.bert.load_state_dict(encoder, strict=True)
    torch.manual_seed(BERT_QA_SEED)
    with torch.no_grad():
        model.qa_outputs.weight.normal_(0.0, config.initializer_range)
        model.qa_outputs.bias.zero_()
    folder.mkdir()
    model.save_pretrained(folder, safe_serialization=True)
    for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]:
        shutil.copy(source / name, folder / name)
    log(f"wrote {folder.relative_to(ROOT)}")


def prepare_train_features(tokenizer, examples):
    """run_qa.py's prepare_train_features, unpadded (pad_on_right: BERT tokenizers pad right)."""
    questions = [e["question"].lstrip() for e in examples]
    contexts = [e["context"] for e in examples]
    tok = tokenizer(questions, contexts, truncation="only_second", max_length=MAX_LENGTH, stride=DOC_STRIDE,
                    return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
    sample_mapping = tok.pop("overflow_to_sample_mapping")
    offset_mapping = tok.pop("offset_mapping")
    features = []
    for i, offsets in enumerate(offset_mapping):
        input_ids = tok["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id)
        sequence_ids = tok.sequence_ids(i)
        answers = examples[sample_mapping[i]]["answers"]
        if len(answers["answer_start"]) == 0:
            start, end = cls_index, cls_index
        else:
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            token_start_index = 0
            while sequence_ids[token_start_index] != 1:
                token_start_index += 1
            token_end_index = len(input_ids) - 1
            while sequence_ids[token_end_index] != 1:
                token_end_index -= 1
            if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
                start, end = cls_index, cls_index
            else:
                last_context = token_end_index
                while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
                    token_start_index += 1
                start = token_start_index - 1
                # DistilCL stops at the last context token where run_qa.py walks on (its edge case):
                # the goldens avoid that case so both agree.
                assert start <= last_context, "an answer starting in a window's last context token"
                while offsets[token_end_index][1] >= end_char:
                    token_end_index -= 1
                end = token_end_index + 1
        features.append({"ids": input_ids, "type_ids": tok["token_type_ids"][i] if "token_type_ids" in tok
                         else [0] * len(input_ids), "start": start, "end": end, "example": sample_mapping[i]})
    return features


def load(folder, dropout, qa_seed=None):
    import torch
    from transformers import AutoModelForQuestionAnswering
    model, info = AutoModelForQuestionAnswering.from_pretrained(folder, dtype=torch.float32,
                                                                output_loading_info=True, **dropout)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert not any(m.p != 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    if qa_seed is not None:   # the teacher: a second head
        torch.manual_seed(qa_seed)
        with torch.no_grad():
            model.qa_outputs.weight.normal_(0.0, model.config.initializer_range)
            model.qa_outputs.bias.normal_(0.0, 0.1)
    return model.train()


def forward(model, features, uses_types):
    """Per window, unpadded: (start logits, end logits, transformers' loss) lists."""
    import torch
    out = []
    for f in features:
        inputs = {"input_ids": torch.tensor([f["ids"]]), "attention_mask": torch.ones(1, len(f["ids"]), dtype=torch.long),
                  "start_positions": torch.tensor([f["start"]]), "end_positions": torch.tensor([f["end"]])}
        if uses_types:
            inputs["token_type_ids"] = torch.tensor([f["type_ids"]])
        o = model(**inputs)
        out.append((o.start_logits[0], o.end_logits[0], o.loss))
    return out


def hard_loss(outputs):
    import torch
    return torch.stack([loss for _, _, loss in outputs]).mean()


def distill_loss(outputs, teacher):
    """run_squad_w_distillation.py's terms per window (a batch of one), averaged over windows."""
    import torch
    from torch import nn
    kl = nn.KLDivLoss(reduction="batchmean")
    T = TEMPERATURE
    soft = []
    for (s, e, _), (ts, te, _) in zip(outputs, teacher):
        loss_start = kl(nn.functional.log_softmax(s[None] / T, dim=-1), nn.functional.softmax(ts[None] / T, dim=-1)) * T ** 2
        loss_end = kl(nn.functional.log_softmax(e[None] / T, dim=-1), nn.functional.softmax(te[None] / T, dim=-1)) * T ** 2
        soft.append((loss_start + loss_end) / 2.0)
    soft = torch.stack(soft).mean()
    hard = hard_loss(outputs)
    return ALPHA_KD * soft + ALPHA_CE * hard, soft, hard


def gradients(model, word, rows, prefix):
    tensors = {}
    for n, p in model.named_parameters():
        assert p.grad is not None, n
        g = p.grad.detach().float()
        if n == word:
            others = torch_delete_rows(g, rows)
            assert float(others.abs().max()) == 0.0, "a word embedding row outside the batch has a gradient"
            g = g[rows]
        tensors[f"{prefix}{n}"] = g.contiguous()
    return tensors


def torch_delete_rows(t, rows):
    import torch
    keep = torch.ones(t.shape[0], dtype=torch.bool)
    keep[rows] = False
    return t[keep]


def train_steps(model, features, uses_types, max_grad_norm):
    import torch
    from transformers import get_linear_schedule_with_warmup
    decay = base.decay_parameter_names(model)
    groups = [{"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": WEIGHT_DECAY},
              {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=ADAM_EPS)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=WARMUP_STEPS, num_training_steps=STEPS)
    losses, norms, lrs = [], [], []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = hard_loss(forward(model, features, uses_types))
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(list(model.parameters()), max_grad_norm)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(float(loss.detach())); norms.append(float(norm))
    return losses, norms, lrs


def make(name, spec):
    import torch, transformers
    from safetensors.torch import save_file, load_file
    from transformers import AutoTokenizer
    folder = FIXTURES / name
    tokenizer = AutoTokenizer.from_pretrained(folder)
    features = prepare_train_features(tokenizer, EXAMPLES)
    windows_of = [sum(f["example"] == i for f in features) for i in range(len(EXAMPLES))]
    assert windows_of[0] >= 3 and windows_of[1:] == [1, 1, 1], windows_of
    long_labels = [(f["start"], f["end"]) for f in features if f["example"] == 0]
    assert all(l == (0, 0) for l in long_labels[:-1]) and long_labels[-1] != (0, 0), long_labels
    tensors = {f"feature.{i}.ids": torch.tensor(f["ids"]) for i, f in enumerate(features)}
    tensors.update({f"feature.{i}.type_ids": torch.tensor(f["type_ids"]) for i, f in enumerate(features)})
    for key in ["start", "end", "example"]:
        tensors[f"feature.{key}s"] = torch.tensor([f[key] for f in features])

    torch.manual_seed(0)
    model = load(folder, spec["dropout"])
    uses_types = model.config.model_type == "bert"
    names = [n for n, _ in model.named_parameters()]
    word = next(n for n in names if n.endswith("word_embeddings.weight"))
    rows = sorted({i for f in features for i in f["ids"]})
    tensors["word_rows"] = torch.tensor(rows)

    outputs = forward(model, features, uses_types)
    loss = hard_loss(outputs)
    loss.backward()
    tensors["loss"] = loss.detach().reshape(1)
    tensors["start_logits"] = torch.cat([s.detach() for s, _, _ in outputs]).contiguous()
    tensors["end_logits"] = torch.cat([e.detach() for _, e, _ in outputs]).contiguous()
    # The same forward in float64: the exact logits, and how far PyTorch's own float32 ones are from them.
    with torch.no_grad():
        exact = forward(load(folder, spec["dropout"]).double(), features, uses_types)
    tensors["exact.start_logits"] = torch.cat([s for s, _, _ in exact]).float().contiguous()
    tensors["exact.end_logits"] = torch.cat([e for _, e, _ in exact]).float().contiguous()
    float32_error = max(float((tensors[f"{k}_logits"].double() - torch.cat([x[i] for x in exact])).abs().max())
                        for i, k in [(0, "start"), (1, "end")])
    tensors.update(gradients(model, word, rows, "grad."))

    teacher = load(folder, spec["dropout"], qa_seed=23).eval()
    with torch.no_grad():
        teacher_out = forward(teacher, features, uses_types)
    tensors["teacher.start_logits"] = torch.cat([s for s, _, _ in teacher_out]).contiguous()
    tensors["teacher.end_logits"] = torch.cat([e for _, e, _ in teacher_out]).contiguous()
    model.zero_grad(set_to_none=True)
    total, soft, hard = distill_loss(forward(model, features, uses_types), teacher_out)
    total.backward()
    tensors["distill.loss"] = total.detach().reshape(1)
    tensors["distill.soft"] = soft.detach().reshape(1)
    tensors["distill.hard"] = hard.detach().reshape(1)
    tensors.update(gradients(model, word, rows, "distill.grad."))
    log(f"{name}: {len(features)} windows {[len(f['ids']) for f in features]}, loss {float(loss.detach()):.6f}, "
        f"distillation {float(total.detach()):.6f} (soft {float(soft.detach()):.6f}, hard {float(hard.detach()):.6f})")

    max_grad_norm = MAX_GRAD_NORM[name]
    torch.manual_seed(0)
    model = load(folder, spec["dropout"])
    decay = base.decay_parameter_names(model)
    losses, norms, lrs = train_steps(model, features, uses_types, max_grad_norm)
    clipped = [i for i, n in enumerate(norms) if max_grad_norm / (n + base.CLIP_EPS) < 1.0]
    log(f"  losses {[round(x, 5) for x in losses]}, norms {[round(x, 4) for x in norms]}, clipped {clipped}, lrs {lrs}")
    assert 0 < len(clipped) < STEPS, "clipping must trigger on some steps but not all"
    assert abs(losses[0] - float(loss.detach())) <= 1e-6
    tensors["steps.losses"] = torch.tensor(losses, dtype=torch.float32)
    tensors["steps.grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    tensors["steps.lrs"] = torch.tensor(lrs, dtype=torch.float32)
    initial = load(folder, spec["dropout"]).state_dict()
    for n, p in model.named_parameters():
        final = p.detach().float()
        if n == word:
            decayed = initial[n].float() * math.prod(1 - lr * WEIGHT_DECAY for lr in lrs)
            assert torch.allclose(torch_delete_rows(final, rows), torch_delete_rows(decayed, rows), rtol=1e-6, atol=0)
            final = final[rows]
        tensors[f"final.{n}"] = final.contiguous()

    # Exactly zero gradients: a key bias shifts a query's scores alike, qa_outputs.bias and the last
    # LayerNorm's bias shift every logit of a column alike; softmax cancels each shift.
    last_norm = next(n for n in names if re.search(rf"layer\.{model.config.num_hidden_layers - 1}\.(output_layer_norm|output\.LayerNorm)\.bias$", n))
    key_biases = [n for n in names if re.search(r"(k_lin|attention\.self\.key)\.bias$", n)] + ["qa_outputs.bias", last_norm]
    largest = max(float(v.abs().max()) for k, v in tensors.items() if k.startswith("grad."))
    for n in key_biases:
        assert float(tensors[f"grad.{n}"].abs().max()) <= 1e-5 * largest, n
    near_zero = sum(int(((g.abs() > 0) & (g.abs() < 1e-6 * largest)).sum()) for n in names if n not in key_biases
                    for g in [tensors[f"grad.{n}"]])
    movement = max(float((tensors[f"final.{n}"] - initial[n]).abs().max()) for n in key_biases)
    assert movement <= sum(lrs)

    st_path = folder / "qa-train-golden.safetensors"
    save_file(tensors, st_path, metadata={"format": "pt"})
    back = load_file(st_path)
    assert set(back) == set(tensors) and all(torch.equal(back[k], v) for k, v in tensors.items())
    meta = {
        "generator": "bench-venv/bin/python scripts/make_qa_golden.py",
        "model": name, "architecture": type(model).__name__,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "dropout_overrides": spec["dropout"],
        "examples": EXAMPLES,
        "max_length": MAX_LENGTH, "doc_stride": DOC_STRIDE,
        "windows_per_example": windows_of,
        "loss": "mean over windows (each run alone, unpadded) of transformers' QA loss (CE_start + CE_end) / 2",
        "distillation": {"temperature": TEMPERATURE, "alpha_kd": ALPHA_KD, "alpha_ce": ALPHA_CE,
                         "form": "alpha_kd * T^2 * (KL_start + KL_end) / 2 + alpha_ce * (CE_start + CE_end) / 2, "
                                 "each a mean over windows (run_squad_w_distillation.py: alpha_ce = alpha_kd here, "
                                 "alpha_squad = alpha_ce here)",
                         "teacher": "the same checkpoint with qa_outputs redrawn: torch.manual_seed(23), weight "
                                    "normal(0, initializer_range), bias normal(0, 0.1)"},
        "word_rows": "grad.*, distill.grad.* and final.* of the word embeddings hold the rows in word_rows alone; "
                     "other rows have a zero gradient and only decay",
        "optimizer": {"lr": LR, "betas": list(BETAS), "eps": ADAM_EPS,
                      "eps_why": "lr * g / (|g| + eps) is lr * sign(g) for eps = 1e-8: gradient elements within float32 "
                                 "noise of 0 (%d here, below 1e-6 of the largest) would move by +-lr on a sign noise "
                                 "decides" % near_zero, "weight_decay": WEIGHT_DECAY,
                      "no_decay_parameters": [n for n in names if n not in decay],
                      "warmup_steps": WARMUP_STEPS, "total_steps": STEPS},
        "max_grad_norm": max_grad_norm, "clipped_steps": clipped,
        "zero_gradient_parameters": {"names": key_biases, "movement_bound": sum(lrs),
                                     "measured_max_movement": movement,
                                     "why": "softmax cancels a shift of a whole score row (key biases) or of a whole "
                                            "logit column (qa_outputs.bias, the last LayerNorm's bias): the gradient "
                                            "is 0 exactly, float32 noise here, which AdamW turns into steps of about lr"},
        "float32_logit_error": float32_error,
        "lrs": lrs, "losses": losses, "grad_norms": norms,
        "parameters": names,
    }
    (folder / "qa-train-golden.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    size = st_path.stat().st_size
    log(f"  wrote {st_path.relative_to(ROOT)} ({size / 1e6:.2f} MB, {len(tensors)} tensors)")
    return size


def main():
    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    fill_answer_starts()
    make_bert_qa()
    total = sum(make(name, spec) for name, spec in MODELS.items())
    log(f"total {total / 1e6:.2f} MB")
    assert total < 4e6


if __name__ == "__main__":
    main()
