#!/usr/bin/env python3
"""Regenerates (or checks) the reference fixtures that came from Hugging Face transformers: the tiny
random checkpoints under Tests/Fixtures/tiny-*/, their golden.json files, tokenizer_cases.jsonl and
minilm-golden.json (issue 21). The originals were made by transformers 4.57.6, tokenizers 0.22.2 and
PyTorch 2.15.0 on the CPU in float32; those are the versions pinned here (a different version only
warns: the check below says how far the outputs moved).

    python3 -m venv bench-venv
    bench-venv/bin/pip install torch==2.15.0 transformers==4.57.6 tokenizers==0.22.2 safetensors
    bash scripts/fetch-models.sh                # models/all-MiniLM-L6-v2 and data/ (minilm-golden only)

    bench-venv/bin/python scripts/make_reference_golden.py --check     # recompute, compare, write nothing
    bench-venv/bin/python scripts/make_reference_golden.py --write     # recompute, overwrite the files
    ... --make-checkpoints --check      also rebuild the five checkpoint folders in a temporary folder
                                        and compare them byte for byte with the committed ones
    ... --make-checkpoints --write      rebuild the checkpoint folders in place (then every golden)
    ... --only tiny-distilbert-qa ...   restrict to some outputs (names as in the list below)

By default the goldens are computed from the COMMITTED checkpoints: they are the reference, and
--make-checkpoints is off because rebuilding them with other versions would change every golden.
With --check it prints one line per output: the largest float difference, whether every id, label,
span and string is identical, and whether the file it would write is byte-identical to the committed
one; it exits 1 when a value is out of tolerance (1e-4 absolute on logits, hidden states and scores,
cosine >= 0.99999 and 1e-4 absolute on MiniLM embeddings; ids, labels, spans, strings and the
zero-shot predictions exact, except a zero-shot prediction whose two cosines are less than 1e-5
apart, which is reported, not failed). Every run is deterministic (torch.manual_seed(0), one thread) and reads its outputs back.

Outputs (Tests/Fixtures/...), every float rounded to 7 significant digits ('%.7g'), each golden.json
one line of compact JSON (non-ASCII kept) that starts {transformers, torch, seed: 0, note}:

  tiny-<name>/  config.json, model.safetensors, vocab.txt, tokenizer.json, tokenizer_config.json,
      special_tokens_map.json (--make-checkpoints only). vocab.txt: the first 6,000 entries of
      bert-base-uncased (Tests/Fixtures/bert-base-uncased-vocab.txt) plus every single-character
      '##' piece after them: 6,961 tokens (the reference README says 6,975; 6,961 is what the files
      hold). Config: dim 48, 4 heads, FFN 100, 3 layers, initializer_range 0.3, 512 positions.
      Weights: torch.manual_seed(0) once, then the five models in the order below, each built in
      float32 by its class (transformers' own init draws from the global generator), then, in
      named_parameters() order, every LayerNorm weight and bias += 0.1 * randn and every other bias
      += 0.05 * randn; then cast to the checkpoint dtype and save_pretrained (which leaves out
      tiny-distilbert-mlm's vocab_projector.weight: it is tied to the word embeddings). The
      reference generator drew 2, 8, 0 and 30 further 32-bit random numbers from the global
      generator before building qa, mlm, ner and pairs respectively; what drew them is not recorded
      (they were found by locating each checkpoint's first weight matrix in the seed-0 stream), so
      they are reproduced as explicit skips (RNG_SKIPS). Tokenizer: DistilBertTokenizerFast
      (BertTokenizerFast for tiny-bert-pairs) over that vocab.txt, lower-casing on; the saved
      tokenizer.json of qa and mlm also carries a truncation setting (LongestFirst / OnlySecond,
      max_length 64) left over from the reference generator's shared tokenizer; it is reproduced as
      such (TOKENIZER_TRUNCATION).

  tiny-distilbert-sst/golden.json  (DistilBertForSequenceClassification, NEGATIVE/POSITIVE, float32)
      max_length 64; texts [24] (movie snippets with even ids 1202..1232, 4 tweets, 2 short
      sentences, "", and "a " * 200, i.e. 400 words); input_ids, attention_mask [24][64] (padding
      and truncation to max_length 64); hidden_states_first8 [4][8][64][48] (embeddings output and
      each layer, first 8 texts, padded positions included); logits [24][2]; pipeline [24][2]: the
      text-classification pipeline's (top_k=None, truncation at max_length 64) {label, score} for
      both labels, in label-id order.
  tiny-distilbert-qa/golden.json  (DistilBertForQuestionAnswering, float16 checkpoint)
      checkpoint_dtype; inputs [4] {question, context}; pipeline_params {max_seq_len 64, doc_stride
      24, max_question_len 16, max_answer_len 15, top_k 3}; pipeline [4][3] {score, start, end,
      answer} (start/end in code points); first_window {input_ids, start_logits, end_logits} [1][n]:
      the first input as one window (question, context; truncation only_second at max_seq_len).
  tiny-distilbert-mlm/golden.json  (DistilBertForMaskedLM, float32, tied vocab_projector)
      texts [4] with [MASK]; input_ids [4][11] (padding=True); mask_logits [one per mask, in (text,
      position) order] {batch, position, top20_ids, top20_logits}; pipeline [4][masks][5]: the
      fill-mask pipeline's top 5 {token, token_str, score, sequence} for each mask of each text.
  tiny-distilbert-ner/golden.json  (DistilBertForTokenClassification, BIO PER/ORG/LOC/MISC, bfloat16)
      checkpoint_dtype; texts [3]; input_ids [3][18] (padding=True); logits [3][18][9];
      pipeline {none, simple, first, max, average}: the token-classification pipeline's output for
      each aggregation_strategy, per text ({entity, score, index, word, start, end} for none,
      {entity_group, score, word, start, end} otherwise).
  tiny-bert-pairs/golden.json  (BertForSequenceClassification, contradiction/neutral/entailment, float32)
      pairs [8] (movie snippets: even ids 1202..1216 with 1218..1232); max_length 64; input_ids,
      token_type_ids, attention_mask [8][64]; hidden_states [4][8][64][48]; pooler_output [8][48];
      logits [8][3].
  tokenizer_cases.jsonl  (BertTokenizerFast, bert-base-uncased vocabulary, lower-casing on)
      one JSON object a line (', ' and ': ' separators, non-ASCII kept): text, ids, tokens, offsets
      ([start, end) in code points, [0, 0] for specials), ids_max16 (truncation max_length 16),
      ids_no_lowercase (do_lower_case=False); on lines 0, 5, 10, ...: pair_text (the next line's
      text), pair_ids_max48, pair_token_type_ids_max48 (truncation longest_first, max_length 48).
  minilm-golden.json  (models/all-MiniLM-L6-v2, AutoModel, float32)
      model, pooling, max_length 128; texts [64] (movie snippets with even ids 1402..1528);
      embeddings [64][384] (mean over the attention mask, then L2 normalisation);
      last_hidden_state_first2 {input_ids [2][n], values [2][n][384]} (the first two texts as one
      padded batch); zero_shot {anchors, rule, data, count 5302, accuracy, predictions}: every snippet
      of data/movieReviewSnippets_GroundTruth.txt with an even id, '1' when its embedding's cosine
      to anchors[0] beats its cosine to anchors[1], one character per snippet in file order.

Inputs: the minilm texts, the sst movie snippets and the pairs are chosen by the rules above (and
asserted equal to the committed files); the remaining inputs (tokenizer_cases.jsonl's 1,248 texts,
the sst tweets and short sentences, the QA questions and contexts, the MLM and NER texts) have no
rule in the reference README and are read from the committed files.
"""
import argparse, filecmp, json, math, shutil, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests/Fixtures"
MINILM = ROOT / "models/all-MiniLM-L6-v2"
MOVIES = ROOT / "data/movieReviewSnippets_GroundTruth.txt"
BASE_VOCAB = FIXTURES / "bert-base-uncased-vocab.txt"

PINNED = {"transformers": "4.57.6", "tokenizers": "0.22.2", "torch": "2.15.0", "safetensors": None}
SEED = 0
NOTE = "outputs in float32 on CPU; floats rounded to 7 significant digits"
ATOL = 1e-4          # logits, hidden states, pipeline scores
COSINE_MIN = 0.99999  # MiniLM embeddings
TIE = 1e-5           # a zero-shot prediction may flip where its two cosines are this close

# folder: (model class, tokenizer class, checkpoint dtype, labels)
MODELS = {
    "tiny-distilbert-sst": ("DistilBertForSequenceClassification", "DistilBertTokenizerFast", "float32",
                            ["NEGATIVE", "POSITIVE"]),
    "tiny-distilbert-qa": ("DistilBertForQuestionAnswering", "DistilBertTokenizerFast", "float16", None),
    "tiny-distilbert-mlm": ("DistilBertForMaskedLM", "DistilBertTokenizerFast", "float32", None),
    "tiny-distilbert-ner": ("DistilBertForTokenClassification", "DistilBertTokenizerFast", "bfloat16",
                            ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]),
    "tiny-bert-pairs": ("BertForSequenceClassification", "BertTokenizerFast", "float32",
                        ["contradiction", "neutral", "entailment"]),
}
RNG_SKIPS = {"tiny-distilbert-qa": 2, "tiny-distilbert-mlm": 8, "tiny-distilbert-ner": 0, "tiny-bert-pairs": 30}
TOKENIZER_TRUNCATION = {"tiny-distilbert-qa": "longest_first", "tiny-distilbert-mlm": "only_second"}
QA_PARAMS = {"max_seq_len": 64, "doc_stride": 24, "max_question_len": 16, "max_answer_len": 15, "top_k": 3}
NER_STRATEGIES = ["none", "simple", "first", "max", "average"]
ANCHORS = ["This movie is great.", "This movie is terrible."]
MOVIE_POSITIVE_LAST_ID = 5331


def log(*a):
    print(*a, flush=True)


def r7(x):
    """Round to 7 significant digits, as the reference files do."""
    return float("%.7g" % float(x))


def rounded(t):
    """A tensor or array as nested lists of rounded floats."""
    import torch
    if isinstance(t, torch.Tensor):
        t = t.detach().float().tolist()
    if isinstance(t, list):
        return [rounded(x) for x in t]
    return r7(t)


def ints(t):
    return [[int(x) for x in row] for row in t.tolist()]


def dumps_golden(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def header(versions):
    return {"transformers": versions["transformers"], "torch": versions["torch"], "seed": SEED, "note": NOTE}


def check_versions():
    import safetensors, tokenizers, torch, transformers
    have = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "torch": torch.__version__, "safetensors": safetensors.__version__}
    for k, want in PINNED.items():
        if want is not None and have[k].split("+")[0] != want:
            log(f"WARNING: {k} {have[k]}, the reference used {want}: outputs may differ in the last digits")
    log("versions: " + ", ".join(f"{k} {v}" for k, v in have.items()))
    return have


def movie_snippets():
    """(id, text) of every line of movieReviewSnippets_GroundTruth.txt (id<TAB>rating<TAB>text, CRLF)."""
    rows = []
    with open(MOVIES, encoding="utf-8", newline="") as f:
        for line in f.read().split("\n"):
            line = line.rstrip("\r")
            if not line:
                continue
            sid, _, text = line.split("\t", 2)
            rows.append((int(sid), text))
    assert [i for i, _ in rows] == list(range(1, len(rows) + 1)) and len(rows) == 10605
    return rows


def movie_texts(first_id, count):
    by_id = dict(movie_snippets())
    return [by_id[first_id + 2 * i] for i in range(count)]


def committed(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


# MARK: - checkpoints

def make_checkpoints(out_root, versions):
    """The five tiny checkpoint folders, built as the module docstring says, written to out_root."""
    import torch
    import transformers
    from transformers import BertConfig, DistilBertConfig

    vocab = BASE_VOCAB.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(vocab) == 30522
    cut = vocab[:6000] + [t for t in vocab[6000:] if t.startswith("##") and len(t) == 3]
    assert len(cut) == 6961 and len(set(cut)) == len(cut)
    vocab_text = "\n".join(cut) + "\n"

    torch.manual_seed(SEED)
    for name, (cls_name, tok_name, dtype, labels) in MODELS.items():
        if RNG_SKIPS.get(name):
            torch.rand(RNG_SKIPS[name])   # see the module docstring
        label_kwargs = {} if labels is None else {
            "id2label": dict(enumerate(labels)), "label2id": {l: i for i, l in enumerate(labels)}}
        if cls_name.startswith("Bert"):
            config = BertConfig(vocab_size=len(cut), hidden_size=48, num_attention_heads=4, intermediate_size=100,
                                num_hidden_layers=3, initializer_range=0.3, **label_kwargs)
        else:
            config = DistilBertConfig(vocab_size=len(cut), dim=48, n_heads=4, hidden_dim=100, n_layers=3,
                                      initializer_range=0.3, **label_kwargs)
        config.architectures = [cls_name]
        model = getattr(transformers, cls_name)(config)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "layernorm" in n.lower() or "layer_norm" in n.lower():
                    p.add_(torch.randn_like(p) * 0.1)
                elif n.endswith("bias"):
                    p.add_(torch.randn_like(p) * 0.05)
        model = model.to(getattr(torch, dtype)).eval()
        folder = Path(out_root) / name
        folder.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(folder)
        (folder / "vocab.txt").write_text(vocab_text, encoding="utf-8")
        tok = getattr(transformers, tok_name)(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
        if name in TOKENIZER_TRUNCATION:
            tok.backend_tokenizer.enable_truncation(64, strategy=TOKENIZER_TRUNCATION[name])
        tok.save_pretrained(folder)
        # save_pretrained writes files the reference folders do not have: keep exactly the six.
        keep = {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json"}
        for f in folder.iterdir():
            if f.name not in keep:
                f.unlink()
        assert {f.name for f in folder.iterdir()} == keep, sorted(f.name for f in folder.iterdir())
        log(f"built {name}: {cls_name}, {dtype}, {sum(p.numel() for p in model.parameters())} parameters")


# MARK: - goldens of the tiny models

def load_model(name):
    """The committed checkpoint as float32 (widening float16/bfloat16 is exact) and its tokenizer."""
    import torch
    import transformers
    from transformers import AutoTokenizer
    folder = FIXTURES / name
    model, info = getattr(transformers, MODELS[name][0]).from_pretrained(
        folder, dtype=torch.float32, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert all(p.dtype == torch.float32 for p in model.parameters())
    return model.eval(), AutoTokenizer.from_pretrained(folder)


def golden_sst(versions):
    import torch
    from transformers import pipeline
    name = "tiny-distilbert-sst"
    model, tok = load_model(name)
    texts = committed(FIXTURES / name / "golden.json")["texts"]
    assert texts[:16] == movie_texts(1202, 16)
    assert texts[22:] == ["", "a " * 200]
    enc = tok(texts, padding="max_length", truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    pipe = pipeline("text-classification", model=model, tokenizer=tok, device="cpu")
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    scores = []
    for res in pipe(texts, top_k=None, truncation=True, max_length=64):
        by_label = {r["label"]: r["score"] for r in res}
        scores.append([{"label": l, "score": r7(by_label[l])} for l in labels])
    return {**header(versions), "max_length": 64, "texts": texts,
            "input_ids": ints(enc["input_ids"]), "attention_mask": ints(enc["attention_mask"]),
            "hidden_states_first8": [rounded(h[:8]) for h in out.hidden_states],
            "logits": rounded(out.logits), "pipeline": scores}


def golden_qa(versions):
    import torch
    from transformers import pipeline
    name = "tiny-distilbert-qa"
    model, tok = load_model(name)
    inputs = committed(FIXTURES / name / "golden.json")["inputs"]
    pipe = pipeline("question-answering", model=model, tokenizer=tok, device="cpu")
    answers = []
    for x in inputs:
        res = pipe(question=x["question"], context=x["context"], **QA_PARAMS)
        res = res if isinstance(res, list) else [res]
        answers.append([{"score": r7(r["score"]), "start": int(r["start"]), "end": int(r["end"]),
                         "answer": r["answer"]} for r in res])
    enc = tok(inputs[0]["question"], inputs[0]["context"], truncation="only_second",
              max_length=QA_PARAMS["max_seq_len"], return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    return {**header(versions), "checkpoint_dtype": MODELS[name][2], "inputs": inputs,
            "pipeline_params": QA_PARAMS, "pipeline": answers,
            "first_window": {"input_ids": ints(enc["input_ids"]), "start_logits": rounded(out.start_logits),
                             "end_logits": rounded(out.end_logits)}}


def golden_mlm(versions):
    import torch
    from transformers import pipeline
    name = "tiny-distilbert-mlm"
    model, tok = load_model(name)
    assert model.vocab_projector.weight.data_ptr() == model.distilbert.embeddings.word_embeddings.weight.data_ptr()
    texts = committed(FIXTURES / name / "golden.json")["texts"]
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    masks = []
    for b, p in (enc["input_ids"] == tok.mask_token_id).nonzero().tolist():
        top = torch.topk(logits[b, p], 20)
        masks.append({"batch": b, "position": p, "top20_ids": [int(i) for i in top.indices],
                      "top20_logits": rounded(top.values)})
    pipe = pipeline("fill-mask", model=model, tokenizer=tok, device="cpu")
    fills = []
    for t in texts:
        res = pipe(t, top_k=5)
        res = res if isinstance(res[0], list) else [res]
        fills.append([[{"token": int(r["token"]), "token_str": r["token_str"], "score": r7(r["score"]),
                        "sequence": r["sequence"]} for r in per_mask] for per_mask in res])
    return {**header(versions), "texts": texts, "input_ids": ints(enc["input_ids"]), "mask_logits": masks,
            "pipeline": fills}


def golden_ner(versions):
    import torch
    from transformers import pipeline
    name = "tiny-distilbert-ner"
    model, tok = load_model(name)
    texts = committed(FIXTURES / name / "golden.json")["texts"]
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    out = {}
    for strategy in NER_STRATEGIES:
        pipe = pipeline("token-classification", model=model, tokenizer=tok, device="cpu",
                        aggregation_strategy=strategy)
        per_text = []
        for t in texts:
            ents = []
            for e in pipe(t):
                d = {}
                for k in (["entity", "score", "index", "word", "start", "end"] if strategy == "none"
                          else ["entity_group", "score", "word", "start", "end"]):
                    v = e[k]
                    d[k] = r7(v) if k == "score" else int(v) if k in ("index", "start", "end") else str(v)
                ents.append(d)
            per_text.append(ents)
        out[strategy] = per_text
    return {**header(versions), "checkpoint_dtype": MODELS[name][2], "texts": texts,
            "input_ids": ints(enc["input_ids"]), "logits": rounded(logits), "pipeline": out}


def golden_pairs(versions):
    import torch
    name = "tiny-bert-pairs"
    model, tok = load_model(name)
    pairs = [[a, b] for a, b in zip(movie_texts(1202, 8), movie_texts(1218, 8))]
    assert pairs == committed(FIXTURES / name / "golden.json")["pairs"]
    enc = tok([a for a, _ in pairs], [b for _, b in pairs], padding="max_length", truncation=True,
              max_length=64, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
        pooled = model.bert(**enc).pooler_output
    return {**header(versions), "pairs": pairs, "max_length": 64, "input_ids": ints(enc["input_ids"]),
            "token_type_ids": ints(enc["token_type_ids"]), "attention_mask": ints(enc["attention_mask"]),
            "hidden_states": [rounded(h) for h in out.hidden_states], "pooler_output": rounded(pooled),
            "logits": rounded(out.logits)}


# MARK: - tokenizer cases

def tokenizer_cases():
    from transformers import BertTokenizerFast
    lower = BertTokenizerFast(vocab_file=str(BASE_VOCAB), do_lower_case=True)
    cased = BertTokenizerFast(vocab_file=str(BASE_VOCAB), do_lower_case=False)
    texts = [json.loads(l)["text"] for l in (FIXTURES / "tokenizer_cases.jsonl").read_text(encoding="utf-8")
             .split("\n") if l]
    assert len(texts) == 1248
    rows = []
    for i, text in enumerate(texts):
        enc = lower(text, return_offsets_mapping=True)
        row = {"text": text, "ids": enc["input_ids"], "tokens": lower.convert_ids_to_tokens(enc["input_ids"]),
               "offsets": [[int(s), int(e)] for s, e in enc["offset_mapping"]],
               "ids_max16": lower(text, truncation=True, max_length=16)["input_ids"],
               "ids_no_lowercase": cased(text)["input_ids"]}
        if i % 5 == 0:
            pair = texts[(i + 1) % len(texts)]
            p = lower(text, pair, truncation="longest_first", max_length=48)
            row.update({"pair_text": pair, "pair_ids_max48": p["input_ids"],
                        "pair_token_type_ids_max48": p["token_type_ids"]})
        rows.append(row)
    return rows


def dumps_cases(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


# MARK: - all-MiniLM-L6-v2

def golden_minilm(versions):
    import torch
    from transformers import AutoModel, AutoTokenizer
    if not (MINILM / "model.safetensors").exists() or not MOVIES.exists():
        raise FileNotFoundError("models/all-MiniLM-L6-v2 or data/ missing: run bash scripts/fetch-models.sh")
    tok = AutoTokenizer.from_pretrained(MINILM)
    model = AutoModel.from_pretrained(MINILM, dtype=torch.float32).eval()

    def embed(texts, batch=64):
        outs = []
        for i in range(0, len(texts), batch):
            enc = tok(texts[i:i + batch], padding=True, truncation=True, max_length=128, return_tensors="pt")
            with torch.no_grad():
                h = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            outs.append(torch.nn.functional.normalize(e, p=2, dim=1))
        return torch.cat(outs)

    texts = movie_texts(1402, 64)
    emb = embed(texts)
    enc2 = tok(texts[:2], padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        h2 = model(**enc2).last_hidden_state
    rows = [(i, t) for i, t in movie_snippets() if i % 2 == 0]
    # Sorted by length so that batches pad little; results go back to file order.
    order = sorted(range(len(rows)), key=lambda k: len(rows[k][1]))
    sorted_emb = embed([rows[k][1] for k in order])
    all_emb = torch.empty_like(sorted_emb)
    all_emb[torch.tensor(order)] = sorted_emb
    a = embed(ANCHORS)
    cos = all_emb @ a.T
    pred = (cos[:, 0] > cos[:, 1]).tolist()
    truth = [i <= MOVIE_POSITIVE_LAST_ID for i, _ in rows]
    margins = (cos[:, 0] - cos[:, 1]).abs().tolist()
    return {**header(versions), "model": "sentence-transformers/all-MiniLM-L6-v2",
            "pooling": "mean over attention mask, then L2 normalise", "max_length": 128, "texts": texts,
            "embeddings": rounded(emb),
            "last_hidden_state_first2": {"input_ids": ints(enc2["input_ids"]), "values": rounded(h2)},
            "zero_shot": {"anchors": ANCHORS, "rule": "POSITIVE when cosine to anchors[0] > cosine to anchors[1]",
                          "data": "movieReviewSnippets_GroundTruth.txt, ids with id % 2 == 0; label POSITIVE for id <= 5331",
                          "count": len(rows), "accuracy": sum(p == t for p, t in zip(pred, truth)) / len(rows),
                          "predictions": "".join("1" if p else "0" for p in pred)}}, margins


# MARK: - comparison

class Diff:
    def __init__(self):
        self.max_abs = 0.0
        self.where = ""
        self.exact_mismatches = []   # (path, ours, theirs)
        self.float_count = 0

    def walk(self, ours, ref, path="$"):
        if isinstance(ref, bool) or isinstance(ours, bool):
            if ours != ref:
                self.exact_mismatches.append((path, ours, ref))
        elif isinstance(ref, float) or (isinstance(ref, int) and isinstance(ours, float)):
            if not isinstance(ours, (int, float)):
                self.exact_mismatches.append((path, ours, ref))
                return
            self.float_count += 1
            d = abs(float(ours) - float(ref))
            if d > self.max_abs or math.isnan(d):
                self.max_abs, self.where = d, path
        elif isinstance(ref, list):
            if not isinstance(ours, list) or len(ours) != len(ref):
                self.exact_mismatches.append((path + "(length)", len(ours) if isinstance(ours, list) else ours,
                                              len(ref)))
                return
            for i, (o, r) in enumerate(zip(ours, ref)):
                self.walk(o, r, f"{path}[{i}]")
        elif isinstance(ref, dict):
            if not isinstance(ours, dict) or list(ours) != list(ref):
                self.exact_mismatches.append((path + "(keys)", list(ours) if isinstance(ours, dict) else ours,
                                              list(ref)))
                return
            for k in ref:
                self.walk(ours[k], ref[k], f"{path}.{k}")
        elif ours != ref:
            self.exact_mismatches.append((path, ours, ref))


VERSION_KEYS = {"transformers", "torch"}


def compare(label, ours, ref, ours_text, ref_path, extra_ok=None):
    """Prints the one-line verdict for one output; returns True when within tolerance."""
    d = Diff()
    if isinstance(ours, dict):
        meta = {k for k in VERSION_KEYS if ours.get(k) != ref.get(k)}
        d.walk({k: v for k, v in ours.items() if k not in meta}, {k: v for k, v in ref.items() if k not in meta})
        if meta:
            log(f"  note {label}: {', '.join(f'{k} {ours.get(k)} vs committed {ref.get(k)}' for k in sorted(meta))}")
    else:
        d.walk(ours, ref)
    mismatches = d.exact_mismatches
    tolerated = []
    if extra_ok is not None:
        tolerated = [m for m in mismatches if extra_ok(m)]
        mismatches = [m for m in mismatches if not extra_ok(m)]
    same_bytes = ref_path.read_bytes() == ours_text.encode("utf-8")
    ok = d.max_abs <= ATOL and not mismatches
    log(f"{'ok  ' if ok else 'FAIL'} {label}: max |diff| {d.max_abs:.3g} over {d.float_count} floats"
        f"{' at ' + d.where if d.max_abs > 0 else ''}; "
        f"{'exact fields identical' if not mismatches else f'{len(mismatches)} exact-field mismatches'}"
        f"{f' ({len(tolerated)} near-ties tolerated)' if tolerated else ''}; "
        f"bytes {'identical' if same_bytes else 'differ'}")
    for m in mismatches[:5]:
        log(f"    {m[0]}: ours {str(m[1])[:120]!s} vs committed {str(m[2])[:120]!s}")
    for m in tolerated[:5]:
        log(f"    tolerated (near tie) {m[0]}: ours {str(m[1])[:80]} vs committed {str(m[2])[:80]}")
    return ok


def check_minilm(ours, ref, text, margins):
    import torch
    ok = True
    a = torch.tensor(ours["embeddings"], dtype=torch.float64)
    b = torch.tensor(ref["embeddings"], dtype=torch.float64)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1).min().item()
    if cos < COSINE_MIN:
        ok = False
    log(f"  minilm embeddings: min cosine with committed {cos:.9f} (needs >= {COSINE_MIN})")
    po, pr = ours["zero_shot"]["predictions"], ref["zero_shot"]["predictions"]
    flips = [k for k, (x, y) in enumerate(zip(po, pr)) if x != y]
    near = [k for k in flips if margins[k] < TIE]

    def tolerated(m):
        path = m[0]
        if path == "$.zero_shot.predictions":
            return len(flips) == len(near)
        if path == "$.zero_shot.accuracy":
            return len(flips) == len(near)
        return False
    zs_ours = dict(ours["zero_shot"])
    log(f"  minilm zero_shot: {len(flips)} predictions differ ({len(near)} within {TIE} of a tie); "
        f"accuracy {zs_ours['accuracy']:.6f} vs committed {ref['zero_shot']['accuracy']:.6f}")
    # accuracy is a float: compared exactly (a flipped prediction changes it by 1/5302), not to ATOL.
    if ours["zero_shot"]["accuracy"] != ref["zero_shot"]["accuracy"] and len(flips) != len(near):
        ok = False
    return compare("minilm-golden.json", ours, ref, text, FIXTURES / "minilm-golden.json", tolerated) and ok


# MARK: - main

GOLDENS = {
    "tiny-distilbert-sst": golden_sst, "tiny-distilbert-qa": golden_qa, "tiny-distilbert-mlm": golden_mlm,
    "tiny-distilbert-ner": golden_ner, "tiny-bert-pairs": golden_pairs,
}
OUTPUTS = list(GOLDENS) + ["tokenizer_cases.jsonl", "minilm-golden.json"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    mode.add_argument("--write", action="store_true", help="overwrite the committed files")
    ap.add_argument("--make-checkpoints", action="store_true",
                    help="also rebuild the five checkpoint folders (in a temporary folder with --check)")
    ap.add_argument("--only", nargs="+", choices=OUTPUTS, help="restrict to these outputs")
    args = ap.parse_args()

    import torch
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    versions = check_versions()
    wanted = args.only or OUTPUTS
    ok = True

    if args.make_checkpoints:
        tmp = Path(tempfile.mkdtemp(prefix="reference-checkpoints-"))
        try:
            make_checkpoints(tmp, versions)
            for name in MODELS:
                files = sorted(p.name for p in (tmp / name).iterdir())
                same = [f for f in files if filecmp.cmp(tmp / name / f, FIXTURES / name / f, shallow=False)]
                differ = sorted(set(files) - set(same))
                good = not differ
                if args.write:
                    for f in files:
                        shutil.copyfile(tmp / name / f, FIXTURES / name / f)
                log(f"{'ok  ' if good else 'DIFF'} {name}/ checkpoint: {len(same)}/{len(files)} files byte-identical"
                    f"{' (differ: ' + ', '.join(differ) + ')' if differ else ''}{'; written' if args.write else ''}")
                ok &= good or args.write
        finally:
            shutil.rmtree(tmp)

    torch.manual_seed(SEED)
    for name in wanted:
        path = FIXTURES / name / "golden.json" if name in GOLDENS else FIXTURES / name
        margins = None
        if name in GOLDENS:
            ours = GOLDENS[name](versions)
            text = dumps_golden(ours)
        elif name == "tokenizer_cases.jsonl":
            ours = tokenizer_cases()
            text = dumps_cases(ours)
        else:
            try:
                ours, margins = golden_minilm(versions)
            except FileNotFoundError as e:
                log(f"SKIP minilm-golden.json: {e}")
                ok = False
                continue
            text = dumps_golden(ours)
        # Read back what would be written: the JSON must round-trip to the same values.
        back = [json.loads(l) for l in text.split("\n") if l] if name == "tokenizer_cases.jsonl" else json.loads(text)
        assert back == ours, name
        label = f"{name}/golden.json" if name in GOLDENS else name
        if args.check:
            ref = ([json.loads(l) for l in path.read_text(encoding="utf-8").split("\n") if l]
                   if name == "tokenizer_cases.jsonl" else committed(path))
            ok &= (check_minilm(ours, ref, text, margins) if name == "minilm-golden.json"
                   else compare(label, ours, ref, text, path))
        else:
            path.write_text(text, encoding="utf-8")
            assert path.read_text(encoding="utf-8") == text
            log(f"wrote {path.relative_to(ROOT)}")
    log("all outputs match the committed files" if ok else "MISMATCH: see the lines above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
