"""`InputFeatures`: the model inputs of one example, as the original's `run_classifier.py`
defines them (re-exported there under the same name)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass
class InputFeatures:
    """The model inputs of one example, each padded to `max_seq_length`.

    Attributes:
      input_ids: list of int, WordPiece ids of `[CLS] a [SEP] (b [SEP])`, zero padded.
      input_mask: list of int, 1 for real tokens, 0 for padding.
      segment_ids: list of int, 0 for the first segment (and padding), 1 for the second.
      label_id: int class index, float target for regression, or list of int (0/1 per
        label: multi-hot) for multi-label tasks.
      is_real_example: False for `PaddingInputExample`s.
    """

    input_ids: list
    input_mask: list
    segment_ids: list
    label_id: Union[int, float, list]
    is_real_example: bool = True
