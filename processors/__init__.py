"""Dataset readers. `PROCESSORS` maps each `--task_name` to its processor class.

The registry is one plain dict; `get_processor(name, **options)` builds a processor
from it. Options come from flags: each processor receives only those its `__init__`
names, and options set to None are left to the processor's defaults.
"""

from __future__ import annotations

import inspect

from processors.base import (  # noqa: F401
    CLASSIFICATION,
    REGRESSION,
    DataError,
    DataProcessor,
    InputExample,
    InputFeatures,
    PaddingInputExample,
    check_labels,
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
    "CLASSIFICATION", "REGRESSION", "DataError", "DataProcessor", "InputExample", "InputFeatures",
    "PaddingInputExample", "PROCESSORS", "check_labels", "get_processor",
    *sorted(cls.__name__ for cls in PROCESSORS.values()),
]


def get_processor(task_name: str, **options) -> DataProcessor:
    """The processor of `task_name` (case-insensitive), built with the `options` its
    `__init__` accepts; options that are None or unknown to it are ignored.

    Raises:
      ValueError: unknown task ("unknown task 'x'; known tasks: cola, csv, ...").
        Invalid option values raise the processor's own ValueError.
    """
    name = (task_name or "").strip().lower()
    if name not in PROCESSORS:
        raise ValueError(f"unknown task {task_name!r}; known tasks: {', '.join(sorted(PROCESSORS))}")
    cls = PROCESSORS[name]
    params = inspect.signature(cls).parameters
    accepted = {k: v for k, v in options.items() if v is not None and k in params}
    return cls(**accepted)
