"""Weights-only checkpoints and pruned run directories
(bert_estimator/training/checkpoint_pruning.py).

* Which variables are optimizer state: checked against the graphs that
  train_op_builder builds (plain Adam, gradient accumulation, dynamic loss scaling),
  whose weights are `tf.trainable_variables()` plus the global step.
* A weights-only copy restores, in a prediction graph of the tiny BERT classifier, the
  same outputs bit for bit as the full checkpoint; in place, it replaces the directory's
  checkpoints; on an error nothing of it remains.
* A real finished run of run_classifier.py (tiny BERT, real movie-review snippets,
  evaluation during training, 5 checkpoints kept), pruned as the sweep prunes it: its
  directory shrinks, no Adam moment remains (`tf.train.list_variables`), and prediction
  from the kept checkpoint writes the same test_results.tsv as before pruning, byte for
  byte, both when the run predicts from best/ and from its last checkpoint.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import modeling
import run_classifier
from bert_estimator.training import checkpoint_pruning, evaluation
from bert_estimator.training.train_op_builder import (
    ExtendedAdamWeightDecayOptimizer,
    accumulating_train_op,
    loss_scaled_train_op,
    plain_train_op,
)
from tests.conftest import PROJECT_ROOT, TINY_CONFIG, write_tiny_checkpoint
from tests.test_evaluation import NUM_TEST, NUM_TRAIN, snippet_rows, train_args, write_tsv
from tests.test_run_classifier import RUN_CLASSIFIER, model_flags

SEQ_LENGTH, NUM_LABELS = 16, 2


# ------------------------------------------------------------------ optimizer state
def training_graph(build_train_op) -> tuple[set, set]:
    """The variables of a graph with one weight trained by `build_train_op(loss,
    optimizer, global_step)`: (all names, the trainable ones and the global step)."""
    with tf.Graph().as_default():
        weight = tf.get_variable("bert/encoder/kernel", [3], initializer=tf.ones_initializer())
        global_step = tf.train.get_or_create_global_step()
        build_train_op(tf.reduce_sum(weight * weight), ExtendedAdamWeightDecayOptimizer(0.1), global_step)
        names = {v.op.name for v in tf.global_variables()}
        return names, {v.op.name for v in tf.trainable_variables()} | {global_step.op.name}


@pytest.mark.parametrize("build_train_op", [
    lambda loss, opt, step: plain_train_op(loss, opt, step, use_tpu=False),
    lambda loss, opt, step: accumulating_train_op(loss, opt, step, 4),
    loss_scaled_train_op,
], ids=["adam", "accumulation", "loss_scale"])
def test_optimizer_state_is_everything_but_the_weights_and_global_step(build_train_op):
    names, weights = training_graph(build_train_op)
    assert len(names) > len(weights)  # there is state to leave out
    assert {n for n in names if not checkpoint_pruning.is_optimizer_state(n)} == weights


# ----------------------------------------------------------------- weights-only copy
def classifier_graph(is_training: bool):
    """run_classifier's model on the tiny config: (input_ids placeholder, probabilities,
    loss)."""
    input_ids = tf.placeholder(tf.int32, [None, SEQ_LENGTH])
    mask = tf.cast(tf.not_equal(input_ids, 0), tf.int32)
    labels = tf.zeros_like(input_ids[:, 0])
    loss, _, _, probabilities = run_classifier.create_model(
        modeling.BertConfig.from_dict(TINY_CONFIG), is_training, input_ids, mask, tf.zeros_like(input_ids), labels,
        NUM_LABELS, False, False)
    return input_ids, probabilities, loss


def write_trained_checkpoint(directory, steps=(1, 3)) -> list[str]:
    """Checkpoints of the tiny classifier after `steps` Adam updates (with its moments
    and a .meta graph, as the Estimator writes them); returns their prefixes."""
    with tf.Graph().as_default():
        tf.set_random_seed(7)
        input_ids, _, loss = classifier_graph(is_training=True)
        global_step = tf.train.get_or_create_global_step()
        train_op = plain_train_op(loss, ExtendedAdamWeightDecayOptimizer(0.05), global_step, use_tpu=False)
        saver = tf.train.Saver(max_to_keep=10)
        ids = np.random.RandomState(0).randint(1000, 3000, size=(4, SEQ_LENGTH))
        paths = []
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            for step in range(1, max(steps) + 1):
                session.run(train_op, {input_ids: ids})
                if step in steps:
                    paths.append(saver.save(session, os.path.join(str(directory), "model.ckpt"), global_step=step))
        return paths


def predict(checkpoint_path: str) -> np.ndarray:
    """Probabilities of the tiny classifier (no dropout) restored from `checkpoint_path`
    by a Saver of the prediction graph's variables, on fixed inputs: [5, NUM_LABELS]."""
    with tf.Graph().as_default():
        input_ids, probabilities, _ = classifier_graph(is_training=False)
        tf.train.get_or_create_global_step()
        ids = np.random.RandomState(1).randint(1000, 3000, size=(5, SEQ_LENGTH))
        ids[:, 12:] = 0
        with tf.Session() as session:
            tf.train.Saver().restore(session, checkpoint_path)
            return session.run(probabilities, {input_ids: ids})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> list[str]:
    return write_trained_checkpoint(tmp_path_factory.mktemp("trained"))


def test_weights_only_copy_predicts_bit_identically(trained, tmp_path):
    full = trained[-1]
    copy = checkpoint_pruning.write_weights_only(full, str(tmp_path / "best"))
    assert copy == str(tmp_path / "best" / "model.ckpt-3")
    assert tf.train.latest_checkpoint(str(tmp_path / "best")) == copy
    full_vars, copy_vars = dict(tf.train.list_variables(full)), dict(tf.train.list_variables(copy))
    assert any(name.endswith("/adam_m") for name in full_vars)
    assert copy_vars == {n: s for n, s in full_vars.items() if not n.endswith(("/adam_m", "/adam_v"))}
    full_reader, copy_reader = tf.train.load_checkpoint(full), tf.train.load_checkpoint(copy)
    for name in copy_vars:
        np.testing.assert_array_equal(copy_reader.get_tensor(name), full_reader.get_tensor(name))
    assert copy_reader.get_tensor("global_step") == 3
    # A third of the bytes: Adam's two moments are each the size of the weights.
    size = {p: sum(os.path.getsize(f) for f in tf.io.gfile.glob(p + ".data-*")) for p in (full, copy)}
    assert size[copy] / size[full] == pytest.approx(1 / 3, abs=0.01)
    # The same predictions, bit for bit.
    full_probabilities, copy_probabilities = predict(full), predict(copy)
    assert full_probabilities.shape == (5, NUM_LABELS) and np.ptp(full_probabilities[:, 0]) > 0
    assert np.array_equal(copy_probabilities, full_probabilities)
    # Nothing else in the directory: no .meta, no temporary directory.
    assert sorted(os.listdir(tmp_path / "best")) == ["checkpoint", "model.ckpt-3.data-00000-of-00001",
                                                     "model.ckpt-3.index"]


def test_weights_only_in_place_replaces_the_checkpoints(trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(os.path.dirname(trained[-1]), run_dir)
    assert len(list(run_dir.glob("model.ckpt-*"))) == 6  # two checkpoints: index, data, meta
    expected = predict(trained[-1])
    kept = checkpoint_pruning.write_weights_only(str(run_dir / "model.ckpt-3"), str(run_dir))
    assert sorted(os.listdir(run_dir)) == ["checkpoint", "model.ckpt-3.data-00000-of-00001", "model.ckpt-3.index"]
    assert tf.train.latest_checkpoint(str(run_dir)) == kept
    assert checkpoint_pruning.optimizer_state_names(kept) == []
    assert np.array_equal(predict(kept), expected)


def test_weights_only_leaves_nothing_on_error(trained, tmp_path, monkeypatch):
    target = tmp_path / "best"
    checkpoint_pruning.write_weights_only(trained[0], str(target))
    before = {name: (target / name).read_bytes() for name in os.listdir(target)}

    def fail(**kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "disk full")

    monkeypatch.setattr(tf.raw_ops, "SaveV2", fail)
    with pytest.raises(tf.errors.ResourceExhaustedError):
        checkpoint_pruning.write_weights_only(trained[-1], str(target))
    assert {name: (target / name).read_bytes() for name in os.listdir(target)} == before
    with pytest.raises(FileNotFoundError, match="model.ckpt-9"):
        checkpoint_pruning.write_weights_only(str(tmp_path / "model.ckpt-9"), str(target))


# --------------------------------------------------------- a finished run, pruned
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=PROJECT_ROOT)
RUN_FILES = ("eval_results.txt", "test_results.tsv", "SST-2.tsv", "eval_history.tsv", "run_classifier.log",
             os.path.join("best", "eval_results.txt"))


def run(args: list[str]) -> None:
    result = subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def predict_args(data_dir: str, model_dir: str, output_dir, *extra: str) -> list[str]:
    return [RUN_CLASSIFIER, "--task_name=SST-2", f"--data_dir={data_dir}", f"--output_dir={output_dir}",
            *model_flags(model_dir), "--do_predict", "--max_seq_length=32", "--predict_batch_size=3", *extra]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> dict:
    """A run as the sweep makes one: train, evaluate (every 4 steps too), predict from best/."""
    root = tmp_path_factory.mktemp("pruning_run")
    rows = snippet_rows(NUM_TRAIN + NUM_TEST)
    data_dir = root / "SST-2"
    data_dir.mkdir()
    write_tsv(data_dir / "train.tsv", "sentence\tlabel", rows[:NUM_TRAIN])
    write_tsv(data_dir / "dev.tsv", "sentence\tlabel", [(t, "0" if label == "1" else "1") for t, label in rows[:24]])
    write_tsv(data_dir / "test.tsv", "index\tsentence", [(str(i), t) for i, (t, _) in enumerate(rows[NUM_TRAIN:])])
    model_dir = str(root / "uncased_L-2_H-32_A-4")
    write_tiny_checkpoint(model_dir, seed=5, num_labels=2)
    out = root / "run"
    run(train_args(str(data_dir), model_dir, out, "--do_predict", "--evaluate_every_n_steps=4", "--best_metric=auc",
                   "--predict_from=best", "--keep_checkpoint_max=5"))
    return {"out": out, "data": str(data_dir), "model": model_dir, "root": root}


def pruned_copy(finished_run, name: str):
    copy = finished_run["root"] / name
    shutil.copytree(finished_run["out"], copy)
    return copy


def listing(directory) -> dict:
    return {os.path.relpath(os.path.join(d, f), directory): os.path.getsize(os.path.join(d, f))
            for d, _, files in os.walk(directory) for f in files}


def check_pruned(run_dir, kept: str, before: dict) -> None:
    """What every pruned run keeps and leaves out."""
    after = listing(run_dir)
    assert sum(after.values()) < sum(before.values()) / 2
    assert checkpoint_pruning.directory_bytes(str(run_dir)) == sum(after.values())
    for name in RUN_FILES:
        assert after[name] == before[name], name
    assert not [name for name in after if ".tf_record" in name]
    checkpoints = sorted(name for name in after if "model.ckpt-" in name)
    assert checkpoints == sorted(os.path.relpath(kept, run_dir) + suffix
                                 for suffix in (".index", ".data-00000-of-00001"))
    names = [name for name, _ in tf.train.list_variables(kept)]
    assert "output_weights" in names and "global_step" in names
    assert not [name for name in names if checkpoint_pruning.is_optimizer_state(name)]


def test_pruned_run_predicting_from_best(finished_run):
    run_dir = pruned_copy(finished_run, "from_best")
    before = listing(run_dir)
    best = evaluation.best_checkpoint(str(run_dir))
    assert len([n for n in before if n.endswith(".index") and "/" not in n]) == 5  # --keep_checkpoint_max
    assert any(n.endswith(".tf_record") for n in before)
    kept = checkpoint_pruning.prune_output_dir(str(run_dir), from_best=True)
    assert kept == best and evaluation.best_checkpoint(str(run_dir)) == best
    check_pruned(run_dir, kept, before)
    assert tf.train.latest_checkpoint(str(run_dir)) is None and not (run_dir / "checkpoint").exists()
    assert checkpoint_pruning.prune_output_dir(str(run_dir), from_best=True) == kept  # again: nothing changes
    assert listing(run_dir) == listing(finished_run["root"] / "from_best")
    # Predicting from the kept checkpoint gives the run's own test_results.tsv.
    again = finished_run["root"] / "from_best_predictions"
    run(predict_args(finished_run["data"], finished_run["model"], again, f"--init_checkpoint={kept}"))
    assert filecmp.cmp(again / "test_results.tsv", run_dir / "test_results.tsv", shallow=False)
    assert filecmp.cmp(again / "SST-2.tsv", run_dir / "SST-2.tsv", shallow=False)
    # ... and so does --predict_from=best in the pruned run directory itself, which keeps no other checkpoint.
    (run_dir / "test_results.tsv").rename(run_dir / "reference.tsv")
    run(predict_args(finished_run["data"], finished_run["model"], run_dir, "--predict_from=best"))
    assert filecmp.cmp(run_dir / "reference.tsv", run_dir / "test_results.tsv", shallow=False)


def test_pruned_run_predicting_from_the_last_checkpoint(finished_run):
    run_dir = pruned_copy(finished_run, "from_last")
    # The reference: predictions from the full last checkpoint, before pruning.
    run(predict_args(finished_run["data"], finished_run["model"], run_dir))
    reference = (run_dir / "test_results.tsv").read_bytes()
    before = listing(run_dir)
    kept = checkpoint_pruning.prune_output_dir(str(run_dir), from_best=False)
    assert kept == str(run_dir / "model.ckpt-24") == tf.train.latest_checkpoint(str(run_dir))
    check_pruned(run_dir, kept, before)
    assert tf.train.load_checkpoint(kept).get_tensor("global_step") == 24
    assert evaluation.best_checkpoint(str(run_dir)) is None
    # Prediction from the pruned directory itself (its latest checkpoint) gives the same file.
    (run_dir / "test_results.tsv").unlink()
    run(predict_args(finished_run["data"], finished_run["model"], run_dir))
    assert (run_dir / "test_results.tsv").read_bytes() == reference
