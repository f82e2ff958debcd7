"""The generic CSV/TSV processor (task `csv`) on files built here."""

from __future__ import annotations

import os

import pytest

from processors import DataError
from processors.csv_tasks import CsvProcessor, read_table
from tests.processors.helpers import as_tuples, write

# Disaster-tweets-like: id,keyword,location,text,target with empty fields, quoted
# commas and quotes, a line break inside a quoted field.
TWEETS_TRAIN = (
    "id,keyword,location,text,target\n"
    "1,,,Our Deeds are the Reason of this #earthquake May ALLAH Forgive us all,1\n"
    '4,,,"Forest fire near La Ronge Sask. Canada, ""evacuation"" ordered",1\n'
    "5,ablaze,\"London, UK\",\"All residents asked to 'shelter in place'\nby officers\",1\n"
    "23,,,What's up man?,0\n"
    "24,,,I love fruits,0\n"
)
TWEETS_TRAIN_EXAMPLES = [
    ("train-0", "Our Deeds are the Reason of this #earthquake May ALLAH Forgive us all", None, "1"),
    ("train-1", 'Forest fire near La Ronge Sask. Canada, "evacuation" ordered', None, "1"),
    ("train-2", "All residents asked to 'shelter in place'\nby officers", None, "1"),
    ("train-3", "What's up man?", None, "0"),
    ("train-4", "I love fruits", None, "0"),
]
TWEETS_TEST = "id,keyword,location,text\n0,,,Just happened a terrible car crash\n2,,,Heard about #earthquake\n"


@pytest.fixture
def tweets(tmp_path):
    write(tmp_path / "train.csv", TWEETS_TRAIN)
    write(tmp_path / "dev.csv", TWEETS_TRAIN)
    write(tmp_path / "test.csv", TWEETS_TEST)
    return str(tmp_path)


def test_disaster_tweets_columns(tweets):
    p = CsvProcessor(label_column="target", data_dir=tweets)
    assert p.get_labels() == ["0", "1"]
    assert as_tuples(p.get_train_examples(tweets)) == TWEETS_TRAIN_EXAMPLES
    assert [e.guid for e in p.get_dev_examples(tweets)] == [f"dev-{i}" for i in range(5)]
    # The test file has no label column: every example gets the first label.
    assert as_tuples(p.get_test_examples(tweets)) == [
        ("test-0", "Just happened a terrible car crash", None, "0"),
        ("test-1", "Heard about #earthquake", None, "0"),
    ]


def test_labels_need_data_dir_or_a_list(tweets):
    p = CsvProcessor(label_column="target")
    with pytest.raises(ValueError, match="no label list"):
        p.get_labels()
    p.get_train_examples(tweets)  # remembers the directory
    assert p.get_labels() == ["0", "1"]
    assert CsvProcessor(label_column="target", labels="1,0").get_labels() == ["1", "0"]
    assert CsvProcessor(labels=["neg", " pos "]).get_labels() == ["neg", "pos"]
    for bad in ("a,,b", "a,a", []):
        with pytest.raises(ValueError, match="labels must be"):
            CsvProcessor(labels=bad)


def test_inferred_labels_sort_numerically_or_lexically(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,10\nb,2\nc,1\nd,2\n")
    assert CsvProcessor(data_dir=str(tmp_path)).get_labels() == ["1", "2", "10"]
    write(tmp_path / "train.csv", "text,label\na,sports\nb,World\nc,business\n")
    assert CsvProcessor(data_dir=str(tmp_path)).get_labels() == ["World", "business", "sports"]
    write(tmp_path / "train.csv", "text,label\na,1\nb,\n")
    with pytest.raises(DataError, match=r"train\.csv row 3: empty label in column 'label'"):
        CsvProcessor(data_dir=str(tmp_path)).get_labels()


def test_label_outside_list_names_file_row_and_label(tweets):
    p = CsvProcessor(label_column="target", labels="0")
    with pytest.raises(DataError) as e:
        p.get_dev_examples(tweets)
    assert str(e.value).startswith("dev.csv row 2: label '1' is not one of ['0']")
    assert tweets in str(e.value)


def test_test_file_labels(tmp_path):
    write(tmp_path / "test.csv", "text,label\nx,pos\ny,\nz,unknown\n")
    p = CsvProcessor(labels="neg,pos")
    assert [e.label for e in p.get_test_examples(str(tmp_path))] == ["pos", "neg", "neg"]


def test_tsv_pairs_without_quoting(tmp_path):
    write(tmp_path / "train.tsv", 'q\tpassage\tanswer\n"Who" wrote it?\tHe did, "twice".\tyes\nWhy?\tNo idea\tno\n')
    p = CsvProcessor(text_column="q", text_b_column="passage", label_column="answer",
                     train_file="train.tsv", data_dir=str(tmp_path))
    assert p.get_labels() == ["no", "yes"]
    assert as_tuples(p.get_train_examples(str(tmp_path))) == [
        ("train-0", '"Who" wrote it?', 'He did, "twice".', "yes"),
        ("train-1", "Why?", "No idea", "no"),
    ]


def test_explicit_delimiter(tmp_path):
    write(tmp_path / "train.txt", "text;label\nhello, world;a\nbye;b\n")
    p = CsvProcessor(delimiter=";", train_file="train.txt", data_dir=str(tmp_path))
    assert as_tuples(p.get_train_examples(str(tmp_path))) == [
        ("train-0", "hello, world", None, "a"), ("train-1", "bye", None, "b")]
    write(tmp_path / "train.txt", "text\tlabel\nhello, world\ta\n")
    assert read_table(str(tmp_path / "train.txt"), "\\t") == (["text", "label"], [["hello, world", "a"]])


@pytest.mark.parametrize("name", ["train.csv", "train.tsv"])
def test_bom_and_crlf_equal_plain(tmp_path, name):
    sep = "\t" if name.endswith(".tsv") else ","
    text = f"text{sep}label\nfirst one{sep}a\n\nsecond{sep}b\n"
    write(tmp_path / "plain" / name, text)
    write(tmp_path / "crlf" / name, "\ufeff" + text, newline="\r\n")
    got = [as_tuples(CsvProcessor(train_file=name, data_dir=str(tmp_path / d)).get_train_examples(
        str(tmp_path / d))) for d in ("plain", "crlf")]
    assert got[0] == got[1] == [("train-0", "first one", None, "a"), ("train-1", "second", None, "b")]


def test_missing_column_lists_columns_present(tweets):
    p = CsvProcessor(text_column="tweet", label_column="target", labels="0,1")
    with pytest.raises(DataError) as e:
        p.get_train_examples(tweets)
    msg = str(e.value)
    assert msg == (f"column 'tweet' not found in {os.path.join(tweets, 'train.csv')}; "
                   "columns present: ['id', 'keyword', 'location', 'text', 'target']")
    with pytest.raises(DataError, match="column 'label' not found"):
        CsvProcessor(labels="0,1").get_dev_examples(tweets)


def test_short_and_long_rows(tmp_path):
    write(tmp_path / "train.csv", "id,text,label\n1,fine,a\n2,no label\n")
    with pytest.raises(DataError, match=r"train\.csv row 3: no value in column 'label'"):
        CsvProcessor(labels="a").get_train_examples(str(tmp_path))
    write(tmp_path / "train.csv", "text,label\nfine,a\nan, unquoted comma,a\n")
    with pytest.raises(DataError, match=r"train\.csv: cannot parse as comma-separated values: .*line 3"):
        CsvProcessor(labels="a").get_train_examples(str(tmp_path))


def test_non_utf8_names_file_and_line(tmp_path):
    (tmp_path / "train.csv").write_bytes("text,label\nok,a\nna\xefve,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train\.csv line 3: byte 0xef is not valid UTF-8"):
        CsvProcessor(labels="a,b").get_train_examples(str(tmp_path))


def test_empty_missing_and_header_only_files(tmp_path):
    p = CsvProcessor(labels="a")
    write(tmp_path / "train.csv", "")
    with pytest.raises(DataError, match=r"data file is empty: .*train\.csv"):
        p.get_train_examples(str(tmp_path))
    write(tmp_path / "train.csv", "\ufeff\r\n")
    with pytest.raises(DataError, match=r"data file is empty"):
        p.get_train_examples(str(tmp_path))
    write(tmp_path / "train.csv", "text,label\n")
    with pytest.raises(DataError, match=r"no data rows in .*train\.csv"):
        p.get_train_examples(str(tmp_path))
    with pytest.raises(DataError, match=r"data file not found: .*dev\.csv"):
        p.get_dev_examples(str(tmp_path))
