#!/usr/bin/env python3
"""Writes Tests/Fixtures/words-golden.json: pre-split words through BertTokenizerFast (`is_split_into_words=True`),
the reference of `BertTokenizer.encode(words:maxLength:)` and of run_ner's label alignment.

    bench-venv/bin/python scripts/make_words_golden.py            # writes the file
    bench-venv/bin/python scripts/make_words_golden.py --check    # compares with the committed file

Tokenizer: Tests/Fixtures/tiny-distilbert-ner (uncased, transformers 4.57.6, tokenizers 0.22.2). For each case:
`words`; `ids`, `tokens`, `offsets` (code points within each word) and `word_ids` (null for [CLS]/[SEP]) with
truncation off, and `ids_max8` / `word_ids_max8` with `truncation=True, max_length=8`. `labels` and
`labels_all` are run_ner.py's `tokenize_and_align_labels` (label_all_tokens False / True, with its
`b_to_i_label` map) for the case's `tags` over `tag_names` (run_ner's `get_label_list`: sorted unique tags
of all cases), -100 written as -1 as DistilCL uses it.
"""
import argparse
import json
import sys
from pathlib import Path

import transformers
from transformers import BertTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "Tests/Fixtures/tiny-distilbert-ner"
OUT = ROOT / "Tests/Fixtures/words-golden.json"

CASES = [
    (["Hello", "world", "!"], ["O", "B-MISC", "O"]),
    (["John", "Smith", "lives", "in", "New", "York", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]),
    (["don't", "U.S.", "e-mail", "well-known"], ["O", "B-LOC", "O", "B-MISC"]),
    (["", "empty", " ", "words", "\t"], ["O", "O", "O", "B-ORG", "O"]),
    (["Café", "naïve", "ÉCOLE"], ["B-ORG", "I-ORG", "I-ORG"]),
    (["東京", "is", "大きい"], ["B-LOC", "O", "O"]),
    (["hello world", "two words in one"], ["B-PER", "O"]),
    (["[MASK]", "x[SEP]y", "[CLS]"], ["O", "B-MISC", "O"]),
    (["supercalifragilisticexpialidocious", "antidisestablishmentarianism"], ["B-MISC", "I-MISC"]),
    (["\u0000", "ctrl\u0007char", "😀", "emoji😀here"], ["O", "B-PER", "O", "B-LOC"]),
    (["@paulwalk", "It", "'s", "the", "view", "from", "Empire", "State", "Building", "=", "ESB", "."],
     ["O", "O", "O", "O", "O", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-ORG", "O"]),
    (["a"], ["O"]),
    ([], []),
]


def align(word_ids, tags, label_to_id, b_to_i, label_all):
    """run_ner.py's tokenize_and_align_labels for one example (-100 as -1)."""
    labels, previous = [], None
    for w in word_ids:
        if w is None:
            labels.append(-1)
        elif w != previous:
            labels.append(label_to_id[tags[w]])
        else:
            labels.append(b_to_i[label_to_id[tags[w]]] if label_all else -1)
        previous = w
    return labels


def build():
    tokenizer = BertTokenizerFast.from_pretrained(str(MODEL))
    label_list = sorted({t for _, tags in CASES for t in tags})
    label_to_id = {l: i for i, l in enumerate(label_list)}
    b_to_i = [label_list.index(l.replace("B-", "I-")) if l.startswith("B-") and l.replace("B-", "I-") in label_list
              else i for i, l in enumerate(label_list)]
    cases = []
    for words, tags in CASES:
        full = tokenizer(words, is_split_into_words=True, return_offsets_mapping=True)
        cut = tokenizer(words, is_split_into_words=True, truncation=True, max_length=8)
        cases.append({
            "words": words, "tags": tags,
            "ids": full["input_ids"], "tokens": full.tokens(),
            "offsets": [list(o) for o in full["offset_mapping"]], "word_ids": full.word_ids(),
            "ids_max8": cut["input_ids"], "word_ids_max8": cut.word_ids(),
            "labels": align(full.word_ids(), tags, label_to_id, b_to_i, False),
            "labels_all": align(full.word_ids(), tags, label_to_id, b_to_i, True),
        })
    return {"generator": "scripts/make_words_golden.py", "model": "Tests/Fixtures/tiny-distilbert-ner",
            "versions": {"transformers": transformers.__version__,
                         "tokenizers": __import__("tokenizers").__version__},
            "tag_names": label_list, "b_to_i": b_to_i, "cases": cases}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    args = parser.parse_args()
    text = json.dumps(build(), ensure_ascii=False, indent=1) + "\n"
    if args.check:
        same = OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.relative_to(ROOT)}: {'identical' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
