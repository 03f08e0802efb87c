#!/usr/bin/env python3
"""Writes the masked-LM training and DistilBERT triple-loss distillation goldens (issue 23), made with
transformers and PyTorch autograd, against which DistilCL's masked-LM step, its distiller and five
optimiser steps are held.

Run from the repository root (the venv of Tests/Fixtures/README.md):

    bench-venv/bin/python scripts/make_mlm_golden.py                    # the goldens
    bench-venv/bin/python scripts/make_mlm_golden.py --make-checkpoint  # also rebuild tiny-bert-mlm

Models:
  Tests/Fixtures/tiny-bert-mlm        BertForMaskedLM, the teacher: built here (when the folder has no
                                      model.safetensors, or with --make-checkpoint) as
                                      torch.manual_seed(0); BertForMaskedLM(config of tiny-bert-pairs,
                                      architectures ["BertForMaskedLM"], labels reset to the defaults)
                                      (transformers' own init draws the head: transform.dense normal(0,
                                      initializer_range 0.3), bias 0); then tiny-bert-pairs' encoder
                                      (every bert.* tensor but the pooler) loaded over it; then, from the
                                      global generator in this order, cls.predictions.bias ~ N(0, 0.02),
                                      cls.predictions.transform.LayerNorm.weight ~ 1 + N(0, 0.1) and
                                      .bias ~ N(0, 0.1). tie_word_embeddings true: the decoder weight IS
                                      bert.embeddings.word_embeddings.weight, and the decoder bias IS
                                      cls.predictions.bias. float32 save_pretrained (safetensors) plus
                                      tiny-bert-pairs' vocab.txt and tokenizer files. The keys it wrote
                                      for the head are listed in its mlm-golden.json (checkpoint_head_keys).
  Tests/Fixtures/tiny-distilbert-mlm  DistilBertForMaskedLM as stored (vocab_projector.weight tied to
                                      the word embeddings and absent from the file), the student.

Each gets mlm-golden.safetensors and mlm-golden.json. Packed means real tokens only, texts back to back
(the padded batch's attention mask selects them in row-major order); "masked positions" are those whose
label is not -100, in packed order.
  input.<b>.ids         int64 [tokens]   batch b in {0, 1}: the MASKED input ids (what the model reads)
  input.<b>.original    int64 [tokens]   the same tokens unmasked (the tokenizer's ids)
  input.<b>.labels      int64 [tokens]   original id at a masked position, -100 elsewhere
  input.<b>.lengths     int64 [texts]    tokens per text, [CLS] and [SEP] included
                        Masks: DataCollatorForLanguageModeling(mlm_probability 0.15, 80% [MASK] / 10%
                        random / 10% kept).torch_mask_tokens itself, on the padded batch, with its
                        generator set to torch.Generator().manual_seed(0) (one generator for both
                        batches, batch 0 first; special tokens and padding never chosen). A draw is
                        redone from the same generator until the batch has >= 4 masked positions, at
                        least one of each kind, and no random replacement that is [PAD], [CLS], [SEP]
                        or [MASK] or equal to the original id; the json lists the attempts and each
                        masked position's kind. Both models use the same texts, vocabulary and
                        generator, so their inputs are identical (asserted).
  loss                  f32 [1]            batch 0, initial weights: model(input_ids, attention_mask,
                                           labels).loss (BERT: token_type_ids all 0), cross-entropy mean
                                           over the masked positions
  logits                f32 [masked, vocab]   batch 0 at the masked positions
  grad.<name>           f32 (full shape)   d loss / d parameter for every name of
                                           model.named_parameters() (listed in the json; tied
                                           parameters appear once: the decoder / vocab_projector weight
                                           as the word embeddings, BERT's decoder bias as
                                           cls.predictions.bias)
  steps.losses, steps.grad_norms, steps.lrs   f32 [5]   five Trainer-recipe AdamW steps (batch i % 2) as
                                           scripts/make_problem_golden.py: lr 1e-3, betas (0.9, 0.999),
                                           eps 1e-8, weight decay 0.01 for decay_parameter_names(model), 0
                                           for the rest, clip_grad_norm_(max_grad_norm) before each step,
                                           get_linear_schedule_with_warmup(1, 5) stepped after it (step 0
                                           uses lr 0); grad_norms before clipping
  final.<name>          f32                every parameter after the five steps
Only tiny-distilbert-mlm (the student), distillation from tiny-bert-mlm (eval(), no grad, fed the same
masked ids and attention mask, token_type_ids 0) on batch 0 at the initial weights, T = 2:
  distill.teacher_logits  f32 [masked, vocab]  the teacher's logits at the masked positions
  distill.teacher_hidden  f32 [tokens, 48]     the teacher's last hidden state (hidden_states[-1]), packed
  distill.loss_kd       f32 [1]   KLDivLoss(reduction="batchmean")(log_softmax(s / T), softmax(t / T)) * T^2
                                  over the rows of the masked positions (restrict_ce_to_mask=True)
  distill.loss_mlm      f32 [1]   CrossEntropyLoss(ignore_index=-100), mean over the masked positions
  distill.loss_cos      f32 [1]   CosineEmbeddingLoss(reduction="mean")(s_h, t_h, target 1) over every real
                                  token's last hidden state (student hidden_states[-1] vs the teacher's)
  distill.loss          f32 [1]   5 * loss_kd + 2 * loss_mlm + 1 * loss_cos
  distill.grad.<name>   f32       d distill.loss / d student parameter, every named parameter
  distill_all.teacher_logits  f32 [tokens, vocab]   the teacher's logits at every real token, packed
  distill_all.loss_kd, distill_all.loss  f32 [1]    the same with the KL over every real token
                                  (restrict_ce_to_mask=False: rows selected by the attention mask,
                                  batchmean over those rows); loss_mlm and loss_cos unchanged
  distill_all.grad.<name>     f32

The distillation loss is Distiller.step of transformers' examples/research_projects/distillation/
distiller.py with alpha_ce 5, alpha_mlm 2, alpha_cos 1, alpha_clm = alpha_mse = 0 (its README's DistilBERT
recipe) and mlm=True; its two restrict_ce_to_mask settings are the two variants. Checked against that
source; what differs here, none of it in the loss itself:
  - masking: the distiller's prepare_batch_mlm picks exactly ceil(0.15 * tokens) positions by
    multinomial over token_probs (counts^-0.7 smoothing, special tokens 0) and draws [MASK] / kept /
    random (from the whole vocabulary) 0.8 / 0.1 / 0.1; here DataCollatorForLanguageModeling's Bernoulli
    masks are used (the masks are inputs of the golden, so only their provenance differs);
  - optimiser: the distiller uses AdamW betas (0.9, 0.98) with no-decay ["bias", "LayerNorm.weight"]
    (substring) and max_grad_norm 5; the five steps here are Trainer's recipe and train the masked-LM
    loss alone (the distillation tensors are one forward/backward at the initial weights);
  - the distiller passes a bool attention mask and no token_type_ids (BERT: zeros), as here; its
    student/teacher return (logits, hidden_states) tuples from configs with output_hidden_states=True,
    here output_hidden_states=True is passed to the call; hidden_states[-1] is the last layer's output
    (for both BERT and DistilBERT, equal to last_hidden_state).

Every dropout probability is 0 (config overrides at load); the models are float32, students in train()
mode. Deterministic (torch.manual_seed(0), one thread, deterministic algorithms); the written files are
read back and compared before the script ends. The five steps are also rerun in float64 from the same
weights and the largest |final32 - final64| per parameter is recorded in the json (float64_check), as a
measure of how far another correct float32 implementation may land.
"""
import json, shutil, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_training_golden as mtg   # noqa: E402  (its optimiser recipe and decay rule)
from make_training_golden import FIXTURES, MODELS, encode, log  # noqa: E402

ROOT = mtg.ROOT
STEPS, WARMUP = 5, 1          # make_problem_golden.py's schedule
T = 2.0
ALPHA_CE, ALPHA_MLM, ALPHA_COS = 5.0, 2.0, 1.0   # distiller.py's --alpha_ce / --alpha_mlm / --alpha_cos
MLM_PROBABILITY = 0.15
MASK_SEED = 0
HEAD_BIAS_STD, HEAD_LN_STD = 0.02, 0.1

TEACHER = "tiny-bert-mlm"
STUDENT = "tiny-distilbert-mlm"

# Two batches: 5 texts, then 4; 8 to 30 tokens each with [CLS] and [SEP] (asserted).
BATCHES = [
    ["The cat sat quietly on the warm windowsill.",
     "Paris is the capital of France.",
     "She quickly finished her extraordinarily difficult homework before dinner.",
     "We walked home slowly through the park together.",
     "Scientists discovered a new species of frog in the rainforest last year."],
    ["The old man went fishing at dawn.",
     "Good music makes most people very happy.",
     "After the long meeting, everyone was tired and hungry.",
     "Birds sing every morning in spring."],
]

MLM_MODELS = {
    TEACHER: {"dropout": MODELS["tiny-bert-pairs"]["dropout"], "max_grad_norm": 18.0},
    STUDENT: {"dropout": MODELS["tiny-distilbert-sst"]["dropout"], "max_grad_norm": 20.0},
}


def decay_parameter_names(model):
    """make_training_golden.decay_parameter_names for tied models: Trainer.get_decay_parameter_names
    walks the modules and also names a tied weight under its second owner (BERT's
    cls.predictions.decoder.weight, the word embeddings again), which named_parameters() leaves out.
    Such an alias must be the very tensor of a listed name with the same decay; it is dropped, and the
    rest must equal the rule's set as there. Installed as mtg.decay_parameter_names so that
    mtg.train_steps uses it."""
    import re
    import torch.nn as nn
    from transformers import Trainer
    params = dict(model.named_parameters())
    theirs = set(Trainer.get_decay_parameter_names(None, model))
    for alias in theirs - set(params):
        owner = [n for n, p in params.items() if p is model.get_parameter(alias)]
        assert len(owner) == 1 and owner[0] in theirs, (alias, owner)
    theirs &= set(params)
    layernorm_params = {f"{m}.{p}" if m else p for m, mod in model.named_modules()
                        if isinstance(mod, nn.LayerNorm) for p, _ in mod.named_parameters(recurse=False)}
    ours = {n for n in params if n not in layernorm_params
            and not any(re.search(p, n.lower()) for p in mtg.NO_DECAY_PATTERNS)}
    assert theirs == ours, sorted(theirs ^ ours)
    return theirs


mtg.decay_parameter_names = decay_parameter_names


def make_teacher_checkpoint():
    """Tests/Fixtures/tiny-bert-mlm: tiny-bert-pairs' encoder under a seeded masked-LM head."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForMaskedLM
    source, folder = FIXTURES / "tiny-bert-pairs", FIXTURES / TEACHER
    config = BertConfig.from_pretrained(source)
    config.architectures = ["BertForMaskedLM"]
    config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    config.label2id = {"LABEL_0": 0, "LABEL_1": 1}
    assert config.tie_word_embeddings
    torch.manual_seed(0)
    model = BertForMaskedLM(config).float()
    stored = load_file(source / "model.safetensors")
    encoder = {k: v for k, v in stored.items() if k.startswith("bert.") and not k.startswith("bert.pooler.")}
    info = model.load_state_dict(encoder, strict=False)
    assert not info.unexpected_keys, info.unexpected_keys
    assert all(k.startswith("cls.") for k in info.missing_keys), info.missing_keys
    head = model.cls.predictions
    with torch.no_grad():
        head.bias.normal_(0.0, HEAD_BIAS_STD)
        head.transform.LayerNorm.weight.copy_(1.0 + torch.randn(config.hidden_size) * HEAD_LN_STD)
        head.transform.LayerNorm.bias.normal_(0.0, HEAD_LN_STD)
    assert head.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert head.decoder.bias is head.bias
    for k, v in encoder.items():
        assert torch.equal(model.state_dict()[k], v), k
    folder.mkdir(exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    for name in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(source / name, folder / name)
    log(f"wrote {folder.relative_to(ROOT)}")


def load(name, dropout, train=True):
    import torch
    from transformers import AutoModelForMaskedLM
    model, info = AutoModelForMaskedLM.from_pretrained(
        FIXTURES / name, dtype=torch.float32, output_loading_info=True, **dropout)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert not any(m.p != 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    emb = model.get_input_embeddings().weight
    assert model.get_output_embeddings().weight is emb, "decoder weight must be tied to the word embeddings"
    return model.train() if train else model.eval()


def mask_batches(tokenizer):
    """Each batch: padded model inputs (masked ids), padded labels, packed tensors and the json record."""
    import torch
    from transformers import DataCollatorForLanguageModeling
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=MLM_PROBABILITY,
                                               mask_replace_prob=0.8, random_replace_prob=0.1)
    # seed=0 is falsy to the collator (it would fall back to the global RNG): give it the generator.
    collator.generator = torch.Generator().manual_seed(MASK_SEED)
    forbidden = {tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id}
    out = []
    for texts in BATCHES:
        inputs, packed = encode(tokenizer, {"texts": texts, "labels": []}, False)
        assert all(8 <= n <= 30 for n in packed["lengths"].tolist()), packed["lengths"].tolist()
        original = inputs["input_ids"]
        attention = inputs["attention_mask"].bool()
        for attempt in range(1, 1000):
            ids, labels = collator.torch_mask_tokens(original.clone())
            chosen = labels != -100
            kinds = []
            for pos in chosen.nonzero().tolist():
                now, was = int(ids[tuple(pos)]), int(original[tuple(pos)])
                kinds.append("mask" if now == tokenizer.mask_token_id else "kept" if now == was else "random")
            random_ok = all(int(ids[tuple(p)]) not in forbidden
                            for p, kind in zip(chosen.nonzero().tolist(), kinds) if kind == "random")
            if chosen.sum() >= 4 and set(kinds) == {"mask", "kept", "random"} and random_ok:
                break
        else:
            raise AssertionError("no acceptable mask in 999 draws")
        assert not bool((chosen & ~attention).any())
        inputs = dict(inputs, input_ids=ids)
        if "token_type_ids" in inputs:
            assert not bool(inputs["token_type_ids"].any())
        record = {"texts": texts, "lengths": packed["lengths"].tolist(), "attempts": attempt,
                  "masked_positions": chosen[attention].nonzero().flatten().tolist(), "kinds": kinds}
        packed = {"ids": ids[attention].contiguous(), "original": original[attention].to(torch.int64).contiguous(),
                  "labels": labels[attention].contiguous(), "lengths": packed["lengths"]}
        out.append((inputs, labels, packed, record))
    return out


def zero_gradient_rows(grads, names):
    """Parameters whose gradient is exactly 0 in exact arithmetic: rows never read (positions beyond the
    longest text, token type 1) and the attention key biases (cancelled by softmax; float32 noise here)."""
    key_biases = [n for n in names if n.endswith(("k_lin.bias", "attention.self.key.bias"))]
    rows = {}
    for n in names:
        g = grads[n]
        if g.dim() == 2 and ("position_embeddings" in n or "token_type_embeddings" in n):
            zero = [i for i in range(g.shape[0]) if not bool(g[i].any())]
            if zero:
                rows[n] = zero
    return key_biases, rows


def ranges(rows):
    """[0, 3, 4, 5, 9] -> [[0, 0], [3, 5], [9, 9]] (inclusive)."""
    out = []
    for i in rows:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def make(name, spec, encoded):
    import torch, transformers
    import torch.nn.functional as F
    from safetensors.torch import save_file, load_file
    tensors = {}
    for b, (_, _, packed, _) in enumerate(encoded):
        for k, v in packed.items():
            tensors[f"input.{b}.{k}"] = v
    batches = [(inputs, labels) for inputs, labels, _, _ in encoded]

    # One step's loss, logits and gradients: batch 0, initial weights.
    torch.manual_seed(0)
    model = load(name, spec["dropout"])
    names = [n for n, _ in model.named_parameters()]
    inputs, labels = batches[0]
    chosen = labels != -100
    out = model(**inputs, labels=labels)
    ref = F.cross_entropy(out.logits[chosen], labels[chosen])
    assert torch.allclose(out.loss, ref, rtol=0, atol=1e-6), (float(out.loss), float(ref))
    out.loss.backward()
    tensors["loss"] = out.loss.detach().reshape(1).float().contiguous()
    tensors["logits"] = out.logits[chosen].detach().float().contiguous()
    grads = {}
    for n, p in model.named_parameters():
        assert p.grad is not None, n
        grads[n] = p.grad.detach().float().contiguous()
        tensors[f"grad.{n}"] = grads[n]
    largest = max(float(g.abs().max()) for g in grads.values())
    key_biases, zero_rows = zero_gradient_rows(grads, names)
    for n in key_biases:
        assert float(grads[n].abs().max()) <= 1e-5 * largest, n
    log(f"{name}: loss {float(out.loss.detach()):.6f}, {len(names)} parameters, masked {int(chosen.sum())}, "
        f"tokens {[int(p['ids'].numel()) for _, _, p, _ in encoded]}")

    # Five optimiser steps (make_problem_golden.py's recipe: warm-up 1 of 5).
    mtg.TOTAL_STEPS, mtg.WARMUP_STEPS = STEPS, WARMUP
    max_grad_norm = spec["max_grad_norm"]
    if max_grad_norm is None:   # exploration: print the norms without clipping
        _, norms, _ = mtg.train_steps(load(name, spec["dropout"]), batches, float("inf"))
        sys.exit(f"{name}: unclipped norms {[round(x, 4) for x in norms]}; set max_grad_norm")
    torch.manual_seed(0)
    model = load(name, spec["dropout"])
    decay = decay_parameter_names(model)
    losses, norms, lrs = mtg.train_steps(model, batches, max_grad_norm)
    clipped = [i for i, n in enumerate(norms) if max_grad_norm / (n + mtg.CLIP_EPS) < 1.0]
    log(f"  losses {[round(x, 5) for x in losses]}, norms {[round(x, 4) for x in norms]}, clipped {clipped}, lrs {lrs}")
    assert abs(losses[0] - float(tensors["loss"][0])) <= 1e-6
    assert 0 < len(clipped) <= 2 and clipped == list(range(len(clipped))), "the first one or two steps must clip"
    tensors["steps.losses"] = torch.tensor(losses, dtype=torch.float32)
    tensors["steps.grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    tensors["steps.lrs"] = torch.tensor(lrs, dtype=torch.float32)
    for n, p in model.named_parameters():
        tensors[f"final.{n}"] = p.detach().float().contiguous()
    initial = {n: p.detach().clone() for n, p in load(name, spec["dropout"]).named_parameters()}
    movement = max(float((tensors[f"final.{n}"] - initial[n]).abs().max()) for n in key_biases)
    assert movement <= sum(lrs)
    for n, zero in zero_rows.items():   # rows with no gradient only decay (or stay: no-decay groups)
        factor = 1.0
        for lr in lrs:
            factor *= 1.0 - lr * (mtg.WEIGHT_DECAY if n in decay else 0.0)
        assert torch.allclose(tensors[f"final.{n}"][zero], initial[n][zero] * factor, rtol=1e-6, atol=0), n

    # The same five steps in float64, as a measure of float32 rounding (not written as tensors).
    model64 = load(name, spec["dropout"]).double()
    losses64, norms64, _ = mtg.train_steps(model64, batches, max_grad_norm)
    f64 = {n: float((tensors[f"final.{n}"].double() - p.detach()).abs().max())
           for n, p in model64.named_parameters() if n not in key_biases}
    worst = max(f64, key=f64.get)
    log(f"  float64 rerun: losses {[round(x, 5) for x in losses64]}, largest |final32 - final64| {f64[worst]:.3g} ({worst})")

    # Distillation, student only.
    meta_distill = None
    if name == STUDENT:
        teacher = load(TEACHER, MLM_MODELS[TEACHER]["dropout"], train=False)
        mask = inputs["attention_mask"].bool()
        with torch.no_grad():
            t_out = teacher(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                            token_type_ids=torch.zeros_like(inputs["input_ids"]), output_hidden_states=True)
        t_logits, t_hidden = t_out.logits, t_out.hidden_states[-1]
        assert torch.equal(t_hidden, t_out.hidden_states[-1])
        tensors["distill.teacher_logits"] = t_logits[chosen].float().contiguous()
        tensors["distill.teacher_hidden"] = t_hidden[mask].float().contiguous()
        tensors["distill_all.teacher_logits"] = t_logits[mask].float().contiguous()
        meta_distill = {}
        for prefix, rows in (("distill", chosen), ("distill_all", mask)):
            student = load(STUDENT, spec["dropout"])
            s_out = student(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                            output_hidden_states=True)
            s_logits, s_hidden = s_out.logits, s_out.hidden_states[-1]
            assert torch.equal(s_hidden, s_out.hidden_states[-1])
            s_sel, t_sel = s_logits[rows], t_logits[rows]
            loss_kd = torch.nn.KLDivLoss(reduction="batchmean")(
                F.log_softmax(s_sel / T, dim=-1), F.softmax(t_sel / T, dim=-1)) * T ** 2
            loss_mlm = torch.nn.CrossEntropyLoss(ignore_index=-100)(s_logits.view(-1, s_logits.size(-1)), labels.view(-1))
            sh, th = s_hidden[mask], t_hidden[mask]
            loss_cos = torch.nn.CosineEmbeddingLoss(reduction="mean")(sh, th, sh.new_ones(sh.size(0)))
            loss = ALPHA_CE * loss_kd + ALPHA_MLM * loss_mlm + ALPHA_COS * loss_cos
            # The terms by hand, as a check of the library reductions.
            p_t = F.softmax(t_sel / T, dim=-1)
            kd_ref = (p_t * (torch.log(p_t) - F.log_softmax(s_sel / T, dim=-1))).sum() / s_sel.size(0) * T ** 2
            cos_ref = (1 - F.cosine_similarity(sh, th, dim=-1)).mean()
            assert torch.allclose(loss_kd, kd_ref, rtol=1e-5, atol=1e-6), (float(loss_kd), float(kd_ref))
            assert torch.allclose(loss_cos, cos_ref, rtol=1e-5, atol=1e-6), (float(loss_cos), float(cos_ref))
            assert torch.allclose(loss_mlm, tensors["loss"][0], rtol=0, atol=1e-6)
            loss.backward()
            tensors[f"{prefix}.loss_kd"] = loss_kd.detach().reshape(1).float().contiguous()
            if prefix == "distill":
                tensors["distill.loss_mlm"] = loss_mlm.detach().reshape(1).float().contiguous()
                tensors["distill.loss_cos"] = loss_cos.detach().reshape(1).float().contiguous()
            tensors[f"{prefix}.loss"] = loss.detach().reshape(1).float().contiguous()
            for n, p in student.named_parameters():
                tensors[f"{prefix}.grad.{n}"] = p.grad.detach().float().contiguous()
            meta_distill[prefix] = {"rows": int(rows.sum()), "loss_kd": float(loss_kd), "loss_mlm": float(loss_mlm),
                                    "loss_cos": float(loss_cos), "loss": float(loss)}
            log(f"  {prefix}: rows {int(rows.sum())}, kd {float(loss_kd):.6f}, mlm {float(loss_mlm):.6f}, "
                f"cos {float(loss_cos):.6f}, loss {float(loss):.6f}")

    path = FIXTURES / name / "mlm-golden.safetensors"
    save_file(tensors, path, metadata={"format": "pt"})
    back = load_file(path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k

    stored_keys = sorted(load_file(FIXTURES / name / "model.safetensors"))
    head_keys = [k for k in stored_keys if k.startswith(("cls.", "vocab_"))]
    meta = {
        "generator": "bench-venv/bin/python scripts/make_mlm_golden.py",
        "model": name, "architecture": type(model).__name__,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "dropout_overrides": spec["dropout"],
        "parameters": names,
        "tied": {"decoder_weight": f"{names[0]} (the word embeddings; the output projection has no parameter of its own)",
                 "decoder_bias": "cls.predictions.bias (cls.predictions.decoder.bias is the same tensor)"
                 if name == TEACHER else "vocab_projector.bias (its own parameter; the weight is tied)"},
        "checkpoint_head_keys": head_keys,
        "checkpoint_head_keys_absent": [k for k in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
                                                    "vocab_projector.weight") if k not in stored_keys
                                        and (k.startswith("cls.") == (name == TEACHER))],
        "masking": {"collator": "DataCollatorForLanguageModeling.torch_mask_tokens", "mlm_probability": MLM_PROBABILITY,
                    "mask_replace_prob": 0.8, "random_replace_prob": 0.1,
                    "generator": f"torch.Generator().manual_seed({MASK_SEED}), batch 0 then batch 1",
                    "redraw_until": ">= 4 masked, at least one mask/kept/random, no random [PAD]/[CLS]/[SEP]/[MASK]"},
        "batches": [r for _, _, _, r in encoded],
        "gradient_check": "batch 0, initial weights; loss = cross-entropy mean over the masked positions",
        "optimizer": {"name": "torch.optim.AdamW", "lr": mtg.LR, "betas": list(mtg.BETAS), "eps": mtg.EPS,
                      "weight_decay": mtg.WEIGHT_DECAY, "no_decay_rule": mtg.NO_DECAY_RULE,
                      "no_decay_parameters": [n for n in names if n not in decay]},
        "schedule": {"name": "get_linear_schedule_with_warmup", "num_warmup_steps": WARMUP, "num_training_steps": STEPS},
        "max_grad_norm": max_grad_norm,
        "clip_rule": "total = L2 norm over all gradients; grads *= min(max_grad_norm / (total + 1e-6), 1)",
        "clipped_steps": clipped,
        "zero_gradient_parameters": {
            "names": key_biases,
            "rows": {n: ranges(r) for n, r in zero_rows.items()},
            "why": "attention key biases shift every score of a query row equally, which softmax cancels: 0 in "
                   "exact arithmetic, float32 noise here, which AdamW turns into steps of about lr, so hold their "
                   "final.* to |final - initial| <= movement_bound; 'rows' are embedding rows no token reads, as "
                   "inclusive [first, last] ranges (exactly 0 here too): their final value is the initial one times "
                   "prod(1 - lr_i * weight_decay)",
            "movement_bound": sum(lrs), "measured_max_movement": movement},
        "float64_check": {"what": "the five steps rerun in float64 from the same weights: largest |final32 - final64| "
                                  "per parameter (key biases left out)",
                          "losses": losses64, "grad_norms": norms64, "max_abs_difference": f64},
        "losses": losses, "grad_norms": norms, "lrs": lrs,
    }
    if meta_distill is not None:
        vp = load_file(FIXTURES / name / "model.safetensors").get("vocab_projector.bias")
        meta["distillation"] = {
            "teacher": TEACHER, "teacher_mode": "eval(), torch.no_grad(), same masked ids and attention mask, "
                                                "token_type_ids 0",
            "source": "transformers examples/research_projects/distillation/distiller.py, Distiller.step (mlm=True)",
            "temperature": T, "alpha_ce": ALPHA_CE, "alpha_mlm": ALPHA_MLM, "alpha_cos": ALPHA_COS,
            "alpha_clm": 0.0, "alpha_mse": 0.0,
            "distill": "restrict_ce_to_mask=True: KL rows = masked positions",
            "distill_all": "restrict_ce_to_mask=False: KL rows = every real token (attention mask)",
            "cos": "CosineEmbeddingLoss(mean, target 1) = mean over real tokens of 1 - cos(s_h, t_h) "
                   "(torch adds 1e-12 to each squared norm)",
            "values": meta_distill,
            "student_vocab_projector_bias_all_zero": bool(vp is not None and not bool(vp.any())),
        }
    (FIXTURES / name / "mlm-golden.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    size = path.stat().st_size
    log(f"  wrote {path.relative_to(ROOT)} ({size / 1e6:.2f} MB, {len(tensors)} tensors) and mlm-golden.json")
    return size


def main():
    import torch
    from transformers import AutoTokenizer
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if "--make-checkpoint" in sys.argv or not (FIXTURES / TEACHER / "model.safetensors").exists():
        make_teacher_checkpoint()
    encoded = {name: mask_batches(AutoTokenizer.from_pretrained(FIXTURES / name)) for name in MLM_MODELS}
    a, b = (encoded[n] for n in MLM_MODELS)
    for (_, la, pa, _), (_, lb, pb, _) in zip(a, b):
        assert torch.equal(la, lb) and all(torch.equal(pa[k], pb[k]) for k in pa), "inputs must agree"
    total = sum(make(name, spec, encoded[name]) for name, spec in MLM_MODELS.items())
    log(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
