#!/usr/bin/env python3
"""Writes the distillation golden files for Tests/Fixtures/tiny-bert-pairs, made with PyTorch autograd
and transformers, against which `distilcl distill`'s student, loss, gradients and optimiser steps are
held (issue 10).

Run from the repository root (the venv of README "Comparing with PyTorch and ONNX Runtime"):

    bench-venv/bin/python scripts/make_distill_golden.py

Teacher: Tests/Fixtures/tiny-bert-pairs (BertForSequenceClassification: 3 layers, hidden 48, 4 heads,
FFN 100, GELU, 3 labels, eps 1e-12), every dropout probability 0, eval() mode, no gradients.
Student: DistilBertForSequenceClassification built from the teacher's layers 0 and 2 by
benchmarks/distill.py's distil_student() (transformers' extract_distilbert.py mapping: query ->
q_lin, key -> k_lin, value -> v_lin, attention.output.dense -> attention.out_lin,
attention.output.LayerNorm -> sa_layer_norm, intermediate.dense -> ffn.lin1, output.dense ->
ffn.lin2, output.LayerNorm -> output_layer_norm; word embeddings and embeddings LayerNorm copied;
position_embeddings = the teacher's + token_type_embeddings row 0 on every position;
pre_classifier = bert.pooler.dense; classifier as is; config from the teacher's, dropout 0), loaded
strict. Before training it asserts that the student's embeddings equal the teacher's (atol 1e-6) and
that its hidden_states[1] (after its layer 0) equals the teacher's hidden_states[1]. Both models run
eager attention, float32.

One batch of 6 single sentences (1 to ~20 words, several words split into many wordpieces), labels
in 0..2 with 2 rows unlabelled (-1), tokenized by the fixture's tokenizer (padding=True, max length
64). Loss, T = 2, alpha_kd 0.5, alpha_ce 0.3, alpha_cos 0.2 (benchmarks/distill.py's
distillation_loss(); each term also recomputed the reference way and asserted equal):
    kd  = T^2 * KLDivLoss(reduction="batchmean")(log_softmax(s/T), softmax(t/T))   all 6 rows
    ce  = cross_entropy(s[labelled], y[labelled])                                  mean over 4 rows
    cos = mean over the real tokens of 1 - cosine_similarity(h_s, h_t)  (= nn.CosineEmbeddingLoss,
          target 1, over the mask-selected rows, as DistilBERT's distiller); h_s the student's last
          hidden state, h_t the teacher's (BertModel last_hidden_state, after its layer 2)
    total = 0.5 kd + 0.3 ce + 0.2 cos
Then 3 optimiser steps on that same batch, transformers Trainer's recipe: torch.optim.AdamW (lr 1e-3,
betas 0.9/0.999, eps 1e-8) with two parameter groups (weight decay 0.01 for
Trainer.get_decay_parameter_names(student), 0 for the rest), clip_grad_norm_(max 1.0) before each
step, get_linear_schedule_with_warmup (0 warmup steps, 3 total) stepped after each step.

  distill-golden.safetensors   (all tensors float32 unless said; names below)
    input.ids            int64 [tokens]  packed: only real tokens, texts back to back (token type
                                         ids are all 0: single sentences)
    input.lengths        int64 [texts]   tokens per text ([CLS] and [SEP] included)
    input.labels         int64 [texts]   label id, -1 = unlabelled (no cross-entropy term)
    teacher.logits       [texts, 3]      the teacher's logits
    teacher.hidden       [tokens, 48]    the teacher's last hidden state, packed like input.ids
    student.<name>       every student parameter before training (transformers' DistilBERT names,
                                         e.g. distilbert.embeddings.position_embeddings.weight,
                                         distilbert.transformer.layer.0.attention.q_lin.weight,
                                         pre_classifier.weight), full shape
    student.logits       [texts, 3]      the student's logits, initial weights
    student.hidden       [tokens, 48]    the student's last hidden state, initial weights, packed
    loss.kd, loss.ce, loss.cos, loss.total   [1]   the terms above and the weighted total, initial
                                         weights
    grad.<name>          d loss.total / d parameter, every student parameter, initial weights
    steps.losses         [3]             loss.total of step i before its update
    steps.grad_norms     [3]             total L2 norm of all gradients before clipping (as
                                         torch.nn.utils.clip_grad_norm_ returns it)
    steps.lrs            [3]             learning rate used by step i's update
    final.<name>         every student parameter after the 3 steps
  distill-golden.json          generator, versions, texts, labels, lengths, T and alphas, student
                               layers and key map, student config, optimiser settings and the
                               no-decay rule, the loss formulas in words, the losses, norms and lrs,
                               which steps clipped, and the parameters whose gradient is float noise

Deterministic (torch.manual_seed(0), one thread, deterministic algorithms); the written file is read
back and compared before the script ends. Like the training golden, the attention key biases'
gradient is 0 in exact arithmetic (float noise here, asserted) and their final values are held only
to a movement bound (see "zero_gradient_parameters" in the JSON).
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "Tests/Fixtures/tiny-bert-pairs"
sys.path.insert(0, str(ROOT / "benchmarks"))
from distill import LAYER_KEYS, distil_student, distillation_loss  # noqa: E402
from make_training_golden import NO_DECAY_RULE, NO_DECAY_PATTERNS, decay_parameter_names  # noqa: E402

STUDENT_LAYERS = [0, 2]
TEMPERATURE = 2.0
ALPHA_KD, ALPHA_CE, ALPHA_COS = 0.5, 0.3, 0.2
LR = 1e-3
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.01
WARMUP_STEPS = 0
TOTAL_STEPS = 3
MAX_GRAD_NORM = 1.0
MAX_LENGTH = 64
CLIP_EPS = 1e-6   # clip_grad_norm_: grads *= min(max_norm / (total_norm + 1e-6), 1)
DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0}

TEXTS = [
    "Wonderful.",
    "The archaeologists meticulously catalogued the overwhelmingly fragmentary inscriptions.",
    "Two dogs chase a frisbee across the unbelievably muddy field near the old lighthouse while children laugh.",
    "Nobody is outside.",
    "Quantum chromodynamics describes interactions between quarks and gluons.",
    "She smiled because her extraordinarily difficult exam was finally over.",
]
LABELS = [2, -1, 0, 1, -1, 2]   # -1: unlabelled

LOSS_FORMULAS = {
    "kd": "T^2 * KLDivLoss(reduction='batchmean')(log_softmax(student_logits / T), softmax(teacher_logits / T)): "
          "sum over rows and labels of p_t * (log p_t - log p_s), divided by the number of rows (all 6, labelled "
          "or not), times T^2",
    "ce": "cross_entropy(student_logits[labelled], labels[labelled]): mean over the labelled rows only (4); "
          "rows with label -1 contribute nothing",
    "cos": "mean over every real (non-padding) token of the batch of 1 - cosine_similarity(h_s, h_t), h_s the "
           "student's last hidden state (DistilBertModel last_hidden_state), h_t the teacher's (BertModel "
           "last_hidden_state, after its last layer); equal to nn.CosineEmbeddingLoss(reduction='mean') with "
           "target 1 over the mask-selected token rows (asserted)",
    "total": "alpha_kd * kd + alpha_ce * ce + alpha_cos * cos",
}


def log(*a):
    print(*a, flush=True)


def load_teacher():
    import torch
    from transformers import AutoModelForSequenceClassification
    model, info = AutoModelForSequenceClassification.from_pretrained(
        FOLDER, dtype=torch.float32, output_loading_info=True, attn_implementation="eager", **DROPOUT)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert type(model).__name__ == "BertForSequenceClassification"
    for k, v in DROPOUT.items():
        assert getattr(model.config, k) == 0.0, (k, getattr(model.config, k))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def make_student(teacher):
    import torch
    student = distil_student(teacher, STUDENT_LAYERS)
    student.set_attn_implementation("eager")
    c = student.config
    assert (c.dropout, c.attention_dropout, c.seq_classif_dropout) == (0.0, 0.0, 0.0)
    assert not any(m.p != 0 for m in student.modules() if isinstance(m, torch.nn.Dropout))
    return student.train()


def encode(tokenizer):
    """Padded model inputs (padding=True, max length 64, no token types) and the packed form."""
    import torch
    enc = tokenizer(TEXTS, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    assert int(enc["token_type_ids"].abs().sum()) == 0
    mask = enc["attention_mask"].bool()
    lengths = mask.sum(dim=1)
    # Right padding: the mask selects each row's real tokens in order.
    assert all(bool(mask[i, :l].all()) and not bool(mask[i, l:].any()) for i, l in enumerate(lengths.tolist()))
    assert int(lengths.max()) < MAX_LENGTH, "no text may be cut"
    packed = {
        "input.ids": enc["input_ids"][mask].to(torch.int64).contiguous(),
        "input.lengths": lengths.to(torch.int64).contiguous(),
        "input.labels": torch.tensor(LABELS, dtype=torch.int64),
    }
    return enc["input_ids"], enc["attention_mask"], packed


def forward(student, teacher, ids, attention):
    """Student and teacher outputs; the loss and its terms, checked against the reference formulas."""
    import torch
    import torch.nn.functional as F
    labels = torch.tensor(LABELS)
    with torch.no_grad():
        t = teacher(input_ids=ids, attention_mask=attention, output_hidden_states=True)
    s = student(input_ids=ids, attention_mask=attention, output_hidden_states=True)
    assert len(s.hidden_states) == len(STUDENT_LAYERS) + 1
    total, terms = distillation_loss(s.logits, t.logits, labels, s.hidden_states[-1], t.hidden_states[-1],
                                     attention, TEMPERATURE, ALPHA_KD, ALPHA_CE, ALPHA_COS)
    # The same terms, the reference way.
    with torch.no_grad():
        T = TEMPERATURE
        kd = T * T * torch.nn.KLDivLoss(reduction="batchmean")(F.log_softmax(s.logits / T, -1), F.softmax(t.logits / T, -1))
        labelled = labels >= 0
        ce = F.cross_entropy(s.logits[labelled], labels[labelled])
        m = attention.bool().unsqueeze(-1).expand_as(s.hidden_states[-1])
        dim = s.hidden_states[-1].size(-1)
        hs = torch.masked_select(s.hidden_states[-1], m).view(-1, dim)
        ht = torch.masked_select(t.hidden_states[-1], m).view(-1, dim)
        cos = torch.nn.CosineEmbeddingLoss(reduction="mean")(hs, ht, hs.new_ones(hs.size(0)))
        assert hs.size(0) == int(attention.sum())
        for name, ref in (("kd", kd), ("ce", ce), ("cos", cos)):
            assert torch.allclose(terms[name], ref, rtol=0, atol=1e-6), (name, float(terms[name]), float(ref))
        ref_total = ALPHA_KD * kd + ALPHA_CE * ce + ALPHA_COS * cos
        assert torch.allclose(total, ref_total, rtol=0, atol=1e-6)
    return s, t, total, terms


def check_student_matches_teacher(student, teacher, ids, attention):
    """Before training: the student's embeddings equal the teacher's, and its hidden state after its
    layer 0 equals the teacher's after layer 0 (the same layer), on real tokens and padding alike."""
    import torch
    with torch.no_grad():
        t_emb = teacher.bert.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
        s_emb = student.distilbert.embeddings(ids)
        assert torch.allclose(s_emb, t_emb, rtol=0, atol=1e-6), float((s_emb - t_emb).abs().max())
        t = teacher(input_ids=ids, attention_mask=attention, output_hidden_states=True)
        s = student(input_ids=ids, attention_mask=attention, output_hidden_states=True)
        assert torch.allclose(s.hidden_states[0], t.hidden_states[0], rtol=0, atol=1e-6)
        assert STUDENT_LAYERS[0] == 0
        diff1 = float((s.hidden_states[1] - t.hidden_states[1]).abs().max())
        assert diff1 <= 1e-5, diff1
        # The last hidden states the loss uses are each model's own.
        assert torch.equal(t.hidden_states[-1], teacher.bert(input_ids=ids, attention_mask=attention).last_hidden_state)
        assert torch.equal(s.hidden_states[-1],
                           student.distilbert(input_ids=ids, attention_mask=attention).last_hidden_state)
    return float((s_emb - t_emb).abs().max()), diff1


def train_steps(student, teacher, ids, attention):
    """Three Trainer-recipe AdamW steps on the batch; returns (losses, pre-clip norms, lrs)."""
    import torch
    from transformers import get_linear_schedule_with_warmup
    decay = decay_parameter_names(student)
    groups = [
        {"params": [p for n, p in student.named_parameters() if n in decay and p.requires_grad],
         "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in student.named_parameters() if n not in decay and p.requires_grad],
         "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS, foreach=False)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=WARMUP_STEPS, num_training_steps=TOTAL_STEPS)
    params = [p for p in student.parameters() if p.requires_grad]
    losses, norms, lrs = [], [], []
    for _ in range(TOTAL_STEPS):
        opt.zero_grad(set_to_none=True)
        _, _, loss, _ = forward(student, teacher, ids, attention)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        lr = opt.param_groups[0]["lr"]
        assert all(g["lr"] == lr for g in opt.param_groups)
        opt.step()
        sched.step()
        losses.append(float(loss.detach())); norms.append(float(norm)); lrs.append(lr)
    return losses, norms, lrs


def main():
    import torch, transformers
    from safetensors.torch import save_file, load_file
    from transformers import AutoTokenizer
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(FOLDER)
    ids, attention, tensors = encode(tokenizer)
    mask = attention.bool()
    assert len(TEXTS) == 6 and sum(l >= 0 for l in LABELS) == 4 and all(-1 <= l <= 2 for l in LABELS)

    teacher = load_teacher()
    student = make_student(teacher)
    names = [n for n, _ in student.named_parameters()]
    emb_diff, layer0_diff = check_student_matches_teacher(student, teacher, ids, attention)
    log(f"student layers {STUDENT_LAYERS}: embeddings max |diff| {emb_diff:.2e}, "
        f"hidden_states[1] max |diff| {layer0_diff:.2e}; {len(names)} parameters, "
        f"lengths {tensors['input.lengths'].tolist()}")
    for n, p in student.named_parameters():
        tensors[f"student.{n}"] = p.detach().float().clone().contiguous()

    # Gradient check: initial weights.
    s, t, total, terms = forward(student, teacher, ids, attention)
    total.backward()
    tensors["teacher.logits"] = t.logits.detach().float().contiguous()
    tensors["teacher.hidden"] = t.hidden_states[-1].detach()[mask].float().contiguous()
    tensors["student.logits"] = s.logits.detach().float().contiguous()
    tensors["student.hidden"] = s.hidden_states[-1].detach()[mask].float().contiguous()
    for k, v in terms.items():
        tensors[f"loss.{k}"] = v.detach().reshape(1).float().contiguous()
    tensors["loss.total"] = total.detach().reshape(1).float().contiguous()
    for n, p in student.named_parameters():
        assert p.grad is not None, n
        tensors[f"grad.{n}"] = p.grad.detach().float().contiguous()
    assert not any(p.grad is not None for p in teacher.parameters())
    log(f"loss: kd {float(terms['kd'].detach()):.6f}, ce {float(terms['ce'].detach()):.6f}, cos {float(terms['cos'].detach()):.6f}, "
        f"total {float(total.detach()):.6f}")

    # Three optimiser steps from the initial weights.
    torch.manual_seed(0)
    student = make_student(teacher)
    for n, p in student.named_parameters():
        assert torch.equal(p.detach(), tensors[f"student.{n}"]), n
    decay = decay_parameter_names(student)
    losses, norms, lrs = train_steps(student, teacher, ids, attention)
    clipped = [i for i, n in enumerate(norms) if MAX_GRAD_NORM / (n + CLIP_EPS) < 1.0]
    log(f"steps: losses {[round(x, 6) for x in losses]}")
    log(f"  pre-clip norms {[round(x, 4) for x in norms]} (max_grad_norm {MAX_GRAD_NORM}: steps {clipped} clipped)")
    log(f"  lrs {lrs}")
    assert abs(losses[0] - float(tensors["loss.total"][0])) <= 1e-6
    assert losses[-1] < losses[0], "the steps must lower the loss"
    tensors["steps.losses"] = torch.tensor(losses, dtype=torch.float32)
    tensors["steps.grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    tensors["steps.lrs"] = torch.tensor(lrs, dtype=torch.float32)
    for n, p in student.named_parameters():
        tensors[f"final.{n}"] = p.detach().float().contiguous()

    # The attention key bias adds the same amount to every score of a query row, which softmax cancels:
    # its gradient is 0 in exact arithmetic and float32 rounding noise here (asserted), and Adam
    # normalises that noise into steps of about lr. Compare only |final - initial| <= sum of the lrs.
    largest_grad = max(float(v.abs().max()) for k, v in tensors.items() if k.startswith("grad."))
    key_biases = [n for n in names if re.search(r"k_lin\.bias$", n)]
    assert len(key_biases) == len(STUDENT_LAYERS)
    for n in key_biases:
        assert float(tensors[f"grad.{n}"].abs().max()) <= 1e-5 * largest_grad, n
    key_bias_grad = max(float(tensors[f"grad.{n}"].abs().max()) for n in key_biases)
    key_bias_movement = max(float((tensors[f"final.{n}"] - tensors[f"student.{n}"]).abs().max()) for n in key_biases)
    assert key_bias_movement <= sum(lrs)

    st_path = FOLDER / "distill-golden.safetensors"
    save_file(tensors, st_path, metadata={"format": "pt"})
    back = load_file(st_path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k

    sc = student.config
    meta = {
        "generator": "bench-venv/bin/python scripts/make_distill_golden.py",
        "teacher": "Tests/Fixtures/tiny-bert-pairs",
        "teacher_architecture": type(teacher).__name__,
        "student_architecture": type(student).__name__,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "attention": "eager (both models), float32",
        "dropout_overrides": DROPOUT,
        "student_layers": STUDENT_LAYERS,
        "student_key_map": {
            "layers": {f"bert.encoder.layer.{src}.{b}": f"distilbert.transformer.layer.{i}.{d}"
                       for i, src in enumerate(STUDENT_LAYERS) for b, d in LAYER_KEYS.items()},
            "distilbert.embeddings.word_embeddings": "bert.embeddings.word_embeddings",
            "distilbert.embeddings.position_embeddings":
                "bert.embeddings.position_embeddings + bert.embeddings.token_type_embeddings row 0, on every position",
            "distilbert.embeddings.LayerNorm": "bert.embeddings.LayerNorm",
            "pre_classifier": "bert.pooler.dense (DistilBERT applies ReLU after it, BERT's pooler tanh)",
            "classifier": "classifier",
        },
        "student_config": {k: getattr(sc, k) for k in (
            "dim", "n_layers", "n_heads", "hidden_dim", "activation", "max_position_embeddings", "vocab_size",
            "pad_token_id", "sinusoidal_pos_embds", "dropout", "attention_dropout", "seq_classif_dropout",
            "initializer_range")} | {"id2label": {str(k): v for k, v in sc.id2label.items()}},
        "checks_before_training": {
            "embeddings_max_abs_diff": emb_diff, "embeddings_atol": 1e-6,
            "hidden_states_1_max_abs_diff": layer0_diff, "hidden_states_1_atol": 1e-5,
        },
        "max_length": MAX_LENGTH,
        "texts": TEXTS,
        "labels": LABELS,
        "labels_note": "-1 = unlabelled: in kd and cos, not in ce",
        "lengths": tensors["input.lengths"].tolist(),
        "tokens": int(tensors["input.ids"].numel()),
        "temperature": TEMPERATURE,
        "alphas": {"kd": ALPHA_KD, "ce": ALPHA_CE, "cos": ALPHA_COS},
        "loss_formulas": LOSS_FORMULAS,
        "loss": {k: float(tensors[f"loss.{k}"][0]) for k in ("kd", "ce", "cos", "total")},
        "gradient_check": "initial weights; grad.<name> = d loss.total / d parameter (the teacher has no gradients)",
        "optimizer": {
            "name": "torch.optim.AdamW (for-loop implementation; Trainer's default optim in transformers 5.x, "
                    "adamw_torch_fused, is the same update fused)",
            "lr": LR, "betas": list(BETAS), "eps": EPS, "weight_decay": WEIGHT_DECAY,
            "bias_correction": True, "decoupled_weight_decay": "p -= lr * weight_decay * p, before the Adam update",
            "no_decay_rule": NO_DECAY_RULE,
            "no_decay_patterns": NO_DECAY_PATTERNS,
            "no_decay_parameters": [n for n in names if n not in decay],
        },
        "max_grad_norm": MAX_GRAD_NORM,
        "clip_rule": "total = L2 norm over all gradients; grads *= min(max_grad_norm / (total + 1e-6), 1)",
        "clipped_steps": clipped,
        "schedule": {"name": "get_linear_schedule_with_warmup", "num_warmup_steps": WARMUP_STEPS,
                     "num_training_steps": TOTAL_STEPS,
                     "lr(step)": "lr * max(0, (total - step) / total) with 0 warmup; step 0-based, stepped after "
                                 "each optimiser step (so step 0 uses lr)"},
        "zero_gradient_parameters": {
            "names": key_biases,
            "why": "attention key biases shift every score of a query row equally, which softmax cancels: "
                   "their gradient is 0 in exact arithmetic (here float32 rounding noise, <= 1e-5 of the "
                   "largest gradient), and AdamW turns that noise into steps of about lr, so their final.* "
                   "values are not reproducible; hold them to |final - initial| <= movement_bound (the sum of "
                   "the step lrs) instead",
            "measured_max_abs_grad": key_bias_grad,
            "largest_abs_grad": largest_grad,
            "movement_bound": sum(lrs),
            "measured_max_movement": key_bias_movement,
        },
        "steps": TOTAL_STEPS, "step_batch": "every step uses the same batch",
        "lrs": lrs,
        "losses": losses,
        "grad_norms": norms,
        "parameters": names,
    }
    (FOLDER / "distill-golden.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    size = st_path.stat().st_size
    log(f"wrote {st_path.relative_to(ROOT)} ({size / 1e6:.2f} MB, {len(tensors)} tensors) and distill-golden.json")
    assert size < 8e6


if __name__ == "__main__":
    main()
