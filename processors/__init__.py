"""Dataset readers. `PROCESSORS` maps each `--task_name` to its processor class.

The registry is one plain dict; `get_processor(name, **options)` builds a processor
from it. A task's options are keyword arguments of its processor's `__init__`, set by
run_classifier.py's flags (`OPTION_FLAGS`); an option a task does not read is an
error, not ignored, so that `--task_name=mrpc --text_column=foo` stops instead of
training MRPC without the column.
"""

from __future__ import annotations

import inspect
from typing import Optional

from bert_estimator.core.errors import UsageError
from processors.base import (  # noqa: F401
    CLASSIFICATION,
    DEFAULT_LABEL_SEPARATOR,
    MULTI_LABEL,
    REGRESSION,
    DataError,
    DataProcessor,
    InputExample,
    MultiLabelList,
    PaddingInputExample,
    check_labels,
    example_labels,
)
from processors.csv_tasks import CsvProcessor
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
from processors.imdb import ImdbProcessor
from processors.xnli import XnliProcessor

PROCESSORS: dict = {
    "cola": ColaProcessor,
    "mnli": MnliProcessor,
    "mnli-mm": MnliMismatchedProcessor,
    "mrpc": MrpcProcessor,
    "xnli": XnliProcessor,
    "sst-2": Sst2Processor,
    "qqp": QqpProcessor,
    "qnli": QnliProcessor,
    "rte": RteProcessor,
    "wnli": WnliProcessor,
    "sts-b": StsbProcessor,
    "imdb": ImdbProcessor,
    "csv": CsvProcessor,
}

__all__ = [
    "CLASSIFICATION", "DEFAULT_LABEL_SEPARATOR", "MULTI_LABEL", "MultiLabelList", "REGRESSION", "DataError", "DataProcessor", "InputExample",
    "OPTION_FLAGS", "PaddingInputExample", "PROCESSORS", "check_labels", "example_labels", "get_processor", "tasks_reading",
    *sorted(cls.__name__ for cls in PROCESSORS.values()),
]


# The task options run_classifier.py's flags set: option (a keyword argument of a
# processor's `__init__`) -> its flag.
OPTION_FLAGS = {
    "language": "xnli_language",
    "text_column": "text_column",
    "text_b_column": "text_b_column",
    "label_column": "label_column",
    "labels": "labels",
    "train_file": "train_file",
    "dev_file": "dev_file",
    "test_file": "test_file",
    "imdb_dev_split": "imdb_dev_split",
    "dev_fraction": "dev_fraction",
    "problem_type": "problem_type",
    "label_separator": "label_separator",
}


def tasks_reading(option: str) -> list[str]:
    """The tasks whose processor takes `option`, sorted."""
    return sorted(name for name, cls in PROCESSORS.items() if option in inspect.signature(cls).parameters)


def get_processor(task_name: str, *, data_dir: Optional[str] = None, seed: Optional[int] = None,
                  **options) -> DataProcessor:
    """The processor of `task_name` (case-insensitive), built with `options`.

    Args:
      task_name: a key of `PROCESSORS`, in any case, spaces around it ignored.
      data_dir, seed: the run's data directory and seed, for the processors that take
        them (csv infers its labels from data_dir; imdb's held-out slice uses seed);
        the others ignore them.
      **options: the task's options (`OPTION_FLAGS`); None leaves an option to the
        processor's default.

    Raises:
      ValueError: unknown task ("unknown task 'x'; known tasks: cola, csv, ...").
        Invalid option values raise the processor's own ValueError.
      UsageError: an option that is not None and that the task does not read, named as
        its flag: "--text_column is not read by --task_name=mrpc (it is read by: csv)".
    """
    name = (task_name or "").strip().lower()
    if name not in PROCESSORS:
        raise ValueError(f"unknown task {task_name!r}; known tasks: {', '.join(sorted(PROCESSORS))}")
    cls = PROCESSORS[name]
    params = inspect.signature(cls).parameters
    given = {k: v for k, v in options.items() if v is not None}
    for option in given:
        if option not in params:
            what = f"--{OPTION_FLAGS[option]}" if option in OPTION_FLAGS else f"option {option!r}"
            readers = ", ".join(tasks_reading(option)) or "no task"
            raise UsageError(f"{what} is not read by --task_name={name} (it is read by: {readers})")
    context = {k: v for k, v in (("data_dir", data_dir), ("seed", seed)) if v is not None and k in params}
    return cls(**given, **context)
