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

Several text columns: `text_column` may name several columns, comma-separated
(`"title,body"`, or a list); text_a is then their values joined with one space
(`TEXT_COLUMN_SEPARATOR`), in the order given, empty values included, as
transformers' `run_classification.py --text_column_names` joins them. (Runs of
whitespace give the same tokens as one space, so an empty column changes nothing.) A
column name therefore cannot hold a comma. Each column must exist in each file.

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

Regression or classification (`problem_type`, transformers' names):

* `"regression"`: one real-valued output trained with mean squared error, as STS-B:
  `output_mode` is `"regression"`, `get_labels()` is empty, train and dev labels are
  floats (a label that is not a finite number is a `DataError` naming the row), test
  labels a float where the file has a number, else None (predictions never read them).
  Not with `labels`.
* `"single_label_classification"`: a class per label, as above.
* None (the default): classification when `labels` is given; else the train file's
  label column decides (`detect_problem_type`), once, when `get_labels()` or
  `output_mode` is first asked for:

  - numbers of which at least one is not a whole number (`3.5`): regression, and the
    console says so and why (`console.show`). A fractional value is never a class id
    in practice, and this is what transformers' `run_glue.py` does with a float label
    column; training one class per distinct score (the issue's 715-class classifier of
    mean ratings) is never what was meant.
  - whole numbers only, more than `MAX_DETECTED_CLASSES` (20) distinct ones: the run
    stops with one line (`DataError`) asking for `problem_type` (`--problem_type`) or
    `labels`. Such a column is as likely a score (0-100 ratings, years) as class ids
    (77 banking intents), and either guess trains a useless model in silence; the user
    knows which it is, and saying so costs one flag.
  - anything else (words, or at most 20 distinct whole numbers): classification.

Multi-label classification (`"multi_label_classification"`): each example carries a set
of labels, possibly empty, written in the label column joined by `label_separator`
(default `,`, as GoEmotions' files: `"joy,surprise"`; a CSV field holding a comma is
quoted). The set is the value split at the separator, each label stripped, empty ones
and repeats dropped (`split_labels`); an empty value is the empty set. `get_labels()` is
a `MultiLabelList`; `InputExample.label` a tuple of labels. Without `problem_type` and
`labels`, a train label column in which any value holds the separator is taken as
multi-label, and the console says so (a single-label column whose labels hold the
separator then needs `problem_type="single_label_classification"`). With `labels` but
no `problem_type` the task stays single-label, and a label holding the separator is
a `DataError` that suggests `--problem_type=multi_label_classification`. Train and
dev labels outside the label list are errors; test labels outside it are dropped.
"""

from __future__ import annotations

import csv
import io
import math
import os
from typing import Optional, Sequence, Union

from bert_estimator.core import console
from bert_estimator.core.errors import UsageError
from processors.base import (  # DEFAULT_LABEL_SEPARATOR: GoEmotions' "sports,politics"
    CLASSIFICATION,
    DEFAULT_LABEL_SEPARATOR,
    MULTI_LABEL,
    REGRESSION,
    DataError,
    DataProcessor,
    InputExample,
    MultiLabelList,
    check_label,
    read_text,
)

# What joins the values of several text columns into text_a (transformers' choice).
TEXT_COLUMN_SEPARATOR = " "
# `problem_type` values (transformers' names) and the output mode of each.
PROBLEM_TYPES = {"regression": REGRESSION, "single_label_classification": CLASSIFICATION,
                 "multi_label_classification": MULTI_LABEL}

# Above this many distinct whole numbers a label column is ambiguous (score or class ids?).
MAX_DETECTED_CLASSES = 20


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


def _number(value: Optional[str]) -> Optional[float]:
    """`value` as a finite float; None when it is no number (or nan, inf)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def split_labels(value: Optional[str], separator: str) -> tuple:
    """The label set of a multi-label column's `value`: its labels split at `separator`,
    stripped, empty ones dropped, duplicates removed, in their order of appearance
    ("b, a,,b" -> ("b", "a")); () for None or an empty value."""
    if value is None:
        return ()
    labels = (label.strip() for label in value.split(separator))
    return tuple(dict.fromkeys(label for label in labels if label))


def detect_problem_type(labels: Sequence[str], where: str) -> tuple[str, str]:
    """The problem type of a label column without `problem_type` or `labels` (module
    docstring): ("regression", why) or ("single_label_classification", "").

    Args:
      labels: the column's values (stripped, none empty), one per data row.
      where: the column and file, e.g. "label column 'score' of /d/train.csv", for messages.

    Raises:
      DataError: more than `MAX_DETECTED_CLASSES` distinct whole numbers (ambiguous).
    """
    numbers = [_number(label) for label in labels]
    if not numbers or any(n is None for n in numbers):
        return "single_label_classification", ""
    distinct = sorted(set(numbers))
    fractional = [label for label, n in zip(labels, numbers) if not n.is_integer()]
    if fractional:
        return "regression", (f"{where} holds numbers ({len(distinct)} distinct, from {distinct[0]:g} to "
                              f"{distinct[-1]:g}), {len(fractional)} of {len(labels)} not whole (e.g. "
                              f"{fractional[0]})")
    if len(distinct) > MAX_DETECTED_CLASSES:
        raise DataError(f"{where} holds {len(distinct)} distinct whole numbers (from {distinct[0]:g} to "
                        f"{distinct[-1]:g}): a score or class ids? Pass --problem_type=regression to predict "
                        f"the number, or --problem_type=single_label_classification (or --labels) to make a "
                        f"class of each")
    return "single_label_classification", ""


class _OutputMode:
    """`CsvProcessor.output_mode`: on the class, the default ("classification", as every
    task's class says); on a processor, the mode of its `problem_type` (read from the
    train file when not given, see the module docstring)."""

    def __get__(self, processor: Optional[CsvProcessor], owner: type) -> str:
        if processor is None:
            return CLASSIFICATION
        return PROBLEM_TYPES[processor.problem_type_in_use()]


class CsvProcessor(DataProcessor):
    """Single-text or text-pair classification (one label or several per example), or
    regression, from CSV/TSV files with named columns.

    Args:
      text_column: column of the (first) text; several comma-separated names (or a
        list) join their values with `TEXT_COLUMN_SEPARATOR` (a space).
      text_b_column: column of the second text of pairs; None for single texts.
      label_column: column of the label.
      labels: the label list in class-id order (list, or comma-separated str); None to
        use the sorted distinct labels of the train file.
      delimiter: field delimiter; None: tab for `.tsv`, else comma.
      train_file, dev_file, test_file: file names inside the data directory.
      data_dir: where to find the train file when `labels` is None and `get_labels()`
        is called before any `get_*_examples`.
      problem_type: "regression", "single_label_classification",
        "multi_label_classification", or None to decide from `labels` and the train
        file (module docstring).
      label_separator: what separates the labels of a multi-label example in the label
        column (default ","); its presence in a train label selects multi-label when
        `problem_type` and `labels` are None.

    Raises:
      ValueError: bad `labels`, `text_column` or `problem_type`.
      UsageError: `labels` with `problem_type="regression"`.
    """

    output_mode = _OutputMode()

    def __init__(
        self,
        text_column: Union[str, Sequence[str]] = "text",
        text_b_column: Optional[str] = None,
        label_column: str = "label",
        labels: Optional[Union[str, Sequence[str]]] = None,
        delimiter: Optional[str] = None,
        train_file: str = "train.csv",
        dev_file: str = "dev.csv",
        test_file: str = "test.csv",
        data_dir: Optional[str] = None,
        problem_type: Optional[str] = None,
        label_separator: Optional[str] = None,
    ):
        self.text_column = text_column
        self.text_columns = _parse_names(text_column, "text_column")
        self.text_b_column = text_b_column or None
        self.label_column = label_column
        self.delimiter = delimiter
        self.train_file = train_file
        self.dev_file = dev_file
        self.test_file = test_file
        self.data_dir = data_dir
        if problem_type is not None and problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}")
        if problem_type == "regression" and labels is not None:
            raise UsageError("--labels lists classes: not with --problem_type=regression (one real-valued output)")
        if label_separator is not None and not label_separator.strip():
            raise ValueError(f"label_separator must hold a visible character, got {label_separator!r}")
        self.label_separator = label_separator or DEFAULT_LABEL_SEPARATOR
        self.problem_type = problem_type
        self._labels = _parse_labels(labels) if labels is not None else None
        self._problem_type = problem_type or ("single_label_classification" if labels is not None else None)

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(data_dir, self.train_file, "train")

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(data_dir, self.dev_file, "dev")

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(data_dir, self.test_file, "test")

    def get_labels(self) -> list[str]:
        """The label list in class-id order; [] for regression; a `MultiLabelList` for
        multi-label classification."""
        problem_type = self.problem_type_in_use()
        if problem_type == "regression":
            return []
        if self._labels is None:
            self._labels = self._infer_labels(self._train_path())
        if problem_type == "multi_label_classification":
            return MultiLabelList(self._labels)
        return list(self._labels)

    def problem_type_in_use(self) -> str:
        """"regression", "single_label_classification" or "multi_label_classification":
        `problem_type`, else decided from `labels` and the train file once: a label
        holding `label_separator` makes it multi-label, else `detect_problem_type`;
        the console is told when that makes a regression or a multi-label task.

        Raises:
          ValueError: the train file is needed but there is no data directory.
          DataError: the train file's label column is ambiguous (or unreadable).
        """
        if self._problem_type is None:
            path = self._train_path()
            values = self._train_values(path)
            joined = [value for value in values if value and self.label_separator in value]
            if joined:
                self._problem_type = "multi_label_classification"
                console.show("csv task: multi-label (one sigmoid output per label), since %d of the %d labels in "
                             "column %r of %s hold the label separator %r (e.g. %r); "
                             "--problem_type=single_label_classification would take each value as one label",
                             len(joined), len(values), self.label_column, path, self.label_separator, joined[0])
                self._labels = self._multi_labels(path, values)  # from the values just read
                return self._problem_type
            labels = self._train_labels(path, values)
            where = f"label column {self.label_column!r} of {path}"
            self._problem_type, why = detect_problem_type(labels, where)
            if self._problem_type == "regression":
                console.show("csv task: regression (one output, mean squared error), since the %s; "
                             "--problem_type=single_label_classification would make a class of each", why)
            else:
                self._labels = _sort_labels(set(labels))
        return self._problem_type

    # ------------------------------------------------------------------ internals
    def _train_path(self) -> str:
        if self.data_dir is None:
            raise ValueError(
                "csv task: no label list; pass labels=... (--labels) or problem_type=... "
                "(--problem_type), or data_dir so that the labels of the train file can be used"
            )
        return os.path.join(self.data_dir, self.train_file)

    def _train_values(self, path: str) -> list[str]:
        """The stripped values of the train file's label column, one per data row ("" for none)."""
        header, rows = read_table(path, self.delimiter)
        col = column_index(path, header, self.label_column)
        return [_strip(row[col]) or "" for row in rows]

    def _train_labels(self, path: str, values: Optional[list[str]] = None) -> list[str]:
        """The stripped labels of the train file, one per data row; DataError for an empty one."""
        values = self._train_values(path) if values is None else values
        for i, label in enumerate(values):
            if not label:
                raise DataError(f"{os.path.basename(path)} row {i + 2}: empty label in column "
                                f"{self.label_column!r} ({path})")
        return values

    def _infer_labels(self, path: str) -> list[str]:
        if self.problem_type_in_use() == "multi_label_classification":
            return self._multi_labels(path, self._train_values(path))
        return _sort_labels(set(self._train_labels(path)))

    def _multi_labels(self, path: str, values: list[str]) -> list[str]:
        """The sorted distinct labels of a multi-label column's `values`; DataError for none."""
        found = {label for value in values for label in split_labels(value, self.label_separator)}
        if not found:
            raise DataError(f"column {self.label_column!r} of {path} holds no label at all; pass --labels")
        return _sort_labels(found)

    def _create_examples(self, data_dir: str, file_name: str, set_type: str) -> list[InputExample]:
        if self.data_dir is None:
            self.data_dir = data_dir
        path = os.path.join(data_dir, file_name)
        header, rows = read_table(path, self.delimiter)
        text_a_cols = [column_index(path, header, name) for name in self.text_columns]
        text_b_col = None if self.text_b_column is None else column_index(path, header, self.text_b_column)
        is_test = set_type == "test"
        if is_test and self.label_column not in header:
            label_col = None
        else:
            label_col = column_index(path, header, self.label_column)
        problem_type = self.problem_type_in_use()
        regression = problem_type == "regression"
        multi_label = problem_type == "multi_label_classification"
        labels = self.get_labels()
        needed = [*text_a_cols, *([] if text_b_col is None else [text_b_col]),
                  *([] if label_col is None else [label_col])]
        examples = []
        for i, row in enumerate(rows):
            for col in needed:
                if row[col] is None:
                    raise DataError(f"{os.path.basename(path)} row {i + 2}: no value in column "
                                    f"{header[col]!r}: the row has fewer fields than the header ({path})")
            label = None if label_col is None else _strip(row[label_col])
            if regression:
                label = self._score(path, i, label, is_test)
            elif multi_label:
                label = split_labels(label, self.label_separator)
                if is_test:  # predictions never read them: labels outside the list are dropped
                    label = tuple(name for name in label if name in labels)
                else:
                    for name in label:
                        check_label(path, i + 1, name, labels)
            elif is_test:
                if label not in labels:
                    label = labels[0]
            else:
                if label not in labels and label and self.label_separator in label:
                    raise DataError(f"{os.path.basename(path)} row {i + 2}: label {label!r} is not one of {labels} "
                                    f"and holds the label separator {self.label_separator!r}: several labels per "
                                    f"example? pass --problem_type=multi_label_classification ({path})")
                check_label(path, i + 1, label, labels)
            examples.append(InputExample(
                guid=f"{set_type}-{i}",
                text_a=TEXT_COLUMN_SEPARATOR.join(row[col] for col in text_a_cols),
                text_b=None if text_b_col is None else row[text_b_col],
                label=label,
            ))
        return examples

    def _score(self, path: str, index: int, label: Optional[str], is_test: bool) -> Optional[float]:
        """The float target of data row `index` (0-based); a test row may have none."""
        score = _number(label)
        if score is None and not is_test:
            raise DataError(f"{os.path.basename(path)} row {index + 2}: label {label!r} in column "
                            f"{self.label_column!r} is not a number, and --problem_type is regression ({path})")
        return score


def _strip(value: Optional[str]) -> Optional[str]:
    return None if value is None else value.strip()


def _parse_names(names: Union[str, Sequence[str]], option: str) -> list[str]:
    """Column names from a comma-separated str or a list; ValueError for an empty one."""
    items = names.split(",") if isinstance(names, str) else list(names)
    items = [str(x).strip() for x in items]
    if not items or any(not x for x in items):
        raise ValueError(f"{option} must be column names, comma-separated, got {names!r}")
    return items


def _parse_labels(labels: Union[str, Sequence[str]]) -> list[str]:
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    items = [str(x).strip() for x in items]
    if not items or any(not x for x in items):
        raise ValueError(f"labels must be non-empty names, got {labels!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"labels must be distinct, got {labels!r}")
    return items
