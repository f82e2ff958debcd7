"""The task registry: names, unknown tasks, options (and the options a task does not read)."""

from __future__ import annotations

import pytest

import processors
from bert_estimator.core.errors import UsageError
from processors import OPTION_FLAGS, PROCESSORS, DataProcessor, get_processor
from processors.csv_tasks import CsvProcessor
from processors.glue import MrpcProcessor, StsbProcessor
from processors.imdb import ImdbProcessor
from processors.xnli import XnliProcessor

KNOWN = ["cola", "csv", "imdb", "mnli", "mnli-mm", "mrpc", "qnli", "qqp", "rte", "sst-2", "sts-b", "wnli", "xnli"]

# Every option run_classifier can pass, all unset.
UNSET = dict(language=None, text_column=None, text_b_column=None, label_column=None, labels=None,
             train_file=None, dev_file=None, test_file=None, imdb_dev_split=None, dev_fraction=None,
             data_dir=None, seed=None)


def test_registry_keys_and_classes():
    assert sorted(PROCESSORS) == KNOWN
    for name, cls in PROCESSORS.items():
        assert issubclass(cls, DataProcessor), name
        assert name == name.lower()
    assert PROCESSORS["sts-b"].output_mode == processors.REGRESSION
    assert all(cls.output_mode == processors.CLASSIFICATION for n, cls in PROCESSORS.items() if n != "sts-b")


@pytest.mark.parametrize("name", KNOWN)
def test_every_task_builds_with_unset_options(name):
    p = get_processor(name, **UNSET)
    assert isinstance(p, PROCESSORS[name])


def test_name_is_case_insensitive():
    assert isinstance(get_processor("MRPC"), MrpcProcessor)
    assert isinstance(get_processor(" STS-B "), StsbProcessor)


def test_unknown_task_lists_known_tasks():
    with pytest.raises(ValueError) as e:
        get_processor("sst5")
    assert str(e.value) == f"unknown task 'sst5'; known tasks: {', '.join(KNOWN)}"
    with pytest.raises(ValueError, match="unknown task None"):
        get_processor(None)


def test_options_reach_the_processors_and_none_is_ignored(tmp_path):
    x = get_processor("xnli", **dict(UNSET, language="de", seed=3))
    assert isinstance(x, XnliProcessor) and x.language == "de"
    assert get_processor("xnli", **UNSET).language == "zh"
    i = get_processor("imdb", **dict(UNSET, imdb_dev_split="heldout", dev_fraction=0.2, seed=3))
    assert isinstance(i, ImdbProcessor)
    assert (i.imdb_dev_split, i.dev_fraction, i.seed) == ("heldout", 0.2, 3)
    assert (get_processor("imdb", **UNSET).dev_fraction, get_processor("imdb").seed) == (0.1, 12345)
    c = get_processor("csv", **dict(UNSET, text_column="tweet", label_column="target", labels=["0", "1"],
                                    train_file="t.tsv", data_dir=str(tmp_path), seed=1))
    assert isinstance(c, CsvProcessor)
    assert (c.text_column, c.text_b_column, c.label_column, c.train_file, c.dev_file, c.data_dir) == (
        "tweet", None, "target", "t.tsv", "dev.csv", str(tmp_path))
    assert c.get_labels() == ["0", "1"]
    # data_dir and seed are the run's, not task options: a task that does not take them ignores them
    m = get_processor("mrpc", **dict(UNSET, data_dir=str(tmp_path), seed=3))
    assert isinstance(m, MrpcProcessor)


@pytest.mark.parametrize("task, option, value, message", [
    ("mrpc", "text_column", "foo", "--text_column is not read by --task_name=mrpc (it is read by: csv)"),
    ("cola", "language", "de", "--xnli_language is not read by --task_name=cola (it is read by: xnli)"),
    ("csv", "imdb_dev_split", "heldout", "--imdb_dev_split is not read by --task_name=csv (it is read by: imdb)"),
    ("imdb", "labels", ["0", "1"], "--labels is not read by --task_name=imdb (it is read by: csv)"),
    ("MNLI-MM", "dev_fraction", 0.2, "--dev_fraction is not read by --task_name=mnli-mm (it is read by: imdb)"),
    ("csv", "delimiter", ";", None),  # an option no flag sets: the csv task reads it
    ("sst-2", "delimiter", ";", "option 'delimiter' is not read by --task_name=sst-2 (it is read by: csv)"),
    ("sst-2", "colour", "red", "option 'colour' is not read by --task_name=sst-2 (it is read by: no task)"),
])
def test_an_option_the_task_does_not_read_is_an_error(task, option, value, message):
    if message is None:
        assert get_processor(task, **{option: value}).delimiter == ";"
        return
    with pytest.raises(UsageError) as e:
        get_processor(task, **dict(UNSET, **{option: value}))
    assert str(e.value) == message
    get_processor(task, **dict(UNSET, **{option: None}))  # unset: no error


def test_every_option_flag_is_read_by_some_task():
    for option, flag in OPTION_FLAGS.items():
        assert processors.tasks_reading(option), f"--{flag} ({option}) is read by no task"
    assert processors.tasks_reading("language") == ["xnli"]
    assert processors.tasks_reading("seed") == ["imdb"]


def test_invalid_option_values_raise_value_error():
    with pytest.raises(ValueError, match="imdb_dev_split"):
        get_processor("imdb", imdb_dev_split="dev")
