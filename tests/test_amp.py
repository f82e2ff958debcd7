"""Tests of dynamic loss scaling (`optimization.create_optimizer(...,
build_train_op=TrainOpOptions(use_amp=True))`).

In float32 the loss-scaled updates equal the plain ones to float rounding (the scale
is a power of two, so scaling and unscaling is exact up to the gradients' own
rounding); a step whose gradients are not finite changes no weight and halves the
scale, while the global step still advances.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import modeling
import optimization
from bert_estimator.training.train_op_builder import TrainOpOptions
from tests.test_accumulation import (
    BATCH_SIZE,
    INIT_LR,
    NUM_TRAIN_STEPS,
    NUM_UPDATES,
    NUM_WARMUP_STEPS,
    _build_model,
    _data,
    init_checkpoint,  # noqa: F401 - init_checkpoint is a fixture
)


def _train(init_checkpoint: str, use_amp: bool, poison_step: int | None = None) -> list[dict]:  # noqa: F811
    """NUM_UPDATES steps on _data(); the state {name: value} after each step. At
    `poison_step` the loss is multiplied by inf (non-finite gradients)."""
    data = _data()
    states = []
    with tf.Graph().as_default():
        placeholders, loss = _build_model(False)
        poison = tf.placeholder_with_default(1.0, [], name="poison")
        tvars = tf.trainable_variables()
        assignment_map, _ = modeling.get_assignment_map_from_checkpoint(tvars, init_checkpoint)
        tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
        train_op = optimization.create_optimizer(loss * poison, INIT_LR, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS,
                                                 False, build_train_op=TrainOpOptions(use_amp=use_amp))
        state = {v.op.name: v for v in tf.global_variables()}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for k, start in enumerate(range(0, NUM_UPDATES * BATCH_SIZE, BATCH_SIZE)):
                feed = {placeholders[name]: data[name][start:start + BATCH_SIZE] for name in placeholders}
                if k == poison_step:
                    feed[poison] = float("inf")
                sess.run(train_op, feed)
                states.append(sess.run(state))
    return states


def _model_names(state):
    return [n for n in state if n == "output_weights" or n.startswith("bert/")]


def _max_diff(a, b, names):
    return max(float(np.abs(np.asarray(a[n], np.float64) - b[n]).max()) for n in names)


def test_loss_scaled_updates_equal_plain_updates(init_checkpoint):  # noqa: F811
    plain, scaled = _train(init_checkpoint, False), _train(init_checkpoint, True)
    names = _model_names(plain[-1])
    assert _max_diff(plain[0], plain[-1], names) > 1e-3  # training moved the weights
    for k in range(NUM_UPDATES):
        assert _max_diff(plain[k], scaled[k], names) < 1e-5, k
        assert scaled[k]["global_step"] == plain[k]["global_step"] == k + 1
    scale_names = [n for n in scaled[-1] if "loss_scale" in n and scaled[-1][n].dtype == np.float32]
    assert scale_names, sorted(scaled[-1])
    assert float(scaled[-1][scale_names[0]]) == 2.0 ** 15  # no overflow: the initial scale


def test_non_finite_step_is_skipped_and_halves_the_scale(init_checkpoint):  # noqa: F811
    states = _train(init_checkpoint, True, poison_step=2)
    names = _model_names(states[0])
    scale_name = [n for n in states[0] if "loss_scale" in n and states[0][n].dtype == np.float32][0]
    assert _max_diff(states[1], states[2], names) == 0.0  # the poisoned step changed nothing
    assert all(np.isfinite(states[2][n]).all() for n in names)
    assert float(states[2][scale_name]) == 2.0 ** 14
    assert states[2]["global_step"] == 3
    assert _max_diff(states[2], states[3], names) > 0.0  # and training goes on


def test_use_amp_refuses_unsupported_combinations():
    with tf.Graph().as_default():
        loss = tf.reduce_sum(tf.get_variable("w", [2]))
        with pytest.raises(ValueError, match="use_amp"):
            optimization.create_optimizer(loss, 1e-3, 10, 1, True, build_train_op=TrainOpOptions(use_amp=True))
        with pytest.raises(ValueError, match="use_amp"):  # refused as the options are made
            TrainOpOptions(num_accumulation_steps=2, use_amp=True)
        assert not [op for op in tf.get_default_graph().get_operations() if op.name.startswith("gradients")]


def test_use_amp_refused_under_a_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])

    def replica_step():
        w = tf.get_variable("w", initializer=tf.constant([1.0, -2.0]))
        return optimization.create_optimizer(tf.reduce_sum(w * w), 0.1, 5, 1, False,
                                             build_train_op=TrainOpOptions(use_amp=True))

    with tf.Graph().as_default(), strategy.scope():
        tf.train.create_global_step()
        with pytest.raises(ValueError, match="use_amp"):
            strategy.extended.call_for_each_replica(replica_step)
