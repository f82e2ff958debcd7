"""The casing of a BERT model (its tokenizer's `do_lower_case`): recorded, inferred, enforced.

Google's checkpoints do not record their casing: the original checks `--do_lower_case`
only against the names of Google's released directories
(`tokenization.validate_case_matches_checkpoint`), so a renamed or converted cased
model is silently lower-cased and every capitalised word misses its vocabulary.

The record. `convert_checkpoint.py` writes `tokenizer_config.json` beside
`bert_config.json`: Hugging Face's file name and key, so that HF's tokenizers read it
too (`tokenizer_class` lets `AutoTokenizer` load the directory):

    {"do_lower_case": false, "tokenizer_class": "BertTokenizer"}

Where the converter takes the casing from, first found: `do_lower_case` of the HF
directory's own `tokenizer_config.json`; else the vocabulary (`vocab_casing`); else
`BertTokenizer`'s default, True (with a warning).

Enforcing (`model_casing`, `check_vocab`; `checks.tokenizer_settings` runs them):

1. a record (`tokenizer_config.json` with a boolean `do_lower_case`) beside
   `--init_checkpoint`, `--vocab_file` or `--bert_config_file`: its value is used when
   `--do_lower_case` is not given; a `--do_lower_case` that contradicts it stops;
2. no record (Google's zips): the original's name check, then the vocabulary check:
   lower-casing with a cased vocabulary, or keeping case with an uncased one, stops.

`--allow_casing_mismatch` turns both stops into a logged warning (the flag's value is
used). The original's name check cannot be overridden, as in the original.

Vocabulary casing: a word piece is *upper-case* when lower-casing changes it ('The',
'##ELL'; not 'ℝ', which has no lower case). Special tokens ([UNK], [unused7], <S>) are
left out. At least `MIN_CASED_PIECES` upper-case pieces: cased (Google's cased vocab
has thousands); none, with at least that many lower-case ones: uncased (Google's
uncased and Chinese vocabs have none besides the special tokens); anything else
(a handful, or too few letters to tell): unknown, and nothing is checked.

Importing this module does not import TensorFlow (the converter's start-up stays
quiet); remote paths (`gs://`) are read through `tf.io.gfile` when met.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Iterable, Optional

from bert_estimator.core import fileio
from bert_estimator.core.errors import UsageError, UserError

RECORD_FILE = "tokenizer_config.json"
MIN_CASED_PIECES = 5
_SPECIAL = re.compile(r"^(\[[^\]]*\]|<[^>]*>)$")
FLAG = "--allow_casing_mismatch"


class CasingError(UsageError):
    """`--do_lower_case` contradicts the model's casing; one-line message."""


# ------------------------------------------------------------------------------ files
def _is_remote(path: str) -> bool:
    return "://" in path


def _exists(path: str) -> bool:
    if _is_remote(path):
        return fileio.gfile().exists(path)
    return os.path.isfile(path)


def _read_bytes(path: str) -> bytes:
    if _is_remote(path):
        with fileio.gfile().GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


# ----------------------------------------------------------------------- vocabulary
@dataclass(frozen=True)
class VocabCasing:
    """What a vocabulary's word pieces say about its casing."""

    casing: str  # "cased", "uncased" or "unknown"
    upper: int  # word pieces that lower-casing changes
    lower: int  # word pieces that upper-casing changes
    examples: tuple  # a few upper-case pieces

    def describe(self) -> str:
        if self.casing == "cased":
            shown = ", ".join(repr(t) for t in self.examples)
            return f"cased ({self.upper} word pieces with upper-case letters, e.g. {shown})"
        if self.casing == "uncased":
            return "uncased (no word piece has an upper-case letter)"
        return f"of unclear casing ({self.upper} word pieces with upper-case letters)"


def vocab_casing_of_tokens(tokens: Iterable[str]) -> VocabCasing:
    """The casing of a vocabulary given as its tokens (see the module docstring)."""
    upper, lower, examples = 0, 0, []
    for token in tokens:
        token = token.strip()
        if not token or _SPECIAL.match(token):
            continue
        if token != token.lower():
            upper += 1
            if len(examples) < 3:
                examples.append(token)
        if token != token.upper():
            lower += 1
    if upper >= MIN_CASED_PIECES:
        casing = "cased"
    elif upper == 0 and lower >= MIN_CASED_PIECES:
        casing = "uncased"
    else:
        casing = "unknown"
    return VocabCasing(casing, upper, lower, tuple(examples))


def vocab_casing(vocab_file: str) -> VocabCasing:
    """The casing of the vocabulary file `vocab_file` (UTF-8, one token a line)."""
    text = _read_bytes(vocab_file).decode("utf-8", errors="replace")
    return vocab_casing_of_tokens(text.splitlines())


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Record:
    """A casing record: `path` says the model's tokenizer lower-cases (or not)."""

    path: str
    do_lower_case: bool


def read_do_lower_case(path: str) -> Optional[bool]:
    """`do_lower_case` of the tokenizer_config.json at `path`; None when the file or the
    key is absent. A file that is not a JSON object, or a non-boolean value, is a
    UserError naming the file."""
    if not _exists(path):
        return None
    try:
        config = json.loads(_read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise UserError(f"{path} does not hold a JSON object")
    value = config.get("do_lower_case")
    if value is None:
        return None
    if not isinstance(value, bool):
        raise UserError(f"{path} has do_lower_case={value!r}; expected true or false")
    return value


def find_records(files: Iterable[Optional[str]]) -> list[Record]:
    """The casing records in the directories of `files` (a checkpoint prefix, a vocab
    file...), in that order, each directory once."""
    records, seen = [], set()
    for file in files:
        if not file:
            continue
        path = os.path.join(os.path.dirname(file), RECORD_FILE)
        if path in seen:
            continue
        seen.add(path)
        value = read_do_lower_case(path)
        if value is not None:
            records.append(Record(path, value))
    return records


def record_json(do_lower_case: bool) -> str:
    """The text of the tokenizer_config.json the converter writes."""
    return json.dumps({"do_lower_case": bool(do_lower_case), "tokenizer_class": "BertTokenizer"}, indent=2) + "\n"


def _casing_name(do_lower_case: bool) -> str:
    return "uncased (do_lower_case=true there)" if do_lower_case else "cased (do_lower_case=false there)"


# ------------------------------------------------------------------------ enforcing
def model_casing(do_lower_case: bool, given: bool, allow_mismatch: bool,
                 files: Iterable[Optional[str]]) -> tuple[bool, Optional[Record], Optional[str]]:
    """(do_lower_case to use, the record it follows or None, a warning or None).

    `given`: whether --do_lower_case was on the command line. Raises CasingError when
    records disagree, or when a given --do_lower_case contradicts the record (unless
    `allow_mismatch`)."""
    try:
        records = find_records(files)
    except UserError as e:
        raise UsageError(str(e)) from None
    if not records:
        return do_lower_case, None, None
    record = records[0]
    for other in records[1:]:
        if other.do_lower_case != record.do_lower_case:
            raise CasingError(f"the casing records disagree: {record.path} says "
                              f"do_lower_case={str(record.do_lower_case).lower()}, {other.path} says "
                              f"{str(other.do_lower_case).lower()} (are --vocab_file and --init_checkpoint "
                              "from different models?)")
    if not given or do_lower_case == record.do_lower_case:
        return record.do_lower_case, record, None
    message = (f"--do_lower_case={do_lower_case} contradicts {record.path}: the model is "
               f"{_casing_name(record.do_lower_case)}")
    if not allow_mismatch:
        raise CasingError(f"{message}; pass --do_lower_case={record.do_lower_case} or leave the flag out "
                          f"({FLAG} to go on anyway)")
    return do_lower_case, record, f"{message}; going on as {FLAG} is set"


def check_vocab(do_lower_case: bool, given: bool, allow_mismatch: bool, vocab_file: str) -> Optional[str]:
    """With no record: stops (CasingError) when `do_lower_case` contradicts the casing of
    `vocab_file`; returns a warning instead when `allow_mismatch`, else None."""
    vocab = vocab_casing(vocab_file)
    if vocab.casing == "unknown" or (vocab.casing == "uncased") == do_lower_case:
        return None
    flag = f"--do_lower_case={do_lower_case}" + ("" if given else " (the default)")
    effect = "lower-cases the input" if do_lower_case else "keeps upper case"
    message = (f"{flag} {effect} but --vocab_file {vocab_file} is {vocab.describe()}: capitalised words "
               "would miss it")
    if not allow_mismatch:
        raise CasingError(f"{message}; pass --do_lower_case={not do_lower_case} ({FLAG} to go on anyway)")
    return f"{message}; going on as {FLAG} is set"


# --------------------------------------------------------------------------- export
def export_warning(do_lower_case: bool, vocab_casing_name: str, export_dir: str) -> Optional[str]:
    """A warning when an export's tokenization contradicts its vocabulary (a model
    fine-tuned that way, before casing was checked, or with --allow_casing_mismatch):
    the export keeps tokenizing as in training; None when they agree."""
    if vocab_casing_name == "unknown" or (vocab_casing_name == "uncased") == bool(do_lower_case):
        return None
    how = "lower-cases texts" if do_lower_case else "keeps upper case"
    return (f"{export_dir} {how} (do_lower_case={str(bool(do_lower_case)).lower()}, as in training) but its "
            f"vocabulary is {vocab_casing_name}: capitalised words miss it; fine-tune again with "
            f"--do_lower_case={not do_lower_case} for a better model")
