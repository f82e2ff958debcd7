"""--class_weights: the values (balanced against scikit-learn, explicit forms, errors)
and the losses they give, computed by hand from the model's logits."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from sklearn.utils.class_weight import compute_class_weight

import modeling
import run_classifier
from bert_estimator.core.errors import UsageError
from bert_estimator.training import class_weights
from processors import InputExample, MultiLabelList
from tests.conftest import TINY_CONFIG


def examples(labels):
    return [InputExample(guid=f"train-{i}", text_a="x", label=label) for i, label in enumerate(labels)]


def test_balanced_single_label_is_sklearns():
    labels = ["neg"] * 19 + ["pos"] * 3 + ["mixed"] * 7
    weights = class_weights.parse("balanced", ["mixed", "neg", "pos"], examples(labels))
    expected = compute_class_weight("balanced", classes=np.array(["mixed", "neg", "pos"]), y=np.array(labels))
    np.testing.assert_allclose(weights, expected, rtol=1e-12)


def test_balanced_multi_label_is_negatives_over_positives():
    label_sets = [("a",), ("a", "b"), (), ("a",), ("c",), ("a", "c")]
    weights = class_weights.parse("balanced", MultiLabelList(["a", "b", "c"]), examples(label_sets))
    assert weights == pytest.approx([2 / 4, 5 / 1, 4 / 2])


def test_explicit_weights_in_order_or_by_name():
    train = examples(["neg", "pos"])
    assert class_weights.parse("1,5", ["neg", "pos"], train) == [1.0, 5.0]
    assert class_weights.parse("pos:5", ["neg", "pos"], train) == [1.0, 5.0]
    assert class_weights.parse(" neg : 0.5 , pos:2", ["neg", "pos"], train) == [0.5, 2.0]
    assert class_weights.parse(None, ["neg", "pos"], None) is None


@pytest.mark.parametrize("spec, message", [
    ("1,2,3", "3 weights for 2 labels"),
    ("1,x", "'x' is not a number"),
    ("1,-2", "must be positive"),
    ("1,inf", "must be positive"),
    ("neutral:2", "'neutral' is not a label"),
])
def test_bad_explicit_weights_name_the_flag(spec, message):
    with pytest.raises(UsageError, match=message) as e:
        class_weights.parse(spec, ["neg", "pos"], examples(["neg", "pos"]))
    assert str(e.value).startswith(f"--class_weights={spec}")


def test_balanced_needs_every_label_in_train():
    with pytest.raises(UsageError, match="label 'pos' is on no example"):
        class_weights.parse("balanced", ["neg", "pos"], examples(["neg", "neg"]))
    with pytest.raises(UsageError, match="label 'a' is on every example"):
        class_weights.parse("balanced", MultiLabelList(["a", "b"]), examples([("a",), ("a", "b")]))


def test_weights_without_training_stop():
    with pytest.raises(UsageError, match="add --do_train"):
        class_weights.parse("balanced", ["neg", "pos"], None)


def _losses(labels, num_labels, weights, multi_label):
    """(loss, logits) of create_model on a tiny BERT, without dropout."""
    with tf.Graph().as_default():
        tf.set_random_seed(3)
        config = modeling.BertConfig.from_dict(TINY_CONFIG)
        rng = np.random.RandomState(0)
        ids = tf.constant(rng.randint(1, TINY_CONFIG["vocab_size"], size=(len(labels), 9)), tf.int32)
        mask = tf.ones_like(ids)
        loss, per_example, logits, _ = run_classifier.create_model(
            config, False, ids, mask, tf.zeros_like(ids), tf.constant(labels, tf.int32), num_labels, False,
            is_multi_label=multi_label, class_weights=weights)
        # a head with larger weights than its initialisation, so that the losses differ clearly
        head = [v for v in tf.global_variables() if v.name == "output_weights:0"][0]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(head.assign(head * 50.0))
            return sess.run([loss, per_example, logits])


def test_weighted_cross_entropy_by_hand():
    labels = [0, 1, 1, 2, 0, 1]
    weights = [0.5, 3.0, 1.25]
    loss, per_example, logits = _losses(labels, 3, weights, multi_label=False)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -log_probs[np.arange(len(labels)), labels]
    w = np.array(weights)[labels]
    assert loss == pytest.approx((w * ce).sum() / w.sum(), rel=1e-5)
    np.testing.assert_allclose(per_example, ce, rtol=1e-5)  # per example: unweighted (eval_loss)
    assert abs(loss - ce.mean()) > 1e-3  # the weights changed the loss
    unweighted, _, _ = _losses(labels, 3, None, multi_label=False)
    assert unweighted == pytest.approx(ce.mean(), rel=1e-5)
    equal, _, _ = _losses(labels, 3, [7.0, 7.0, 7.0], multi_label=False)
    assert equal == pytest.approx(unweighted, rel=1e-6)  # a weighted mean: equal weights change nothing


def test_multi_label_pos_weight_by_hand():
    labels = [[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1]]
    pos_weight = np.array([2.0, 0.5, 4.0])
    loss, per_example, logits = _losses(labels, 3, list(pos_weight), multi_label=True)
    y = np.array(labels, np.float64)
    sigmoid = 1 / (1 + np.exp(-logits.astype(np.float64)))
    by_hand = -(pos_weight * y * np.log(sigmoid) + (1 - y) * np.log(1 - sigmoid))  # torch's BCEWithLogitsLoss
    assert loss == pytest.approx(by_hand.mean(), rel=1e-5)
    np.testing.assert_allclose(per_example, by_hand.mean(axis=1), rtol=1e-5)
    unweighted, _, _ = _losses(labels, 3, None, multi_label=True)
    plain = -(y * np.log(sigmoid) + (1 - y) * np.log(1 - sigmoid))
    assert unweighted == pytest.approx(plain.mean(), rel=1e-5)
    assert abs(loss - unweighted) > 1e-3
