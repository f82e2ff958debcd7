"""The generic CSV/TSV processor (task `csv`) on files built here."""

from __future__ import annotations

import os

import pytest

from bert_estimator.core.errors import UsageError
from processors import CLASSIFICATION, MULTI_LABEL, REGRESSION, DataError, MultiLabelList, csv_tasks
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


# -- several text columns -------------------------------------------------------------
def test_several_text_columns_join_with_a_space(tweets):
    p = CsvProcessor(text_column="keyword, location,text", label_column="target", data_dir=tweets)
    assert p.text_columns == ["keyword", "location", "text"]
    examples = p.get_train_examples(tweets)
    assert [e.text_a for e in examples[1:3]] == [
        '  Forest fire near La Ronge Sask. Canada, "evacuation" ordered',
        "ablaze London, UK All residents asked to 'shelter in place'\nby officers"]
    assert [e.label for e in examples] == ["1", "1", "1", "0", "0"]
    as_list = CsvProcessor(text_column=["keyword", "location", "text"], label_column="target", data_dir=tweets)
    assert as_tuples(as_list.get_train_examples(tweets)) == as_tuples(examples)
    # A test file without "location": the column and the file are named.
    write(os.path.join(tweets, "test.csv"), "id,keyword,text\n0,,Just happened a terrible car crash\n")
    with pytest.raises(DataError) as e:
        p.get_test_examples(tweets)
    assert str(e.value).startswith(f"column 'location' not found in {os.path.join(tweets, 'test.csv')}; ")
    for bad in ("text,", ",", []):
        with pytest.raises(ValueError, match="text_column must be column names"):
            CsvProcessor(text_column=bad)


def test_joined_columns_make_the_features_of_the_joined_text(tmp_path, tiny_bert_dir):
    from bert_estimator.data.features import convert_single_example
    from tokenization import FullTokenizer

    rows = [("A gripping", "thriller, well acted", "1"), ("", "Dull and long", "0"), ("Flat", "", "0")]
    write(tmp_path / "cols" / "train.csv",
          "title,body,label\n" + "".join(f'{t},"{b}",{y}\n' for t, b, y in rows))
    write(tmp_path / "joined" / "train.csv",
          "text,label\n" + "".join(f'"{t} {b}",{y}\n' for t, b, y in rows))
    tokenizer = FullTokenizer(os.path.join(tiny_bert_dir, "vocab.txt"), do_lower_case=True)

    def features(directory, **kw):
        p = CsvProcessor(data_dir=str(tmp_path / directory), **kw)
        return [vars(convert_single_example(i, e, p.get_labels(), 12, tokenizer))
                for i, e in enumerate(p.get_train_examples(str(tmp_path / directory)))]

    assert features("cols", text_column="title,body") == features("joined")
    # ... and not those of the body alone.
    assert features("cols", text_column="title,body")[0] != features("cols", text_column="body")[0]


# -- regression -----------------------------------------------------------------------
SCORES = "text,score\nfine,2.266667\nawful,-3.5\nok,0\nsuperb,3.8\n"


@pytest.fixture
def shown(monkeypatch):
    """The lines the csv task shows on the console."""
    lines = []
    monkeypatch.setattr(csv_tasks.console, "show", lambda message, *args: lines.append(message % args))
    return lines


def test_score_column_is_detected_as_regression(tmp_path, shown):
    write(tmp_path / "train.csv", SCORES)
    write(tmp_path / "test.csv", "text,score\nmeh,\nwow,1.5\n")
    p = CsvProcessor(label_column="score", data_dir=str(tmp_path))
    assert p.output_mode == REGRESSION and p.get_labels() == []
    assert as_tuples(p.get_train_examples(str(tmp_path))) == [
        ("train-0", "fine", None, 2.266667), ("train-1", "awful", None, -3.5),
        ("train-2", "ok", None, 0.0), ("train-3", "superb", None, 3.8)]
    assert [e.label for e in p.get_test_examples(str(tmp_path))] == [None, 1.5]
    assert shown == [
        f"csv task: regression (one output, mean squared error), since the label column 'score' of "
        f"{tmp_path / 'train.csv'} holds numbers (4 distinct, from -3.5 to 3.8), 3 of 4 not whole "
        f"(e.g. 2.266667); --problem_type=single_label_classification would make a class of each"]
    assert CsvProcessor.output_mode == CLASSIFICATION  # the class: every task's default


def test_flags_override_the_detection(tmp_path, shown):
    write(tmp_path / "train.csv", SCORES)
    classes = CsvProcessor(label_column="score", problem_type="single_label_classification",
                           data_dir=str(tmp_path))
    assert classes.output_mode == CLASSIFICATION
    assert classes.get_labels() == ["-3.5", "0", "2.266667", "3.8"]
    listed = CsvProcessor(label_column="score", labels="-3.5,0,2.266667,3.8")
    assert listed.output_mode == CLASSIFICATION
    assert [e.label for e in listed.get_train_examples(str(tmp_path))] == ["2.266667", "-3.5", "0", "3.8"]
    assert shown == []
    # Explicit regression needs no train file to decide (predict-only runs).
    assert CsvProcessor(problem_type="regression").get_labels() == []


def test_few_whole_numbers_stay_classes(tmp_path, shown):
    write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{i % 20}.0\n" for i in range(60)))
    p = CsvProcessor(data_dir=str(tmp_path))
    assert p.output_mode == CLASSIFICATION
    assert p.get_labels() == [f"{i}.0" for i in range(20)]
    assert shown == []


def test_many_whole_numbers_are_refused(tmp_path):
    write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{i * 5}\n" for i in range(21)))
    p = CsvProcessor(data_dir=str(tmp_path))
    with pytest.raises(DataError) as e:
        p.get_labels()
    assert str(e.value) == (
        f"label column 'label' of {tmp_path / 'train.csv'} holds 21 distinct whole numbers (from 0 to 100): "
        "a score or class ids? Pass --problem_type=regression to predict the number, or "
        "--problem_type=single_label_classification (or --labels) to make a class of each")
    with pytest.raises(DataError, match="21 distinct whole numbers"):
        CsvProcessor().get_train_examples(str(tmp_path))
    assert len(CsvProcessor(data_dir=str(tmp_path), problem_type="single_label_classification").get_labels()) == 21
    regression = CsvProcessor(problem_type="regression")
    assert [e.label for e in regression.get_train_examples(str(tmp_path))][-2:] == [95.0, 100.0]


def test_regression_labels_must_be_numbers(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,1.5\nb,high\n")
    with pytest.raises(DataError) as e:
        CsvProcessor(problem_type="regression").get_train_examples(str(tmp_path))
    assert str(e.value) == (f"train.csv row 3: label 'high' in column 'label' is not a number, and "
                            f"--problem_type is regression ({tmp_path / 'train.csv'})")
    write(tmp_path / "dev.csv", "text,label\na,nan\n")
    with pytest.raises(DataError, match=r"dev\.csv row 2: label 'nan' in column 'label' is not a number"):
        CsvProcessor(problem_type="regression").get_dev_examples(str(tmp_path))
    # Without the flag, a column with a word in it is a class column.
    assert CsvProcessor(data_dir=str(tmp_path)).get_labels() == ["1.5", "high"]


def test_problem_type_values_and_conflicts():
    with pytest.raises(ValueError, match="problem_type must be one of regression, single_label_classification, "
                                         "multi_label_classification, got 'multilabel'"):
        CsvProcessor(problem_type="multilabel")
    with pytest.raises(UsageError, match=r"^--labels lists classes: not with --problem_type=regression"):
        CsvProcessor(problem_type="regression", labels="a,b")
    with pytest.raises(ValueError, match="problem_type=... \\(--problem_type\\)"):
        assert CsvProcessor().output_mode


# ------------------------------------------------------------------------ multi-label
# GoEmotions-like: the labels of an example joined by commas (quoted in a CSV).
TOPICS_TRAIN = (
    "text,topics\n"
    'Match report and the new stadium budget,"sports,politics"\n'
    "Parliament votes on the bill,politics\n"
    'Chip shortage hits consoles," tech , sports,tech"\n'
    "An empty set: no topic at all,\n"
)
TOPICS_TEST = 'text,topics\nA test row,"tech,weather"\nAnother,\n'


@pytest.fixture
def topics(tmp_path):
    write(tmp_path / "train.csv", TOPICS_TRAIN)
    write(tmp_path / "dev.csv", TOPICS_TRAIN)
    write(tmp_path / "test.csv", TOPICS_TEST)
    return str(tmp_path)


def test_split_labels():
    assert csv_tasks.split_labels("b, a,,b", ",") == ("b", "a")
    assert csv_tasks.split_labels("Action|Comedy", "|") == ("Action", "Comedy")
    assert csv_tasks.split_labels("", ",") == csv_tasks.split_labels(None, ",") == ()


def test_multi_label_detected_from_the_separator(topics):
    p = CsvProcessor(label_column="topics", data_dir=topics)
    assert p.output_mode == MULTI_LABEL
    labels = p.get_labels()
    assert isinstance(labels, MultiLabelList) and labels == ["politics", "sports", "tech"]
    assert [e.label for e in p.get_train_examples(topics)] == [
        ("sports", "politics"), ("politics",), ("tech", "sports"), ()]
    # test labels outside the list are dropped (predictions never read them)
    assert [e.label for e in p.get_test_examples(topics)] == [("tech",), ()]


def test_multi_label_explicit_with_labels_and_separator(tmp_path):
    write(tmp_path / "train.tsv", "text\tgenres\nA film\tAction|Comedy\nAnother\tDrama\n")
    p = CsvProcessor(label_column="genres", train_file="train.tsv", label_separator="|", data_dir=str(tmp_path),
                     problem_type="multi_label_classification", labels="Drama,Comedy,Action")
    assert p.get_labels() == ["Drama", "Comedy", "Action"]
    assert [e.label for e in p.get_train_examples(str(tmp_path))] == [("Action", "Comedy"), ("Drama",)]


def test_multi_label_errors(topics, tmp_path):
    p = CsvProcessor(label_column="topics", labels="politics,sports", problem_type="multi_label_classification")
    with pytest.raises(DataError, match=r"train.csv row 4: label 'tech' is not one of"):
        p.get_train_examples(topics)
    # --labels without --problem_type: single-label, and a joined label says what to pass
    p = CsvProcessor(label_column="topics", labels="politics,sports,tech")
    with pytest.raises(DataError, match="pass --problem_type=multi_label_classification"):
        p.get_train_examples(topics)
    # the separator in single-label mode is just a character
    p = CsvProcessor(label_column="topics", data_dir=topics, problem_type="single_label_classification")
    with pytest.raises(DataError, match="row 5: empty label"):
        p.get_labels()
    with pytest.raises(ValueError, match="label_separator"):
        CsvProcessor(label_separator=" ")
