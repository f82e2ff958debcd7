"""Tests of gradient accumulation (`optimization.create_optimizer(...,
build_train_op=TrainOpOptions(num_accumulation_steps=k))`):

* k micro-batches of B/k give the update of one batch of B: a tiny BERT classifier
  trained 5 updates with k=1 on batches of 8 and with k=4 on micro-batches of 2 (the
  same 8 examples per update, in the same order), both started from one checkpoint
  (loaded with `modeling.get_assignment_map_from_checkpoint`, as a released one is),
  ends with equal weights, Adam moments and global step; gradient clipping is active
  on some updates, and its global norm must be the original's per-occurrence norm of
  the word embeddings' `tf.IndexedSlices` gradient (a dense-norm variant drifts off);
* the global step advances once every k runs, and the accumulators are zeroed after
  each update;
* k=1 builds the graph without accumulation (no `gradient_accumulation` variable, no
  cond);
* bad values of k raise ValueError as the options are made; k > 1 with use_tpu or
  under a tf.distribute strategy before the training op is built.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import modeling
import optimization
import run_classifier
from bert_estimator.training.train_op_builder import TrainOpOptions

CONFIG = modeling.BertConfig(
    vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=64,
    type_vocab_size=2, initializer_range=0.02)
NUM_LABELS = 2
BATCH_SIZE, SEQ_LENGTH, K = 8, 16, 4
NUM_UPDATES, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS, INIT_LR = 5, 6, 2, 1e-2
TOLERANCE = 1e-5


def _data() -> dict[str, np.ndarray]:
    """NUM_UPDATES batches of BATCH_SIZE examples, concatenated: int32 input_ids,
    input_mask, segment_ids of shape [NUM_UPDATES * BATCH_SIZE, SEQ_LENGTH] and labels
    of shape [NUM_UPDATES * BATCH_SIZE]. The ids come from 12 values, so every batch
    repeats ids many times (the IndexedSlices gradient has duplicate indices)."""
    rng = np.random.RandomState(0)
    n = NUM_UPDATES * BATCH_SIZE
    input_ids = rng.randint(1, 13, size=(n, SEQ_LENGTH)).astype(np.int32)
    lengths = rng.randint(6, SEQ_LENGTH + 1, size=n)
    input_mask = (np.arange(SEQ_LENGTH)[None, :] < lengths[:, None]).astype(np.int32)
    input_ids[input_mask == 0] = 0
    segment_ids = np.zeros_like(input_ids)
    segment_ids[:, SEQ_LENGTH // 2:] = 1
    segment_ids[input_mask == 0] = 0
    labels = rng.randint(0, NUM_LABELS, size=n).astype(np.int32)
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids, "labels": labels}


def _build_model(use_one_hot_embeddings: bool):
    """Placeholders (batch dimension None) and the mean loss of run_classifier's model
    (is_training=False: no dropout, so different batchings are comparable)."""
    placeholders = {name: tf.placeholder(tf.int32, [None, SEQ_LENGTH], name=name)
                    for name in ("input_ids", "input_mask", "segment_ids")}
    placeholders["labels"] = tf.placeholder(tf.int32, [None], name="labels")
    loss, _, _, _ = run_classifier.create_model(
        CONFIG, False, placeholders["input_ids"], placeholders["input_mask"], placeholders["segment_ids"],
        placeholders["labels"], NUM_LABELS, use_one_hot_embeddings)
    return placeholders, loss


@pytest.fixture(scope="module")
def init_checkpoint(tmp_path_factory) -> str:
    """A "released" checkpoint: the model's variables only (bert/..., output_weights,
    output_bias), random, with an output layer large enough for big gradients."""
    ckpt = str(tmp_path_factory.mktemp("accumulation") / "model.ckpt")
    with tf.Graph().as_default():
        tf.set_random_seed(11)
        _build_model(False)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            output_weights = [v for v in tf.global_variables() if v.op.name == "output_weights"][0]
            output_weights.load(np.random.RandomState(1).normal(size=(NUM_LABELS, 32)).astype(np.float32), sess)
            tf.train.Saver().save(sess, ckpt, write_meta_graph=False)
    return ckpt


def _train(init_checkpoint: str, num_accumulation_steps: int, use_one_hot_embeddings: bool = False,
           record_norms: bool = False) -> dict:
    """Trains NUM_UPDATES updates on _data(), k = num_accumulation_steps micro-batches of
    BATCH_SIZE / k per update, from `init_checkpoint`.

    Returns a dict: "state" {global variable name: value} at the end; "runs" [(global
    step, micro step, max |accumulator|)] after every session run (k > 1); "norms"
    (record_norms) [(per-occurrence global norm, dense global norm)] of each update's
    batch gradient before the update (k = 1).
    """
    data = _data()
    micro_batch = BATCH_SIZE // num_accumulation_steps
    with tf.Graph().as_default():
        placeholders, loss = _build_model(use_one_hot_embeddings)
        tvars = tf.trainable_variables()
        assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(tvars, init_checkpoint)
        assert all(v.op.name in initialized for v in tvars)
        tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
        if record_norms:
            grads = tf.gradients(loss, tvars)
            # tf.clip_by_global_norm's norm (IndexedSlices: over its rows), and the norm
            # of the densified gradients (duplicate ids summed first).
            norms = (tf.linalg.global_norm(grads),
                     tf.linalg.global_norm([tf.convert_to_tensor(g) for g in grads]))
        train_op = optimization.create_optimizer(
            loss, INIT_LR, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS, False,
            build_train_op=TrainOpOptions(num_accumulation_steps=num_accumulation_steps))
        state = {v.op.name: v for v in tf.global_variables()}
        accumulators = [v for name, v in state.items() if name.startswith("gradient_accumulation/")
                        and v.dtype.base_dtype == tf.float32]
        result = {"runs": [], "norms": []}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for start in range(0, NUM_UPDATES * BATCH_SIZE, micro_batch):
                feed = {placeholders[name]: data[name][start:start + micro_batch] for name in placeholders}
                if record_norms:
                    result["norms"].append(tuple(float(x) for x in sess.run(norms, feed)))
                sess.run(train_op, feed)
                if num_accumulation_steps > 1:
                    step, micro, accs = sess.run([state["global_step"],
                                                  state["gradient_accumulation/micro_step"], accumulators])
                    result["runs"].append((int(step), int(micro), max(float(np.abs(a).max()) for a in accs)))
            result["state"] = sess.run(state)
    return result


@pytest.fixture(scope="module")
def runs(init_checkpoint) -> dict:
    return {"k1": _train(init_checkpoint, 1, record_norms=True), "k4": _train(init_checkpoint, K)}


def _max_diff(state_a: dict, state_b: dict, names) -> float:
    return max(float(np.abs(np.asarray(state_a[n], np.float64) - state_b[n]).max()) for n in names)


def test_accumulated_updates_equal_big_batch_updates(runs, init_checkpoint):
    reference, accumulated = runs["k1"]["state"], runs["k4"]["state"]
    model_names = [n for n in reference if n != "global_step" and not n.endswith(("/adam_m", "/adam_v"))]
    moment_names = [n for n in reference if n.endswith(("/adam_m", "/adam_v"))]
    assert len(moment_names) == 2 * len(model_names)
    # Same checkpoint names for the model and the moments; only gradient_accumulation/ is new.
    assert {n for n in accumulated if not n.startswith("gradient_accumulation/")} == set(reference)
    assert reference["global_step"] == accumulated["global_step"] == NUM_UPDATES

    weights_diff = _max_diff(reference, accumulated, model_names)
    moments_diff = _max_diff(reference, accumulated, moment_names)
    print(f"max |diff| k=1 vs k={K}: weights {weights_diff:.3g}, adam_m/adam_v {moments_diff:.3g}")
    assert weights_diff <= TOLERANCE
    assert moments_diff <= TOLERANCE

    # It trains: the weights moved by far more than the tolerance.
    with tf.Graph().as_default():
        initial = {n: tf.train.load_variable(init_checkpoint, n) for n in model_names}
    assert _max_diff(initial, reference, model_names) > 1e-3

    # Clipping is exercised: the batch gradient's global norm exceeds 1 on some updates
    # and there, the dense norm (duplicate ids summed) differs from the per-occurrence one.
    norms = runs["k1"]["norms"]
    assert len(norms) == NUM_UPDATES
    clipped = [(per_occurrence, dense) for per_occurrence, dense in norms if per_occurrence > 1.0]
    print("global norms (per occurrence, dense):", norms)
    assert clipped
    assert max(abs(per_occurrence - dense) for per_occurrence, dense in clipped) > 1e-3


def test_dense_norm_would_differ(runs, init_checkpoint):
    """With one-hot embeddings (the same model and forward pass, but a dense
    word-embedding gradient, so the clipping norm is the dense one) k=4 equals k=1 of
    the same model (the dense accumulation path) yet drifts off the gather reference
    by far more than the tolerance: only the per-occurrence IndexedSlices norm makes
    accumulation equal to the original's big batch."""
    one_hot_k1 = _train(init_checkpoint, 1, use_one_hot_embeddings=True)["state"]
    one_hot_k4 = _train(init_checkpoint, K, use_one_hot_embeddings=True)["state"]
    reference = runs["k1"]["state"]
    names = [n for n in reference if n != "global_step"]
    same_model_diff = _max_diff(one_hot_k1, one_hot_k4, names)
    dense_norm_diff = _max_diff(reference, one_hot_k4, names)
    print(f"max |diff| one-hot k=1 vs k={K}: {same_model_diff:.3g}; "
          f"gather k=1 vs one-hot k={K} (dense norm): {dense_norm_diff:.3g}")
    assert same_model_diff <= TOLERANCE
    assert dense_norm_diff > 100 * TOLERANCE


def test_global_step_advances_every_k_runs_and_accumulators_reset(runs):
    history = runs["k4"]["runs"]
    assert len(history) == NUM_UPDATES * K
    for run, (global_step, micro_step, max_accumulator) in enumerate(history, start=1):
        assert global_step == run // K, run
        assert micro_step == run % K, run
        if run % K == 0:
            assert max_accumulator == 0.0, run  # zeroed right after the update
        else:
            assert max_accumulator > 0.0, run


def _toy_graph_def(build_train_op):
    with tf.Graph().as_default() as graph:
        w = tf.get_variable("dense/kernel", initializer=tf.constant([1.0, -2.0]))
        optimization.create_optimizer(tf.reduce_sum(tf.square(w - 3.0)), 0.1, 5, 1, False,
                                      build_train_op=build_train_op)
        names = {v.op.name for v in tf.global_variables()}
        return graph.as_graph_def(), names


def test_k1_builds_no_accumulation():
    """k=1: the variables of the original's recipe, no accumulator, no cond; k=2 adds
    the accumulation state, under gradient_accumulation/ only."""
    original_def, original_names = _toy_graph_def(None)
    k1_def, k1_names = _toy_graph_def(TrainOpOptions(num_accumulation_steps=1))
    assert k1_names == original_names == {"dense/kernel", "global_step", "dense/kernel/adam_m",
                                          "dense/kernel/adam_v"}
    assert not any("gradient_accumulation" in node.name for node in k1_def.node)
    cond_ops = {"If", "StatelessIf", "Switch", "Merge"}
    assert not cond_ops & {node.op for node in k1_def.node}

    k2_def, k2_names = _toy_graph_def(TrainOpOptions(num_accumulation_steps=2))
    assert k2_names == original_names | {"gradient_accumulation/micro_step",
                                         "gradient_accumulation/indexed_slices_sum_of_squares",
                                         "gradient_accumulation/grads/dense/kernel"}
    assert cond_ops & {node.op for node in k2_def.node}


@pytest.mark.parametrize("num_accumulation_steps, use_tpu, message", [
    (0, False, "integer >= 1"),
    (-2, False, "integer >= 1"),
    (2.0, False, "integer >= 1"),
    (True, False, "integer >= 1"),
    (2, True, "use_tpu"),
])
def test_bad_num_accumulation_steps(num_accumulation_steps, use_tpu, message):
    with tf.Graph().as_default() as graph:
        w = tf.get_variable("w", initializer=tf.constant([1.0, -2.0]))
        loss = tf.reduce_sum(w * w)
        with pytest.raises(ValueError, match=message):
            optimization.create_optimizer(
                loss, 0.1, 5, 1, use_tpu, build_train_op=TrainOpOptions(num_accumulation_steps=num_accumulation_steps))
        # raised before the training op was built: no gradient, no variable but the global step
        assert not [op for op in graph.get_operations() if op.name.startswith("gradients")]
        assert {v.op.name for v in tf.global_variables()} <= {"w", "global_step"}


def test_distribution_strategy_not_supported():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])

    def replica_step():
        w = tf.get_variable("w", initializer=tf.constant([1.0, -2.0]))
        return optimization.create_optimizer(tf.reduce_sum(w * w), 0.1, 5, 1, False,
                                             build_train_op=TrainOpOptions(num_accumulation_steps=2))

    with tf.Graph().as_default(), strategy.scope():
        tf.train.create_global_step()
        with pytest.raises(ValueError, match="tf.distribute"):
            strategy.extended.call_for_each_replica(replica_step)
