"""WordPiece tokenization as done by Google's original BERT release.

The pipeline is the one of `google-research/bert` (`tokenization.py`), and its output is
identical to it for every input string:

1. `BasicTokenizer`: drop NUL, U+FFFD and control characters, map whitespace to a space,
   surround CJK ideographs with spaces, split on whitespace, then per word (when
   lower-casing) lower-case and strip accents (NFD, drop `Mn` marks), and finally split
   every punctuation character into its own token.
2. `WordpieceTokenizer`: greedy longest-match-first split of each word into vocabulary
   pieces (`##` marks a continuation); a word with no complete split, or longer than
   `max_input_chars_per_word` characters, becomes the unknown token.

The implementation differs from the original only in speed: the per-character
classification is done by `str.translate` with lazily filled tables (so each distinct
character is classified once per process), and word pieces are cached per word.

Vocabulary files are read through `tf.io.gfile`, so `gs://` paths work.
"""

from __future__ import annotations

import collections
import re
import unicodedata
from typing import Callable, Collection, Iterable, Mapping, Optional, Union

import tensorflow.compat.v1 as tf

# Checkpoint directory names of Google's released models, by casing.
_UNCASED_MODELS = (
    "uncased_L-24_H-1024_A-16",
    "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12",
    "chinese_L-12_H-768_A-12",
)
_CASED_MODELS = (
    "cased_L-12_H-768_A-12",
    "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12",
)
# The dot before "ckpt" is deliberately unescaped: it matches any character, exactly as
# the original's pattern does, so that the same checkpoint paths are recognised.
_CHECKPOINT_NAME_RE = re.compile("^.*?([A-Za-z0-9_-]+)/bert_model.ckpt")

_UNUSED_TOKEN_RE = re.compile(r"\[unused\d+\]")

# CJK Unified Ideographs blocks (and extensions / compatibility ideographs), inclusive.
# Hangul, Hiragana and Katakana are deliberately not included: those scripts separate
# words with spaces.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

# Characters the classifiers treat specially in the ASCII range.
_ASCII_WHITESPACE = frozenset(" \t\n\r")
_TAB_NEWLINE_CR = frozenset("\t\n\r")

# Upper bound on the entries of each lazily filled character table: each entry is one
# code point, so this only matters for inputs that visit most of Unicode.
_CHAR_TABLE_LIMIT = 1 << 16

# --------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------


def convert_to_unicode(text: Union[str, bytes]) -> str:
    """Returns `text` as `str`, decoding bytes as UTF-8 and dropping invalid sequences.

    Args:
        text (str | bytes): the text.

    Returns:
        str: the decoded text (the same object when `text` is already a `str`).

    Raises:
        ValueError: when `text` is neither `str` nor `bytes`.
    """
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)} (expected str or bytes)")


def printable_text(text: Union[str, bytes]) -> str:
    """Returns `text` as a `str` fit for printing or logging.

    On Python 3 this is the same conversion as `convert_to_unicode`.

    Args:
        text (str | bytes): the text.

    Returns:
        str: the text.

    Raises:
        ValueError: when `text` is neither `str` nor `bytes`.
    """
    return convert_to_unicode(text)


def whitespace_tokenize(text: str) -> list[str]:
    """Splits `text` on runs of whitespace (Python's `str.split()` notion of it).

    Args:
        text (str): the text.

    Returns:
        list[str]: the non-empty pieces; empty for blank text.
    """
    return text.split()


# --------------------------------------------------------------------------------------
# Checkpoint casing check
# --------------------------------------------------------------------------------------


def validate_case_matches_checkpoint(do_lower_case: bool, init_checkpoint: Optional[str]) -> None:
    """Checks that `do_lower_case` fits the casing of a released Google checkpoint.

    The casing of a checkpoint is not recorded in `bert_config.json`, so it is inferred
    from the name of the directory holding `bert_model.ckpt`, for Google's released
    models only. Any other path (or none) passes.

    Args:
        do_lower_case (bool): whether the input will be lower-cased.
        init_checkpoint (str | None): the checkpoint path, e.g.
            `.../uncased_L-12_H-768_A-12/bert_model.ckpt`.

    Raises:
        ValueError: when an uncased model is used with `do_lower_case=False`, or a cased
            model with `do_lower_case=True`.
    """
    if not init_checkpoint:
        return
    match = _CHECKPOINT_NAME_RE.match(init_checkpoint)
    if match is None:
        return
    model_name = match.group(1)

    if model_name in _UNCASED_MODELS and not do_lower_case:
        given, casing, expected = False, "an uncased (lower-cased)", True
    elif model_name in _CASED_MODELS and do_lower_case:
        given, casing, expected = True, "a cased", False
    else:
        return
    raise ValueError(
        f"do_lower_case={given} does not match init_checkpoint={init_checkpoint}: "
        f"`{model_name}` is {casing} model, so pass --do_lower_case={expected} to tokenize "
        f"as in pre-training."
    )


# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------


def load_vocab(vocab_file: str) -> collections.OrderedDict[str, int]:
    """Reads a vocabulary file (one token per line) into an ordered token -> id map.

    Each line is stripped of surrounding whitespace; a token seen again keeps its first
    id, and ids count distinct tokens in file order (as in the original).

    Args:
        vocab_file (str): path of the vocabulary, local or any `tf.io.gfile` scheme.

    Returns:
        collections.OrderedDict[str, int]: token -> id.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when the file holds no token, or is not UTF-8.
        OSError: when the file cannot be read for another reason.
    """
    try:
        with tf.io.gfile.GFile(vocab_file, "rb") as reader:
            data = reader.read()
    except tf.errors.NotFoundError:
        raise FileNotFoundError(f"vocab file not found: {vocab_file}") from None
    except tf.errors.OpError as err:
        raise OSError(f"cannot read vocab file {vocab_file}: {err.message}") from None
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"vocab file {vocab_file} line {line}: byte 0x{data[err.start]:02x} is not valid "
                         "UTF-8") from None

    # Lines end at "\n" only (as `readline` does); the text after the last "\n" is a
    # final line when it is not empty.
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    vocab: collections.OrderedDict[str, int] = collections.OrderedDict()
    for line in lines:
        token = line.strip()
        if token not in vocab:
            vocab[token] = len(vocab)
    if not vocab or (len(vocab) == 1 and "" in vocab):
        raise ValueError(f"vocab file {vocab_file} is empty: expected one token per line")
    return vocab


def convert_by_vocab(vocab: Mapping, items: Iterable) -> list:
    """Maps each item (a token or an id) through `vocab`.

    Args:
        vocab (Mapping): token -> id or id -> token.
        items (Iterable): the tokens or ids.

    Returns:
        list: the mapped items, in order.

    Raises:
        KeyError: for an item missing from `vocab`.
    """
    return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab: Mapping[str, int], tokens: Iterable[str]) -> list[int]:
    """Maps tokens to ids.

    Args:
        vocab (Mapping[str, int]): token -> id.
        tokens (Iterable[str]): the tokens.

    Returns:
        list[int]: the ids.
    """
    return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab: Mapping[int, str], ids: Iterable[int]) -> list[str]:
    """Maps ids to tokens.

    Args:
        inv_vocab (Mapping[int, str]): id -> token.
        ids (Iterable[int]): the ids.

    Returns:
        list[str]: the tokens.
    """
    return convert_by_vocab(inv_vocab, ids)


def _is_unused_token(token: str, vocab: Collection[str]) -> bool:
    """True for a `[unusedN]` token present in `vocab` (kept whole when preserving)."""
    return token in vocab and _UNUSED_TOKEN_RE.fullmatch(token) is not None


# --------------------------------------------------------------------------------------
# Character classes
# --------------------------------------------------------------------------------------


def is_whitespace(char: str) -> bool:
    """Checks whether `char` counts as whitespace: space, tab, LF, CR or category `Zs`.

    `BasicTokenizer` turns it into a space. Public for code that must classify
    characters exactly as the tokenizer does (the in-graph tokenizer of
    `bert_estimator.serving.text_signature`).

    Args:
        char (str): a single character.

    Returns:
        bool: True for whitespace.
    """
    if char < "\x80":
        return char in _ASCII_WHITESPACE
    return unicodedata.category(char) == "Zs"


_is_whitespace = is_whitespace  # the original's name, kept for its callers and tests


def is_control(char: str) -> bool:
    """Checks whether `char` is a control or format character (category `Cc`/`Cf`).

    Tab, LF and CR are whitespace, not control characters. `BasicTokenizer` drops
    control characters (public, like `is_whitespace`).

    Args:
        char (str): a single character.

    Returns:
        bool: True for a control character.
    """
    if char < "\x80":
        # ASCII holds no `Cf` character; its `Cc` are 0x00-0x1F and 0x7F.
        return (char < " " or char == "\x7f") and char not in _TAB_NEWLINE_CR
    return unicodedata.category(char) in ("Cc", "Cf")


_is_control = is_control  # the original's name, kept for its callers and tests


def _is_ascii_punctuation(cp: int) -> bool:
    # Every ASCII character that is neither a letter, a digit, a space nor a control
    # character, including `$`, `^`, `` ` `` etc. that Unicode files as symbols.
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126


def is_punctuation(char: str) -> bool:
    """Checks whether `char` is punctuation: non-alphanumeric printable ASCII or `P*`.

    `BasicTokenizer` makes each punctuation character a token of its own (public, like
    `is_whitespace`).

    Args:
        char (str): a single character.

    Returns:
        bool: True for punctuation.
    """
    cp = ord(char)
    if cp < 0x80:
        # The four ASCII ranges already hold every ASCII character of category `P*`.
        return _is_ascii_punctuation(cp)
    return unicodedata.category(char)[0] == "P"


_is_punctuation = is_punctuation  # the original's name, kept for its callers and tests


def is_chinese_char(cp: int) -> bool:
    """Checks whether code point `cp` lies in one of the CJK ideograph blocks.

    `BasicTokenizer` surrounds these with spaces (the original has this check only as
    its method `BasicTokenizer._is_chinese_char`; public, like `is_whitespace`).

    Args:
        cp (int): a code point.

    Returns:
        bool: True for a CJK ideograph code point (assigned or not).
    """
    if cp < 0x3400:
        return False
    for low, high in _CJK_RANGES:
        if low <= cp <= high:
            return True
    return False


_is_chinese_char = is_chinese_char  # the name of the original's method, kept for our tests


# --------------------------------------------------------------------------------------
# Lazily filled `str.translate` tables
# --------------------------------------------------------------------------------------

_Translation = Union[int, str, None]


class _CharTable(dict):
    """A `str.translate` table computed on demand from a per-character rule.

    `str.translate` looks characters up with `__getitem__`, so a missing code point
    reaches `__missing__`, which applies the rule once and remembers the result; the
    next lookups of that character stay in C. ASCII is filled up front.
    """

    __slots__ = ("_rule",)

    def __init__(self, rule: Callable[[str], _Translation]) -> None:
        super().__init__()
        self._rule = rule
        for cp in range(0x80):
            self[cp] = rule(chr(cp))

    def __missing__(self, cp: int) -> _Translation:
        value = self._rule(chr(cp))
        if len(self) < _CHAR_TABLE_LIMIT:
            self[cp] = value
        return value


def _rule_clean(char: str) -> _Translation:
    # Removed: NUL, U+FFFD and control characters; whitespace becomes a space.
    if char == "\x00" or char == "\ufffd" or _is_control(char):
        return None
    if _is_whitespace(char):
        return " "
    return ord(char)


def _rule_cjk(char: str) -> _Translation:
    return f" {char} " if _is_chinese_char(ord(char)) else ord(char)


def _rule_punctuation(char: str) -> _Translation:
    return f" {char} " if _is_punctuation(char) else ord(char)


def _rule_clean_cjk(char: str) -> _Translation:
    cleaned = _rule_clean(char)
    return _rule_cjk(char) if cleaned == ord(char) else cleaned


def _rule_clean_cjk_punctuation(char: str) -> _Translation:
    cleaned = _rule_clean_cjk(char)
    return _rule_punctuation(char) if cleaned == ord(char) else cleaned


def _rule_drop_nonspacing_marks(char: str) -> _Translation:
    return None if unicodedata.category(char) == "Mn" else ord(char)


_CLEAN = _CharTable(_rule_clean)
_CJK = _CharTable(_rule_cjk)
_PUNCTUATION = _CharTable(_rule_punctuation)
_CLEAN_CJK = _CharTable(_rule_clean_cjk)
_CLEAN_CJK_PUNCTUATION = _CharTable(_rule_clean_cjk_punctuation)
_DROP_NONSPACING_MARKS = _CharTable(_rule_drop_nonspacing_marks)


def _strip_accents(text: str) -> str:
    """NFD-decomposes `text` and removes the non-spacing marks (category `Mn`)."""
    return unicodedata.normalize("NFD", text).translate(_DROP_NONSPACING_MARKS)


# --------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------


class BasicTokenizer:
    """Cleans text, splits it on whitespace and punctuation, optionally lower-cases it.

    Attributes:
        do_lower_case (bool): lower-case and strip accents.
        vocab: tokens that `preserve_unused_tokens` may keep whole.
        preserve_unused_tokens (bool): keep `[unusedN]` tokens found in `vocab` whole.
    """

    def __init__(
        self, do_lower_case: bool = True, vocab: Collection[str] = (), *, preserve_unused_tokens: bool = False
    ) -> None:
        """Builds a basic tokenizer.

        Args:
            do_lower_case (bool): lower-case the input and strip its accents.
            vocab (Collection[str]): vocabulary consulted by `preserve_unused_tokens`.
            preserve_unused_tokens (bool): leave words that are `[unusedN]` vocabulary
                tokens untouched (the original's `--preserve_unused_tokens` flag, off
                by default there too).
        """
        self.do_lower_case = do_lower_case
        self.vocab = vocab
        self.preserve_unused_tokens = preserve_unused_tokens

    def tokenize(self, text: Union[str, bytes]) -> list[str]:
        """Tokenizes a piece of text.

        Args:
            text (str | bytes): the text (bytes are decoded as UTF-8).

        Returns:
            list[str]: the tokens.
        """
        text = convert_to_unicode(text)
        # Splitting every punctuation character off a word, then re-splitting all words
        # on whitespace, gives the same tokens as padding each punctuation character
        # with spaces and splitting the whole text once.
        if self.preserve_unused_tokens:
            return self._tokenize_preserving(text)
        if not self.do_lower_case:
            return text.translate(_CLEAN_CJK_PUNCTUATION).split()
        if text.isascii():
            # ASCII lower-casing is per character and accents cannot occur.
            return text.translate(_CLEAN_CJK_PUNCTUATION).lower().split()
        words = text.translate(_CLEAN_CJK).split()
        # Lower-casing is context dependent (final sigma), so it runs word by word.
        normalized = [word.lower() if word.isascii() else _strip_accents(word.lower()) for word in words]
        return " ".join(normalized).translate(_PUNCTUATION).split()

    def _tokenize_preserving(self, text: str) -> list[str]:
        pieces = []
        for word in text.translate(_CLEAN_CJK).split():
            if _is_unused_token(word, self.vocab):
                pieces.append(word)
                continue
            if self.do_lower_case:
                word = _strip_accents(word.lower())
            pieces.append(word.translate(_PUNCTUATION))
        return " ".join(pieces).split()

    def _run_strip_accents(self, text: str) -> str:
        """Removes accents: NFD decomposition without the `Mn` marks.

        Args:
            text (str): the text.

        Returns:
            str: the text without non-spacing marks.
        """
        return _strip_accents(text)

    def _run_split_on_punc(self, text: str) -> list[str]:
        """Splits every punctuation character of `text` into its own piece.

        Whitespace is not a separator here: it stays inside the pieces.

        Args:
            text (str): the text.

        Returns:
            list[str]: the maximal runs of non-punctuation and the punctuation characters,
            in order.
        """
        pieces: list[str] = []
        run: list[str] = []
        for char in text:
            if _is_punctuation(char):
                if run:
                    pieces.append("".join(run))
                    run = []
                pieces.append(char)
            else:
                run.append(char)
        if run:
            pieces.append("".join(run))
        return pieces

    def _tokenize_chinese_chars(self, text: str) -> str:
        """Surrounds every CJK ideograph with spaces.

        Args:
            text (str): the text.

        Returns:
            str: the text with CJK ideographs padded.
        """
        return text.translate(_CJK)

    def _is_chinese_char(self, cp: int) -> bool:
        """Checks whether code point `cp` is a CJK ideograph (see `_is_chinese_char`).

        Args:
            cp (int): a code point.

        Returns:
            bool: True for a CJK ideograph code point.
        """
        return _is_chinese_char(cp)

    def _clean_text(self, text: str) -> str:
        """Removes NUL, U+FFFD and control characters, and maps whitespace to spaces.

        Args:
            text (str): the text.

        Returns:
            str: the cleaned text.
        """
        return text.translate(_CLEAN)


class WordpieceTokenizer:
    """Splits words into vocabulary pieces, greedy longest match first.

    With a vocabulary holding `un`, `##want` and `##ed`, the word `unwanted` becomes
    `["un", "##want", "##ed"]`; with one lacking `##ed` it becomes `["[UNK]"]`.

    The pieces of each word are cached (up to `cache_size` words, oldest evicted first).
    Assigning `vocab`, `unk_token` or `max_input_chars_per_word` resets the cache;
    mutating the vocabulary in place is not supported.

    Attributes:
        vocab: the vocabulary (any container of tokens, normally token -> id).
        unk_token (str): the token for words that cannot be split.
        max_input_chars_per_word (int): longer words become `unk_token` whole.
    """

    def __init__(
        self,
        vocab: Collection[str],
        unk_token: str = "[UNK]",
        max_input_chars_per_word: int = 200,
        *,
        cache_size: int = 1 << 16,
    ) -> None:
        """Builds a WordPiece tokenizer.

        Args:
            vocab (Collection[str]): the vocabulary; continuation pieces start with `##`.
            unk_token (str): the token for words that cannot be split.
            max_input_chars_per_word (int): longer words become `unk_token` whole.
            cache_size (int): how many words' pieces to remember (0 disables the cache).
        """
        self._cache: dict[str, tuple[str, ...]] = {}
        self._cache_size = cache_size
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    @property
    def vocab(self) -> Collection[str]:
        """The vocabulary (a collection of tokens, normally token -> id)."""
        return self._vocab

    @vocab.setter
    def vocab(self, vocab: Collection[str]) -> None:
        self._vocab = vocab
        # No substring longer than the longest vocabulary token can match, so the
        # search may start there instead of at the end of the word.
        self._max_first_len = max((len(token) for token in vocab), default=0)
        self._max_continuation_len = max(
            (len(token) - 2 for token in vocab if token.startswith("##")), default=0
        )
        self._cache.clear()

    @property
    def unk_token(self) -> str:
        """The token for words that cannot be split."""
        return self._unk_token

    @unk_token.setter
    def unk_token(self, unk_token: str) -> None:
        self._unk_token = unk_token
        self._cache.clear()

    @property
    def max_input_chars_per_word(self) -> int:
        """Words longer than this many characters become `unk_token` whole."""
        return self._max_input_chars_per_word

    @max_input_chars_per_word.setter
    def max_input_chars_per_word(self, max_input_chars_per_word: int) -> None:
        self._max_input_chars_per_word = max_input_chars_per_word
        self._cache.clear()

    def tokenize(self, text: Union[str, bytes]) -> list[str]:
        """Tokenizes text into word pieces.

        Args:
            text (str | bytes): a word, or words separated by whitespace, normally the
                output of `BasicTokenizer`.

        Returns:
            list[str]: the word pieces.
        """
        output: list[str] = []
        for word in convert_to_unicode(text).split():
            output.extend(self.word_pieces(word))
        return output

    def word_pieces(self, word: str) -> tuple[str, ...]:
        """The word pieces of one word: `tokenize(word)` for a word without whitespace,
        from the per-word cache when possible (callers that split the text themselves,
        like `FullTokenizer.tokenize` and the fast records of `bert_estimator.data`,
        call this per word).

        Args:
            word (str): one word, without whitespace.

        Returns:
            tuple[str, ...]: its pieces, or `(unk_token,)` when it has no complete split.
        """
        pieces = self._cache.get(word)
        if pieces is None:
            pieces = self._split_word(word)
            cache = self._cache
            if self._cache_size > 0:
                if len(cache) >= self._cache_size:
                    try:  # evict the oldest entry
                        del cache[next(iter(cache))]
                    except (KeyError, RuntimeError, StopIteration):
                        pass  # another thread changed the cache meanwhile
                cache[word] = pieces
        return pieces

    def _split_word(self, word: str) -> tuple[str, ...]:
        length = len(word)
        if length > self._max_input_chars_per_word:
            return (self._unk_token,)
        vocab = self._vocab
        pieces = []
        start = 0
        while start < length:
            end = min(length, start + (self._max_continuation_len if start else self._max_first_len))
            while end > start:
                piece = f"##{word[start:end]}" if start else word[start:end]
                if piece in vocab:
                    break
                end -= 1
            else:
                return (self._unk_token,)
            pieces.append(piece)
            start = end
        return tuple(pieces)


class FullTokenizer:
    """End-to-end tokenization: `BasicTokenizer`, then `WordpieceTokenizer`.

    Attributes:
        vocab (collections.OrderedDict[str, int]): token -> id.
        inv_vocab (dict[int, str]): id -> token.
        basic_tokenizer (BasicTokenizer): the first stage.
        wordpiece_tokenizer (WordpieceTokenizer): the second stage.
    """

    def __init__(self, vocab_file: str, do_lower_case: bool = True, *, preserve_unused_tokens: bool = False) -> None:
        """Loads the vocabulary and builds both stages.

        Args:
            vocab_file (str): the vocabulary file (see `load_vocab`).
            do_lower_case (bool): lower-case the input and strip its accents; must match
                the checkpoint (see `validate_case_matches_checkpoint`).
            preserve_unused_tokens (bool): keep `[unusedN]` vocabulary tokens whole.

        Raises:
            FileNotFoundError: when the vocabulary file does not exist.
            ValueError: when the vocabulary file is empty.
        """
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {index: token for token, index in self.vocab.items()}
        self.preserve_unused_tokens = preserve_unused_tokens
        self.basic_tokenizer = BasicTokenizer(
            do_lower_case=do_lower_case, vocab=self.vocab, preserve_unused_tokens=preserve_unused_tokens
        )
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)

    def tokenize(self, text: Union[str, bytes]) -> list[str]:
        """Tokenizes text into word pieces.

        Args:
            text (str | bytes): the text (bytes are decoded as UTF-8).

        Returns:
            list[str]: the word pieces.
        """
        word_pieces = self.wordpiece_tokenizer.word_pieces
        output: list[str] = []
        if self.preserve_unused_tokens:
            for word in self.basic_tokenizer.tokenize(text):
                if _is_unused_token(word, self.vocab):
                    output.append(word)
                else:
                    output.extend(word_pieces(word))
        else:
            for word in self.basic_tokenizer.tokenize(text):
                output.extend(word_pieces(word))
        return output

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Maps tokens to ids.

        Args:
            tokens (Iterable[str]): the tokens.

        Returns:
            list[int]: the ids.
        """
        return convert_by_vocab(self.vocab, tokens)

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Maps ids to tokens.

        Args:
            ids (Iterable[int]): the ids.

        Returns:
            list[str]: the tokens.
        """
        return convert_by_vocab(self.inv_vocab, ids)
