"""In-graph tokenization: raw strings to BERT's `input_ids`, `input_mask`, `segment_ids`,
with core TensorFlow ops only, the same ids as `tokenization.FullTokenizer` plus
`features.convert_single_example` (truncation included).

`serving.export_model` puts this graph in front of the model as a second signature,
`serving_text`, so a client (TF Serving's REST API, `saved_model_cli run`) can send raw
text. Only core ops are used (regular expressions, string splits and joins, hash
tables, a while loop), so the stock `tensorflow/serving` image loads the export; no
tensorflow-text custom op is needed.

How identity with the Python tokenizer is reached. Every per-character decision of
`BasicTokenizer` (control, whitespace, CJK, punctuation, lower-casing, NFD, `Mn` marks)
is taken from the Python that exports, through `tokenization`'s own classifiers and
`str.lower` / `unicodedata`, and frozen into the graph as regular-expression character
classes and lookup tables. So the graph reproduces the Unicode version of that Python,
not the (different) one of TensorFlow's ICU or RE2 tables:

1. invalid UTF-8 becomes U+FFFD (dropped next, as `convert_to_unicode` drops it);
2. NUL, U+FFFD, `Cc`/`Cf` characters are dropped; whitespace (`Zs`, tab, newline, and
   the U+2028/U+2029 that `str.split()` also splits on) becomes a space;
3. CJK ideographs are surrounded by spaces;
4. with `do_lower_case`: each character c becomes strip_Mn(NFD(c.lower())), from a
   table of the ~16,000 characters this changes. Two context rules of the Python
   functions are reproduced: the final sigma of `str.lower` (Σ becomes ς at the end
   of a word, by regular expressions over Python's cased / case-ignorable classes),
   and NFD's canonical reordering of combining marks, which matters only for the 25
   spacing marks (`Mc`) with a non-zero combining class (a stable sort by combining
   class, done only when such a character is present);
5. punctuation (ASCII symbols and `P*`) is surrounded by spaces; words are split on
   spaces;
6. WordPiece: for every distinct word of the batch, the longest vocabulary piece at
   each character position is looked up at once, then a while loop walks the greedy
   longest-match-first path of all words together; a word without a complete path,
   or longer than 200 characters, becomes [UNK];
7. truncation (`head`, `tail`, `head_tail` for single texts; longest-first for pairs,
   in closed form) and the `[CLS] a [SEP] b [SEP]` layout, padded to the longest
   text of the batch.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import tensorflow.compat.v1 as tf

import tokenization
from bert_estimator.features import TRUNCATION_STRATEGIES, _kept_head_and_tail

MAX_INPUT_CHARS_PER_WORD = 200  # WordpieceTokenizer's default, which FullTokenizer uses
_SIGMA = "\u03a3"
# A marker for "a capital sigma that may be final". Control characters are dropped in
# step 2, so it cannot come from the input.
_MARK = "\x01"
_MAX_CODE_POINT = 0x10FFFF


# ----------------------------------------------------------------- Unicode tables
def _code_points():
    return (cp for cp in range(_MAX_CODE_POINT + 1) if not 0xD800 <= cp <= 0xDFFF)


def _char_class(code_points) -> str:
    """An RE2 character class matching exactly `code_points` (an iterable of ints)."""
    points = sorted(set(code_points))
    if not points:
        raise ValueError("empty character class")
    parts, start, prev = [], points[0], points[0]
    for cp in points[1:] + [None]:
        if cp is not None and cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        if cp is not None:
            start = prev = cp
    return "[" + "".join(parts) + "]"


def _strip_mn(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


@dataclass(frozen=True)
class UnicodeTables:
    """The per-character decisions of `tokenization.BasicTokenizer` on this Python,
    as RE2 character classes (str) and replacement tables (dict str -> str)."""

    unidata_version: str
    drop: str  # removed by _clean_text
    space: str  # become a space (whitespace, and what str.split() also splits on)
    cjk: str
    punctuation: str
    lower: dict  # c -> strip_Mn(NFD(c.lower())) where that differs from c
    lower_nfd: dict  # c -> NFD(c.lower()) where that differs from c (the reordering path)
    combining_class: dict  # c -> canonical combining class, where non-zero
    reorder_trigger: str  # characters whose NFD(lower) holds a non-Mn mark of non-zero class
    nonspacing: str  # category Mn
    cased: str  # Python's "cased and not case-ignorable" (final sigma context)
    case_ignorable: str


@functools.lru_cache(maxsize=None)
def unicode_tables() -> UnicodeTables:
    """The tables of this Python's `unicodedata` (about 2 s on first call; cached)."""
    drop, space, punctuation, cjk = [], [], [], []
    lower, lower_nfd, combining_class, nonspacing = {}, {}, {}, []
    cased, case_ignorable, odd_marks = [], [], set()
    for cp in _code_points():
        char = chr(cp)
        category = unicodedata.category(char)
        if cp in (0, 0xFFFD) or tokenization._is_control(char):
            drop.append(cp)
            continue
        if tokenization._is_whitespace(char) or char.isspace():
            space.append(cp)
            continue
        if tokenization._is_chinese_char(cp):
            cjk.append(cp)
        if tokenization._is_punctuation(char):
            punctuation.append(cp)
        if category == "Mn":
            nonspacing.append(cp)
        ccc = unicodedata.combining(char)
        if ccc:
            combining_class[char] = ccc
            if category != "Mn":
                odd_marks.add(char)
        if category in ("Cn", "Co"):
            continue  # unassigned and private use: no case, no decomposition
        lowered = char.lower()
        decomposed = unicodedata.normalize("NFD", lowered)
        if decomposed != char:
            lower_nfd[char] = decomposed
        stripped = _strip_mn(decomposed)
        if stripped != char:
            lower[char] = stripped
        # Python's final-sigma context (unicodeobject.c, handle_capital_sigma), read off
        # its own behaviour: skipped characters are case-ignorable; the first other one
        # decides by being cased.
        if (char + _SIGMA).lower()[-1] == "\u03c2":
            cased.append(cp)
        elif ("A" + char + _SIGMA).lower()[-1] == "\u03c2":
            case_ignorable.append(cp)
    for table in (lower, lower_nfd):
        table[_SIGMA] = "\u03c3"  # not final: the marked ones are
        table[_MARK] = "\u03c2"
    trigger = [ord(c) for c, d in lower_nfd.items() if odd_marks.intersection(d)] + [ord(c) for c in odd_marks]
    return UnicodeTables(
        unidata_version=unicodedata.unidata_version,
        drop=_char_class(drop), space=_char_class(space), cjk=_char_class(cjk),
        punctuation=_char_class(punctuation), lower=lower, lower_nfd=lower_nfd,
        combining_class=combining_class, reorder_trigger=_char_class(trigger),
        nonspacing=_char_class(nonspacing), cased=_char_class(cased + [ord(_MARK)]),
        case_ignorable=_char_class(case_ignorable))


# ------------------------------------------------------------------ graph: basic
def _string_table(mapping: Mapping[str, str], name: str):
    keys = sorted(mapping)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, [mapping[k] for k in keys], tf.string, tf.string),
        default_value="\xff", name=name)  # "\xff" is never valid UTF-8: "not in the table"


def _map_chars(texts, table):
    """Each character of each text replaced by its table entry (itself if none)."""
    chars = tf.strings.unicode_split(texts, "UTF-8")
    mapped = table.lookup(chars.flat_values)
    values = tf.where_v2(tf.equal(mapped, "\xff"), chars.flat_values, mapped)
    return tf.strings.reduce_join(chars.with_flat_values(values), axis=-1)


def _final_sigma(texts, tables: UnicodeTables):
    """Marks each capital sigma in the final-sigma context of Python's str.lower:
    preceded by a cased character (case-ignorable ones skipped) and not followed by one.
    Each rule runs twice: a match consumes its context, which may be the next sigma."""
    cased, ignorable = tables.cased, tables.case_ignorable
    for _ in range(2):
        texts = tf.strings.regex_replace(texts, f"({cased}{ignorable}*){_SIGMA}", "\\1" + _MARK)
    for _ in range(2):
        texts = tf.strings.regex_replace(texts, f"{_MARK}({ignorable}*{cased})", _SIGMA + "\\1")
    return texts


def _lower_reordering(texts, lower_nfd_table, ccc_table, nonspacing: str):
    """strip_Mn(NFD(lower(text))) with NFD's canonical reordering: each run of
    characters of non-zero combining class is sorted (stably) by that class before the
    Mn marks go. Needed only for the few spacing marks with a non-zero class."""
    decomposed = _map_chars(texts, lower_nfd_table)
    chars = tf.strings.unicode_split(decomposed, "UTF-8")
    flat = chars.flat_values
    ccc = ccc_table.lookup(flat)
    first_in_row = tf.equal(tf.ragged.range(chars.row_lengths()).flat_values, 0)
    run = tf.cumsum(tf.cast(tf.equal(ccc, 0) | first_in_row, tf.int64))
    order = tf.argsort(run * 256 + ccc, stable=True)
    joined = tf.strings.reduce_join(chars.with_flat_values(tf.gather(flat, order)), axis=-1)
    return tf.strings.regex_replace(joined, nonspacing, "")


def basic_tokenize(texts, do_lower_case: bool, tables: Optional[UnicodeTables] = None):
    """`BasicTokenizer.tokenize` of a [batch] string tensor: a RaggedTensor [batch, (words)]."""
    tables = tables or unicode_tables()
    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
    texts = tf.strings.regex_replace(texts, tables.drop, "")
    texts = tf.strings.regex_replace(texts, tables.space, " ")
    texts = tf.strings.regex_replace(texts, f"({tables.cjk})", " \\1 ")
    if do_lower_case:
        texts = _final_sigma(texts, tables)
        # Tables outside the branches: a table made inside a cond branch is not initialized.
        lower_table = _string_table(tables.lower, "lower")
        lower_nfd_table = _string_table(tables.lower_nfd, "lower_nfd")
        keys = sorted(tables.combining_class)
        ccc_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, [tables.combining_class[k] for k in keys], tf.string,
                                                tf.int64), default_value=0, name="combining_class")
        needs_reordering = tf.reduce_any(tf.strings.regex_full_match(texts, f"(?s).*{tables.reorder_trigger}.*"))
        texts = tf.cond(needs_reordering,
                        lambda: _lower_reordering(texts, lower_nfd_table, ccc_table, tables.nonspacing),
                        lambda: _map_chars(texts, lower_table))
    texts = tf.strings.regex_replace(texts, f"({tables.punctuation})", " \\1 ")
    return tf.strings.split(texts, result_type="RaggedTensor")


# -------------------------------------------------------------- graph: WordPiece
def wordpiece_ids(words, vocab_table, unk_id: int, max_piece_chars: int,
                  max_input_chars_per_word: int = MAX_INPUT_CHARS_PER_WORD):
    """`WordpieceTokenizer` (greedy longest match first) of a [words] string tensor, as
    ids: a RaggedTensor [words, (pieces)] of int64.

    Args:
      words: 1-D string tensor, each a word without whitespace.
      vocab_table: a string -> int64 lookup table, -1 for tokens not in the vocabulary.
      unk_id: the id of [UNK].
      max_piece_chars: no vocabulary token (without its "##") is longer than this.
      max_input_chars_per_word: longer words become [UNK] whole.
    """
    unique, index = tf.unique(words)
    length = tf.strings.length(unique, unit="UTF8_CHAR")
    too_long = length > max_input_chars_per_word
    length = tf.where_v2(too_long, tf.zeros_like(length), length)
    # Every (word, start) position, then every candidate piece length at it.
    starts = tf.ragged.range(tf.cast(length, tf.int64))
    start, word = starts.flat_values, starts.value_rowids()
    longest = tf.minimum(tf.cast(max_piece_chars, tf.int64), tf.gather(tf.cast(length, tf.int64), word) - start)
    sizes = tf.ragged.range(1, longest + 1)
    size, position = sizes.flat_values, sizes.value_rowids()
    cand_start = tf.gather(start, position)
    piece = tf.strings.substr(tf.gather(unique, tf.gather(word, position)), cand_start, size, unit="UTF8_CHAR")
    piece = tf.where_v2(cand_start > 0, tf.strings.join(["##", piece]), piece)
    ids = vocab_table.lookup(piece)
    found = ids >= 0
    # The longest piece at each position, and its id (0 length: none).
    best_size = tf.math.segment_max(tf.where_v2(found, size, tf.zeros_like(size)), position)
    best_id = tf.math.segment_max(
        tf.where_v2(found & tf.equal(size, tf.gather(best_size, position)), ids, -tf.ones_like(ids)), position)

    # The greedy walk, all words at once: each step takes the longest piece where the
    # word's walk stands.
    row_start = starts.row_splits[:-1]
    num_words = tf.size(unique)
    pieces = tf.TensorArray(tf.int64, size=1, dynamic_size=True, element_shape=tf.TensorShape([None]))
    pieces = pieces.write(0, -tf.ones([num_words], tf.int64))

    def step(i, cursor, active, failed, pieces):
        at = tf.where_v2(active, row_start + cursor, tf.zeros_like(cursor))
        size_here = tf.gather(best_size, at)
        matched = active & (size_here > 0)
        pieces = pieces.write(i, tf.where_v2(matched, tf.gather(best_id, at), -tf.ones_like(at)))
        cursor = cursor + tf.where_v2(matched, size_here, tf.zeros_like(size_here))
        return (i + 1, cursor, matched & (cursor < tf.cast(length, tf.int64)),
                failed | (active & ~matched), pieces)

    _, _, _, failed, pieces = tf.while_loop(
        lambda i, cursor, active, failed, pieces: tf.reduce_any(active), step,
        (tf.constant(1), tf.zeros([num_words], tf.int64), length > 0, tf.zeros([num_words], tf.bool), pieces),
        maximum_iterations=max_input_chars_per_word + 1, back_prop=False)
    walked = tf.transpose(pieces.stack())  # [unique words, steps + 1]
    unknown = too_long | failed
    first_column = tf.equal(tf.range(tf.shape(walked)[1]), 0)[tf.newaxis, :]
    unk_row = tf.where_v2(first_column, tf.fill(tf.shape(walked), tf.constant(unk_id, tf.int64)),
                       -tf.ones_like(walked))
    walked = tf.where_v2(tf.broadcast_to(unknown[:, tf.newaxis], tf.shape(walked)), unk_row, walked)
    per_unique = tf.ragged.boolean_mask(walked, walked >= 0)
    return tf.gather(per_unique, index)


# ------------------------------------------------------------ graph: the features
@dataclass(frozen=True)
class TokenizerSpec:
    """What the graph needs of the tokenization of training."""

    vocab: Mapping[str, int]  # tokenization.load_vocab's token -> id
    do_lower_case: bool
    max_seq_length: int
    truncation: str = "head"

    @classmethod
    def from_vocab_file(cls, vocab_file: str, do_lower_case: bool, max_seq_length: int,
                        truncation: str = "head") -> TokenizerSpec:
        return cls(tokenization.load_vocab(vocab_file), bool(do_lower_case), int(max_seq_length), truncation)

    def check(self) -> None:
        """ValueError when the graph cannot be built (the Python path would fail too)."""
        missing = [t for t in ("[CLS]", "[SEP]", "[UNK]") if t not in self.vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks {', '.join(missing)}")
        if self.truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(f"unknown truncation strategy {self.truncation!r}")
        if self.max_seq_length < 3:
            raise ValueError(f"max_seq_length must be at least 3, got {self.max_seq_length}")


def token_ids(texts, spec: TokenizerSpec, tables: Optional[UnicodeTables] = None):
    """`FullTokenizer.convert_tokens_to_ids(FullTokenizer.tokenize(text))` of each text of
    a [batch] string tensor: a RaggedTensor [batch, (tokens)] of int64."""
    tokens = sorted(spec.vocab, key=spec.vocab.get)
    vocab_table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tokens, [spec.vocab[t] for t in tokens], tf.string, tf.int64),
        default_value=-1, name="vocab")
    max_piece_chars = max(len(t[2:] if t.startswith("##") else t) for t in tokens) or 1
    words = basic_tokenize(texts, spec.do_lower_case, tables)
    pieces = wordpiece_ids(words.flat_values, vocab_table, spec.vocab["[UNK]"], max_piece_chars)
    return words.with_flat_values(pieces).merge_dims(1, 2)


def _keep_first(ids, counts):
    """The first `counts[i]` ids of each row."""
    positions = tf.ragged.range(ids.row_lengths())
    return tf.ragged.boolean_mask(ids, positions < tf.expand_dims(counts, 1))


def truncate_single(ids, max_length: int, strategy: str):
    """`features.truncate_single` of each row of a RaggedTensor of ids."""
    head, tail = _kept_head_and_tail(max_length, strategy)
    lengths = ids.row_lengths()
    positions = tf.ragged.range(lengths)
    total = tf.expand_dims(lengths, 1)
    keep = (total <= max_length) | (positions < head) | (positions >= total - tail)
    return tf.ragged.boolean_mask(ids, keep)


def truncate_pair(ids_a, ids_b, max_length: int):
    """`features._truncate_seq_pair` (pop from the longer, from b on a tie) of each row
    pair, in closed form: a keeps min(len_a, max(ceil(M/2), M - len_b)) ids."""
    len_a, len_b = ids_a.row_lengths(), ids_b.row_lengths()
    over = len_a + len_b > max_length
    keep_a = tf.where_v2(over, tf.minimum(len_a, tf.maximum(tf.cast((max_length + 1) // 2, tf.int64),
                                                         max_length - len_b)), len_a)
    keep_b = tf.where_v2(over, max_length - keep_a, len_b)
    return _keep_first(ids_a, keep_a), _keep_first(ids_b, keep_b)


def features(text_a, text_b, spec: TokenizerSpec, tables: Optional[UnicodeTables] = None):
    """The model inputs of raw texts, as `features.convert_single_example` lays them out.

    Args:
      text_a: [batch] string tensor.
      text_b: [batch] string tensor (pairs), or None. A text_b without tokens (empty)
        makes a single-text example, as in the Python path.
      spec: the vocabulary, casing, max_seq_length and truncation of training.

    Returns:
      (input_ids, input_mask, segment_ids): int32 [batch, longest], zero padded to the
      longest example of the batch (at most max_seq_length).
    """
    spec.check()
    vocab = spec.vocab
    ids_a = token_ids(text_a, spec, tables)
    batch = ids_a.nrows()
    if text_b is None:
        ids_b = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int64), tf.zeros([batch], tf.int64))
    else:
        ids_b = token_ids(text_b, spec, tables)
    is_pair = ids_b.row_lengths() > 0
    single_a = truncate_single(ids_a, spec.max_seq_length - 2, spec.truncation)
    pair_a, pair_b = truncate_pair(ids_a, ids_b, spec.max_seq_length - 3)
    ids_a = _choose_rows(is_pair, pair_a, single_a)
    ids_b = pair_b

    def column(token_id, present):
        return tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(present, tf.int64))], tf.constant(token_id, tf.int64)),
            tf.cast(present, tf.int64))

    every = tf.ones_like(is_pair)
    cls, sep = column(vocab["[CLS]"], every), column(vocab["[SEP]"], every)
    sep_b = column(vocab["[SEP]"], is_pair)
    ids = tf.concat([cls, ids_a, sep, ids_b, sep_b], axis=1)
    segments = tf.concat([tf.zeros_like(cls), tf.zeros_like(ids_a), tf.zeros_like(sep),
                          tf.ones_like(ids_b), tf.ones_like(sep_b)], axis=1)
    input_ids = tf.cast(ids.to_tensor(0), tf.int32)
    input_mask = tf.cast(tf.ones_like(ids).to_tensor(0), tf.int32)
    segment_ids = tf.cast(segments.to_tensor(0), tf.int32)
    return input_ids, input_mask, segment_ids


def _choose_rows(condition, if_true, if_false):
    """Row i of `if_true` where condition[i], else of `if_false` (RaggedTensors of equal nrows)."""
    return tf.concat([tf.ragged.boolean_mask(if_true, _row_mask(if_true, condition)),
                      tf.ragged.boolean_mask(if_false, _row_mask(if_false, ~condition))], axis=1)


def _row_mask(ragged, rows):
    """A ragged bool mask like `ragged`, True in the rows where `rows` is True."""
    return ragged.with_flat_values(tf.gather(rows, ragged.value_rowids()))
