#!/usr/bin/env python3
"""DistilBERT's own recipe in transformers + a short PyTorch loop (issue 23): the reference for
benchmarks/mlm_recipe.py, same data and recipe (mlm_recipe.py's TEACHER, GENERAL, DOWNSTREAM), run on a
sample.

  teacher     BertForMaskedLM.from_pretrained(all-MiniLM-L6-v2): the encoder loaded, the masked-LM head
              (cls.predictions.transform + bias) fresh from transformers' init after set_seed(seed), the
              decoder tied to the word embeddings. Blocks: run_mlm.py's group_texts (each text with
              [CLS]/[SEP], concatenated, cut into --max-length blocks, the remainder dropped) or
              --line-by-line. Masking: DataCollatorForLanguageModeling(mlm_probability 0.15, seed), redrawn
              every batch. Scored before training (the fresh head: "before" in the issue's "before (head
              only) and after"), after --head-only-steps N steps that train the head alone (transform and
              bias; the tied decoder is the frozen word embeddings; 0 skips it) and after training.
  general     a DistilBertForMaskedLM cut from the trained teacher (and, with --general-teacher DIR, a second
              one cut from and distilled by that folder's BertForMaskedLM, e.g. DistilCL's teacher, so that the
              two engines' students can be compared from the very same teacher) as transformers' research
              extract_distilbert.py cuts one: --student-layers (default 0,2,4) whole, word embeddings and
              embedding LayerNorm, position table + token-type row 0, vocab_transform /
              vocab_layer_norm / vocab_projector bias from cls.predictions (projector tied to the word
              embeddings). Distilled with the research distiller's loss
                5·T²·KL(softmax(t/T) ‖ softmax(s/T))  (batchmean over the masked positions)
              + 2·CE(s, true token)                    (masked positions)
              + 1·(1 − cos(h_s, h_t))                  (last hidden states, every real token)
              T 2, gradient accumulation; masking with --mlm-smoothing s as DistilCL draws it (each token
              chosen with probability 0.15·w(id), w = count^−s over the training text divided by its mean
              over that text; the research distiller draws an exact count with those weights instead),
              80/10/10. Scored cut-only (before) and after.
  downstream  DistilBertForSequenceClassification from each student (the general one and the same
              layers cut from the teacher without general distillation): its distilbert.* weights, a
              fresh pre_classifier and classifier (set_seed(seed)), fine-tuned on the sentiment training
              split (data/movie-train.jsonl, the even ids, as scripts/sentiment.sh) with the main job's
              recipe, accuracy on data/movie-test.jsonl (the odd ids).

Masked-LM scores: dev blocks masked once by a collator seeded --eval-seed (the same positions for every
model, --score's folders included: the way to compare two engines' models, since DistilCL's evaluate
draws its own masks); accuracy = argmax right over the masked positions, perplexity = exp(mean cross-entropy over
them). Optimiser (every phase): AdamW β 0.9/0.999, ε 1e-8, weight decay 0.01 (biases and LayerNorm
weights exempt), linear warm-up over ceil(0.1 × steps) then linear decay, gradient norm clipped to 1.0;
dropout the config's; float32; torch.set_num_threads(--threads). samples/s: blocks (masked-LM phases) or
texts (downstream) × epochs / the loop's seconds.

Usage:
  bench-venv/bin/python benchmarks/mlm_torch.py [--sample N] [--dev-sample N] [--task-sample N]
      [--phases teacher,general,downstream] [--max-steps N] [--head-only-steps N] [--threads 2]
      [--result FILE] [--keep DIR] [--general-teacher DIR] [--score NAME=DIR ...]
  e.g. a smoke run: --sample 200 --dev-sample 50 --task-sample 64 --max-steps 3
"""
import argparse, json, math, shutil, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill import LAYER_KEYS  # noqa: E402  (imports neither torch nor transformers)
from finetune import log, read_jsonl  # noqa: E402
from mlm_recipe import DEV, DOWNSTREAM, GENERAL, MODEL, TASK_TEST, TASK_TRAIN, TEACHER, TRAIN  # noqa: E402


def spread(items, n):
    """n items spread evenly over `items` (all when n is None or too large), in order."""
    if n is None or n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def group_texts(tokenizer, texts, max_length, line_by_line):
    """run_mlm.py's blocks: lists of token ids, [CLS]/[SEP] per text."""
    if line_by_line:
        return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    ids = [i for seq in tokenizer(texts)["input_ids"] for i in seq]
    return [ids[s:s + max_length] for s in range(0, len(ids) // max_length * max_length, max_length)]


def optimiser(model, lr, steps, recipe):
    """AdamW (Trainer's grouping: no decay on biases and LayerNorm weights) and the linear schedule."""
    import torch
    from transformers import get_linear_schedule_with_warmup
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    exempt = lambda n: "bias" in n or "LayerNorm" in n or "layer_norm" in n
    opt = torch.optim.AdamW([{"params": [p for n, p in named if not exempt(n)], "weight_decay": recipe["weight_decay"]},
                             {"params": [p for n, p in named if exempt(n)], "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8)
    return opt, get_linear_schedule_with_warmup(opt, math.ceil(recipe["warmup"] * steps), steps), [p for _, p in named]


def fit(model, n_items, recipe, make_batch, loss_of, generator, max_steps=None, params=None, what=""):
    """Trains `model` for recipe["epochs"] seeded-shuffled passes over n_items in micro-batches of
    recipe["batch_size"], one optimiser step per recipe.get("gradient_accumulation_steps", 1) of them
    (the loss divided by that count); `params` (names) limits training to those, the others frozen meanwhile;
    returns (seconds, samples seen, steps)."""
    import torch
    frozen = [p for n, p in model.named_parameters() if params is not None and n not in params and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    micro = recipe["batch_size"]
    accumulate = recipe.get("gradient_accumulation_steps", 1)
    per_epoch = math.ceil(math.ceil(n_items / micro) / accumulate)
    steps = per_epoch * recipe["epochs"] if max_steps is None else min(max_steps, per_epoch * recipe["epochs"])
    opt, sched, trained = optimiser(model, recipe["lr"], steps, recipe)
    model.train()
    done, seen, losses = 0, 0, []
    t0 = time.perf_counter()
    for epoch in range(recipe["epochs"]):
        order = torch.randperm(n_items, generator=generator).tolist()
        chunks = [order[s:s + micro] for s in range(0, n_items, micro)]
        for g in range(0, len(chunks), accumulate):
            group = chunks[g:g + accumulate]
            total = 0.0
            for chunk in group:
                loss = loss_of(make_batch(chunk)) / len(group)
                loss.backward()
                total += loss.item()
                seen += len(chunk)
            torch.nn.utils.clip_grad_norm_(trained, recipe["max_grad_norm"])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(total)
            done += 1
            if done == steps:
                break
        log(f"torch {what}: epoch {epoch + 1}, {done}/{steps} steps, mean loss {sum(losses) / len(losses):.4f}, "
            f"{time.perf_counter() - t0:.1f} s")
        if done == steps:
            break
    for p in frozen:
        p.requires_grad_(True)
    return time.perf_counter() - t0, seen, done


def mlm_scores(model, batches):
    """Masked-token accuracy and perplexity over fixed masked batches."""
    import torch
    import torch.nn.functional as F
    model.eval()
    right = total = 0
    nll = 0.0
    with torch.no_grad():
        for b in batches:
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            m = b["labels"] != -100
            nll += F.cross_entropy(logits[m], b["labels"][m], reduction="sum").item()
            right += (logits[m].argmax(-1) == b["labels"][m]).sum().item()
            total += int(m.sum())
    return {"accuracy": right / total, "perplexity": math.exp(nll / total), "loss": nll / total, "masked_tokens": total}


def smoothing_weights(blocks, special_ids, vocab_size, s):
    """DistilCL's --mlm-smoothing factors: count^−s per id over the non-special tokens (unseen ids count
    1), divided by their mean over those tokens."""
    import torch
    ids = torch.tensor([i for b in blocks for i in b if i not in special_ids])
    counts = torch.bincount(ids, minlength=vocab_size).double()
    w = counts.clamp(min=1) ** -s
    return (w / w[ids].mean()).float()


def mask_smoothed(input_ids, special, weights, recipe, mask_id, vocab_size, generator):
    """Each non-special token chosen with probability min(1, p·w(id)); chosen ones read [MASK] 80%, a
    uniform random id 10%, themselves 10%; labels -100 elsewhere."""
    import torch
    p = (recipe["mlm_probability"] * weights[input_ids]).clamp(max=1.0)
    chosen = (torch.rand(input_ids.shape, generator=generator) < p) & ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    action = torch.rand(input_ids.shape, generator=generator)
    inputs = input_ids.clone()
    inputs[chosen & (action < 0.8)] = mask_id
    rand = chosen & (action >= 0.8) & (action < 0.9)
    inputs[rand] = torch.randint(vocab_size, input_ids.shape, generator=generator)[rand]
    return inputs, labels


def cut_student(teacher, layers):
    """A DistilBertForMaskedLM from a BertForMaskedLM, as extract_distilbert.py (see the docstring)."""
    import torch
    from transformers import DistilBertConfig, DistilBertForMaskedLM
    tc = teacher.config
    config = DistilBertConfig(
        vocab_size=tc.vocab_size, max_position_embeddings=tc.max_position_embeddings, sinusoidal_pos_embds=False,
        n_layers=len(layers), n_heads=tc.num_attention_heads, dim=tc.hidden_size, hidden_dim=tc.intermediate_size,
        activation=tc.hidden_act, dropout=tc.hidden_dropout_prob, attention_dropout=tc.attention_probs_dropout_prob,
        initializer_range=tc.initializer_range, pad_token_id=tc.pad_token_id, tie_word_embeddings=True)
    t = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
    s = {"distilbert.embeddings.word_embeddings.weight": t["bert.embeddings.word_embeddings.weight"],
         "distilbert.embeddings.position_embeddings.weight":
             t["bert.embeddings.position_embeddings.weight"] + t["bert.embeddings.token_type_embeddings.weight"][0],
         "distilbert.embeddings.LayerNorm.weight": t["bert.embeddings.LayerNorm.weight"],
         "distilbert.embeddings.LayerNorm.bias": t["bert.embeddings.LayerNorm.bias"],
         "vocab_transform.weight": t["cls.predictions.transform.dense.weight"],
         "vocab_transform.bias": t["cls.predictions.transform.dense.bias"],
         "vocab_layer_norm.weight": t["cls.predictions.transform.LayerNorm.weight"],
         "vocab_layer_norm.bias": t["cls.predictions.transform.LayerNorm.bias"],
         "vocab_projector.weight": t["bert.embeddings.word_embeddings.weight"],
         "vocab_projector.bias": t["cls.predictions.bias"]}
    for i, src in enumerate(layers):
        for bert_key, distil_key in LAYER_KEYS.items():
            for p in ("weight", "bias"):
                s[f"distilbert.transformer.layer.{i}.{distil_key}.{p}"] = t[f"bert.encoder.layer.{src}.{bert_key}.{p}"]
    student = DistilBertForMaskedLM(config).to(torch.float32)
    assert set(s) == set(student.state_dict()), sorted(set(s) ^ set(student.state_dict()))
    student.load_state_dict(s, strict=True)
    assert student.vocab_projector.weight is student.distilbert.embeddings.word_embeddings.weight
    return student


def distillation_loss(student, teacher, batch, recipe):
    """The research distiller's triple loss; returns the total and its terms."""
    import torch
    import torch.nn.functional as F
    T = recipe["temperature"]
    s = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    with torch.no_grad():
        t = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    m = batch["labels"] != -100
    kd = T * T * F.kl_div(F.log_softmax(s.logits[m] / T, -1), F.softmax(t.logits[m] / T, -1), reduction="batchmean")
    mlm = F.cross_entropy(s.logits[m], batch["labels"][m])
    real = batch["attention_mask"].bool()
    cos = (1 - F.cosine_similarity(s.hidden_states[-1][real], t.hidden_states[-1][real], dim=-1)).mean()
    return recipe["alpha_kd"] * kd + recipe["alpha_mlm"] * mlm + recipe["alpha_cos"] * cos


def downstream(student, tokenizer, train_rows, test_rows, recipe, max_steps):
    """Fine-tunes a DistilBertForSequenceClassification made from `student` (DistilBertForMaskedLM);
    returns its test accuracy and timing."""
    import torch
    import torch.nn.functional as F
    from transformers import DataCollatorWithPadding, DistilBertForSequenceClassification, set_seed
    labels = sorted({r["label"] for r in train_rows})
    set_seed(DOWNSTREAM["seed"])
    model = DistilBertForSequenceClassification(student.config.__class__(
        **{**student.config.to_dict(), "num_labels": len(labels), "id2label": dict(enumerate(labels)),
           "label2id": {n: i for i, n in enumerate(labels)}}))
    missing, unexpected = model.load_state_dict(
        {k: v for k, v in student.state_dict().items() if k.startswith("distilbert.")}, strict=False)
    assert not unexpected and all(k.startswith(("pre_classifier", "classifier")) for k in missing), (missing, unexpected)
    enc = lambda rows: [{**{k: v[i] for k, v in e.items()}, "labels": labels.index(r["label"])}
                        for e in [tokenizer([r["text"] for r in rows], truncation=True, max_length=DOWNSTREAM["max_length"],
                                            return_token_type_ids=False)] for i, r in enumerate(rows)]
    train_set, test_set = enc(train_rows), enc(test_rows)
    collate = DataCollatorWithPadding(tokenizer)

    def loss_of(batch):
        y = batch.pop("labels")
        return F.cross_entropy(model(**batch).logits, y)

    seconds, seen, steps = fit(model, len(train_set), recipe, lambda ix: collate([train_set[i] for i in ix]), loss_of,
                               torch.Generator().manual_seed(recipe["seed"]), max_steps, what="downstream")
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(test_set), 64):
            b = collate(test_set[i:i + 64])
            y = b.pop("labels")
            right += (model(**b).logits.argmax(-1) == y).sum().item()
    return {"test_accuracy": right / len(test_set), "train_texts": len(train_set), "test_texts": len(test_set),
            "train_seconds": seconds, "samples_per_second": seen / seconds, "steps": steps}


def save(model, tokenizer, folder):
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if not (Path(folder) / "vocab.txt").exists():   # DistilCL reads vocab.txt
        shutil.copy(Path(MODEL) / "vocab.txt", Path(folder) / "vocab.txt")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(MODEL))
    ap.add_argument("--train", default=str(TRAIN))
    ap.add_argument("--eval", default=str(DEV))
    ap.add_argument("--task-train", default=str(TASK_TRAIN))
    ap.add_argument("--task-test", default=str(TASK_TEST))
    ap.add_argument("--sample", type=int, default=None, help="masked-LM training texts, spread over the file")
    ap.add_argument("--dev-sample", type=int, default=None, help="masked-LM dev texts, spread over the file")
    ap.add_argument("--task-sample", type=int, default=None, help="sentiment training and test texts each")
    ap.add_argument("--phases", default="teacher,general,downstream")
    ap.add_argument("--student-layers", default=GENERAL["student_layers"])
    ap.add_argument("--teacher-epochs", type=int, default=TEACHER["epochs"])
    ap.add_argument("--general-epochs", type=int, default=GENERAL["epochs"])
    ap.add_argument("--downstream-epochs", type=int, default=DOWNSTREAM["epochs"])
    ap.add_argument("--head-only-steps", type=int, default=0, help="train the fresh head alone first (0: no)")
    ap.add_argument("--max-steps", type=int, default=None, help="cap every phase's optimiser steps (smoke tests)")
    ap.add_argument("--line-by-line", action="store_true")
    ap.add_argument("--eval-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=TEACHER["seed"], help="seed of every phase (mlm_recipe.py --seed)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--result", default=None, help="write the result JSON here")
    ap.add_argument("--keep", default=None, help="save the teacher and students here")
    ap.add_argument("--score", action="append", default=[], metavar="NAME=DIR",
                    help="also score this saved masked-LM folder (e.g. DistilCL's) on the same dev masks as every "
                         "model here (repeatable; --phases none scores only these)")
    ap.add_argument("--general-teacher", default=None,
                    help="a BertForMaskedLM folder (e.g. DistilCL's trained teacher): the general phase runs a second "
                         "time from it, so both engines' students are distilled from the very same teacher")
    args = ap.parse_args()
    for recipe in (TEACHER, GENERAL, DOWNSTREAM):   # the module-level recipes every phase reads
        recipe["seed"] = args.seed

    import torch, transformers
    from transformers import AutoTokenizer, BertForMaskedLM, DataCollatorForLanguageModeling, set_seed
    teacher_r, general_r = {**TEACHER, "epochs": args.teacher_epochs}, {**GENERAL, "epochs": args.general_epochs}
    down_r = {**DOWNSTREAM, "epochs": args.downstream_epochs}
    torch.set_num_threads(args.threads)
    phases = [p for p in args.phases.split(",") if p]
    layers = [int(x) for x in args.student_layers.split(",")]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    read = lambda p: [l for l in Path(p).read_text(encoding="utf-8").splitlines() if l.strip()]
    train_texts, dev_texts = spread(read(args.train), args.sample), spread(read(args.eval), args.dev_sample)
    blocks = group_texts(tokenizer, train_texts, TEACHER["max_length"], args.line_by_line)
    dev_blocks = group_texts(tokenizer, dev_texts, TEACHER["max_length"], args.line_by_line)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=TEACHER["mlm_probability"])
    eval_collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=TEACHER["mlm_probability"])
    # The collator's own seed= is ignored when it is 0 (`if self.seed and ...`): set its generator here.
    collator.generator = torch.Generator().manual_seed(TEACHER["seed"])
    eval_collator.generator = torch.Generator().manual_seed(args.eval_seed)
    as_features = lambda bs: [{"input_ids": b, "attention_mask": [1] * len(b)} for b in bs]
    dev_batches = [eval_collator(as_features(dev_blocks[i:i + 64])) for i in range(0, len(dev_blocks), 64)]
    result = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__},
              "threads": args.threads, "train_texts": len(train_texts), "dev_texts": len(dev_texts),
              "train_blocks": len(blocks), "dev_blocks": len(dev_blocks), "line_by_line": args.line_by_line,
              "recipes": {"teacher": teacher_r, "general": general_r, "downstream": down_r},
              "max_steps": args.max_steps, "head_only_steps": args.head_only_steps, "student_layers": layers}
    log(f"torch: {len(train_texts)} training texts -> {len(blocks)} blocks, {len(dev_texts)} dev texts -> "
        f"{len(dev_blocks)} blocks, {args.threads} thread(s)")
    keep = Path(args.keep) if args.keep else None

    set_seed(TEACHER["seed"])
    teacher, info = BertForMaskedLM.from_pretrained(args.model, dtype=torch.float32, output_loading_info=True)
    assert teacher.cls.predictions.decoder.weight is teacher.bert.embeddings.word_embeddings.weight
    result["teacher_fresh_keys"] = sorted(info["missing_keys"])
    result["teacher_before"] = mlm_scores(teacher, dev_batches)
    log(f"torch teacher before (fresh head): {result['teacher_before']}")
    mlm_loss = lambda model: (lambda b: model(**b).loss)
    if "teacher" in phases:
        if args.head_only_steps:
            head = {n for n, _ in teacher.named_parameters() if n.startswith("cls.")}
            sec, seen, steps = fit(teacher, len(blocks), {**TEACHER, "epochs": args.head_only_steps},   # steps cap it
                                   lambda ix: collator(as_features([blocks[i] for i in ix])), mlm_loss(teacher),
                                   torch.Generator().manual_seed(TEACHER["seed"]), args.head_only_steps, head, "head only")
            result["teacher_head_only"] = {**mlm_scores(teacher, dev_batches), "steps": steps, "train_seconds": sec,
                                           "samples_per_second": seen / sec, "parameters": sorted(head)}
            log(f"torch teacher after {steps} head-only steps: {result['teacher_head_only']}")
        sec, seen, steps = fit(teacher, len(blocks), teacher_r, lambda ix: collator(as_features([blocks[i] for i in ix])),
                               mlm_loss(teacher), torch.Generator().manual_seed(TEACHER["seed"]), args.max_steps,
                               what="teacher")
        result["teacher_after"] = {**mlm_scores(teacher, dev_batches), "steps": steps, "train_seconds": sec,
                                   "samples_per_second": seen / sec}
        log(f"torch teacher after: {result['teacher_after']}")
        if keep:
            save(teacher, tokenizer, keep / "teacher")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    cut = cut_student(teacher, layers)
    result["cut_only"] = mlm_scores(cut, dev_batches)
    log(f"torch student {args.student_layers} cut only: {result['cut_only']}")
    general = None
    if "general" in phases:
        special = set(tokenizer.all_special_ids)
        weights = smoothing_weights(blocks, special, tokenizer.vocab_size, GENERAL["mlm_smoothing"])
        gen = torch.Generator().manual_seed(GENERAL["seed"])

        def batch_of(ix):
            ids = torch.tensor([blocks[i] for i in ix])   # group_texts blocks: equal lengths
            inputs, labels = mask_smoothed(ids, torch.isin(ids, torch.tensor(sorted(special))), weights, GENERAL,
                                           tokenizer.mask_token_id, tokenizer.vocab_size, gen)
            return {"input_ids": inputs, "attention_mask": torch.ones_like(ids), "labels": labels}

        if args.line_by_line:
            sys.exit("--line-by-line with the general phase: blocks of unequal length are not padded here")

        def distil(source):
            """A student cut from `source` and distilled from it with the general recipe (the same seeds
            every time); returns the student and its scores."""
            nonlocal gen
            set_seed(GENERAL["seed"])
            student = cut_student(source, layers)
            cut_scores = mlm_scores(student, dev_batches)
            gen = torch.Generator().manual_seed(GENERAL["seed"])
            sec, seen, steps = fit(student, len(blocks), general_r, batch_of,
                                   lambda b: distillation_loss(student, source, b, general_r),
                                   torch.Generator().manual_seed(GENERAL["seed"]), args.max_steps, what="general distillation")
            return student, {**mlm_scores(student, dev_batches), "steps": steps, "train_seconds": sec,
                             "samples_per_second": seen / sec, "cut_only": cut_scores}

        general, result["general_after"] = distil(teacher)
        log(f"torch general student after: {result['general_after']}")
        if keep:
            save(general, tokenizer, keep / "general")
        if args.general_teacher:
            other = BertForMaskedLM.from_pretrained(args.general_teacher, dtype=torch.float32)
            other.eval()
            for p in other.parameters():
                p.requires_grad_(False)
            result["teacher_given"] = {**mlm_scores(other, dev_batches), "path": args.general_teacher}
            _, result["general_from_given_teacher"] = distil(other)
            log(f"torch general student from {args.general_teacher}: {result['general_from_given_teacher']}")
    if "downstream" in phases:
        train_rows = spread(read_jsonl(args.task_train), args.task_sample)
        test_rows = spread(read_jsonl(args.task_test), args.task_sample)
        for name, model in (("general", general), ("cut_only", cut)):
            if model is not None:
                result[f"downstream_{name}"] = downstream(model, tokenizer, train_rows, test_rows, down_r, args.max_steps)
                log(f"torch downstream {name}: {result[f'downstream_{name}']}")
    if args.score:
        from transformers import AutoModelForMaskedLM
        result["scored"] = {}
        for item in args.score:
            name, _, folder = item.partition("=")
            model = AutoModelForMaskedLM.from_pretrained(folder, dtype=torch.float32)
            result["scored"][name] = {**mlm_scores(model, dev_batches), "path": folder,
                                      "architecture": type(model).__name__}
            log(f"torch scores {name} ({folder}): {result['scored'][name]}")
    if args.result:
        Path(args.result).write_text(json.dumps(result, indent=1) + "\n")
    log(json.dumps(result))


if __name__ == "__main__":
    main()
