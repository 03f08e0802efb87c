#!/usr/bin/env python3
"""Unlabelled text for masked-LM training and general distillation (issue 23, "the recipe on real data").

In-domain text: the VADER (Hutto & Gilbert, ICWSM 2014) snippet sets of the vaderSentiment 3.3.2 sdist,
as scripts/fetch-models.sh puts them under data/ (it is run when one is missing; it fetches from PyPI and
checks every file's sha256):

  movie     movieReviewSnippets_GroundTruth.txt, the EVEN ids only: the odd ids are the sentiment test
            set (data/movie-test.jsonl) and are never read here
  tweets    tweets_GroundTruth.txt, every id (HTML entities such as &amp; unescaped: the file keeps them
            as Twitter served them)
  amazon    amazonReviewSnippets_GroundTruth.txt, every id
  nyt       nytEditorialSnippets_GroundTruth.txt, every id

Each file is "id<TAB>rating<TAB>text" a line (CRLF). Whitespace runs inside a text become one space;
blank texts are dropped, and so are texts that start with "{" (a text file whose first line starts
with "{" reads as JSON Lines to `distilcl train --task masked-lm`; there are none in these sets).

Out-of-domain text (--bible): the King James Bible, 31,102 verses, from Debian's bible-kjv 4.38
(`apt-get download bible-kjv bible-kjv-text`, unpacked with `dpkg-deb -x` into data/bible-kjv/, no root
needed), printed one verse a line by its own tool: `bible -f -p <data dir> Gen1:1-Rev22:21` (-f turns
pretty-printing off: "Ge1:1 In the beginning ..."; the reference is cut off here).

Outputs (data/ is git-ignored):
  data/mlm/train.txt        the in-domain training text, one text a line, corpora in the order above,
                            each in file order
  data/mlm/dev.txt          held out: every 20th in-domain text of each corpus (the 20th, 40th, ... in
                            file order after filtering), about 5%; never an odd movie id
  data/mlm/bible.txt        (--bible) the verses, one a line
  data/mlm/train-bible.txt  (--bible) train.txt followed by the verses

Prints texts, words (whitespace-separated) and, with --tokens, word pieces (all-MiniLM-L6-v2's tokenizer,
[CLS]/[SEP] included, as run_mlm.py's group_texts counts them) of each part.

Usage: bench-venv/bin/python benchmarks/mlm_corpus.py [--bible] [--tokens] [--out data/mlm]
"""
import argparse, html, json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
OUT = DATA / "mlm"
MODEL = ROOT / "models/all-MiniLM-L6-v2"
CORPORA = (   # name, file, keep(id), clean(text)
    ("movie", "movieReviewSnippets_GroundTruth.txt", lambda i: int(i) % 2 == 0, lambda t: t),
    ("tweets", "tweets_GroundTruth.txt", lambda i: True, html.unescape),
    ("amazon", "amazonReviewSnippets_GroundTruth.txt", lambda i: True, lambda t: t),
    ("nyt", "nytEditorialSnippets_GroundTruth.txt", lambda i: True, lambda t: t),
)
DEV_EVERY = 20
BIBLE_DEBS = ("bible-kjv", "bible-kjv-text")
BIBLE_DIR = DATA / "bible-kjv"
BIBLE_VERSES = 31102


def read_corpus(file, keep, clean):
    """The texts of a VADER GroundTruth file whose id `keep` accepts, cleaned, in file order."""
    texts = []
    with open(DATA / file, encoding="utf-8", newline="") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\r\n").split("\t", 2)
            if len(parts) != 3:
                sys.exit(f"{file}:{n}: expected id<TAB>rating<TAB>text")
            if not keep(parts[0]):
                continue
            text = " ".join(clean(parts[2]).split())
            if text and not text.startswith("{"):
                texts.append(text)
    return texts


def ensure_vader():
    """Runs scripts/fetch-models.sh when a snippet file is missing (it fetches from PyPI, pinned sha256)."""
    if not all((DATA / file).exists() for _, file, _, _ in CORPORA):
        subprocess.run(["bash", str(ROOT / "scripts/fetch-models.sh")], cwd=ROOT, check=True)


def bible_verses():
    """The KJV verses, one a string, from Debian's bible-kjv (downloaded and unpacked into data/bible-kjv)."""
    tool, lib = BIBLE_DIR / "root/usr/bin/bible", BIBLE_DIR / "root/usr/lib"
    if not (tool.exists() and (lib / "bible.data").exists()):
        debs = BIBLE_DIR / "deb"
        debs.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", *BIBLE_DEBS], cwd=debs, check=True)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(BIBLE_DIR / "root")], check=True)
    out = subprocess.run([str(tool), "-f", "-p", str(lib), "Gen1:1-Rev22:21"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    verses = [" ".join(line.split(" ", 1)[1].split()) for line in out.splitlines() if line.strip()]
    assert len(verses) == BIBLE_VERSES, f"{len(verses)} verses, expected {BIBLE_VERSES}"
    return verses


def word_pieces(texts):
    """Word pieces of `texts` with [CLS] and [SEP] each (all-MiniLM-L6-v2's tokenizer)."""
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"])


def write_lines(path, texts):
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bible", action="store_true", help="also write bible.txt and train-bible.txt")
    ap.add_argument("--tokens", action="store_true", help="count word pieces too (loads the tokenizer)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ensure_vader()

    train, dev, counts = [], [], {}
    for name, file, keep, clean in CORPORA:
        texts = read_corpus(file, keep, clean)
        held = [t for i, t in enumerate(texts, 1) if i % DEV_EVERY == 0]
        kept = [t for i, t in enumerate(texts, 1) if i % DEV_EVERY != 0]
        train += kept
        dev += held
        counts[name] = {"train_texts": len(kept), "dev_texts": len(held),
                        "train_words": sum(len(t.split()) for t in kept), "dev_words": sum(len(t.split()) for t in held)}
    write_lines(out / "train.txt", train)
    write_lines(out / "dev.txt", dev)
    counts["in_domain"] = {"train_texts": len(train), "dev_texts": len(dev),
                           "train_words": sum(len(t.split()) for t in train), "dev_words": sum(len(t.split()) for t in dev)}
    if args.tokens:
        counts["in_domain"].update(train_word_pieces=word_pieces(train), dev_word_pieces=word_pieces(dev))
    if args.bible:
        verses = bible_verses()
        write_lines(out / "bible.txt", verses)
        write_lines(out / "train-bible.txt", train + verses)
        counts["bible"] = {"train_texts": len(verses), "train_words": sum(len(t.split()) for t in verses)}
        if args.tokens:
            counts["bible"]["train_word_pieces"] = word_pieces(verses)
    for name, c in counts.items():
        print(f"{name:10} " + ", ".join(f"{k} {v:,}" for k, v in c.items()))
    (out / "counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    print(f"wrote {out}/train.txt, dev.txt" + (", bible.txt, train-bible.txt" if args.bible else "") + ", counts.json")


if __name__ == "__main__":
    main()
