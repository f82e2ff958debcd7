"""A processor for any labelled CSV/TSV file: task `csv`.

For example Kaggle's "Natural Language Processing with Disaster Tweets"
(`id,keyword,location,text,target`)::

    CsvProcessor(text_column="text", label_column="target")

Files, inside the data directory: `train_file`, `dev_file`, `test_file` (default
`train.csv`, `dev.csv`, `test.csv`). Each has a header row naming its columns.

Reading (pandas, every value a str, nothing turned into NaN):

* Delimiter: `delimiter`, else a tab for `.tsv` files and a comma otherwise.
  Comma-separated files use standard CSV quoting (`"a, b"`, `""` for a quote, fields
  may span lines). Tab-separated files are read without quoting, as GLUE's TSVs and
  the original's `_read_tsv`: a `"` is text, and a field cannot hold a tab or line
  break. (A TSV written with quoted fields should be saved as CSV instead.)
* UTF-8 only, with or without a BOM; LF or CRLF line ends; blank lines are skipped.
  Other encodings raise `DataError` naming the file and line.
* Errors name the file and the row, counting the header as row 1 (the line number,
  unless a quoted field spans lines): a row with more fields than the header, a row
  missing the text or label column, an empty file, a file with only a header, a
  missing column (the message lists the columns present), a train/dev label that is
  not in the label list.

Examples: text_a from `text_column`, text_b from `text_b_column` (None: single text),
label from `label_column`, stripped of surrounding spaces. guids `<set>-<i>`, `i` the
0-based data row (the header not counted): `train-0`, `dev-0`, `test-0`.

Test files may lack the label column, or leave it empty: those examples get the first
label (predictions never read it); a test label outside the list also becomes the
first label.

Label list (`get_labels()`, class-id order): `labels` if given (a list or a
comma-separated str, e.g. "neg,pos"); else the distinct labels of the train file,
sorted (numerically when all of them are numbers: 2 before 10). Inferring them needs
the data directory before `get_labels()` is called: pass `data_dir` to the
constructor (run_classifier does, from --data_dir), or call a `get_*_examples` first;
the directory given first is used, and the list is computed once. `get_*_examples`
always read the directory they are given.
"""

from __future__ import annotations

import csv
import io
import math
import os
from typing import Optional, Sequence, Union

from processors.base import DataError, DataProcessor, InputExample, check_label, read_text


def read_table(path: str, delimiter: Optional[str] = None) -> tuple[list[str], list[list[Optional[str]]]]:
    """Reads a delimited text file with pandas into (header, data rows).

    Values are str; a field missing from a short row is None. See the module
    docstring for the delimiter and quoting rules.

    Raises:
      DataError: missing, non-UTF-8, empty or malformed file, or no data rows.
    """
    import pandas as pd  # 0.46 s: only for the tasks that read CSV files

    text = read_text(path)
    if not text.strip():
        raise DataError(f"data file is empty: {path}")
    sep = _delimiter(path, delimiter)
    try:
        # header=None: the python engine reports rows with more fields than the first
        # line (instead of silently turning a column into the index) and gives None
        # for fields missing from short rows.
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False,
            quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL, engine="python",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as e:
        raise DataError(f"{path}: cannot parse as {_sep_name(sep)}-separated values: "
                        f"{' '.join(str(e).split())}") from None
    rows = [[None if _missing(v) else v for v in row] for row in frame.itertuples(index=False)]
    if len(rows) < 2:
        raise DataError(f"no data rows in {path} (only a header)")
    header = ["" if v is None else v.strip() for v in rows[0]]
    return header, rows[1:]


def _delimiter(path: str, delimiter: Optional[str]) -> str:
    if delimiter in (None, ""):
        return "\t" if path.lower().endswith(".tsv") else ","
    if delimiter in ("\\t", "tab", "TAB"):
        return "\t"
    return delimiter


def _sep_name(sep: str) -> str:
    return {"\t": "tab", ",": "comma"}.get(sep, repr(sep))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def column_index(path: str, header: list[str], column: str) -> int:
    """The position of `column` in `header`; DataError if absent or repeated."""
    positions = [i for i, name in enumerate(header) if name == column]
    if not positions:
        raise DataError(f"column {column!r} not found in {path}; columns present: {header}")
    if len(positions) > 1:
        raise DataError(f"column {column!r} appears {len(positions)} times in the header of {path}")
    return positions[0]


def _sort_labels(labels) -> list[str]:
    try:
        values = [float(x) for x in labels]
    except ValueError:
        values = None
    if values is None or not all(math.isfinite(v) for v in values):
        return sorted(labels)
    return [x for _, x in sorted(zip(values, labels))]


class CsvProcessor(DataProcessor):
    """Single-text or text-pair classification from CSV/TSV files with named columns.

    Args:
      text_column: column of the (first) text.
      text_b_column: column of the second text of pairs; None for single texts.
      label_column: column of the label.
      labels: the label list in class-id order (list, or comma-separated str); None to
        use the sorted distinct labels of the train file.
      delimiter: field delimiter; None: tab for `.tsv`, else comma.
      train_file, dev_file, test_file: file names inside the data directory.
      data_dir: where to find the train file when `labels` is None and `get_labels()`
        is called before any `get_*_examples`.
    """

    def __init__(
        self,
        text_column: str = "text",
        text_b_column: Optional[str] = None,
        label_column: str = "label",
        labels: Optional[Union[str, Sequence[str]]] = None,
        delimiter: Optional[str] = None,
        train_file: str = "train.csv",
        dev_file: str = "dev.csv",
        test_file: str = "test.csv",
        data_dir: Optional[str] = None,
    ):
        self.text_column = text_column
        self.text_b_column = text_b_column or None
        self.label_column = label_column
        self.delimiter = delimiter
        self.train_file = train_file
        self.dev_file = dev_file
        self.test_file = test_file
        self.data_dir = data_dir
        self._labels = _parse_labels(labels) if labels is not None else None

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(data_dir, self.train_file, "train")

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(data_dir, self.dev_file, "dev")

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(data_dir, self.test_file, "test")

    def get_labels(self) -> list[str]:
        if self._labels is None:
            if self.data_dir is None:
                raise ValueError(
                    "csv task: no label list; pass labels=... (--labels), or data_dir so that "
                    "the labels of the train file can be used"
                )
            self._labels = self._infer_labels(os.path.join(self.data_dir, self.train_file))
        return list(self._labels)

    # ------------------------------------------------------------------ internals
    def _infer_labels(self, path: str) -> list[str]:
        header, rows = read_table(path, self.delimiter)
        col = column_index(path, header, self.label_column)
        found = set()
        for i, row in enumerate(rows):
            label = _strip(row[col])
            if not label:
                raise DataError(f"{os.path.basename(path)} row {i + 2}: empty label in column "
                                f"{self.label_column!r} ({path})")
            found.add(label)
        return _sort_labels(found)

    def _create_examples(self, data_dir: str, file_name: str, set_type: str) -> list[InputExample]:
        if self.data_dir is None:
            self.data_dir = data_dir
        path = os.path.join(data_dir, file_name)
        header, rows = read_table(path, self.delimiter)
        text_a_col = column_index(path, header, self.text_column)
        text_b_col = None if self.text_b_column is None else column_index(path, header, self.text_b_column)
        is_test = set_type == "test"
        if is_test and self.label_column not in header:
            label_col = None
        else:
            label_col = column_index(path, header, self.label_column)
        labels = self.get_labels()
        examples = []
        for i, row in enumerate(rows):
            for col in (text_a_col, text_b_col) if label_col is None else (text_a_col, text_b_col, label_col):
                if col is not None and row[col] is None:
                    raise DataError(f"{os.path.basename(path)} row {i + 2}: no value in column "
                                    f"{header[col]!r}: the row has fewer fields than the header ({path})")
            label = None if label_col is None else _strip(row[label_col])
            if is_test:
                if label not in labels:
                    label = labels[0]
            else:
                check_label(path, i + 1, label, labels)
            examples.append(InputExample(
                guid=f"{set_type}-{i}",
                text_a=row[text_a_col],
                text_b=None if text_b_col is None else row[text_b_col],
                label=label,
            ))
        return examples


def _strip(value: Optional[str]) -> Optional[str]:
    return None if value is None else value.strip()


def _parse_labels(labels: Union[str, Sequence[str]]) -> list[str]:
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    items = [str(x).strip() for x in items]
    if not items or any(not x for x in items):
        raise ValueError(f"labels must be non-empty names, got {labels!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"labels must be distinct, got {labels!r}")
    return items
