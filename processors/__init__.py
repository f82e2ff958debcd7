"""Dataset readers. `PROCESSORS` maps each `--task_name` to its processor class.

(Filled in by the processors work; the registry is one plain dict.)
"""

from processors.base import (  # noqa: F401
    CLASSIFICATION,
    REGRESSION,
    DataError,
    DataProcessor,
    InputExample,
    InputFeatures,
    PaddingInputExample,
)

PROCESSORS: dict = {}
