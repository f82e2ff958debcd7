"""In-graph tokenization: raw strings to BERT's `input_ids`, `input_mask`, `segment_ids`,
with core TensorFlow ops only, the same ids as `tokenization.FullTokenizer` plus
`features.convert_single_example` (truncation included).

`saved_model.export_model` puts this graph in front of the model as a second signature,
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
4. with `do_lower_case`: ASCII texts only have their letters lower-cased; in the
   others each character c becomes strip_Mn(NFD(c.lower())), from a table of the
   ~16,000 characters this changes. Two context rules of the Python functions are
   reproduced: the final sigma of `str.lower` (Σ becomes ς at the end of a word, by
   regular expressions over Python's cased / case-ignorable classes), and NFD's
   canonical reordering of combining marks, which matters only for the 25 spacing
   marks (`Mc`) with a non-zero combining class (a stable sort by combining class,
   taken only when a batch holds such a character). Characters are split by a
   regular expression, not `tf.strings.unicode_split`, which turns noncharacters
   (U+FDD0, U+FFFF, ...) into U+FFFD;
5. punctuation (ASCII symbols and `P*`) is surrounded by spaces; words are split on
   spaces;
6. WordPiece: a word of the vocabulary is one piece; for the other distinct words of
   the batch, the longest vocabulary piece at each character position is looked up
   at once, then a while loop walks the greedy longest-match-first path of all of
   them together; a word without a complete path, or longer than 200 characters,
   becomes [UNK];
7. truncation (`head`, `tail`, `head_tail` for single texts; longest-first for pairs)
   in closed form, and the `[CLS] a [SEP] b [SEP]` layout by one gather, padded to
   the longest example of the batch.

Measured (tests/test_text_signature.py): identical words and ids on all 23,703 texts
of the four vaderSentiment ground-truth files, on 101 adversarial texts and on 2,000
seeded random strings of every Unicode category, lower-cased and cased.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Mapping, Optional

import tensorflow.compat.v1 as tf

import tokenization
from bert_estimator.data.features import TRUNCATION_STRATEGIES, kept_head_and_tail

MAX_INPUT_CHARS_PER_WORD = 200  # WordpieceTokenizer's default, which FullTokenizer uses
_SIGMA = "\u03a3"
# A marker for "a capital sigma that may be final". Control characters are dropped in
# step 2, so it cannot come from the input.
_MARK = "\x01"
_SEPARATOR = "\x02"  # between characters, likewise
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


@functools.cache
def unicode_tables() -> UnicodeTables:
    """The tables of this Python's `unicodedata` (about 2 s on first call; cached)."""
    drop, space, punctuation, cjk = [], [], [], []
    lower, lower_nfd, combining_class, nonspacing = {}, {}, {}, []
    cased, case_ignorable, odd_marks = [], [], set()
    for cp in _code_points():
        char = chr(cp)
        category = unicodedata.category(char)
        if cp in (0, 0xFFFD) or tokenization.is_control(char):
            drop.append(cp)
            continue
        if tokenization.is_whitespace(char) or char.isspace():
            space.append(cp)
            continue
        if tokenization.is_chinese_char(cp):
            cjk.append(cp)
        if tokenization.is_punctuation(char):
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


def _split_chars(texts):
    """RaggedTensor [batch, (characters)] of the texts, each ending with an extra "".
    (Not `tf.strings.unicode_split`: it replaces noncharacters such as U+FDD0 by U+FFFD.)
    The separator is a control character: the cleaning step has removed them all."""
    return tf.strings.split(tf.strings.regex_replace(texts, "(?s)(.)", "\\1" + _SEPARATOR), sep=_SEPARATOR,
                            result_type="RaggedTensor")


def _map_chars(texts, table):
    """Each character of each text replaced by its table entry (itself if none)."""
    chars = _split_chars(texts)
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
    chars = _split_chars(decomposed)
    flat = chars.flat_values
    ccc = ccc_table.lookup(flat)
    first_in_row = tf.equal(tf.ragged.range(chars.row_lengths()).flat_values, 0)
    run = tf.cumsum(tf.cast(tf.equal(ccc, 0) | first_in_row, tf.int64))
    order = tf.argsort(run * 256 + ccc, stable=True)
    joined = tf.strings.reduce_join(chars.with_flat_values(tf.gather(flat, order)), axis=-1)
    return tf.strings.regex_replace(joined, nonspacing, "")


def _lower(texts, tables: UnicodeTables):
    """strip_Mn(NFD(str.lower(word))) for each word of the cleaned texts. In ASCII
    texts only the letters change; the others go through the tables."""
    texts = tf.strings.lower(texts)  # no encoding given: ASCII letters only, as str.lower does them
    others = tf.where_v2(~tf.strings.regex_full_match(texts, "[\\x00-\\x7f]*"))
    unicode_texts = _final_sigma(tf.gather_nd(texts, others), tables)
    # The tables outside the branches: one made inside a cond branch is not initialized.
    lower_table = _string_table(tables.lower, "lower")
    lower_nfd_table = _string_table(tables.lower_nfd, "lower_nfd")
    keys = sorted(tables.combining_class)
    ccc_table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, [tables.combining_class[k] for k in keys], tf.string, tf.int64),
        default_value=0, name="combining_class")
    needs_reordering = tf.reduce_any(
        tf.strings.regex_full_match(unicode_texts, f"(?s).*{tables.reorder_trigger}.*"))
    unicode_texts = tf.cond(
        needs_reordering, lambda: _lower_reordering(unicode_texts, lower_nfd_table, ccc_table, tables.nonspacing),
        lambda: _map_chars(unicode_texts, lower_table))
    return tf.tensor_scatter_nd_update(texts, others, unicode_texts)


def basic_tokenize(texts, do_lower_case: bool, tables: Optional[UnicodeTables] = None):
    """`BasicTokenizer.tokenize` of a [batch] string tensor: a RaggedTensor [batch, (words)]."""
    tables = tables or unicode_tables()
    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
    texts = tf.strings.regex_replace(texts, tables.drop, "")
    texts = tf.strings.regex_replace(texts, tables.space, " ")
    texts = tf.strings.regex_replace(texts, f"({tables.cjk})", " \\1 ")
    if do_lower_case:
        texts = _lower(texts, tables)
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
    unique, index = tf.unique(words, out_idx=tf.int64)
    num_unique = tf.size(unique, out_type=tf.int64)
    length = tf.cast(tf.strings.length(unique, unit="UTF8_CHAR"), tf.int64)
    too_long = length > max_input_chars_per_word
    whole = vocab_table.lookup(unique)
    # A word of the vocabulary is its own longest first piece: one piece, no search.
    single = tf.where_v2(too_long | (whole < 0), tf.constant(unk_id, tf.int64), whole)
    to_split = tf.where_v2(~too_long & (whole < 0))[:, 0]
    num_split = tf.size(to_split, out_type=tf.int64)
    pieces = _split_words(tf.gather(unique, to_split), tf.gather(length, to_split), vocab_table, unk_id,
                          max_piece_chars, max_input_chars_per_word)
    # The rows: those of the split words, then one single piece for every unique word.
    rows = tf.concat([pieces, tf.RaggedTensor.from_row_lengths(single, tf.ones_like(single))], axis=0)
    row_of_unique = tf.tensor_scatter_nd_update(tf.range(num_unique) + num_split, to_split[:, tf.newaxis],
                                                tf.range(num_split))
    return tf.gather(rows, tf.gather(row_of_unique, index))


def _split_words(words, length, vocab_table, unk_id: int, max_piece_chars: int, max_steps: int):
    """The WordPiece split of words that are not a vocabulary token (each at most
    `max_steps` characters): RaggedTensor [words, (pieces)], [UNK] for a word without
    a complete split."""
    # Every (word, start) position, then every candidate piece length at it.
    starts = tf.ragged.range(length)
    start, word = starts.flat_values, starts.value_rowids()
    longest = tf.minimum(tf.constant(max_piece_chars, tf.int64), tf.gather(length, word) - start)
    sizes = tf.ragged.range(tf.ones_like(longest), longest + 1)
    size, position = sizes.flat_values, sizes.value_rowids()
    candidate_start = tf.gather(start, position)
    piece = tf.strings.substr(tf.gather(words, tf.gather(word, position)), candidate_start, size,
                              unit="UTF8_CHAR")
    piece = tf.where_v2(candidate_start > 0, tf.strings.join(["##", piece]), piece)
    ids = vocab_table.lookup(piece)
    found = ids >= 0
    # The longest piece at each position (0: none) and its id.
    num_positions = tf.size(start, out_type=tf.int64)
    best_size = tf.math.unsorted_segment_max(tf.where_v2(found, size, 0), position, num_positions)
    best_id = tf.math.unsorted_segment_max(
        tf.where_v2(found & tf.equal(size, tf.gather(best_size, position)), ids, -1), position, num_positions)

    # The greedy walk, all words at once: each step takes the longest piece where the
    # word's walk stands.
    row_start = starts.row_starts()
    num_words = tf.size(words)
    walk = tf.TensorArray(tf.int64, size=1, dynamic_size=True, element_shape=tf.TensorShape([None]))
    walk = walk.write(0, -tf.ones([num_words], tf.int64))

    def step(i, cursor, active, failed, walk):
        at = tf.where_v2(active, row_start + cursor, 0)
        size_here = tf.gather(best_size, at)
        matched = active & (size_here > 0)
        walk = walk.write(i, tf.where_v2(matched, tf.gather(best_id, at), -1))
        cursor = cursor + tf.where_v2(matched, size_here, 0)
        return i + 1, cursor, matched & (cursor < length), failed | (active & ~matched), walk

    _, _, _, failed, walk = tf.while_loop(
        lambda i, cursor, active, failed, walk: tf.reduce_any(active), step,
        (tf.constant(1), tf.zeros([num_words], tf.int64), length > 0, tf.zeros([num_words], tf.bool), walk),
        maximum_iterations=max_steps + 1, back_prop=False)
    walked = tf.transpose(walk.stack())  # [words, steps + 1]: the piece ids, -1 where none
    first_column = tf.equal(tf.range(tf.shape(walked)[1]), 0)[tf.newaxis, :]
    walked = tf.where_v2(failed[:, tf.newaxis], tf.where_v2(first_column, tf.constant(unk_id, tf.int64), -1),
                         walked)
    return tf.ragged.boolean_mask(walked, walked >= 0)


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


def kept_tokens(len_a, len_b, max_seq_length: int, truncation: str):
    """Which tokens `convert_single_example` keeps, per row, in closed form: a keeps
    `keep_a` tokens, its first `split` ones and then the ones `gap` further on (its
    tail); b keeps its first `keep_b`.

    Single texts (len_b 0): `truncate_single` to max_seq_length - 2 by `truncation`.
    Pairs: `_truncate_seq_pair` to max_seq_length - 3 (pop from the longer, from b on a
    tie), which leaves a with min(len_a, max(ceil(M/2), M - len_b)) and b the rest.

    Returns:
      (keep_a, keep_b, split, gap): int64 tensors like `len_a`.
    """
    single_budget, pair_budget = max_seq_length - 2, max_seq_length - 3
    head, _ = kept_head_and_tail(single_budget, truncation)
    is_pair = len_b > 0
    over_pair = len_a + len_b > pair_budget
    pair_a = tf.where_v2(over_pair, tf.minimum(len_a, tf.maximum(tf.constant((pair_budget + 1) // 2, tf.int64),
                                                                 pair_budget - len_b)), len_a)
    keep_b = tf.where_v2(is_pair, tf.where_v2(over_pair, pair_budget - pair_a, len_b), 0)
    over_single = ~is_pair & (len_a > single_budget)
    keep_a = tf.where_v2(is_pair, pair_a, tf.minimum(len_a, single_budget))
    split = tf.where_v2(over_single, tf.constant(head, tf.int64), keep_a)
    gap = tf.where_v2(over_single, len_a - single_budget, 0)
    return keep_a, keep_b, split, gap


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
    if text_b is None:
        ids_a = token_ids(text_a, spec, tables)
        len_a = ids_a.row_lengths()
        values_b, start_b, len_b = tf.zeros([0], tf.int64), tf.zeros_like(len_a), tf.zeros_like(len_a)
    else:  # one tokenizer graph for both: text_a's rows, then text_b's
        ids = token_ids(tf.concat([text_a, text_b], axis=0), spec, tables)
        batch = tf.size(text_a, out_type=tf.int64)
        ids_a, ids_b = ids[:batch], ids[batch:]
        len_a = ids_a.row_lengths()
        values_b, start_b, len_b = ids_b.flat_values, ids_b.row_starts(), ids_b.row_lengths()
    keep_a, keep_b, split, gap = kept_tokens(len_a, len_b, spec.max_seq_length, spec.truncation)
    # Position p of row i: [CLS] | a's kept tokens | [SEP] | b's kept tokens | [SEP] (pairs).
    length = keep_a + keep_b + 2 + tf.cast(len_b > 0, tf.int64)
    positions = tf.ragged.range(length)
    p, row = positions.flat_values, positions.value_rowids()
    kept_a, kept_b = tf.gather(keep_a, row), tf.gather(keep_b, row)
    in_a = (p >= 1) & (p <= kept_a)
    in_b = (p >= kept_a + 2) & (p < kept_a + 2 + kept_b)
    r = p - 1  # the position among a's kept tokens
    index_a = tf.gather(ids_a.row_starts(), row) + r + tf.where_v2(r >= tf.gather(split, row), tf.gather(gap, row), 0)
    index_b = tf.gather(start_b, row) + p - kept_a - 2
    # A sentinel value at the end of each list, taken where the position takes none.
    values_a = tf.concat([ids_a.flat_values, [0]], axis=0)
    values_b = tf.concat([values_b, [0]], axis=0)
    from_a = tf.gather(values_a, tf.where_v2(in_a, index_a, tf.size(values_a, out_type=tf.int64) - 1))
    from_b = tf.gather(values_b, tf.where_v2(in_b, index_b, tf.size(values_b, out_type=tf.int64) - 1))
    token = tf.where_v2(tf.equal(p, 0), tf.constant(spec.vocab["[CLS]"], tf.int64),
                        tf.where_v2(in_a, from_a, tf.where_v2(in_b, from_b,
                                                              tf.constant(spec.vocab["[SEP]"], tf.int64))))
    segment = tf.cast(p >= kept_a + 2, tf.int32)
    indices = tf.stack([row, p], axis=1)
    shape = tf.stack([ids_a.nrows(), tf.reduce_max(tf.concat([length, [0]], axis=0))])
    input_ids = tf.scatter_nd(indices, tf.cast(token, tf.int32), shape)
    input_mask = tf.scatter_nd(indices, tf.ones_like(segment), shape)
    segment_ids = tf.scatter_nd(indices, segment, shape)
    return input_ids, input_mask, segment_ids
