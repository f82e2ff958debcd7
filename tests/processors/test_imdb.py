"""IMDB processor: the aclImdb folder layout and Kaggle's IMDB Dataset.csv, built here."""

from __future__ import annotations

import csv
import os

import pytest

from processors import DataError
from processors.imdb import ImdbProcessor, clean_review
from tests.processors.helpers import as_tuples, write

# (split, label, file name, text)
REVIEWS = [
    ("train", "pos", "10_9.txt", "Great film.<br /><br />Loved it."),
    ("train", "pos", "2_7.txt", "Good<br/>enough."),
    ("train", "pos", "100_10.txt", "Best movie ever<BR>made."),
    ("train", "neg", "5_1.txt", "Awful, \"truly\" awful."),
    ("train", "neg", "3_2.txt", "Bad.\nVery bad."),
    ("test", "pos", "0_10.txt", "Wonderful."),
    ("test", "neg", "1_4.txt", "Dull <br / > and long."),
    ("test", "neg", "11_3.txt", "Boring."),
]


def make_acl(root, reviews=REVIEWS) -> str:
    acl = os.path.join(str(root), "aclImdb")
    for split, label, name, text in reviews:
        write(os.path.join(acl, split, label, name), text)
    # Parts of the release that are not read.
    write(os.path.join(acl, "train", "unsup", "0_0.txt"), "unlabelled")
    write(os.path.join(acl, "train", "urls_pos.txt"), "http://www.imdb.com/title/tt0453418/usercomments")
    write(os.path.join(acl, "imdb.vocab"), "the\nand\n")
    return acl


def test_clean_review():
    assert clean_review("a<br />b<br/>c<br>d<BR />e<br / >f") == "a b c d e f"
    assert clean_review("no breaks <b>bold</b>") == "no breaks <b>bold</b>"


def test_acl_layout_order_guids_and_text(tmp_path):
    make_acl(tmp_path)
    p = ImdbProcessor()
    train = p.get_train_examples(str(tmp_path))
    assert as_tuples(train) == [
        ("train-neg-3_2", "Bad.\nVery bad.", None, "neg"),
        ("train-neg-5_1", 'Awful, "truly" awful.', None, "neg"),
        ("train-pos-2_7", "Good enough.", None, "pos"),
        ("train-pos-10_9", "Great film.  Loved it.", None, "pos"),
        ("train-pos-100_10", "Best movie ever made.", None, "pos"),
    ]
    test = p.get_test_examples(str(tmp_path))
    assert as_tuples(test) == [
        ("test-neg-1_4", "Dull   and long.", None, "neg"),
        ("test-neg-11_3", "Boring.", None, "neg"),
        ("test-pos-0_10", "Wonderful.", None, "pos"),
    ]
    assert as_tuples(p.get_dev_examples(str(tmp_path))) == as_tuples(test)
    assert p.get_labels() == ["neg", "pos"]


def test_data_dir_may_be_acl_imdb_itself(tmp_path):
    acl = make_acl(tmp_path)
    assert as_tuples(ImdbProcessor().get_train_examples(acl)) == as_tuples(
        ImdbProcessor().get_train_examples(str(tmp_path)))


def test_acl_bom_crlf_and_non_utf8(tmp_path):
    acl = make_acl(tmp_path)
    write(os.path.join(acl, "train", "pos", "2_7.txt"), "\ufeffGood<br />enough.\nReally.", newline="\r\n")
    ex = ImdbProcessor().get_train_examples(str(tmp_path))
    assert ex[2].text_a == "Good enough.\r\nReally."
    with open(os.path.join(acl, "train", "neg", "5_1.txt"), "wb") as f:
        f.write("line one\ncaf\xe9".encode("latin-1"))
    with pytest.raises(DataError, match=r"5_1\.txt line 2: byte 0xe9 is not valid UTF-8"):
        ImdbProcessor().get_train_examples(str(tmp_path))


def test_acl_missing_parts(tmp_path):
    with pytest.raises(DataError, match=r"no IMDB data in .*IMDB Dataset\.csv"):
        ImdbProcessor().get_train_examples(str(tmp_path))
    make_acl(tmp_path, [r for r in REVIEWS if r[0] == "train"])
    with pytest.raises(DataError, match=r"IMDB folder not found: .*test.neg"):
        ImdbProcessor().get_test_examples(str(tmp_path))


def _many_reviews(n_per_label=40):
    return [("train", label, f"{i}_{1 if label == 'neg' else 9}.txt", f"{label} review {i}")
            for label in ("neg", "pos") for i in range(n_per_label)] + REVIEWS[5:]


def test_heldout_split_is_seeded_stratified_and_disjoint(tmp_path):
    make_acl(tmp_path, _many_reviews())
    data_dir = str(tmp_path)
    full = as_tuples(ImdbProcessor().get_train_examples(data_dir))
    p = ImdbProcessor(imdb_dev_split="heldout", dev_fraction=0.1, seed=7)
    train, dev = as_tuples(p.get_train_examples(data_dir)), as_tuples(p.get_dev_examples(data_dir))
    assert len(dev) == 8 and len(train) == 72
    assert sum(1 for d in dev if d[3] == "pos") == 4
    assert not set(train) & set(dev)
    assert sorted(train + dev) == sorted(full)
    assert train == [t for t in full if t not in dev]  # both keep the stable order
    assert dev == [t for t in full if t in dev]
    # Same seed, same split (a fresh processor); another seed, another split.
    again = ImdbProcessor(imdb_dev_split="heldout", dev_fraction=0.1, seed=7)
    assert as_tuples(again.get_dev_examples(data_dir)) == dev
    assert as_tuples(again.get_train_examples(data_dir)) == train
    other = ImdbProcessor(imdb_dev_split="heldout", dev_fraction=0.1, seed=8)
    assert as_tuples(other.get_dev_examples(data_dir)) != dev
    bigger = ImdbProcessor(imdb_dev_split="heldout", dev_fraction=0.25, seed=7)
    assert len(bigger.get_dev_examples(data_dir)) == 20
    # The test set is the test split whatever the dev split.
    assert [e.guid for e in p.get_test_examples(data_dir)] == ["test-neg-1_4", "test-neg-11_3", "test-pos-0_10"]


def test_invalid_options():
    with pytest.raises(ValueError, match="imdb_dev_split"):
        ImdbProcessor(imdb_dev_split="valid")
    with pytest.raises(ValueError, match="dev_fraction"):
        ImdbProcessor(dev_fraction=1.0)


# ------------------------------------------------------------------ Kaggle CSV
def make_kaggle(root, rows, newline="\n", bom=False) -> str:
    path = os.path.join(str(root), "IMDB Dataset.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        if bom:
            f.write("\ufeff")
        w = csv.writer(f, lineterminator=newline)
        w.writerow(["review", "sentiment"])
        w.writerows(rows)
    return path


KAGGLE_ROWS = [
    ["One of the other reviewers has mentioned it.<br /><br />They are right.", "positive"],
    ['A wonderful little production. "Great", "well done", and more', "positive"],
    ["Basically there's a family,\nwhere a little boy thinks there's a zombie.", "negative"],
    ["Petter Mattei's Love in the Time of Money is visually stunning.", "positive"],
    ["Probably my all-time favorite movie.", "positive"],
    ["I sure would like to see a resurrection.", "negative"],
    ["This show was an amazing, fresh & innovative idea.", "negative"],
]


def test_kaggle_csv_split_by_position(tmp_path):
    make_kaggle(tmp_path, KAGGLE_ROWS)
    p = ImdbProcessor()
    train, test = p.get_train_examples(str(tmp_path)), p.get_test_examples(str(tmp_path))
    # 7 rows: the first ceil(7 / 2) = 4 are train, the other 3 test.
    assert [e.guid for e in train] == ["train-0", "train-1", "train-2", "train-3"]
    assert [e.guid for e in test] == ["test-4", "test-5", "test-6"]
    assert [e.label for e in train + test] == ["pos", "pos", "neg", "pos", "pos", "neg", "neg"]
    assert train[0].text_a == "One of the other reviewers has mentioned it.  They are right."
    assert train[1].text_a == 'A wonderful little production. "Great", "well done", and more'
    assert train[2].text_a == "Basically there's a family,\nwhere a little boy thinks there's a zombie."
    assert as_tuples(p.get_dev_examples(str(tmp_path))) == as_tuples(test)


def test_kaggle_bom_crlf_heldout_and_errors(tmp_path):
    plain, crlf = tmp_path / "plain", tmp_path / "crlf"
    os.makedirs(plain)
    os.makedirs(crlf)
    rows = KAGGLE_ROWS * 4
    make_kaggle(plain, rows)
    make_kaggle(crlf, rows, newline="\r\n", bom=True)
    want = as_tuples(ImdbProcessor().get_train_examples(str(plain)))
    assert len(want) == 14
    got = as_tuples(ImdbProcessor().get_train_examples(str(crlf)))
    # Line ends inside a quoted review stay as written; everything else is equal.
    assert [(g, a.replace("\r\n", "\n"), b, lab) for g, a, b, lab in got] == want
    held = ImdbProcessor(imdb_dev_split="heldout", dev_fraction=0.3, seed=1)
    train, dev = held.get_train_examples(str(plain)), held.get_dev_examples(str(plain))
    assert {e.guid for e in train}.isdisjoint(e.guid for e in dev)
    # Train is rows 0-13: 6 neg, 8 pos; 0.3 of each label is held out, rounded.
    assert len(train) + len(dev) == 14 and len(dev) == round(0.3 * 6) + round(0.3 * 8)
    make_kaggle(plain, KAGGLE_ROWS[:2] + [["Meh.", "mixed"]])
    with pytest.raises(DataError, match=r"IMDB Dataset\.csv row 4: .*found 'mixed'"):
        ImdbProcessor().get_train_examples(str(plain))
    write(plain / "IMDB Dataset.csv", "text,label\nfine,positive\n")
    with pytest.raises(DataError, match=r"column 'review' not found in .*IMDB Dataset\.csv; columns present"):
        ImdbProcessor().get_train_examples(str(plain))


def test_acl_imdb_preferred_over_kaggle(tmp_path):
    make_acl(tmp_path)
    make_kaggle(tmp_path, KAGGLE_ROWS)
    assert ImdbProcessor().get_train_examples(str(tmp_path))[0].guid == "train-neg-3_2"
