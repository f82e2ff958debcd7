"""bert_estimator/training/settings.py: the flags of run_classifier.py, read once.

The dataclass and the flag definitions cannot drift apart: every flag run_classifier.py
defines is a field of the matching type, and every field but the derived ones a flag.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Optional

import pytest
from absl import flags

import run_classifier
from bert_estimator.core.errors import UsageError
from bert_estimator.training import checks
from bert_estimator.training.settings import DERIVED_FIELDS, Settings
from processors import ColaProcessor, XnliProcessor

FLAGS = flags.FLAGS
# absl's flag_type() -> the field's type (Optional[...] when the flag's default is None).
FIELD_TYPES = {"string": str, "string enum": str, "bool": bool, "int": int, "float": float,
               "comma separated list of strings": tuple[str, ...]}


@pytest.fixture(autouse=True)
def _reset_flags():
    yield
    FLAGS.unparse_flags()


def parse(*argv: str) -> Settings:
    FLAGS.unparse_flags()
    FLAGS(["run_classifier.py", *argv])
    return Settings.from_flags(FLAGS)


def test_every_flag_is_a_field_and_every_field_a_flag():
    defined = [flag.name for flag in FLAGS.get_flags_for_module(run_classifier)]
    assert "data_dir" in defined and "helpfull" not in defined  # ours, not absl's own
    assert sorted(Settings.flag_names()) == sorted(defined)
    assert {f.name for f in dataclasses.fields(Settings)} == set(defined) | DERIVED_FIELDS
    assert not DERIVED_FIELDS & set(FLAGS)  # a derived field is no flag of anyone's


def test_every_field_has_its_flags_type():
    hints = typing.get_type_hints(Settings)
    for flag in FLAGS.get_flags_for_module(run_classifier):
        expected = FIELD_TYPES[flag.flag_type()]
        if flag.default is None:
            expected = Optional[expected]
        assert hints[flag.name] == expected, f"--{flag.name}: field {hints[flag.name]}, flag {flag.flag_type()}"
    assert hints["given_flags"] == frozenset[str]


def test_from_flags_reads_values_and_which_flags_were_given(tmp_path):
    s = parse("--task_name=csv", f"--data_dir={tmp_path}", "--do_train", "--learning_rate=2e-5",
              "--labels=neg,pos", "--xnli_language=zh", "--nouse_tpu")
    assert (s.task_name, s.data_dir, s.do_train, s.learning_rate) == ("csv", str(tmp_path), True, 2e-5)
    assert s.labels == ("neg", "pos")  # a list flag's value as a tuple
    assert (s.max_seq_length, s.xnli_language, s.seed, s.predict_from) == (128, "zh", None, "last")  # defaults
    # given: on the command line, even with the default value
    assert s.given_flags == {"task_name", "data_dir", "do_train", "learning_rate", "labels", "xnli_language",
                             "use_tpu"}
    assert s.given("xnli_language") and not s.given("do_lower_case")
    with pytest.raises(KeyError, match="no flag --do_lowercase"):
        s.given("do_lowercase")
    with pytest.raises(KeyError):
        s.given("given_flags")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.learning_rate = 1.0


def test_a_flag_assigned_in_code_counts_as_given():
    parse("--task_name=cola")
    FLAGS.do_lower_case = False
    assert Settings.from_flags(FLAGS).given("do_lower_case")


def test_processor_gets_only_the_options_given(tmp_path):
    cola = checks.make_processor(parse("--task_name=cola", f"--data_dir={tmp_path}", "--seed=3"))
    assert isinstance(cola, ColaProcessor)  # --xnli_language's default "zh" is no option of CoLA's
    xnli = checks.make_processor(parse("--task_name=xnli"))
    assert isinstance(xnli, XnliProcessor) and xnli.language == "zh"
    assert checks.make_processor(parse("--task_name=XNLI", "--xnli_language=de")).language == "de"
    with pytest.raises(UsageError) as e:
        checks.make_processor(parse("--task_name=cola", "--xnli_language=zh"))  # given, though the default
    assert str(e.value) == "--xnli_language is not read by --task_name=cola (it is read by: xnli)"
    with pytest.raises(UsageError) as e:
        checks.make_processor(parse("--task_name=sentiment"))
    assert str(e.value).startswith("--task_name: unknown task 'sentiment'; known tasks: cola, csv")
