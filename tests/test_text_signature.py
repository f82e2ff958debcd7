"""text_signature.py: the in-graph tokenizer of the `serving_text` signature gives the
ids of `tokenization.FullTokenizer` + `features.convert_single_example`, on every
snippet of the four vaderSentiment ground-truth files, on an adversarial set, and on
seeded random strings of every Unicode category; with core TensorFlow ops only."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest

from tests.real_data import all_texts, uncased_vocab

# The counts the README states (docs: "Raw-text signature").
REAL_SNIPPETS = 23703
FUZZ_STRINGS = 2000

# Hand-written inputs where a tokenizer is most likely to go wrong, by kind.
ADVERSARIAL = [
    # empty and blank
    "", " ", "\t\n\r", "\u200b", "\x00\x01\x7f", "\ufeff", "\u3000\u00a0\u1680\u2028\u2029",
    # accents and combining marks (NFD, then Mn dropped when lower-casing)
    "Café résumé naïve Ångström", "ÉCOLE NORMALE SUPÉRIEURE", "Tiếng Việt có dấu", "crème brûlée à la façon",
    "e\u0301 a\u0308\u0301 o\u0328\u0304", "\u0301leading mark", "Z\u0334\u0349\u0353a\u0338l\u0337g\u0335o\u0336",
    "\U000E0100 variation selector", "❤️ with VS16",
    # context-dependent lower-casing: Greek final sigma
    "ΟΔΟΣ", "ΟΔΟΣ.", "ΣΑΣ ΣΑΣ", "ΑΣΣΑ", "Σ", "ΑΣ'Α", "ΑΣ\u0301", "ὈΔΥΣΣΕΎΣ", "Α.Σ.", "AΣb", "ΑΣΣΣΣ", "ΑΣ·Σ",
    "ΑΣ\u00adΒ", "ΆΈΉ ΊΌΎΏ", "Σ\u0345Σ", "ab\u0345Σ", "ΑΣ\u0345", "ΑΣ ΣΣΣ Σ", "ΐ ΰ",
    # special and multi-character case mappings
    "İstanbul IŞIK ığdır", "\u0130\u0307", "Straße STRASSE ẞ", "Ǆǅǆ ǈ ǋ", "ŉ", "Ꭰ Ꭱ ᏼ", "Ა Ბ Ⴀ", "K Ω Å",
    # CJK ideographs (split off), kana and Hangul (not; Hangul decomposes under NFD)
    "我爱北京天安门", "日本語のテキスト、カタカナ", "한국어 텍스트입니다", "\uf900\ufa0e\U0002F800", "𠀀𪜀", "abc中文def",
    "\u3400\u4dbf\U0002A6DF\U0002B740", "仮名かな",
    # control, format and zero-width characters
    "zero\u200bwidth\u200cnon\u200djoiner", "soft\u00adhyphen", "rtl\u200e\u200fmarks", "\u2060word\u2060joiner",
    "tag\U000E0001\U000E0041", "bell\x07 and esc\x1b and del\x7f", "nel\x85next", "vt\x0bff\x0cfs\x1c",
    "replacement \ufffd char", "nul\x00inside", "tab\tseparated\tvalues", "line\nbreaks\r\nhere",
    # emoji: modifiers, ZWJ sequences, flags, keycaps
    "😀 👍🏽 👨\u200d👩\u200d👧 🇺🇸 1️⃣", "I ❤ NY", "smile😀smile", "🙂🙃", "\U0001FAE8 unassigned in Unicode 14",
    # compatibility characters (NFD leaves them; NFKC would not)
    "½ ¼ ¾ ⅓", "x² y³ H₂O", "Ⅻ ⅻ ① ㎏ ™ …", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "ℌ ℍ µ", "ﬁne ﬂow ﬀ ﬃ ﬅ", "ª º ˚",
    # words about the 200-character limit, before and after NFD
    "a" * 199, "a" * 200, "a" * 201, "supercalifragilistic" * 12, "é" * 201, "É" * 200, "e\u0301" * 150,
    "x" * 250 + "," + "y" * 5, "word " + "ab" * 100 + " end", "ab" * 101,
    # punctuation, symbols, numbers
    "¿Qué? ¡Olé!", "«quoted» „German“ ‚single‘", "—dash— –en– ‐hy‐", "$100 €50 £20 ¥1000", "C++ e-mail #tag @user",
    "http://example.com/a?b=c&d=e#frag", "1,000,000.50 3.14 -7", "don't won't y'all", "MiXeD CaSe, ALL CAPS!!!",
    # private use, noncharacters, and NFD's canonical reordering of spacing marks
    "\ue000 private \U0010FFFD \ufdd0", "nonchar\uffff\U0001FFFEend",
    "\U0001D165\U0001D16D \U0001D16D\U0001D165", "x\U0001D16D\u0301\U0001D165",
    "\U0001D15E\U0001D16D", "a\u302e\u302f\u0301", "\U00016FF0\U00016FF1",
]


def fuzz_strings(n: int = FUZZ_STRINGS, seed: int = 20140404, max_len: int = 40) -> list[str]:
    """Seeded random strings of code points of every category (unassigned, private use
    and noncharacters too), weighted toward what the tokenizer treats specially (marks,
    controls, spaces, capitals, Σ)."""
    rng = random.Random(seed)
    pool = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF
            and unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cs")]
    special = [cp for cp in pool if unicodedata.category(chr(cp)) in
               ("Mn", "Mc", "Me", "Cc", "Cf", "Zs", "Zl", "Zp", "Lu", "Lt") or unicodedata.combining(chr(cp))]
    special += [0x3A3] * 200 + [ord(c) for c in " .'·"] * 100
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randrange(max_len)):
            r = rng.random()
            if r < 0.35:
                chars.append(chr(rng.choice(special)))
            elif r < 0.6:
                chars.append(chr(rng.randrange(0x20, 0x7F)))
            elif r < 0.75:
                chars.append(chr(rng.randrange(0xA0, 0x250)))
            elif r < 0.8:
                cp = rng.randrange(0x110000)
                chars.append(chr(cp if not 0xD800 <= cp <= 0xDFFF else 0xFDD0 + cp % 32))
            else:
                chars.append(chr(rng.choice(pool)))
        out.append("".join(chars))
    return out


@pytest.fixture(scope="module")
def vocab_file() -> str:
    return uncased_vocab()


@pytest.fixture(scope="module")
def snippets() -> list[str]:
    """The 23,703 texts of the four vaderSentiment ground-truth files (tests/real_data.py)."""
    from bert_estimator.data import assets

    texts = [t.text for t in all_texts()]
    assert len(texts) == REAL_SNIPPETS
    assert sorted(texts) == sorted(assets.read_ground_truth_texts())  # the assets reader agrees
    return texts


class Graph:
    """A session over one in-graph function of a [batch] string placeholder."""

    def __init__(self, build):
        import tensorflow.compat.v1 as tf

        self.graph = tf.Graph()
        with self.graph.as_default():
            self.texts = tf.placeholder(tf.string, [None])
            self.output = build(self.texts)
            self.session = tf.Session(graph=self.graph)
            self.session.run(tf.tables_initializer())

    def __call__(self, texts):
        values = [t if isinstance(t, bytes) else t.encode("utf-8") for t in texts]
        return self.session.run(self.output, {self.texts: np.array(values, dtype=object)})


def _decode_words(ragged) -> list[list[str]]:
    return [[w.decode("utf-8") for w in row] for row in ragged.to_list()]


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def tokenizers(request, vocab_file):
    """(FullTokenizer, in-graph ids, in-graph words) for one casing."""
    import tokenization
    from bert_estimator.serving import text_signature as ts

    lower = request.param
    spec = ts.TokenizerSpec.from_vocab_file(vocab_file, lower, 128)
    ids = Graph(lambda texts: ts.token_ids(texts, spec))
    words = Graph(lambda texts: ts.basic_tokenize(texts, lower))
    yield tokenization.FullTokenizer(vocab_file, do_lower_case=lower), ids, words
    ids.session.close()
    words.session.close()


def _differences(texts, tokenizer, ids, words, one_at_a_time: bool = False) -> list:
    """The texts whose in-graph words or ids differ from the Python tokenizer's, in one
    batch (and, with one_at_a_time, each alone: another branch of the lower-casing)."""
    want_words = [tokenizer.basic_tokenizer.tokenize(t) for t in texts]
    want_ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(t)) for t in texts]
    got_words, got_ids = _decode_words(words(texts)), ids(texts).to_list()
    differ = [t for t, a, b, c, d in zip(texts, want_words, got_words, want_ids, got_ids) if a != b or c != d]
    if one_at_a_time:
        for text, a, c in zip(texts, want_words, want_ids):
            if _decode_words(words([text]))[0] != a or ids([text]).to_list()[0] != c:
                differ.append(text)
    return differ


# ------------------------------------------------------------------------- parity
def test_parity_on_every_real_snippet(tokenizers, snippets):
    """All 23,703 texts of the four vaderSentiment files: identical words and ids."""
    tokenizer, ids, words = tokenizers
    differ = _differences(snippets, tokenizer, ids, words)
    assert len(snippets) - len(differ) == REAL_SNIPPETS, differ[:5]


def test_parity_on_the_adversarial_set(tokenizers):
    tokenizer, ids, words = tokenizers
    assert len(ADVERSARIAL) == len(set(ADVERSARIAL)) == 101
    differ = _differences(ADVERSARIAL, tokenizer, ids, words, one_at_a_time=True)
    assert differ == []


def test_parity_on_random_strings(tokenizers):
    tokenizer, ids, words = tokenizers
    texts = fuzz_strings()
    lowered = [tokenizer.basic_tokenizer.tokenize(t) for t in texts[:FUZZ_STRINGS]]
    # The set exercises the context rules: final sigmas, and runs of spacing marks.
    if tokenizer.basic_tokenizer.do_lower_case:
        assert sum("ς" in " ".join(w) for w in lowered) > 50
    assert _differences(texts, tokenizer, ids, words) == []


def test_parity_on_invalid_utf8(tokenizers):
    """Bytes that are not UTF-8 are dropped, as FullTokenizer's decoding drops them."""
    tokenizer, ids, _ = tokenizers
    texts = [b"caf\xc3", b"\xff\xfeabc", b"a\xed\xa0\x80b", b"\xc0\xafoverlong", b"ok\xe2\x82 fine", b"ab\xffcd",
             b"\xf4\x90\x80\x80 beyond", b"trailing \xf0\x9f\x98"]
    want = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(t)) for t in texts]
    assert ids(texts).to_list() == want


def test_greek_final_sigma_and_reordering_are_exercised():
    """The two context rules the per-character tables cannot express, seen through the
    words: ς at a word's end, and NFD's reordering of spacing combining marks."""
    import tokenization
    from bert_estimator.serving import text_signature as ts

    words = Graph(lambda texts: ts.basic_tokenize(texts, True))
    cases = {"ΟΔΟΣ. ΣΑΣ ΑΣ'Α": ["οδος", ".", "σας", "ασ", "'", "α"],  # ' is case-ignorable
             "x\U0001D16D\u0301\U0001D165": ["x\U0001D165\U0001D16D"]}
    for text, expected in cases.items():
        assert tokenization.BasicTokenizer(do_lower_case=True).tokenize(text) == expected
        assert _decode_words(words([text]))[0] == expected


# --------------------------------------------------------------- layout, truncation
def test_kept_tokens_closed_form_equals_the_python_truncation():
    """`kept_tokens` against `_truncate_seq_pair` and `truncate_single`, exhaustively."""
    import tensorflow.compat.v1 as tf

    from bert_estimator.data.features import _truncate_seq_pair, truncate_single
    from bert_estimator.serving import text_signature as ts

    for max_seq_length in (3, 4, 5, 8, 9, 12):
        for strategy in ("head", "tail", "head_tail"):
            lengths = [(a, b) for a in range(16) for b in range(16)]
            with tf.Graph().as_default(), tf.Session() as sess:
                len_a = tf.constant([a for a, _ in lengths], tf.int64)
                len_b = tf.constant([b for _, b in lengths], tf.int64)
                got = sess.run(ts.kept_tokens(len_a, len_b, max_seq_length, strategy))
            for i, (a, b) in enumerate(lengths):
                tokens_a, tokens_b = list(range(a)), list(range(100, 100 + b))
                if b:
                    _truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
                else:
                    tokens_a = truncate_single(tokens_a, max_seq_length - 2, strategy)
                keep_a, keep_b, split, gap = (int(x[i]) for x in got)
                kept = [r if r < split else r + gap for r in range(keep_a)]
                assert (kept, keep_b) == (tokens_a, len(tokens_b)), (max_seq_length, strategy, a, b)


@pytest.mark.parametrize("max_seq_length, truncation", [(9, "head"), (10, "tail"), (12, "head_tail"), (128, "head")])
def test_features_equal_convert_single_example(vocab_file, max_seq_length, truncation):
    """Singles and pairs, short and truncated, empty texts and empty text_b: the ids,
    mask and segments of the Python path, padded to the batch's longest."""
    import tensorflow.compat.v1 as tf

    import tokenization
    from bert_estimator.data.features import convert_single_example
    from bert_estimator.serving import text_signature as ts
    from processors.base import InputExample

    spec = ts.TokenizerSpec.from_vocab_file(vocab_file, True, max_seq_length, truncation)
    tokenizer = tokenization.FullTokenizer(vocab_file)
    sentence = "the quick brown fox jumps over the lazy dog , again and again"
    pairs = [(sentence, ""), ("", ""), ("short", ""), ("", "only b"), ("a premise", "a hypothesis"),
             (sentence, "short"), ("short", sentence), (sentence, sentence), ("½ ΟΔΟΣ 中文", "é" * 201),
             (" ".join(["word"] * 40), " ".join(["other"] * 3))]
    with tf.Graph().as_default(), tf.Session() as sess:
        a, b = tf.placeholder(tf.string, [None]), tf.placeholder(tf.string, [None])
        outputs = ts.features(a, b, spec)
        single = ts.features(a, None, spec)
        sess.run(tf.tables_initializer())
        got = sess.run(outputs, {a: [p[0] for p in pairs], b: [p[1] for p in pairs]})
        got_single = sess.run(single, {a: [p[0] for p in pairs]})
        empty = sess.run(single, {a: np.array([], dtype=object)})
    assert [x.shape for x in empty] == [(0, 0)] * 3
    for inputs, texts in ((got, pairs), (got_single, [(p[0], "") for p in pairs])):
        input_ids, input_mask, segment_ids = inputs
        assert input_ids.dtype == np.int32 and input_ids.shape[1] <= max_seq_length
        for row, (text_a, text_b) in enumerate(texts):
            want = convert_single_example(9, InputExample("x", text_a, text_b or None), [], max_seq_length,
                                          tokenizer, truncation)
            n = sum(want.input_mask)
            assert list(input_ids[row, :n]) == want.input_ids[:n], (text_a, text_b)
            assert list(segment_ids[row, :n]) == want.segment_ids[:n]
            assert list(input_mask[row]) == [1] * n + [0] * (input_ids.shape[1] - n)
            assert not input_ids[row, n:].any() and not segment_ids[row, n:].any()


# --------------------------------------------------------------------- serving
def test_only_core_tensorflow_ops(vocab_file):
    """Every op of the tokenizer graph (and of its loop and branch functions) is a core
    TensorFlow op: the stock tensorflow/serving image runs it, no custom-op library."""
    import tensorflow.compat.v1 as tf
    from tensorflow.python.framework import op_def_registry

    from bert_estimator.serving import text_signature as ts

    spec = ts.TokenizerSpec.from_vocab_file(vocab_file, True, 128)
    with tf.Graph().as_default() as graph:
        ts.features(tf.placeholder(tf.string, [None]), tf.placeholder(tf.string, [None]), spec)
    graph_def = graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    ops |= {node.op for function in graph_def.library.function for node in function.node_def}
    functions = {function.signature.name for function in graph_def.library.function}
    unknown = sorted(op for op in ops - functions if op_def_registry.get(op) is None)
    assert unknown == []
    assert {"StaticRegexReplace", "LookupTableFindV2", "StatelessWhile"} <= ops
    assert not any("Wordpiece" in op or "Normalize" in op for op in ops)  # no tensorflow-text op


def test_tables_follow_this_pythons_unicode():
    from bert_estimator.serving import text_signature as ts

    tables = ts.unicode_tables()
    assert tables.unidata_version == unicodedata.unidata_version
    assert tables.lower["Σ"] == "σ"
    assert "½" not in tables.lower  # NFD leaves compatibility characters alone (NFKC would not)
    assert tables.lower["İ"] == "i" and tables.lower["한"] == "\u1112\u1161\u11ab"
    assert tables.lower["\u0301"] == ""
