"""GLUE and XNLI processors: real sentences in GLUE's own file layouts (tests/real_data.py),
hand-written fixtures in GLUE's layout, and equality with the original run_classifier's
processors on the same files."""

from __future__ import annotations

import os

import pytest

import processors
from processors import REGRESSION, DataError
from processors.glue import (
    ColaProcessor,
    MnliMismatchedProcessor,
    MnliProcessor,
    MrpcProcessor,
    QnliProcessor,
    QqpProcessor,
    RteProcessor,
    Sst2Processor,
    StsbProcessor,
    WnliProcessor,
)
from processors.xnli import XnliProcessor
from tests.processors.helpers import as_tuples, tsv, write
from tests.real_data import GLUE_SIZES, all_texts, glue_dir, glue_files, glue_style, write_glue
from tests.support import reference

needs_reference = pytest.mark.skipif(not reference.available(), reason="bert-tensorflow reference not installed")


@pytest.fixture(scope="module")
def orig():
    return reference.load("run_classifier")


# ------------------------------------------- real sentences in GLUE's own files
# tests/real_data.py writes real texts (movie-review snippets, tweets, NYT editorials,
# Amazon reviews from the package index) in each task's GLUE layout, at the real sizes
# for MRPC, CoLA and SST-2.
@needs_reference
@pytest.mark.parametrize("getter,count", [
    ("get_train_examples", 3668), ("get_dev_examples", 408), ("get_test_examples", 1725),
])
def test_mrpc_real_equals_original(orig, getter, count):
    data_dir = glue_dir("MRPC")
    ours = getattr(MrpcProcessor(), getter)(data_dir)
    assert len(ours) == count
    assert as_tuples(ours) == as_tuples(getattr(orig.MrpcProcessor(), getter)(data_dir))


def _written(task: str, name: str) -> list[list[str]]:
    """The data rows written for `task`'s file `name` (header dropped)."""
    rows, _ = glue_files(task)[name]
    return rows if task == "cola" and name != "test.tsv" else rows[1:]


def test_mrpc_real_golden_first_examples():
    data_dir = glue_dir("MRPC")
    with open(os.path.join(data_dir, "train.tsv"), encoding="utf-8") as f:
        assert f.readline().startswith("\ufeffQuality\t#1 ID")  # as GLUE's MRPC: a BOM, then the header
    p = MrpcProcessor()
    train = p.get_train_examples(data_dir)
    row = _written("mrpc", "train.tsv")[0]
    assert as_tuples(train[:1]) == [("train-1", row[3], row[4], row[0])]
    texts = {t.text for t in all_texts()}
    assert {e.text_a for e in train} | {e.text_b for e in train} <= texts  # real sentences, untouched
    dev = p.get_dev_examples(data_dir)[0]
    row = _written("mrpc", "dev.tsv")[0]
    assert (dev.guid, dev.text_a, dev.text_b, dev.label) == ("dev-1", row[3], row[4], row[0])
    test = p.get_test_examples(data_dir)
    row = _written("mrpc", "test.tsv")[0]
    assert (test[0].guid, test[0].text_a, test[0].label) == ("test-1", row[3], "0")
    assert {e.label for e in test} == {"0"}
    assert {e.label for e in train} == {"0", "1"}
    assert p.get_labels() == ["0", "1"]


@needs_reference
@pytest.mark.parametrize("getter,count", [
    ("get_train_examples", 8551), ("get_dev_examples", 527), ("get_test_examples", 1063),
])
def test_cola_real_equals_original(orig, getter, count):
    data_dir = glue_dir("CoLA")
    ours = getattr(ColaProcessor(), getter)(data_dir)
    assert len(ours) == count
    assert as_tuples(ours) == as_tuples(getattr(orig.ColaProcessor(), getter)(data_dir))


def test_cola_real_golden_first_examples():
    data_dir = glue_dir("CoLA")
    train = ColaProcessor().get_train_examples(data_dir)
    row = _written("cola", "train.tsv")[0]
    assert as_tuples(train[:1]) == [("train-0", row[3], None, row[1])]  # no header: the first row is train-0
    assert row[3] == glue_style(row[3]) and " n't" in " ".join(e.text_a for e in train)  # GLUE's tokenised text
    dev = ColaProcessor().get_dev_examples(data_dir)
    row = _written("cola", "dev.tsv")[0]
    assert as_tuples(dev[:1]) == [("dev-0", row[3], None, row[1])]
    test = ColaProcessor().get_test_examples(data_dir)
    assert as_tuples(test[:1]) == [("test-1", _written("cola", "test.tsv")[0][1], None, "0")]
    assert {e.label for e in train} == {"0", "1"}


def test_sst2_real_counts_and_golden_first_examples():
    data_dir = glue_dir("SST-2")
    p = Sst2Processor()
    train, dev, test = p.get_train_examples(data_dir), p.get_dev_examples(data_dir), p.get_test_examples(data_dir)
    assert (len(train), len(dev), len(test)) == (6920, 872, 1820)
    # A real movie-review snippet, lower-cased and tokenised as GLUE's SST-2, labelled by
    # the sign of its human rating.
    assert as_tuples(train[:1]) == [(
        "train-1", "an absorbing , slice of depression life that touches nerves and rings true .", None, "1")]
    row = _written("sst-2", "dev.tsv")[0]
    assert as_tuples(dev[:1]) == [("dev-1", row[0], None, row[1])]
    assert as_tuples(test[:1]) == [("test-1", _written("sst-2", "test.tsv")[0][1], None, "0")]
    assert {e.label for e in train + dev} == {"0", "1"}
    assert 0.45 < sum(e.label == "1" for e in dev) / len(dev) < 0.55
    assert len({e.guid for e in train}) == len(train)


# Where each task's texts and label sit in its files: (text_a, text_b, label) of train/dev
# rows and (text_a, text_b) of test rows; -1 is the last column.
WRITTEN_COLUMNS = {
    "sst-2": ((0, None, 1), (1, None)),
    "cola": ((3, None, 1), (1, None)),
    "mrpc": ((3, 4, 0), (3, 4)),
    "mnli": ((8, 9, -1), (8, 9)),
    "qqp": ((3, 4, 5), (1, 2)),
    "qnli": ((1, 2, 3), (1, 2)),
    "rte": ((1, 2, 3), (1, 2)),
    "wnli": ((1, 2, 3), (1, 2)),
    "sts-b": ((7, 8, 9), (7, 8)),
}


@pytest.mark.parametrize("task", sorted(WRITTEN_COLUMNS) + ["mnli-mm"])
def test_every_glue_task_reads_real_sentences_in_its_layout(task, tmp_path):
    layout = "mnli" if task == "mnli-mm" else task
    data_dir = write_glue(layout, tmp_path)
    p = processors.get_processor(task)
    (a, b, y), (test_a, test_b) = WRITTEN_COLUMNS[layout]
    dev, test = {"mnli": ("dev_matched", "test_matched"), "mnli-mm": ("dev_mismatched", "test_mismatched")}.get(
        task, ("dev", "test"))
    for split, name in (("train", "train"), ("dev", dev), ("test", test)):
        rows = _written(layout, f"{name}.tsv")
        examples = getattr(p, f"get_{split}_examples")(data_dir)
        assert len(examples) == len(rows) == GLUE_SIZES[layout][name]
        if split == "test":
            want = [(r[test_a], r[test_b] if test_b is not None else None) for r in rows]
            assert [(e.text_a, e.text_b) for e in examples] == want
            continue
        labels = [float(r[y]) if task == "sts-b" else r[y] for r in rows]
        assert [(e.text_a, e.text_b, e.label) for e in examples] == [
            (r[a], r[b] if b is not None else None, label) for r, label in zip(rows, labels)]
        if p.get_labels():
            assert {e.label for e in examples} == set(p.get_labels())  # every class occurs


@needs_reference
@pytest.mark.parametrize("getter", ["get_train_examples", "get_dev_examples", "get_test_examples"])
def test_mnli_real_sentences_equal_original(orig, getter):
    data_dir = glue_dir("MNLI")
    ours = getattr(MnliProcessor(), getter)(data_dir)
    assert len(ours) >= 200
    assert as_tuples(ours) == as_tuples(getattr(orig.MnliProcessor(), getter)(data_dir))


@needs_reference
@pytest.mark.parametrize("getter", ["get_train_examples", "get_dev_examples"])
def test_xnli_real_sentences_equal_original(orig, getter):
    data_dir = glue_dir("XNLI")
    theirs = orig.XnliProcessor()
    theirs.language = "en"
    ours = getattr(XnliProcessor(language="en"), getter)(data_dir)
    assert len(ours) == GLUE_SIZES["xnli"][getter.split("_")[1]]
    assert {e.label for e in ours} == set(XnliProcessor().get_labels())  # "contradictory" renamed
    assert as_tuples(ours) == as_tuples(getattr(theirs, getter)(data_dir))


# ---------------------------------------------------------------- CoLA/SST-2 test files
@needs_reference
def test_cola_test_file_equals_original(orig, tmp_path):
    write(tmp_path / "test.tsv", tsv([["index", "sentence"], ["0", "the book fell ."], ["1", "fell book the"]]))
    ours = ColaProcessor().get_test_examples(str(tmp_path))
    assert as_tuples(ours) == as_tuples(orig.ColaProcessor().get_test_examples(str(tmp_path)))
    assert as_tuples(ours) == [("test-1", "the book fell .", None, "0"), ("test-2", "fell book the", None, "0")]


def test_sst2_test_file(tmp_path):
    write(tmp_path / "test.tsv", tsv([["index", "sentence"], ["0", "a gem ."], ["1", 'a "bad" film']]))
    ex = Sst2Processor().get_test_examples(str(tmp_path))
    assert as_tuples(ex) == [("test-1", "a gem .", None, "0"), ("test-2", 'a "bad" film', None, "0")]


# ------------------------------------------------------------------ MNLI fixtures
MNLI_TRAIN_HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                     "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
MNLI_DEV_HEADER = MNLI_TRAIN_HEADER[:11] + ["label2", "label3", "label4", "label5", "gold_label"]
MNLI_TEST_HEADER = MNLI_TRAIN_HEADER[:10]


def _mnli_row(index, premise, hypothesis, labels=()):
    return [str(index), "31193", f"{index}n", "government", "( ( x ) )", "( y )", "(ROOT x)", "(ROOT y)",
            premise, hypothesis, *labels]


@pytest.fixture
def mnli_dir(tmp_path):
    write(tmp_path / "train.tsv", tsv([
        MNLI_TRAIN_HEADER,
        _mnli_row(0, "Conceptually cream skimming has two basic dimensions.", 'The "product" matters.',
                  ["neutral", "neutral"]),
        _mnli_row(1, "you know during the season", "You lose the things.", ["entailment", "entailment"]),
        _mnli_row(7, "One of our number will carry out your instructions.", "A member will not.",
                  ["contradiction", "contradiction"]),
    ]))
    for name in ("dev_matched.tsv", "dev_mismatched.tsv"):
        tag = name.split("_")[1][:-4]
        write(tmp_path / name, tsv([
            MNLI_DEV_HEADER,
            _mnli_row(0, f"The new rights are nice enough ({tag})", "Everyone really likes them.",
                      ["neutral", "entailment", "neutral", "neutral", "neutral", "neutral"]),
            _mnli_row(5, "This site includes a list.", "The site has no list.",
                      ["contradiction"] * 5 + ["contradiction"]),
        ]))
    for name in ("test_matched.tsv", "test_mismatched.tsv"):
        write(tmp_path / name, tsv([
            MNLI_TEST_HEADER,
            _mnli_row(0, "Hierbas, ans seco, ans dulce, and frigola.", "Hierbas is a name."),
            _mnli_row(1, "The extent of the behavioral effects", "Behavioral effects exist."),
        ]))
    return str(tmp_path)


@needs_reference
@pytest.mark.parametrize("getter", ["get_train_examples", "get_dev_examples", "get_test_examples"])
def test_mnli_equals_original(orig, mnli_dir, getter):
    ours = getattr(MnliProcessor(), getter)(mnli_dir)
    assert as_tuples(ours) == as_tuples(getattr(orig.MnliProcessor(), getter)(mnli_dir))
    assert MnliProcessor().get_labels() == orig.MnliProcessor().get_labels()


def test_mnli_matched_and_mismatched(mnli_dir):
    m, mm = MnliProcessor(), MnliMismatchedProcessor()
    assert [e.guid for e in m.get_train_examples(mnli_dir)] == ["train-0", "train-1", "train-7"]
    assert as_tuples(m.get_train_examples(mnli_dir)) == as_tuples(mm.get_train_examples(mnli_dir))
    dev_m, dev_mm = m.get_dev_examples(mnli_dir), mm.get_dev_examples(mnli_dir)
    assert [e.guid for e in dev_m] == ["dev_matched-0", "dev_matched-5"]
    assert [e.guid for e in dev_mm] == ["dev_mismatched-0", "dev_mismatched-5"]
    assert dev_m[0].text_a.endswith("(matched)") and dev_mm[0].text_a.endswith("(mismatched)")
    assert [e.label for e in dev_mm] == ["neutral", "contradiction"]
    test_mm = mm.get_test_examples(mnli_dir)
    assert [(e.guid, e.label) for e in test_mm] == [("test_mismatched-0", "contradiction"),
                                                    ("test_mismatched-1", "contradiction")]
    assert mm.get_labels() == ["contradiction", "entailment", "neutral"]


def test_mnli_bad_label_names_file_row_and_label(mnli_dir):
    path = os.path.join(mnli_dir, "dev_matched.tsv")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    write(path, text.replace("\tcontradiction\n", "\tcontradictory\n"))
    with pytest.raises(DataError, match=r"dev_matched\.tsv row 3: label 'contradictory' is not one of"):
        MnliProcessor().get_dev_examples(mnli_dir)


# ------------------------------------------------------------------ XNLI fixtures
XNLI_DEV_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
                   "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1"]


def _xnli_row(lang, label, s1, s2):
    return [lang, label, "", "", "", "", s1, s2, "1", "2", "fiction", label]


@pytest.fixture
def xnli_dir(tmp_path):
    write(tmp_path / "multinli" / "multinli.train.zh.tsv", tsv([
        ["premise", "hypo", "label"],
        ["从 概念 上 看", "产品 和 地理 是 什么", "neutral"],
        # U+2028 inside a sentence must not split the row (it did with str.splitlines).
        ["你 知道 在 这个\u2028季节", "你 会 失去", "entailment"],
        ["我们 的 一个 号码", "我 的 团队", "contradictory"],
    ]))
    write(tmp_path / "multinli" / "multinli.train.de.tsv", tsv([
        ["premise", "hypo", "label"], ["Ein Satz .", "Zwei Sätze .", "contradictory"],
    ]))
    rows = [XNLI_DEV_HEADER,
            _xnli_row("en", "neutral", "He said.", "He spoke."),
            _xnli_row("zh", "contradiction", "他 说", "他 没有 说"),
            _xnli_row("de", "entailment", "Er sagte.", "Er sprach."),
            _xnli_row("zh", "entailment", "妈妈 回来 了", "她 回来 了"),
            _xnli_row("zh", "neutral", "对 ,\x85我", "他 会")]
    write(tmp_path / "xnli.dev.tsv", tsv(rows))
    write(tmp_path / "xnli.test.tsv", tsv(rows[:1] + rows[3:]))
    return str(tmp_path)


@needs_reference
@pytest.mark.parametrize("getter", ["get_train_examples", "get_dev_examples"])
def test_xnli_equals_original(orig, xnli_dir, getter):
    ours = getattr(XnliProcessor(), getter)(xnli_dir)
    assert as_tuples(ours) == as_tuples(getattr(orig.XnliProcessor(), getter)(xnli_dir))
    assert XnliProcessor().get_labels() == orig.XnliProcessor().get_labels()


def test_xnli_contents_and_language_option(xnli_dir):
    zh = XnliProcessor()
    assert zh.language == "zh"
    train = zh.get_train_examples(xnli_dir)
    assert [(e.guid, e.label) for e in train] == [
        ("train-1", "neutral"), ("train-2", "entailment"), ("train-3", "contradiction")]
    assert train[1].text_a == "你 知道 在 这个\u2028季节"
    dev = zh.get_dev_examples(xnli_dir)
    assert [(e.guid, e.text_a, e.label) for e in dev] == [
        ("dev-2", "他 说", "contradiction"), ("dev-4", "妈妈 回来 了", "entailment"), ("dev-5", "对 ,\x85我", "neutral")]
    assert [e.guid for e in zh.get_test_examples(xnli_dir)] == ["test-2", "test-3"]
    de = XnliProcessor(language="de")
    assert as_tuples(de.get_train_examples(xnli_dir)) == [("train-1", "Ein Satz .", "Zwei Sätze .", "contradiction")]
    assert as_tuples(de.get_dev_examples(xnli_dir)) == [("dev-3", "Er sagte.", "Er sprach.", "entailment")]
    with pytest.raises(DataError, match=r"no rows for language 'fr' in .*xnli\.dev\.tsv"):
        XnliProcessor(language="fr").get_dev_examples(xnli_dir)
    with pytest.raises(DataError, match=r"not found: .*multinli\.train\.fr\.tsv"):
        XnliProcessor(language="fr").get_train_examples(xnli_dir)


# --------------------------------------------------- the other GLUE tasks: fixtures
GLUE_CASES = {
    "qqp": (
        QqpProcessor,
        [["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
         ["133273", "213221", "213222", 'How is the life of a "math" student?', "Which level of prepration?", "0"],
         ["402555", "536040", "536041", "How do I control my horny emotions?", "How do you control it?", "1"]],
        [["id", "question1", "question2"], ["0", "Would the idea work?", "Is it good?"]],
        [("train-1", 'How is the life of a "math" student?', "Which level of prepration?", "0"),
         ("train-2", "How do I control my horny emotions?", "How do you control it?", "1")],
        [("test-1", "Would the idea work?", "Is it good?", "0")],
        ["0", "1"],
    ),
    "qnli": (
        QnliProcessor,
        [["index", "question", "sentence", "label"],
         ["0", "What came into force after the new constitution?", "The law came into force.", "entailment"],
         ["1", "What is the first major city?", "The stream flows past Bern.", "not_entailment"]],
        [["index", "question", "sentence"], ["0", "What organization is devoted to Jihad?", "Al-Qaeda is."]],
        [("train-1", "What came into force after the new constitution?", "The law came into force.", "entailment"),
         ("train-2", "What is the first major city?", "The stream flows past Bern.", "not_entailment")],
        [("test-1", "What organization is devoted to Jihad?", "Al-Qaeda is.", "entailment")],
        ["entailment", "not_entailment"],
    ),
    "rte": (
        RteProcessor,
        [["index", "sentence1", "sentence2", "label"],
         ["0", "No Weapons of Mass Destruction Found in Iraq Yet.", "Weapons were found.", "not_entailment"],
         ["1", "A place of sorrow, after Pope John Paul II died.", "Pope Benedict XVI is the new leader.",
          "entailment"]],
        [["index", "sentence1", "sentence2"], ["0", "Mangla was an ancient city.", "Mangla is old."]],
        [("train-1", "No Weapons of Mass Destruction Found in Iraq Yet.", "Weapons were found.", "not_entailment"),
         ("train-2", "A place of sorrow, after Pope John Paul II died.", "Pope Benedict XVI is the new leader.",
          "entailment")],
        [("test-1", "Mangla was an ancient city.", "Mangla is old.", "entailment")],
        ["entailment", "not_entailment"],
    ),
    "wnli": (
        WnliProcessor,
        [["index", "sentence1", "sentence2", "label"],
         ["0", "I stuck a pin through a carrot. When I pulled the pin out, it had a hole.",
          "The carrot had a hole.", "1"],
         ["1", "John couldn't see the stage with Billy in front of him because he is so short.",
          "John is so short.", "0"]],
        [["index", "sentence1", "sentence2"], ["0", "Maude and Dora had seen the trains.", "Dora had seen them."]],
        [("train-1", "I stuck a pin through a carrot. When I pulled the pin out, it had a hole.",
          "The carrot had a hole.", "1"),
         ("train-2", "John couldn't see the stage with Billy in front of him because he is so short.",
          "John is so short.", "0")],
        [("test-1", "Maude and Dora had seen the trains.", "Dora had seen them.", "0")],
        ["0", "1"],
    ),
    "sts-b": (
        StsbProcessor,
        [["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2",
          "score"],
         ["0", "main-captions", "MSRvid", "2012test", "0001", "none", "none", "A plane is taking off.",
          "An air plane is taking off.", "5.000"],
         ["1", "main-captions", "MSRvid", "2012test", "0004", "none", "none", "A man is playing a flute.",
          "A man is playing a bamboo flute.", "3.800"]],
        [["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2"],
         ["0", "main-captions", "MSRvid", "2012test", "0024", "none", "none", "A girl is styling her hair.",
          "A girl is brushing her hair."]],
        [("train-1", "A plane is taking off.", "An air plane is taking off.", 5.0),
         ("train-2", "A man is playing a flute.", "A man is playing a bamboo flute.", 3.8)],
        [("test-1", "A girl is styling her hair.", "A girl is brushing her hair.", None)],
        [],
    ),
}


@pytest.mark.parametrize("task", sorted(GLUE_CASES))
def test_glue_layouts(tmp_path, task):
    cls, train_rows, test_rows, want_train, want_test, labels = GLUE_CASES[task]
    write(tmp_path / "train.tsv", tsv(train_rows))
    write(tmp_path / "dev.tsv", tsv(train_rows))
    write(tmp_path / "test.tsv", tsv(test_rows))
    p = cls()
    assert as_tuples(p.get_train_examples(str(tmp_path))) == want_train
    want_dev = [("dev-" + g.split("-", 1)[1], a, b, lab) for g, a, b, lab in want_train]
    assert as_tuples(p.get_dev_examples(str(tmp_path))) == want_dev
    assert as_tuples(p.get_test_examples(str(tmp_path))) == want_test
    assert p.get_labels() == labels
    assert p.output_mode == (REGRESSION if task == "sts-b" else "classification")


def test_stsb_bad_score(tmp_path):
    rows = [r[:] for r in GLUE_CASES["sts-b"][1]]
    rows[2][9] = "high"
    write(tmp_path / "train.tsv", tsv(rows))
    with pytest.raises(DataError, match=r"train\.tsv row 3: score 'high' is not a number"):
        StsbProcessor().get_train_examples(str(tmp_path))


# ------------------------------------------------------------------ errors and encodings
def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"data file not found: .*dev\.tsv"):
        RteProcessor().get_dev_examples(str(tmp_path))


def test_short_row_names_file_and_row(tmp_path):
    rows = [r[:] for r in GLUE_CASES["qqp"][1]]
    rows[2] = rows[2][:4]
    write(tmp_path / "train.tsv", tsv(rows))
    with pytest.raises(DataError, match=r"^train\.tsv row 3: expected at least 6 tab-separated columns, found 4"):
        QqpProcessor().get_train_examples(str(tmp_path))


def test_label_outside_list(tmp_path):
    write(tmp_path / "dev.tsv", tsv([["sentence", "label"], ["good", "1"], ["bad", "neg"]]))
    with pytest.raises(DataError) as e:
        Sst2Processor().get_dev_examples(str(tmp_path))
    msg = str(e.value)
    assert "dev.tsv row 3" in msg and "'neg'" in msg and "\n" not in msg


def test_non_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes("sentence\tlabel\ngood\t1\ncaf\xe9 noir\t0\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train\.tsv line 3: byte 0xe9 is not valid UTF-8"):
        Sst2Processor().get_train_examples(str(tmp_path))


@needs_reference
def test_bom_and_crlf_equal_plain_and_original(orig, tmp_path):
    rows = [["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
            ["1", "1", "2", 'He said "yes".', "He agreed."], ["0", "3", "4", "A cat.", "A dog."]]
    plain, crlf = tmp_path / "plain", tmp_path / "crlf"
    write(plain / "train.tsv", tsv(rows))
    write(crlf / "train.tsv", "\ufeff" + tsv(rows), newline="\r\n")
    want = as_tuples(MrpcProcessor().get_train_examples(str(plain)))
    assert as_tuples(MrpcProcessor().get_train_examples(str(crlf))) == want
    assert as_tuples(orig.MrpcProcessor().get_train_examples(str(crlf))) == want
    # CoLA train has no header: the BOM must not stick to the first row's text.
    write(crlf / "dev.tsv", "\ufeff" + tsv([["na", "1", "", "first sentence"]]), newline="\r\n")
    assert as_tuples(ColaProcessor().get_dev_examples(str(crlf))) == [("dev-0", "first sentence", None, "1")]


def test_empty_file_and_trailing_blank_lines(tmp_path):
    write(tmp_path / "train.tsv", "")
    with pytest.raises(DataError, match=r"data file is empty: .*train\.tsv"):
        WnliProcessor().get_train_examples(str(tmp_path))
    write(tmp_path / "train.tsv", "index\tsentence1\tsentence2\tlabel\n")
    with pytest.raises(DataError, match=r"no examples in .*train\.tsv"):
        WnliProcessor().get_train_examples(str(tmp_path))
    write(tmp_path / "train.tsv", tsv(GLUE_CASES["wnli"][1]) + "\n\n")
    assert len(WnliProcessor().get_train_examples(str(tmp_path))) == 2
    write(tmp_path / "train.tsv", tsv(GLUE_CASES["wnli"][1][:2]) + "\n" + tsv(GLUE_CASES["wnli"][1][2:]))
    with pytest.raises(DataError, match=r"train\.tsv row 3: expected at least 4"):
        WnliProcessor().get_train_examples(str(tmp_path))
