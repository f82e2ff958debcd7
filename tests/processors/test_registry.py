"""The task registry: names, unknown tasks, option filtering."""

from __future__ import annotations

import pytest

import processors
from processors import PROCESSORS, DataProcessor, get_processor
from processors.csv_tasks import CsvProcessor
from processors.glue import MrpcProcessor, StsbProcessor
from processors.imdb import ImdbProcessor
from processors.xnli import XnliProcessor

KNOWN = ["cola", "csv", "imdb", "mnli", "mnli-mm", "mrpc", "qnli", "qqp", "rte", "sst-2", "sts-b", "wnli", "xnli"]

# Every option run_classifier passes, all unset.
UNSET = dict(language=None, text_column=None, text_b_column=None, label_column=None, labels=None,
             train_file=None, dev_file=None, test_file=None, imdb_dev_split=None, dev_fraction=None,
             data_dir=None)


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


def test_options_are_filtered_by_signature_and_none_is_ignored(tmp_path):
    x = get_processor("xnli", **dict(UNSET, language="de", text_column="ignored", seed=3))
    assert isinstance(x, XnliProcessor) and x.language == "de"
    assert get_processor("xnli", **UNSET).language == "zh"
    i = get_processor("imdb", **dict(UNSET, imdb_dev_split="heldout", dev_fraction=0.2, seed=3, language="fr"))
    assert isinstance(i, ImdbProcessor)
    assert (i.imdb_dev_split, i.dev_fraction, i.seed) == ("heldout", 0.2, 3)
    assert (get_processor("imdb", **UNSET).dev_fraction, get_processor("imdb").seed) == (0.1, 12345)
    c = get_processor("csv", **dict(UNSET, text_column="tweet", label_column="target", labels=["0", "1"],
                                    train_file="t.tsv", data_dir=str(tmp_path), seed=1))
    assert isinstance(c, CsvProcessor)
    assert (c.text_column, c.text_b_column, c.label_column, c.train_file, c.dev_file, c.data_dir) == (
        "tweet", None, "target", "t.tsv", "dev.csv", str(tmp_path))
    assert c.get_labels() == ["0", "1"]
    m = get_processor("mrpc", **dict(UNSET, language="de", data_dir=str(tmp_path)))
    assert isinstance(m, MrpcProcessor)


def test_invalid_option_values_raise_value_error():
    with pytest.raises(ValueError, match="imdb_dev_split"):
        get_processor("imdb", imdb_dev_split="dev")
