"""Tests of modeling.py: shapes, graph hygiene, checkpoint names, errors, and equality with
Google's original `modeling.py` (bert-tensorflow 1.0.4, loaded by tests/support/reference.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import modeling
from tests.support import reference

# The tiny architecture of the original's modeling_test (2 layers instead of 5).
TINY = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
}
BATCH_SIZE, SEQ_LENGTH = 3, 9


def tiny_inputs(seed=0):
    """input_ids, input_mask, token_type_ids (int32 [3, 9]): padding in rows 1 and 2,
    two segments in every row."""
    rng = np.random.RandomState(seed)
    input_ids = rng.randint(1, TINY["vocab_size"], size=(BATCH_SIZE, SEQ_LENGTH)).astype(np.int32)
    input_mask = np.ones_like(input_ids)
    input_mask[1, 6:] = 0
    input_mask[2, 3:] = 0
    input_ids[input_mask == 0] = 0
    token_type_ids = np.zeros_like(input_ids)
    token_type_ids[0, 4:] = 1
    token_type_ids[1, 3:6] = 1
    token_type_ids[2, 2:3] = 1
    return input_ids, input_mask, token_type_ids


def model_outputs(model):
    return {
        "word_embedding_output": model.get_word_embedding_output(),
        "embedding_output": model.get_embedding_output(),
        "all_encoder_layers": model.get_all_encoder_layers(),
        "sequence_output": model.get_sequence_output(),
        "pooled_output": model.get_pooled_output(),
    }


def flat_outputs(results):
    """{"name": array or [arrays]} -> {"name" / "name_i": array}."""
    flat = {}
    for key, value in results.items():
        if isinstance(value, list):
            flat.update({f"{key}_{i}": v for i, v in enumerate(value)})
        else:
            flat[key] = value
    return flat


def variable_specs(graph):
    """[(name, shape)] of the graph's global variables, in creation order."""
    return [(v.op.name, v.shape.as_list()) for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)]


@pytest.fixture(scope="module")
def orig_modeling():
    if not reference.available():
        pytest.skip("the original bert-tensorflow (and tf_slim) is not installed")
    return reference.load("modeling")


# ----------------------------------------------------------------------------- shapes


def test_output_shapes_training():
    input_ids, input_mask, token_type_ids = tiny_inputs()
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        model = modeling.BertModel(modeling.BertConfig(**TINY), True, tf.constant(input_ids),
                                   tf.constant(input_mask), tf.constant(token_type_ids))
        outputs = model_outputs(model)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            results = sess.run(outputs)
            table = sess.run(model.get_embedding_table())

    b, s, d = BATCH_SIZE, SEQ_LENGTH, TINY["hidden_size"]
    assert results["word_embedding_output"].shape == (b, s, d)
    assert results["embedding_output"].shape == (b, s, d)
    assert results["sequence_output"].shape == (b, s, d)
    assert results["pooled_output"].shape == (b, d)
    assert len(results["all_encoder_layers"]) == TINY["num_hidden_layers"]
    assert all(layer.shape == (b, s, d) for layer in results["all_encoder_layers"])
    np.testing.assert_array_equal(results["sequence_output"], results["all_encoder_layers"][-1])
    assert table.shape == (TINY["vocab_size"], d)
    # Static shapes are known at graph-construction time.
    assert outputs["sequence_output"].shape.as_list() == [b, s, d]
    assert outputs["pooled_output"].shape.as_list() == [b, d]
    # The pooler ends in tanh.
    assert np.abs(results["pooled_output"]).max() <= 1.0


def test_dynamic_batch_and_sequence_length():
    with tf.Graph().as_default():
        input_ids = tf.placeholder(tf.int32, [None, None], name="input_ids")
        input_mask = tf.placeholder(tf.int32, [None, None], name="input_mask")
        model = modeling.BertModel(modeling.BertConfig(**TINY), False, input_ids, input_mask)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for batch_size, seq_length in [(2, 5), (4, 11)]:
                feed = {input_ids: np.ones((batch_size, seq_length), np.int32),
                        input_mask: np.ones((batch_size, seq_length), np.int32)}
                seq, pooled = sess.run([model.get_sequence_output(), model.get_pooled_output()], feed)
                assert seq.shape == (batch_size, seq_length, TINY["hidden_size"])
                assert pooled.shape == (batch_size, TINY["hidden_size"])
            # Too long for the position table: caught when the graph runs.
            too_long = TINY["max_position_embeddings"] + 1
            feed = {input_ids: np.ones((1, too_long), np.int32), input_mask: np.ones((1, too_long), np.int32)}
            with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings"):
                sess.run(model.get_sequence_output(), feed)


def _unreachable_ops(graph, fetches):
    """Ops of `graph` that no fetch depends on (through data or control inputs)."""
    seen = set()
    stack = [getattr(f, "op", f) for f in fetches]
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op not in seen]


def test_all_ops_reachable_from_outputs():
    """No dangling ops (as the original's modeling_test checked): every op the model
    creates feeds an output or a variable initializer."""
    input_ids, input_mask, token_type_ids = tiny_inputs()
    with tf.Graph().as_default() as graph:
        model = modeling.BertModel(modeling.BertConfig(**TINY), True, tf.constant(input_ids),
                                   tf.constant(input_mask), tf.constant(token_type_ids))
        outputs = model_outputs(model)
        fetches = [tf.global_variables_initializer(), model.get_embedding_table()]
        fetches += [t for v in outputs.values() for t in (v if isinstance(v, list) else [v])]
        unreachable = _unreachable_ops(graph, fetches)
    # Each resource variable makes an is-initialized check and a read for its graph
    # element that nothing consumes; they are TF's bookkeeping, not the model's.
    bookkeeping = ("/IsInitialized/VarIsInitializedOp", "/Read/ReadVariableOp")
    dangling = [op.name for op in unreachable if not op.name.endswith(bookkeeping)]
    assert dangling == []


# ----------------------------------------------------------------------------- config


def test_config_json_round_trip(tmp_path):
    config = modeling.BertConfig(vocab_size=99, hidden_size=37, hidden_act="relu", type_vocab_size=2)
    text = config.to_json_string()
    assert text.endswith("\n")
    obj = json.loads(text)
    assert obj["vocab_size"] == 99 and obj["hidden_size"] == 37
    assert list(obj) == sorted(obj)

    path = tmp_path / "bert_config.json"
    path.write_text(text)
    loaded = modeling.BertConfig.from_json_file(str(path))
    assert isinstance(loaded, modeling.BertConfig)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.to_json_string() == text


def test_config_defaults_and_from_dict_match_original(orig_modeling):
    assert modeling.BertConfig(vocab_size=5).to_dict() == orig_modeling.BertConfig(vocab_size=5).to_dict()
    data = {"vocab_size": 7, "hidden_size": 16, "some_future_field": True}
    ours, orig = modeling.BertConfig.from_dict(data), orig_modeling.BertConfig.from_dict(data)
    assert ours.to_dict() == orig.to_dict()
    assert ours.some_future_field is True
    assert ours.to_json_string() == orig.to_json_string()


def test_config_to_dict_is_a_copy():
    config = modeling.BertConfig(vocab_size=99)
    config.to_dict()["vocab_size"] = 1
    assert config.vocab_size == 99


# ----------------------------------------------------------------- checkpoint variables


def _expected_variables(vocab, hidden, layers, intermediate, max_positions=512, type_vocab=2):
    """The (name, shape) list of Google's released checkpoints, in creation order."""
    specs = [
        ("bert/embeddings/word_embeddings", [vocab, hidden]),
        ("bert/embeddings/token_type_embeddings", [type_vocab, hidden]),
        ("bert/embeddings/position_embeddings", [max_positions, hidden]),
        ("bert/embeddings/LayerNorm/beta", [hidden]),
        ("bert/embeddings/LayerNorm/gamma", [hidden]),
    ]
    for i in range(layers):
        prefix = f"bert/encoder/layer_{i}/"
        specs += [
            (prefix + "attention/self/query/kernel", [hidden, hidden]),
            (prefix + "attention/self/query/bias", [hidden]),
            (prefix + "attention/self/key/kernel", [hidden, hidden]),
            (prefix + "attention/self/key/bias", [hidden]),
            (prefix + "attention/self/value/kernel", [hidden, hidden]),
            (prefix + "attention/self/value/bias", [hidden]),
            (prefix + "attention/output/dense/kernel", [hidden, hidden]),
            (prefix + "attention/output/dense/bias", [hidden]),
            (prefix + "attention/output/LayerNorm/beta", [hidden]),
            (prefix + "attention/output/LayerNorm/gamma", [hidden]),
            (prefix + "intermediate/dense/kernel", [hidden, intermediate]),
            (prefix + "intermediate/dense/bias", [intermediate]),
            (prefix + "output/dense/kernel", [intermediate, hidden]),
            (prefix + "output/dense/bias", [hidden]),
            (prefix + "output/LayerNorm/beta", [hidden]),
            (prefix + "output/LayerNorm/gamma", [hidden]),
        ]
    specs += [
        ("bert/pooler/dense/kernel", [hidden, hidden]),
        ("bert/pooler/dense/bias", [hidden]),
    ]
    return specs


# BERT-Base, as in uncased_L-12_H-768_A-12/bert_model.ckpt (without the pre-training
# heads cls/* and global_step): the first, one per-layer block and the last entries.
BERT_BASE_FIRST = [
    ("bert/embeddings/word_embeddings", [30522, 768]),
    ("bert/embeddings/token_type_embeddings", [2, 768]),
    ("bert/embeddings/position_embeddings", [512, 768]),
    ("bert/embeddings/LayerNorm/beta", [768]),
    ("bert/embeddings/LayerNorm/gamma", [768]),
    ("bert/encoder/layer_0/attention/self/query/kernel", [768, 768]),
    ("bert/encoder/layer_0/attention/self/query/bias", [768]),
    ("bert/encoder/layer_0/attention/self/key/kernel", [768, 768]),
    ("bert/encoder/layer_0/attention/self/key/bias", [768]),
    ("bert/encoder/layer_0/attention/self/value/kernel", [768, 768]),
    ("bert/encoder/layer_0/attention/self/value/bias", [768]),
    ("bert/encoder/layer_0/attention/output/dense/kernel", [768, 768]),
    ("bert/encoder/layer_0/attention/output/dense/bias", [768]),
    ("bert/encoder/layer_0/attention/output/LayerNorm/beta", [768]),
    ("bert/encoder/layer_0/attention/output/LayerNorm/gamma", [768]),
    ("bert/encoder/layer_0/intermediate/dense/kernel", [768, 3072]),
    ("bert/encoder/layer_0/intermediate/dense/bias", [3072]),
    ("bert/encoder/layer_0/output/dense/kernel", [3072, 768]),
    ("bert/encoder/layer_0/output/dense/bias", [768]),
    ("bert/encoder/layer_0/output/LayerNorm/beta", [768]),
    ("bert/encoder/layer_0/output/LayerNorm/gamma", [768]),
]
BERT_BASE_LAST = [
    ("bert/encoder/layer_11/output/LayerNorm/gamma", [768]),
    ("bert/pooler/dense/kernel", [768, 768]),
    ("bert/pooler/dense/bias", [768]),
]
BERT_BASE_NUM_VARIABLES = 5 + 12 * 16 + 2  # 199
BERT_BASE_NUM_PARAMETERS = 109_482_240
BERT_LARGE_NUM_PARAMETERS = 335_141_888

BERT_BASE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2}
BERT_LARGE = {"vocab_size": 30522, "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
              "intermediate_size": 4096, "max_position_embeddings": 512, "type_vocab_size": 2}


def _graph_variables(module, config):
    """Builds `module.BertModel` (no initialization) and returns its variable specs."""
    with tf.Graph().as_default() as graph:
        module.BertModel(module.BertConfig(**config), False, tf.zeros([1, 8], tf.int32))
        return variable_specs(graph)


def test_bert_base_variable_names_golden():
    specs = _graph_variables(modeling, BERT_BASE)
    assert len(specs) == BERT_BASE_NUM_VARIABLES
    assert specs[:len(BERT_BASE_FIRST)] == BERT_BASE_FIRST
    assert specs[-len(BERT_BASE_LAST):] == BERT_BASE_LAST
    assert specs == _expected_variables(30522, 768, 12, 3072)
    assert sum(int(np.prod(shape)) for _, shape in specs) == BERT_BASE_NUM_PARAMETERS


@pytest.mark.parametrize("config", [BERT_BASE, BERT_LARGE], ids=["base", "large"])
def test_variables_equal_original(orig_modeling, config):
    ours = _graph_variables(modeling, config)
    assert ours == _graph_variables(orig_modeling, config)  # names, shapes and order
    expected = _expected_variables(config["vocab_size"], config["hidden_size"],
                                   config["num_hidden_layers"], config["intermediate_size"])
    assert ours == expected
    if config is BERT_LARGE:
        assert sum(int(np.prod(shape)) for _, shape in ours) == BERT_LARGE_NUM_PARAMETERS


def test_custom_scope_and_trainable_variables():
    with tf.Graph().as_default():
        modeling.BertModel(modeling.BertConfig(**TINY), True, tf.zeros([2, 4], tf.int32), scope="encoder_a")
        names = [v.op.name for v in tf.trainable_variables()]
    assert names[0] == "encoder_a/embeddings/word_embeddings"
    assert all(name.startswith("encoder_a/") for name in names)
    assert len(names) == 5 + 2 * 16 + 2


def test_second_model_reuses_variables():
    """Building the model again under reuse=True shares every variable (no new ones,
    no renamed LayerNorm scopes) and computes the same thing."""
    input_ids, input_mask, token_type_ids = tiny_inputs()
    with tf.Graph().as_default():
        config = modeling.BertConfig(**TINY)
        first = modeling.BertModel(config, False, tf.constant(input_ids), tf.constant(input_mask),
                                   tf.constant(token_type_ids), scope="bert")
        num_variables = len(tf.global_variables())
        with tf.variable_scope(tf.get_variable_scope(), reuse=True):
            second = modeling.BertModel(config, False, tf.constant(input_ids), tf.constant(input_mask),
                                        tf.constant(token_type_ids), scope="bert")
        assert len(tf.global_variables()) == num_variables
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            a, b = sess.run([first.get_pooled_output(), second.get_pooled_output()])
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ equality with the original


def _run_original(orig_modeling, inputs, use_one_hot, checkpoint):
    """Builds the original model (random init, seed 12345), saves its variables to
    `checkpoint`, returns its outputs."""
    input_ids, input_mask, token_type_ids = inputs
    with tf.Graph().as_default():
        tf.set_random_seed(12345)
        model = orig_modeling.BertModel(orig_modeling.BertConfig(**TINY), False, tf.constant(input_ids),
                                        tf.constant(input_mask), tf.constant(token_type_ids),
                                        use_one_hot_embeddings=use_one_hot)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            # LayerNorm starts at beta 0, gamma 1: give it values so it is tested too.
            rng = np.random.RandomState(1)
            for var in tf.global_variables():
                if "LayerNorm" in var.op.name:
                    var.load(rng.normal(1.0 if "gamma" in var.op.name else 0.0, 0.1, var.shape.as_list()), sess)
            tf.train.Saver().save(sess, checkpoint, write_meta_graph=False)
            return sess.run(model_outputs(model))


def _run_ours_from_checkpoint(inputs, use_one_hot, checkpoint):
    input_ids, input_mask, token_type_ids = inputs
    with tf.Graph().as_default():
        model = modeling.BertModel(modeling.BertConfig(**TINY), False, tf.constant(input_ids),
                                   tf.constant(input_mask), tf.constant(token_type_ids),
                                   use_one_hot_embeddings=use_one_hot)
        tvars = tf.trainable_variables()
        assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(tvars, checkpoint)
        assert all(var.name in initialized for var in tvars)
        tf.train.init_from_checkpoint(checkpoint, assignment_map)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return sess.run(model_outputs(model))


@pytest.mark.parametrize("use_one_hot", [False, True], ids=["gather", "one_hot"])
def test_outputs_equal_original(orig_modeling, tmp_path, use_one_hot):
    """Same weights (the original's checkpoint, restored through our
    get_assignment_map_from_checkpoint), same inputs with padding and two segments,
    is_training=False: every output equal to the original's to 1e-5."""
    inputs = tiny_inputs()
    checkpoint = str(tmp_path / "orig.ckpt")
    expected = flat_outputs(_run_original(orig_modeling, inputs, use_one_hot, checkpoint))
    actual = flat_outputs(_run_ours_from_checkpoint(inputs, use_one_hot, checkpoint))
    assert actual.keys() == expected.keys()
    diffs = {key: float(np.abs(actual[key] - expected[key]).max()) for key in expected}
    assert max(diffs.values()) <= 1e-5, diffs
    # Not vacuous: the outputs are far from constant.
    assert np.std(expected["sequence_output"]) > 0.1


def test_padding_is_not_attended_to():
    """Changing the ids under input_mask == 0 leaves the outputs of real tokens alone."""
    input_ids, input_mask, token_type_ids = tiny_inputs()
    other_ids = input_ids.copy()
    other_ids[input_mask == 0] = 7
    with tf.Graph().as_default():
        ids = tf.placeholder(tf.int32, input_ids.shape)
        model = modeling.BertModel(modeling.BertConfig(**TINY), False, ids, tf.constant(input_mask),
                                   tf.constant(token_type_ids))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            fetches = [model.get_sequence_output(), model.get_pooled_output()]
            seq_a, pooled_a = sess.run(fetches, {ids: input_ids})
            seq_b, pooled_b = sess.run(fetches, {ids: other_ids})
    real = input_mask.astype(bool)
    np.testing.assert_allclose(seq_a[real], seq_b[real], atol=1e-6)
    np.testing.assert_allclose(pooled_a, pooled_b, atol=1e-6)
    assert np.abs(seq_a[~real] - seq_b[~real]).max() > 1e-3  # padding itself did change


def test_default_mask_and_segments_equal_explicit_ones():
    input_ids, _, _ = tiny_inputs()
    with tf.Graph().as_default():
        config = modeling.BertConfig(**TINY)
        ids = tf.constant(input_ids)
        implicit = modeling.BertModel(config, False, ids, scope="bert")
        with tf.variable_scope(tf.get_variable_scope(), reuse=True):
            explicit = modeling.BertModel(config, False, ids, tf.ones_like(ids), tf.zeros_like(ids), scope="bert")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            a, b = sess.run([implicit.get_sequence_output(), explicit.get_sequence_output()])
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------- building blocks

GELU_GOLDEN = {  # x -> x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), float64
    -3.0: -0.003637392,
    -1.0: -0.158808009,
    -0.5: -0.15428599,
    0.0: 0.0,
    0.5: 0.34571401,
    1.0: 0.841191991,
    3.0: 2.996362608,
}


def test_gelu_golden_values(orig_modeling):
    x = np.array(list(GELU_GOLDEN), np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        ours, orig = sess.run([modeling.gelu(tf.constant(x)), orig_modeling.gelu(tf.constant(x))])
    np.testing.assert_allclose(ours, list(GELU_GOLDEN.values()), atol=1e-6)
    np.testing.assert_array_equal(ours, orig)


def test_get_activation():
    assert modeling.get_activation("gelu") is modeling.gelu
    assert modeling.get_activation("GELU") is modeling.gelu
    assert modeling.get_activation("relu") is tf.nn.relu
    assert modeling.get_activation("tanh") is tf.tanh
    assert modeling.get_activation("linear") is None
    assert modeling.get_activation("") is None
    assert modeling.get_activation(None) is None
    assert modeling.get_activation(tf.sigmoid) is tf.sigmoid
    with pytest.raises(ValueError, match="swish"):
        modeling.get_activation("swish")


def test_layer_norm_matches_tf_slim():
    """Same numbers as contrib's (tf_slim's) layer_norm, with the same variable names."""
    import tf_slim

    rng = np.random.RandomState(0)
    x = (rng.normal(size=(3, 5, 16)) * 4.0 + 50.0).astype(np.float32)
    beta = rng.normal(size=16).astype(np.float32)
    gamma = rng.normal(1.0, 0.5, size=16).astype(np.float32)
    with tf.Graph().as_default():
        with tf.variable_scope("ours"):
            ours = modeling.layer_norm(tf.constant(x))
        with tf.variable_scope("slim"):
            slim = tf_slim.layers.layer_norm(tf.constant(x), begin_norm_axis=-1, begin_params_axis=-1)
        names = [v.op.name for v in tf.global_variables()]
        assert names == ["ours/LayerNorm/beta", "ours/LayerNorm/gamma",
                         "slim/LayerNorm/beta", "slim/LayerNorm/gamma"]
        with tf.Session() as sess:
            for var in tf.global_variables():
                var.load(beta if var.op.name.endswith("beta") else gamma, sess)
            a, b = sess.run([ours, slim])
    np.testing.assert_allclose(a, b, atol=1e-6)
    normalized = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
    np.testing.assert_allclose(a, normalized * gamma + beta, atol=1e-4)


def test_layer_norm_named_scope():
    with tf.Graph().as_default():
        modeling.layer_norm_and_dropout(tf.zeros([2, 8]), 0.1, name="my_norm")
        assert [v.op.name for v in tf.global_variables()] == ["my_norm/beta", "my_norm/gamma"]


def test_dropout():
    with tf.Graph().as_default():
        x = tf.ones([1000])
        assert modeling.dropout(x, 0.0) is x
        assert modeling.dropout(x, None) is x
        with tf.Session() as sess:
            y = sess.run(modeling.dropout(x, 0.25))
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1.0 / 0.75, rtol=1e-6)  # kept values scaled by 1/keep
    assert 0.15 < 1.0 - kept.mean() < 0.35


def test_create_initializer_is_truncated_normal():
    with tf.Graph().as_default():
        var = tf.get_variable("w", [200, 200], initializer=modeling.create_initializer(0.02))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            w = sess.run(var)
    assert np.abs(w).max() <= 2 * 0.02 + 1e-7  # truncated at two stddevs
    assert 0.01 < w.std() < 0.02


def test_embedding_lookup_one_hot_equals_gather():
    ids = np.array([[3, 0, 98], [5, 5, 1]], np.int32)
    with tf.Graph().as_default():
        with tf.variable_scope("e"):
            gathered, table = modeling.embedding_lookup(tf.constant(ids), 99, embedding_size=6)
        with tf.variable_scope("e", reuse=True):
            one_hot, _ = modeling.embedding_lookup(tf.constant(ids), 99, embedding_size=6,
                                                   use_one_hot_embeddings=True)
        assert table.op.name == "e/word_embeddings"
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            a, b, t = sess.run([gathered, one_hot, table])
    assert a.shape == (2, 3, 6)
    np.testing.assert_array_equal(a, t[ids])
    np.testing.assert_allclose(b, a, atol=1e-7)


def test_create_attention_mask_from_input_mask():
    to_mask = np.array([[1, 1, 0], [1, 0, 0]], np.int32)
    with tf.Graph().as_default(), tf.Session() as sess:
        mask = sess.run(modeling.create_attention_mask_from_input_mask(tf.zeros([2, 4]), tf.constant(to_mask)))
    assert mask.dtype == np.float32 and mask.shape == (2, 4, 3)
    np.testing.assert_array_equal(mask, np.broadcast_to(to_mask[:, None, :], (2, 4, 3)))


def test_attention_layer_rank2_and_rank3_agree():
    """Rank-3 inputs, and rank-2 inputs with the sizes given, compute the same thing;
    a masked key gets no attention."""
    rng = np.random.RandomState(0)
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    mask = np.ones((2, 5, 5), np.int32)
    mask[:, :, 4] = 0
    with tf.Graph().as_default():
        with tf.variable_scope("att"):
            out3 = modeling.attention_layer(tf.constant(x), tf.constant(x), tf.constant(mask),
                                            num_attention_heads=2, size_per_head=4)
        with tf.variable_scope("att", reuse=True):
            x2 = tf.constant(x.reshape(10, 8))
            out2 = modeling.attention_layer(x2, x2, tf.constant(mask), num_attention_heads=2, size_per_head=4,
                                            do_return_2d_tensor=True, batch_size=2, from_seq_length=5,
                                            to_seq_length=5)
        # The masked key's value rows may change freely: the output must not move.
        x_changed = x.copy()
        x_changed[:, 4, :] += 100.0
        with tf.variable_scope("att", reuse=True):
            out_changed = modeling.attention_layer(tf.constant(x), tf.constant(x_changed), tf.constant(mask),
                                                   num_attention_heads=2, size_per_head=4)
        assert out3.shape.as_list() == [2, 5, 8] and out2.shape.as_list() == [10, 8]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            a, b, c = sess.run([out3, out2, out_changed])
    np.testing.assert_allclose(a.reshape(10, 8), b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-5)


def test_shape_helpers():
    with tf.Graph().as_default():
        static = tf.zeros([2, 3, 4])
        assert modeling.get_shape_list(static, expected_rank=3) == [2, 3, 4]
        dynamic = tf.placeholder(tf.float32, [None, 3, None])
        shape = modeling.get_shape_list(dynamic, expected_rank=[2, 3])
        assert shape[1] == 3 and isinstance(shape[0], tf.Tensor) and isinstance(shape[2], tf.Tensor)

        matrix = modeling.reshape_to_matrix(static)
        assert matrix.shape.as_list() == [6, 4]
        assert modeling.reshape_to_matrix(matrix) is matrix
        back = modeling.reshape_from_matrix(tf.zeros([6, 5]), [2, 3, 4])
        assert back.shape.as_list() == [2, 3, 5]
        with pytest.raises(ValueError, match="rank >= 2"):
            modeling.reshape_to_matrix(tf.zeros([4]))
        with tf.Session() as sess:
            result = sess.run(modeling.reshape_to_matrix(dynamic), {dynamic: np.zeros((2, 3, 7))})
        assert result.shape == (6, 7)


def test_get_assignment_map_from_checkpoint(tmp_path):
    """Only variables both in the graph and in the checkpoint are mapped; names with
    and without ":0" are reported as initialized."""
    checkpoint = str(tmp_path / "model.ckpt")
    with tf.Graph().as_default():
        tf.get_variable("bert/a", [2])
        tf.get_variable("bert/only_in_checkpoint", [3])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver().save(sess, checkpoint, write_meta_graph=False)
    with tf.Graph().as_default():
        a = tf.get_variable("bert/a", [2])
        only_in_graph = tf.get_variable("output_weights", [2])
        assignment_map, initialized = modeling.get_assignment_map_from_checkpoint([a, only_in_graph], checkpoint)
    assert dict(assignment_map) == {"bert/a": "bert/a"}
    assert set(initialized) == {"bert/a", "bert/a:0"}


# ------------------------------------------------------------------------------ errors


def _one_line_error(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_error_sequence_longer_than_position_table():
    config = modeling.BertConfig(**{**TINY, "max_position_embeddings": 512})
    with tf.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            modeling.BertModel(config, False, tf.zeros([2, 600], tf.int32))
    message = _one_line_error(excinfo)
    assert "600" in message and "512" in message
    assert "max_position_embeddings" in message and "--max_seq_length" in message


def test_error_hidden_size_not_multiple_of_heads():
    config = modeling.BertConfig(**{**TINY, "hidden_size": 30, "num_attention_heads": 4})
    with tf.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            modeling.BertModel(config, False, tf.zeros([2, 8], tf.int32))
    message = _one_line_error(excinfo)
    assert "hidden_size (30)" in message and "num_attention_heads (4)" in message


@pytest.mark.parametrize("shape", [[2, 8, 1], [8]], ids=["rank3", "rank1"])
def test_error_input_ids_wrong_rank(shape):
    with tf.Graph().as_default():
        input_ids = tf.zeros(shape, tf.int32, name="input_ids")
        with pytest.raises(ValueError) as excinfo:
            modeling.BertModel(modeling.BertConfig(**TINY), False, input_ids)
    message = _one_line_error(excinfo)
    assert "input_ids" in message
    assert f"rank {len(shape)}" in message and "rank 2 was expected" in message


def test_assert_rank():
    with tf.Graph().as_default():
        x = tf.zeros([2, 3], name="x")
        modeling.assert_rank(x, 2)
        modeling.assert_rank(x, [2, 3])
        with pytest.raises(ValueError) as excinfo:
            modeling.assert_rank(x, [3, 4], name="my_tensor")
    message = _one_line_error(excinfo)
    assert "`my_tensor` has rank 2" in message and "one of 3, 4" in message


def test_unknown_activation_in_config():
    config = modeling.BertConfig(**{**TINY, "hidden_act": "swishy"})
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="swishy"):
            modeling.BertModel(config, False, tf.zeros([1, 4], tf.int32))

