"""Tests of `tokenization`: the original's unit cases, golden outputs on real sentences,
token-for-token agreement with Google's original code (real corpora and adversarial
Unicode) and with Hugging Face `tokenizers`, and the error paths.

The real texts and the uncased vocabulary come from the package index through
`bert_estimator.data.assets` (tests/real_data.py)."""

from __future__ import annotations

import functools
import random

import pytest

import tokenization
from tests import real_data
from tests.support import reference

needs_reference = pytest.mark.skipif(
    not reference.available(), reason="bert-tensorflow (the original code) or tf_slim not installed"
)

# The vocabulary of the original unit tests.
TOY_TOKENS = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]


# --------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------


# The real corpora (tests/real_data.py, from the package index): the four files of human-
# rated texts in vaderSentiment's sdist as they are, and all of them lower-cased and
# tokenised the way GLUE ships SST-2 and CoLA (`wo n't`, `it 's`). 47,406 texts in all.
CORPUS_SIZES = {"movies": 10605, "tweets": 4200, "nyt": 5190, "amazon": 3708, "glue_style": 23703}


@functools.cache
def corpus(name: str) -> tuple[str, ...]:
    """Every text of a real corpus: one of the four ground-truth files (the 10,605
    movie-review snippets, tweets, NYT editorials, Amazon reviews) or "glue_style"."""
    if name == "glue_style":
        return tuple(real_data.glue_style(t.text) for t in real_data.all_texts())
    return tuple(t.text for t in real_data.ground_truth(name))


@functools.cache
def _texts_by_id() -> dict[tuple[str, str], str]:
    return {(t.source, t.id): t.text for t in real_data.all_texts()}


def _write_vocab(tmp_path, tokens: list[str], name: str = "vocab.txt") -> str:
    path = tmp_path / name
    path.write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def uncased_vocab() -> str:
    return real_data.uncased_vocab()


@pytest.fixture(scope="module")
def ours_full(uncased_vocab):
    return {lower: tokenization.FullTokenizer(uncased_vocab, do_lower_case=lower) for lower in (True, False)}


@pytest.fixture(scope="module")
def orig_module():
    if not reference.available():
        pytest.skip("bert-tensorflow (the original code) or tf_slim not installed")
    return reference.load("tokenization")


@pytest.fixture(scope="module")
def orig_full(orig_module, uncased_vocab):
    return {lower: orig_module.FullTokenizer(uncased_vocab, do_lower_case=lower) for lower in (True, False)}


def _assert_same(texts, ours_fn, orig_fn, what: str) -> None:
    """Asserts ours_fn(t) == orig_fn(t) for every text, listing the first differences."""
    diffs = []
    for text in texts:
        expected, actual = orig_fn(text), ours_fn(text)
        if expected != actual:
            diffs.append((text, expected, actual))
    shown = "\n".join(f"  {t!r}\n    original: {e}\n    ours:     {a}" for t, e, a in diffs[:5])
    assert not diffs, f"{what}: {len(diffs)} of {len(texts)} inputs differ from the original:\n{shown}"


# --------------------------------------------------------------------------------------
# The original unit cases
# --------------------------------------------------------------------------------------


def test_full_tokenizer_toy_vocab(tmp_path):
    tokenizer = tokenization.FullTokenizer(_write_vocab(tmp_path, TOY_TOKENS))
    tokens = tokenizer.tokenize("UNwant\u00e9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tokenizer.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]
    assert tokenizer.convert_ids_to_tokens([7, 4, 5, 10, 8, 9]) == tokens
    assert tokenizer.tokenize("UNwant\u00e9d,running".encode()) == tokens
    assert list(tokenizer.vocab) == TOY_TOKENS
    assert tokenizer.inv_vocab == dict(enumerate(TOY_TOKENS))
    assert isinstance(tokenizer.basic_tokenizer, tokenization.BasicTokenizer)
    assert isinstance(tokenizer.wordpiece_tokenizer, tokenization.WordpieceTokenizer)


def test_chinese_characters_are_split():
    assert tokenization.BasicTokenizer().tokenize("ah\u535a\u63a8zz") == ["ah", "\u535a", "\u63a8", "zz"]


def test_basic_tokenizer_lower():
    tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert tokenizer.tokenize("H\u00e9llo") == ["hello"]


def test_basic_tokenizer_no_lower():
    tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]
    assert tokenizer.tokenize("H\u00e9llo") == ["H\u00e9llo"]


def test_wordpiece_tokenizer():
    vocab = {token: i for i, token in enumerate(TOY_TOKENS[:-1])}
    tokenizer = tokenization.WordpieceTokenizer(vocab=vocab)
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert tokenizer.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_module_level_converters():
    vocab = {token: i for i, token in enumerate(TOY_TOKENS)}
    inv = {i: token for token, i in vocab.items()}
    tokens = ["un", "##want", "##ed", "runn", "##ing"]
    assert tokenization.convert_tokens_to_ids(vocab, tokens) == [7, 4, 5, 8, 9]
    assert tokenization.convert_ids_to_tokens(inv, [7, 4, 5, 8, 9]) == tokens
    assert tokenization.convert_by_vocab(vocab, []) == []
    with pytest.raises(KeyError):
        tokenization.convert_tokens_to_ids(vocab, ["nope"])


@pytest.mark.parametrize("char", [" ", "\t", "\r", "\n", "\u00a0", "\u3000", "\u2009"])
def test_is_whitespace_true(char):
    assert tokenization._is_whitespace(char)


@pytest.mark.parametrize("char", ["A", "-", "\x0b", "\u2028", "\u200b", "\x00"])
def test_is_whitespace_false(char):
    assert not tokenization._is_whitespace(char)


@pytest.mark.parametrize("char", ["\u0005", "\x00", "\x7f", "\x85", "\u200b", "\ufeff", "\u00ad"])
def test_is_control_true(char):
    assert tokenization._is_control(char)


@pytest.mark.parametrize("char", ["A", " ", "\t", "\r", "\n", "\U0001f4a9", "\ue000"])
def test_is_control_false(char):
    assert not tokenization._is_control(char)


@pytest.mark.parametrize("char", ["-", "$", "`", ".", "^", "~", "\u00bf", "\u3001", "\u2014"])
def test_is_punctuation_true(char):
    assert tokenization._is_punctuation(char)


@pytest.mark.parametrize("char", ["A", " ", "7", "\u00e9", "\u20ac", "\U0001f600"])
def test_is_punctuation_false(char):
    assert not tokenization._is_punctuation(char)


def test_is_chinese_char_ranges():
    ranges = tokenization._CJK_RANGES
    assert len(ranges) == 8
    for low, high in ranges:
        assert tokenization._is_chinese_char(low) and tokenization._is_chinese_char(high)
        for outside in (low - 1, high + 1):
            inside_another = any(lo <= outside <= hi for lo, hi in ranges)
            assert tokenization._is_chinese_char(outside) == inside_another
    assert not tokenization._is_chinese_char(ord("a"))
    assert not tokenization._is_chinese_char(0xAC00)  # Hangul
    assert not tokenization._is_chinese_char(0x3042)  # Hiragana
    assert tokenization.BasicTokenizer()._is_chinese_char(0x4E2D)


def test_basic_tokenizer_helpers():
    basic = tokenization.BasicTokenizer()
    assert basic._run_strip_accents("na\u00efvet\u00e9 A\u030a") == "naivete A"
    assert basic._run_split_on_punc("a,b c!!") == ["a", ",", "b c", "!", "!"]
    assert basic._run_split_on_punc("") == []
    assert basic._tokenize_chinese_chars("a\u4e2db") == "a \u4e2d b"
    assert basic._clean_text("a\x00b\ufffdc\u200bd\te\u00a0f\x7f") == "abcd e f"


def test_whitespace_tokenize():
    assert tokenization.whitespace_tokenize("  a \t b\n") == ["a", "b"]
    assert tokenization.whitespace_tokenize(" \n ") == []
    assert tokenization.whitespace_tokenize("a\u2028b") == ["a", "b"]


def test_convert_to_unicode_and_printable_text():
    for fn in (tokenization.convert_to_unicode, tokenization.printable_text):
        assert fn("caf\u00e9") == "caf\u00e9"
        assert fn("caf\u00e9".encode()) == "caf\u00e9"
        assert fn(b"a\xffb\xc3") == "ab"  # invalid UTF-8 is dropped, as in the original
        for bad in (1, None, bytearray(b"x"), ["a"]):
            with pytest.raises(ValueError, match="Unsupported string type"):
                fn(bad)


# --------------------------------------------------------------------------------------
# Long words, caching, unused tokens
# --------------------------------------------------------------------------------------


def test_long_word_becomes_unk(ours_full):
    lower = ours_full[True]
    assert lower.tokenize("a" * 201) == ["[UNK]"]
    assert lower.tokenize("x " + "a" * 201 + " y") == ["x", "[UNK]", "y"]
    pieces = lower.tokenize("a" * 200)
    assert "[UNK]" not in pieces and "".join(p.replace("##", "") for p in pieces) == "a" * 200
    # The limit counts characters after lower-casing and accent stripping: 150 decomposed
    # accented letters are 300 characters cased but 150 lower-cased.
    word = "e\u0301" * 150
    assert ours_full[False].tokenize(word) == ["[UNK]"]
    assert lower.tokenize(word) != ["[UNK]"]
    # Punctuation splits a long run into short words first.
    assert lower.tokenize(",".join(["a"] * 150)).count("[UNK]") == 0


def test_wordpiece_cache_is_bounded_and_transparent(uncased_vocab):
    vocab = tokenization.load_vocab(uncased_vocab)
    cached = tokenization.WordpieceTokenizer(vocab, cache_size=8)
    uncached = tokenization.WordpieceTokenizer(vocab, cache_size=0)
    words = " ".join(corpus("glue_style")[:200]).split()
    assert cached.tokenize(" ".join(words)) == uncached.tokenize(" ".join(words))
    assert cached.tokenize(" ".join(words)) == uncached.tokenize(" ".join(words))
    assert 0 < len(cached._cache) <= 8
    assert len(uncached._cache) == 0
    # Changing a setting drops what the cache holds.
    assert cached.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    cached.max_input_chars_per_word = 5
    assert cached.tokenize("unaffable") == ["[UNK]"]
    cached.unk_token = "<unk>"
    assert cached.tokenize("unaffable") == ["<unk>"]


@needs_reference
def test_preserve_unused_tokens_matches_original_flag(orig_module, uncased_vocab):
    texts = [
        "[unused0] hello [unused1]!",
        "[UNUSED2] x[unused3] [unused3]y",
        "[unused99999] not in the vocab",
        "a [unused10]\u00e9 [unused11] \u00c9t\u00e9",
    ]
    for lower in (True, False):
        ours = tokenization.FullTokenizer(uncased_vocab, do_lower_case=lower, preserve_unused_tokens=True)
        orig = orig_module.FullTokenizer(uncased_vocab, do_lower_case=lower)
        orig_module.FLAGS.preserve_unused_tokens = True
        try:
            _assert_same(texts, ours.tokenize, orig.tokenize, f"preserve_unused_tokens lower={lower}")
            _assert_same(texts, ours.basic_tokenizer.tokenize, orig.basic_tokenizer.tokenize, "basic")
        finally:
            orig_module.FLAGS.preserve_unused_tokens = False
    ours = tokenization.FullTokenizer(uncased_vocab, preserve_unused_tokens=True)
    assert ours.tokenize("[unused0] hi") == ["[unused0]", "hi"]
    assert tokenization.FullTokenizer(uncased_vocab).tokenize("[unused0]")[0] == "["


# --------------------------------------------------------------------------------------
# Golden outputs on real sentences (checked by hand)
# --------------------------------------------------------------------------------------

GOLDEN = [
    # A real control character inside a word, as in MRPC's "Treasury\x12s" (a sentence
    # of GLUE's MRPC): snippet 233 with its apostrophe replaced by U+0012. The control
    # character is dropped and "Hubac" + "s" become one word.
    (
        ("movies+U+0012", "233"),
        "Jir\u00ed Hubac\x12s script is a gem.",
        ["ji", "##ri", "hub", "##ac", "##s", "script", "is", "a", "gem", ".", "his", "characters", "are", "engaging",
         ",", "intimate", "and", "the", "dialogue", "is", "realistic", "and", "greatly", "moving", ".", "the",
         "scope", "of", "the", "si", "##lb", "##ers", "##tein", "family", "is", "large", "and", "we", "grow",
         "attached", "to", "their", "lives", ",", "full", "of", "strength", ",", "warmth", "and", "vital", "##ity",
         ".", "."],
        ["[UNK]", "[UNK]", "script", "is", "a", "gem", ".", "[UNK]", "characters", "are", "engaging", ",",
         "intimate", "and", "the", "dialogue", "is", "realistic", "and", "greatly", "moving", ".", "[UNK]", "scope",
         "of", "the", "[UNK]", "family", "is", "large", "and", "we", "grow", "attached", "to", "their", "lives", ",",
         "full", "of", "strength", ",", "warmth", "and", "vital", "##ity", ".", "."],
    ),
    # A currency sign glued to digits ("\u00a3100" is one word piece), an HTML entity,
    # a handle and a URL-like word.
    (
        ("tweets", "1241"),
        "RT @anonymous at www.thishomeisme to win personal consultation with me &amp; \u00a31000",
        ["rt", "@", "anonymous", "at", "www", ".", "this", "##hom", "##eis", "##me", "to", "win", "personal",
         "consultation", "with", "me", "&", "amp", ";", "\u00a3100", "##0", "home", "##ware", "##s", ".", "up",
         "##load", "photos", "of", "your", "most", "outdated", "room", "!"],
        ["[UNK]", "@", "anonymous", "at", "www", ".", "this", "##hom", "##eis", "##me", "to", "win", "personal",
         "consultation", "with", "me", "&", "amp", ";", "\u00a3100", "##0", "home", "##ware", "##s", ".", "[UNK]",
         "photos", "of", "your", "most", "outdated", "room", "!"],
    ),
    # A vulgar fraction (category No, not punctuation).
    (
        ("movies", "4079"),
        "More mature than Fatal Attraction",
        ["more", "mature", "than", "fatal", "attraction", ",", "more", "complete", "than", "ind", "##ece", "##nt",
         "proposal", "and", "more", "relevant", "than", "9", "\u00bd", "weeks", ",", "un", "##fa", "##ith", "##ful",
         "is", "at", "once", "intimate", "and", "universal", "cinema", "."],
        ["[UNK]", "mature", "than", "[UNK]", "[UNK]", ",", "more", "complete", "than", "[UNK]", "[UNK]", "and",
         "more", "relevant", "than", "9", "\u00bd", "[UNK]", ",", "[UNK]", "is", "at", "once", "intimate", "and",
         "universal", "cinema", "."],
    ),
    # A typographic apostrophe (U+2019) is punctuation: split off, unlike a letter.
    (
        ("movies", "10604"),
        "We\u2019ve seen the hippie turned yuppie plot before",
        ["we", "\u2019", "ve", "seen", "the", "hip", "##pie", "turned", "yu", "##pp", "##ie", "plot", "before", ",",
         "but", "there", "\u2019", "s", "an", "enthusiastic", "charm", "in", "fire", "that", "makes", "the",
         "formula", "fresh", "again", "."],
        ["[UNK]", "\u2019", "ve", "seen", "the", "hip", "##pie", "turned", "yu", "##pp", "##ie", "plot", "before",
         ",", "but", "there", "\u2019", "s", "an", "enthusiastic", "charm", "in", "[UNK]", "that", "makes", "the",
         "formula", "fresh", "again", "."],
    ),
    # An en dash between spaces.
    (
        ("movies", "299"),
        "Roman Coppola may never become the filmmaker his Dad was, but heck \u2013 few",
        ["roman", "cop", "##pol", "##a", "may", "never", "become", "the", "filmmaker", "his", "dad", "was", ",",
         "but", "heck", "\u2013", "few", "filmmakers", "will", ".", "but", "based", "on", "c", "##q", ",", "i", "'",
         "ll", "certainly", "be", "keeping", "an", "eye", "out", "for", "his", "next", "project", "."],
        ["[UNK]", "[UNK]", "may", "never", "become", "the", "filmmaker", "his", "[UNK]", "was", ",", "but", "heck",
         "\u2013", "few", "filmmakers", "will", ".", "[UNK]", "based", "on", "[UNK]", ",", "[UNK]", "'", "ll",
         "certainly", "be", "keeping", "an", "eye", "out", "for", "his", "next", "project", "."],
    ),
    (
        ("movies", "8071"),
        "The movie barely makes sense, with its unbelievable na\u00efvet\u00e9",
        ["the", "movie", "barely", "makes", "sense", ",", "with", "its", "unbelievable", "naive", "##te", "and",
         "arbitrary", "flashbacks", "."],
        ["[UNK]", "movie", "barely", "makes", "sense", ",", "with", "its", "unbelievable", "[UNK]", "and",
         "arbitrary", "flashbacks", "."],
    ),
    (
        ("movies", "2431"),
        "Lead actress Ga\u00ef,",
        ["lead", "actress", "ga", "##i", ",", "she", "of", "the", "imp", "##oss", "##ibly", "long", "limbs",
         "and", "sweetly", "con", "##sp", "##ira", "##tori", "##al", "smile", ",", "is", "a", "towering",
         "siren", "."],
        ["[UNK]", "actress", "[UNK]", ",", "she", "of", "the", "imp", "##oss", "##ibly", "long", "limbs", "and",
         "sweetly", "con", "##sp", "##ira", "##tori", "##al", "smile", ",", "is", "a", "towering", "siren", "."],
    ),
    # GLUE's own style (SST-2, CoLA): lower-cased, clitics split off ("wo n't").
    (
        ("glue_style", "353"),
        "it 's a movie and an album you wo n't want to miss .",
        ["it", "'", "s", "a", "movie", "and", "an", "album", "you", "wo", "n", "'", "t", "want", "to", "miss", "."],
        ["it", "'", "s", "a", "movie", "and", "an", "album", "you", "wo", "n", "'", "t", "want", "to", "miss", "."],
    ),
]


def _golden_text(source: tuple[str, str]) -> str:
    kind, key = source
    if kind == "glue_style":
        return real_data.glue_style(_texts_by_id()["movies", key])
    if kind == "movies+U+0012":
        return _texts_by_id()["movies", key].replace("'", "\x12", 1)
    return _texts_by_id()[kind, key]


@pytest.mark.parametrize("source,prefix,expected_lower,expected_cased", GOLDEN, ids=["-".join(g[0]) for g in GOLDEN])
def test_golden_real_sentences(ours_full, source, prefix, expected_lower, expected_cased):
    text = _golden_text(source)
    assert text.startswith(prefix)
    assert ours_full[True].tokenize(text) == expected_lower
    assert ours_full[False].tokenize(text) == expected_cased
    ids = ours_full[True].convert_tokens_to_ids(expected_lower)
    assert ours_full[True].convert_ids_to_tokens(ids) == expected_lower


# --------------------------------------------------------------------------------------
# Agreement with the original: real corpora
# --------------------------------------------------------------------------------------


@needs_reference
def test_vocab_matches_original(ours_full, orig_full):
    assert len(ours_full[True].vocab) == 30522
    assert list(ours_full[True].vocab.items()) == list(orig_full[True].vocab.items())
    assert ours_full[True].inv_vocab == orig_full[True].inv_vocab


@needs_reference
@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
@pytest.mark.parametrize("name", sorted(CORPUS_SIZES))
def test_matches_original_on_real_corpus(ours_full, orig_full, name, lower):
    texts = corpus(name)
    assert len(texts) == CORPUS_SIZES[name]
    _assert_same(texts, ours_full[lower].tokenize, orig_full[lower].tokenize, f"{name} lower={lower}")


# --------------------------------------------------------------------------------------
# Agreement with the original: adversarial Unicode
# --------------------------------------------------------------------------------------

_COMBINING = [chr(c) for c in (*range(0x300, 0x370), 0x483, 0x488, 0x591, 0x5B0, 0x64B, 0x670, 0x93C, 0x94D,
                               0x1AB0, 0x1DC0, 0x20D0, 0x20E3, 0xFE20, 0x302A, 0x1D167)]
_ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u00ad", "\u200e", "\u202e",
               "\U000e0001", "\U000e0020"]
_SPACES = ["\u00a0", "\u1680", *map(chr, range(0x2000, 0x200B)), "\u202f", "\u205f", "\u3000", "\u2028",
           "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\t", "\n", "\r", " "]
_CONTROLS = [*map(chr, range(0x00, 0x20)), "\x7f", *map(chr, range(0x80, 0xA0)), "\ufffd", "\ufffe", "\uffff"]
_EMOJI = ["\U0001f600", "\U0001f4a9", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
          "\U0001f1eb\U0001f1f7", "1\ufe0f\u20e3", "\u2764\ufe0f", "\U0001f3f3\ufe0f\u200d\U0001f308", "\u263a"]
_CASE_SPECIALS = ["\u0130", "\u0131", "\u00df", "\u1e9e", "\u03a3", "\u039f\u0394\u039f\u03a3", "a\u03a3",
                  "\u03a3a", "A\u03a3'", "A\u03a3\u0301", "\u01c5", "\ufb01", "\u216b", "\u212a", "\u212b",
                  "\ufb00", "\u0149", "\U0001d400\U0001d41a", "\uff21\uff22\uff01", "\u1f88", "\u0390"]
_SCRIPTS = ["\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627", "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd",
            "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
            "\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd", "\u041f\u0440\u0438\u0432\u0435\u0442",
            "\u0532\u0561\u0580\u0587", "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0",
            "\ud55c\uad6d\uc5b4", "\u3072\u3089\u304c\u306a", "\u30ab\u30bf\u30ab\u30ca", "Vi\u1ec7t Nam",
            "\u1ea0\u1ec7\u1ef9", "e\u0301\u0302\u0323"]
_PUNCT = [*"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "\u00bf", "\u00a1", "\u2014", "\u2019", "\u201c", "\u2026",
          "\u3001", "\u3002", "\uff01", "\u00b7", "\u055d", "\u05be", "\u060c", "\u2e55", "\u00a7", "\u00b6"]
_SPECIAL_TOKENS = ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[unused1]", "##ing", "##", "#"]
_WORDS = ["hello", "World", "running", "unaffable", "na\u00efve", "caf\u00e9", "Stra\u00dfe", "don't", "U.S.",
          "e-mail", "3.14", "$100", "C++", "x\u00b2", "\u00bd", "\u2460"]


def _random_cjk(rng: random.Random) -> str:
    low, high = rng.choice(tokenization._CJK_RANGES)
    cp = rng.choice([low, high, low - 1, high + 1, rng.randint(low, high)])
    return chr(cp)


def _random_codepoint(rng: random.Random) -> str:
    """A uniformly random code point of all planes (or of the BMP), never a surrogate."""
    while True:
        cp = rng.randint(0, 0x10FFFF) if rng.random() < 0.5 else rng.randint(0, 0xFFFF)
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def _random_piece(rng: random.Random) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice("aeiouAEIOUnN") + "".join(rng.choice(_COMBINING) for _ in range(rng.randint(1, 3)))
    if kind == 1:
        return rng.choice(_ZERO_WIDTH)
    if kind == 2:
        return rng.choice(_SPACES)
    if kind == 3:
        return rng.choice(_CONTROLS)
    if kind == 4:
        return "".join(_random_cjk(rng) for _ in range(rng.randint(1, 4)))
    if kind == 5:
        return rng.choice(_EMOJI)
    if kind == 6:
        return rng.choice(_CASE_SPECIALS)
    if kind == 7:
        return rng.choice(_SCRIPTS)
    if kind == 8:
        return rng.choice(_PUNCT)
    if kind == 9:
        return rng.choice(_SPECIAL_TOKENS)
    if kind == 10:
        return "".join(_random_codepoint(rng) for _ in range(rng.randint(1, 5)))
    return rng.choice(_WORDS)


def adversarial_texts(seed: int = 20181031, count: int = 3000) -> list[str]:
    """A deterministic set of hostile inputs: combining marks, zero-width and control
    characters, every kind of space, CJK (and its range boundaries), emoji sequences,
    case-mapping oddities, many scripts, special tokens, random code points of all
    planes (no surrogates), and words around the 200-character limit."""
    rng = random.Random(seed)
    texts = ["", " ", "\t\n\r ", "\x00", "\ufffd", "\u200b", "\u00a0", "\u0301", " \u0301 ", "\u0301a",
             "".join(_CONTROLS), "".join(_SPACES), "".join(_ZERO_WIDTH), "".join(_COMBINING), "".join(_PUNCT),
             " ".join(_CASE_SPECIALS), " ".join(_SCRIPTS), " ".join(_EMOJI), " ".join(_SPECIAL_TOKENS)]
    for n in (199, 200, 201, 202, 250, 500):
        texts += ["a" * n, "A" * n, "\u00e9" * n, "e\u0301" * (n // 2), "\u4e00" * n, "\u00df" * (n // 2),
                  "\u0130" * n, "ab," * (n // 3), "x" + "\u200b" * n + "y", "".join(_random_codepoint(rng) for _ in range(n))]
    while len(texts) < count:
        pieces = [_random_piece(rng) for _ in range(rng.randint(1, 12))]
        joiners = ["", " ", rng.choice(_SPACES)]
        texts.append("".join(p + rng.choice(joiners) for p in pieces))
    return texts


@needs_reference
@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
def test_matches_original_on_adversarial_unicode(ours_full, orig_full, lower):
    texts = adversarial_texts()
    assert any(len(t) > 200 for t in texts)
    ours, orig = ours_full[lower], orig_full[lower]
    # The basic tokenizer on its own, as [UNK] would hide differences in the full output.
    _assert_same(texts, ours.basic_tokenizer.tokenize, orig.basic_tokenizer.tokenize, f"basic lower={lower}")
    _assert_same(texts, ours.tokenize, orig.tokenize, f"full lower={lower}")
    # Bytes input, including invalid UTF-8.
    encoded = [t.encode("utf-8") + b"\xff\xc3" for t in texts[:300]]
    _assert_same(encoded, ours.tokenize, orig.tokenize, f"bytes lower={lower}")


@needs_reference
def test_wordpiece_matches_original_on_generated_words(orig_module, ours_full):
    vocab = ours_full[True].vocab
    rng = random.Random(7)
    pieces = [t for t in vocab if not t.startswith("[")]
    words = []
    for _ in range(1500):
        n = rng.randint(1, 8)
        word = "".join(rng.choice(pieces).lstrip("#") or "#" for _ in range(n))
        if rng.random() < 0.3:
            word += "".join(rng.choice("abcdefghijklmnopqrstuvwxyz\u00e9\u4e00#") for _ in range(rng.randint(1, 5)))
        words.append(word)
    words += ["#" * n for n in range(1, 6)] + ["##ing", "###", "a" * 199, "b" * 200, "c" * 201, "ab" * 100]
    ours = tokenization.WordpieceTokenizer(vocab)
    orig = orig_module.WordpieceTokenizer(vocab)
    _assert_same(words, ours.tokenize, orig.tokenize, "wordpiece")
    _assert_same([" ".join(words[i:i + 9]) for i in range(0, 300, 9)], ours.tokenize, orig.tokenize, "wordpiece text")
    # Smaller limits and another unknown token.
    ours = tokenization.WordpieceTokenizer(vocab, unk_token="<?>", max_input_chars_per_word=7)
    orig = orig_module.WordpieceTokenizer(vocab, unk_token="<?>", max_input_chars_per_word=7)
    _assert_same(words[:300], ours.tokenize, orig.tokenize, "wordpiece max 7")


def _codepoints_to_check() -> list[str]:
    """All code points of planes 0-2 (BMP, emoji, CJK extensions) and of the tag and
    variation-selector block, plus a sample of the rest; no surrogates."""
    rng = random.Random(3)
    cps = [*range(0, 0xD800), *range(0xE000, 0x30000), *range(0xE0000, 0xE0200)]
    cps += rng.sample(range(0x30000, 0x110000), 5000)
    return [chr(cp) for cp in cps]


def _assert_long_equal(ours, orig, what: str) -> None:
    """Asserts two long strings or lists are equal, reporting only the first difference
    (pytest's own diff of a million-item sequence takes minutes)."""
    if ours == orig:
        return
    first = next((i for i, (a, b) in enumerate(zip(ours, orig)) if a != b), min(len(ours), len(orig)))
    window = slice(max(0, first - 5), first + 5)
    pytest.fail(f"{what} differs from the original at item {first} (lengths {len(ours)} vs {len(orig)}):\n"
                f"  ours:     {ours[window]!r}\n  original: {orig[window]!r}")


@needs_reference
def test_character_classes_match_original(orig_module):
    chars = _codepoints_to_check()
    orig_basic = orig_module.BasicTokenizer()
    for name in ("_is_whitespace", "_is_control", "_is_punctuation"):
        ours_fn, orig_fn = getattr(tokenization, name), getattr(orig_module, name)
        wrong = [f"U+{ord(c):04X}" for c in chars if ours_fn(c) != orig_fn(c)]
        assert not wrong, f"{name} differs from the original on {len(wrong)} code points: {wrong[:10]}"
    wrong = [f"U+{cp:04X}" for cp in range(0x110000)
             if tokenization._is_chinese_char(cp) != orig_basic._is_chinese_char(cp)]
    assert not wrong, f"_is_chinese_char differs from the original on {len(wrong)} code points: {wrong[:10]}"


@needs_reference
def test_text_helpers_match_original_on_every_codepoint(orig_module):
    chars = _codepoints_to_check()
    ours, orig = tokenization.BasicTokenizer(), orig_module.BasicTokenizer()
    # Each code point between two letters and a space, so every class shows.
    text = "".join(f"a{c}b " for c in chars)
    for name in ("_clean_text", "_tokenize_chinese_chars", "_run_split_on_punc", "_run_strip_accents"):
        _assert_long_equal(getattr(ours, name)(text), getattr(orig, name)(text), name)
    _assert_long_equal(ours._run_strip_accents(text.lower()), orig._run_strip_accents(text.lower()), "accents")
    for lower in (True, False):
        ours_b = tokenization.BasicTokenizer(do_lower_case=lower)
        orig_b = orig_module.BasicTokenizer(do_lower_case=lower)
        _assert_long_equal(ours_b.tokenize(text), orig_b.tokenize(text), f"BasicTokenizer lower={lower}")


# --------------------------------------------------------------------------------------
# Agreement with Hugging Face `tokenizers` (an independent implementation)
# --------------------------------------------------------------------------------------
#
# Configured as BERT uncased: BertNormalizer(clean_text, handle_chinese_chars,
# strip_accents follows lowercase=True), BertPreTokenizer, WordPiece with "##" and the
# original's limit of 200 characters per word (the wrapper's default is 100).
# It agrees with us (and the original) on every real text here (the four vaderSentiment
# corpora, as they are and GLUE-style).
# Divergences found (tokenizers 0.20.3, Python 3.11 / Unicode 14) on synthetic input,
# where we side with the original:
# * final sigma: Python lower-cases a word-final capital sigma to "ς" ("ΟΔΟΣ" -> "οδος"),
#   tokenizers maps it to "σ" character by character;
# * private-use characters (Co, e.g. U+E000) are dropped by tokenizers, kept by BERT;
# * tokenizers' CJK ranges lack extension E (U+2B820-U+2CEAF), so those ideographs are
#   not split off;
# * its Unicode tables are older than Python's: characters assigned or re-categorised
#   since (e.g. U+2E55-U+2E5D punctuation, U+0890 format, U+0898 marks, U+166D now So,
#   U+1734 now Mc) are classified differently;
# * tokenizers strips accents before lower-casing, BERT after; checked over every code
#   point (alone and in final-sigma contexts), the two orders give the same text;
# * BertWordPieceTokenizer registers [CLS], [SEP], [UNK], [MASK], [PAD] as special
#   tokens, so a literal "[SEP]" in the text stays whole; BERT splits it into
#   "[", "sep", "]".


@pytest.fixture(scope="module")
def hf_tokenizer(uncased_vocab):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers.implementations import BertWordPieceTokenizer

    hf = BertWordPieceTokenizer(uncased_vocab, clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                lowercase=True, wordpieces_prefix="##")
    hf.model = tokenizers.models.WordPiece.from_file(uncased_vocab, unk_token="[UNK]", max_input_chars_per_word=200)
    return hf


@pytest.mark.parametrize("name", sorted(CORPUS_SIZES))
def test_matches_hugging_face_tokenizers_on_real_corpus(ours_full, hf_tokenizer, name):
    texts = list(corpus(name))
    hf_tokens = [e.tokens for e in hf_tokenizer.encode_batch(texts, add_special_tokens=False)]
    by_text = dict(zip(texts, hf_tokens))
    _assert_same(texts, ours_full[True].tokenize, by_text.__getitem__, f"tokenizers on {name}")


@needs_reference
def test_known_hugging_face_divergences_follow_the_original(ours_full, orig_full, hf_tokenizer):
    texts = ["\u039f\u0394\u039f\u03a3 a\u03a3.", "a\ue000b", "x\U0002b820y", "a\u2e55b", "[SEP] a"]
    _assert_same(texts, ours_full[True].tokenize, orig_full[True].tokenize, "divergence cases")
    assert ours_full[True].tokenize(texts[0]) == ["ο", "##δ", "##ος", "a", "##ς", "."]
    differing = [t for t in texts
                 if hf_tokenizer.encode(t, add_special_tokens=False).tokens != ours_full[True].tokenize(t)]
    assert differing, "tokenizers now agrees on every documented divergence: update the comment above"


# --------------------------------------------------------------------------------------
# Vocabulary files
# --------------------------------------------------------------------------------------


def test_missing_vocab_file_error(tmp_path):
    path = str(tmp_path / "no_such_vocab.txt")
    with pytest.raises(FileNotFoundError) as err:
        tokenization.FullTokenizer(path)
    assert path in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content", ["", "\n", "\n \n\t\n", "\r\n"], ids=["empty", "newline", "blank", "crlf"])
def test_empty_vocab_file_error(tmp_path, content):
    path = tmp_path / "empty_vocab.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        tokenization.load_vocab(str(path))
    assert str(path) in str(err.value) and "empty" in str(err.value) and "\n" not in str(err.value)


def test_unreadable_vocab_file_error(tmp_path):
    with pytest.raises(OSError) as err:
        tokenization.load_vocab(str(tmp_path))  # a directory
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_non_utf8_vocab_file_error(tmp_path):
    path = tmp_path / "latin1_vocab.txt"
    path.write_bytes(b"[UNK]\ncaf\xe9\n")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        tokenization.load_vocab(str(path))


@needs_reference
def test_load_vocab_matches_original_on_odd_files(tmp_path, orig_module):
    path = tmp_path / "odd_vocab.txt"
    path.write_bytes("[PAD]\n  spaced  \n\nsame\nsame\ncrlf\r\n\u00a0nbsp\u00a0\ntab\t\nx\u2028y\n"
                     "\ufeffbom\n##a\nlast".encode())
    ours = tokenization.load_vocab(str(path))
    assert list(ours.items()) == list(orig_module.load_vocab(str(path)).items())
    # Ids count distinct tokens, not lines.
    assert ours["last"] == len(ours) - 1 and ours["same"] == 3 and ours["crlf"] == 4 and "" in ours
    assert isinstance(ours, type(orig_module.load_vocab(str(path))))


# --------------------------------------------------------------------------------------
# Checkpoint casing check
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["uncased_L-12_H-768_A-12", "uncased_L-24_H-1024_A-16",
                                   "multilingual_L-12_H-768_A-12", "chinese_L-12_H-768_A-12"])
def test_validate_case_uncased_checkpoint(model):
    checkpoint = f"gs://bucket/models/{model}/bert_model.ckpt"
    tokenization.validate_case_matches_checkpoint(True, checkpoint)
    with pytest.raises(ValueError, match="do_lower_case=True") as err:
        tokenization.validate_case_matches_checkpoint(False, checkpoint)
    assert model in str(err.value) and checkpoint in str(err.value)


@pytest.mark.parametrize("model", ["cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16",
                                   "multi_cased_L-12_H-768_A-12"])
def test_validate_case_cased_checkpoint(model):
    checkpoint = f"/models/{model}/bert_model.ckpt"
    tokenization.validate_case_matches_checkpoint(False, checkpoint)
    with pytest.raises(ValueError, match="do_lower_case=False") as err:
        tokenization.validate_case_matches_checkpoint(True, checkpoint)
    assert model in str(err.value)


CHECKPOINT_PATHS = [
    None, "", "bert_model.ckpt", "/tmp/my_model/bert_model.ckpt", "/tmp/uncased_L-12_H-768_A-12/model.ckpt",
    "uncased_L-12_H-768_A-12/bert_model.ckpt", "cased_L-12_H-768_A-12/bert_model.ckpt-1000",
    "/a/cased_L-12_H-768_A-12/bert_model.ckpt.index", "/x/cased_L-12_H-768_A-12/bert_modelXckpt",
    "/x/Cased_L-12_H-768_A-12/bert_model.ckpt", "/x/y.cased_L-12_H-768_A-12/bert_model.ckpt",
    "/x/uncased_L-12_H-768_A-12/sub/bert_model.ckpt", "/x/uncased_L-12_H-768_A-12/\n/bert_model.ckpt",
    "C:\\models\\cased_L-12_H-768_A-12\\bert_model.ckpt", "/x/multi_cased_L-12_H-768_A-12/bert_model.ckpt",
]


@needs_reference
def test_validate_case_matches_original(orig_module):
    for path in CHECKPOINT_PATHS:
        for lower in (True, False):
            outcomes = []
            for fn in (tokenization.validate_case_matches_checkpoint, orig_module.validate_case_matches_checkpoint):
                try:
                    fn(lower, path)
                    outcomes.append("ok")
                except ValueError:
                    outcomes.append("error")
            assert outcomes[0] == outcomes[1], (path, lower, outcomes)


def test_validate_case_no_op_cases():
    for lower in (True, False):
        for path in (None, "", "/tmp/my_model/bert_model.ckpt", "/tmp/model.ckpt", "gs://b/cased/model.ckpt"):
            tokenization.validate_case_matches_checkpoint(lower, path)
