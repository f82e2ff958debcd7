"""tf.distribute training (distribution.py, the optimizer under a strategy, the flags of
run_classifier.py):

* the optimizer: under a 1-replica strategy the trajectory equals the single-device one;
  without a strategy the new code is never entered (tests/test_optimization.py checks
  that path against Google's original);
* `mirrored` over two logical CPUs (BERT_LOGICAL_CPUS=2, in a subprocess: the devices
  must be set up before TensorFlow starts) trains the same loss curve and weights as one
  device at the same global batch and seed;
* `multi_worker_mirrored` with two local workers (loopback, TF_CONFIG) does too, and only
  the chief keeps checkpoints;
* bad combinations give one-line errors before anything is written.

The runs go through tests/distributed_driver.py: run_classifier.py without dropout and
with a fixed shuffle seed, so that runs under different strategies see the same batches.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from absl import flags

import modeling
import optimization
import run_classifier
from bert_estimator.results import output_files, reports
from bert_estimator.training import distribution, train_op_builder
from tests.conftest import PROJECT_ROOT, run_cli, run_log
from tests.test_optimization import INIT_LR, NUM_STEPS_RUN, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS, TINY
from tests.test_optimization import _classifier_inputs as classifier_inputs

FLAGS = flags.FLAGS
DRIVER = os.path.join(PROJECT_ROOT, "tests", "distributed_driver.py")
# 64 examples, global batch 8, 2 epochs: 16 steps.
NUM_STEPS = 16


# ------------------------------------------------------------------ the optimizer


def _trajectory(strategy=None):
    """Fine-tunes the tiny classifier of test_optimization (no dropout) for
    NUM_STEPS_RUN steps with run_classifier's training op (`TrainOpOptions()`),
    optionally inside `strategy` (one replica function per step, as Estimator builds
    it). Returns [(loss, {variable name: value after the step})]."""
    input_ids, input_mask, token_type_ids, labels = classifier_inputs()

    def replica_step():
        model = modeling.BertModel(modeling.BertConfig(**TINY), False, tf.constant(input_ids),
                                   tf.constant(input_mask), tf.constant(token_type_ids))
        output_weights = tf.get_variable("output_weights", [2, TINY["hidden_size"]],
                                         initializer=tf.truncated_normal_initializer(stddev=0.02))
        output_bias = tf.get_variable("output_bias", [2], initializer=tf.zeros_initializer())
        logits = tf.nn.bias_add(tf.matmul(model.get_pooled_output(), output_weights, transpose_b=True),
                                output_bias)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        train_op = optimization.create_optimizer(loss, INIT_LR, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS, False,
                                                 build_train_op=train_op_builder.TrainOpOptions())
        return loss, train_op

    with tf.Graph().as_default():
        tf.set_random_seed(7)
        if strategy is None:
            loss, train_op = replica_step()
        else:
            with strategy.scope():
                tf.train.create_global_step()  # in cross-replica context, as Estimator does
                loss, train_op = strategy.extended.call_for_each_replica(replica_step)
                loss = strategy.experimental_local_results(loss)[0]
                train_op = strategy.group(train_op)
        state = {v.op.name: v for v in tf.global_variables()}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            history = []
            for _ in range(NUM_STEPS_RUN):
                loss_value, _ = sess.run([loss, train_op])
                history.append((float(loss_value), sess.run(state)))
    return history


def test_one_replica_strategy_trajectory_equals_no_strategy(monkeypatch):
    """Through all_reduce + merge_call + strategy.extended.update with one replica: the
    same losses, weights, Adam moments (same names) and global step after every step."""
    plain = _trajectory()
    entered = []
    all_reduce_gradients = train_op_builder.all_reduce_gradients
    monkeypatch.setattr(train_op_builder, "all_reduce_gradients",
                        lambda grads: entered.append(len(grads)) or all_reduce_gradients(grads))
    mirrored = _trajectory(tf.distribute.MirroredStrategy(["/cpu:0"]))
    assert entered == [len(plain[0][1]) // 3]  # once, all trainable variables (+ 2 moments each)
    assert len(plain) == len(mirrored) == NUM_STEPS_RUN
    for (loss_a, state_a), (loss_b, state_b) in zip(plain, mirrored):
        assert state_a.keys() == state_b.keys()
        assert abs(loss_a - loss_b) <= 1e-6
        for name in state_a:
            np.testing.assert_allclose(state_b[name], state_a[name], atol=1e-6, rtol=0, err_msg=name)
    assert [state["global_step"] for _, state in mirrored] == list(range(1, NUM_STEPS_RUN + 1))
    assert plain[-1][0] < 0.5 * plain[0][0]  # it trains


def test_single_device_path_never_enters_the_strategy_code(monkeypatch):
    """Without a strategy (CPU/GPU, or TPU with CrossShardOptimizer) create_optimizer
    with TrainOpOptions() and apply_gradients build no all-reduce and no merge_call."""

    def forbidden(*args, **kwargs):
        raise AssertionError("strategy code entered without a strategy")

    monkeypatch.setattr(train_op_builder, "all_reduce_gradients", forbidden)
    monkeypatch.setattr(train_op_builder.ExtendedAdamWeightDecayOptimizer, "apply_gradients_cross_replica",
                        forbidden)
    for use_tpu in (False, True):
        with tf.Graph().as_default() as graph:
            w = tf.get_variable("w", initializer=tf.constant([1.0, -2.0]))
            optimization.create_optimizer(tf.reduce_sum(tf.square(w - 3.0)), 0.1, 5, 1, use_tpu,
                                          build_train_op=train_op_builder.TrainOpOptions())
            types = {op.type for op in graph.get_operations()}
        assert not types & {"CollectiveReduce", "CollectiveReduceV2", "NcclAllReduce"}


def test_all_reduce_gradients_needs_a_replica_context():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="replica context"):
            train_op_builder.all_reduce_gradients([tf.constant(1.0)])


# ----------------------------------------------------------- distribution.py helpers


def test_make_strategy_none_and_unknown():
    assert distribution.make_strategy("none") is None
    with pytest.raises(distribution.DistributionError, match="must be one of"):
        distribution.make_strategy("parameter_server")


def test_too_many_gpus_is_an_error():
    with pytest.raises(distribution.DistributionError, match=r"--num_gpus 99: only \d+ GPU\(s\) are visible"):
        distribution.num_replicas("mirrored", 99)


@pytest.mark.parametrize("value, message", [("two", "is not a number"), ("0", "must be at least 1")])
def test_bad_logical_cpus(monkeypatch, value, message):
    monkeypatch.setenv(distribution.LOGICAL_CPUS_ENV, value)
    with pytest.raises(distribution.DistributionError, match=message):
        distribution.configure_logical_cpus()


CLUSTER = {"chief": ["127.0.0.1:2222"], "worker": ["127.0.0.1:2223", "127.0.0.1:2224"]}


@pytest.mark.parametrize("tf_config, message", [
    ({"cluster": {**CLUSTER, "ps": ["127.0.0.1:2225"]}, "task": {"type": "chief"}}, "['ps'] are not supported"),
    ({"cluster": {**CLUSTER, "evaluator": ["h:1"]}, "task": {"type": "chief"}}, "['evaluator'] are not supported"),
    ({"cluster": CLUSTER, "task": {"type": "ps", "index": 0}}, "task type 'ps' must be 'chief' or 'worker'"),
    ({"cluster": CLUSTER, "task": {"type": "worker", "index": 2}}, "task worker:2 is not in the cluster"),
    ({"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief"}}, "2 'chief' tasks"),
    ({"task": {"type": "chief"}}, "TF_CONFIG has no 'cluster'"),
])
def test_bad_tf_config(tf_config, message):
    with pytest.raises(distribution.DistributionError) as info:
        distribution.check_tf_config("multi_worker_mirrored", tf_config)
    assert message in str(info.value)


def test_tf_config_roles(monkeypatch):
    assert distribution.is_chief({})
    assert distribution.is_chief({"cluster": CLUSTER, "task": {"type": "chief", "index": 0}})
    assert not distribution.is_chief({"cluster": CLUSTER, "task": {"type": "worker", "index": 0}})
    workers_only = {"worker": ["a:1", "b:1"]}
    assert distribution.is_chief({"cluster": workers_only, "task": {"type": "worker", "index": 0}})
    assert not distribution.is_chief({"cluster": workers_only, "task": {"type": "worker", "index": 1}})
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 1}}))
    per_worker = len(tf.config.list_physical_devices("GPU")) or 1  # all GPUs, else one CPU
    assert distribution.num_replicas("multi_worker_mirrored") == 3 * per_worker
    # A single "master" (set by some job schedulers for one-machine jobs) is fine for mirrored.
    distribution.check_tf_config("mirrored", {"cluster": {"master": ["h:1"]}, "task": {"type": "master"}})


# ------------------------------------------------------ bad combinations, one line each


@pytest.fixture()
def case(tmp_path, tiny_bert_dir):
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        (data / f"{split}.csv").write_text("text,label\n" + "a good film,1\na bad film,0\n" * 8)
    return {"data": data, "out": tmp_path / "out", "model": tiny_bert_dir}


@pytest.fixture(autouse=True)
def _reset_flags():
    yield
    FLAGS.unparse_flags()


@pytest.mark.parametrize("extra, tf_config, message", [
    (["--distribution_strategy=mirrored", "--use_tpu", "--tpu_name=my-tpu"], None,
     "--distribution_strategy=mirrored and --use_tpu exclude each other"),
    (["--num_gpus=2"], None, "--num_gpus needs --distribution_strategy=mirrored"),
    (["--distribution_strategy=mirrored", "--num_gpus=99"], None, "--num_gpus 99: only"),
    (["--distribution_strategy=mirrored", "--num_gpus=-1"], None, "--num_gpus must be 0"),
    (["--distribution_strategy=multi_worker_mirrored"], "{not json", "TF_CONFIG is not valid JSON"),
    (["--distribution_strategy=multi_worker_mirrored"],
     {"cluster": {**CLUSTER, "ps": ["h:1"]}, "task": {"type": "chief", "index": 0}}, "['ps'] are not supported"),
    (["--distribution_strategy=mirrored"], {"cluster": CLUSTER, "task": {"type": "chief", "index": 0}},
     "--distribution_strategy=mirrored trains on one machine, but TF_CONFIG describes a cluster"),
    (["--distribution_strategy=multi_worker_mirrored", "--train_batch_size=5"],
     {"cluster": CLUSTER, "task": {"type": "chief", "index": 0}},
     "--train_batch_size 5 is not divisible by the"),
    (["--distribution_strategy=multi_worker_mirrored", "--do_predict"],
     {"cluster": CLUSTER, "task": {"type": "worker", "index": 0}},
     "--do_eval, --do_predict: only the chief evaluates, predicts and exports"),
])
def test_bad_combinations_give_one_line(capsys, monkeypatch, case, extra, tf_config, message):
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config if isinstance(tf_config, str) else json.dumps(tf_config))
    else:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    FLAGS.unparse_flags()
    FLAGS(["run_classifier.py", "--task_name=csv", f"--data_dir={case['data']}", f"--output_dir={case['out']}",
           f"--vocab_file={case['model']}/vocab.txt", f"--bert_config_file={case['model']}/bert_config.json",
           f"--init_checkpoint={case['model']}/bert_model.ckpt", "--max_seq_length=16", "--train_batch_size=6",
           "--do_train", "--do_eval", "--write_reports=false", *extra])
    with pytest.raises(SystemExit) as exit_info:
        run_classifier.run_main([])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert exit_info.value.code == 1
    assert last.startswith("run_classifier.py: error: ") and message in last, last
    assert "Traceback" not in err
    assert not case["out"].exists()


def test_unknown_strategy_is_a_flag_error():
    with pytest.raises(flags.IllegalFlagValueError, match="none|mirrored|multi_worker_mirrored"):
        FLAGS(["run_classifier.py", "--distribution_strategy=horovod"])


# --------------------------------------------------------------- training, subprocess


def _driver_args(model_dir, data_dir, output_dir, *extra):
    return [DRIVER, "--task_name=csv", f"--data_dir={data_dir}", f"--output_dir={output_dir}",
            f"--vocab_file={model_dir}/vocab.txt", f"--bert_config_file={model_dir}/bert_config.json",
            f"--init_checkpoint={model_dir}/bert_model.ckpt", "--do_train", "--max_seq_length=16",
            "--train_batch_size=8", "--num_train_epochs=2", "--learning_rate=1e-3", "--seed=3",
            "--save_summary_steps=1", *extra]


def _no_tf_config():
    return {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}


def read_losses(output_dir) -> dict:
    """{global step: training loss} from the event files of `output_dir` (not its
    subdirectories)."""
    events = {}
    for path in sorted(glob.glob(os.path.join(output_dir, "events.out.tfevents.*"))):
        for event in tf.train.summary_iterator(path):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                events.setdefault(value.tag, {})[event.step] = number
    tag = reports.choose_loss_tag(events)
    assert tag, f"no training loss in {output_dir}: {sorted(events)}"
    return events[tag]


def _assert_same_training(reference_dir, other_dir, atol=1e-5):
    """Same loss at every step, and the same final checkpoint (same variable names)."""
    expected, got = read_losses(reference_dir), read_losses(other_dir)
    assert sorted(got) == sorted(expected) == list(range(1, NUM_STEPS + 1))
    diffs = [abs(got[k] - expected[k]) for k in sorted(expected)]
    assert max(diffs) <= atol, list(zip(sorted(expected), diffs))
    a = tf.train.load_checkpoint(os.path.join(reference_dir, f"model.ckpt-{NUM_STEPS}"))
    b = tf.train.load_checkpoint(os.path.join(other_dir, f"model.ckpt-{NUM_STEPS}"))
    assert a.get_variable_to_shape_map() == b.get_variable_to_shape_map()
    for name in a.get_variable_to_shape_map():
        np.testing.assert_allclose(b.get_tensor(name), a.get_tensor(name), atol=atol, rtol=0, err_msg=name)


@pytest.fixture(scope="module")
def one_device_run(tiny_bert_dir, sentiment_dir, tmp_path_factory):
    """The reference: --distribution_strategy=none (TPUEstimator on CPU), via the driver."""
    out = str(tmp_path_factory.mktemp("one_device") / "out")
    r = run_cli(_driver_args(tiny_bert_dir, sentiment_dir, out, "--do_eval", "--do_predict",
                             "--write_reports=true"), timeout=300,
                env=_no_tf_config())
    assert r.returncode == 0, r.stderr[-3000:]
    losses = read_losses(out)
    assert max(losses.values()) - min(losses.values()) > 0.05  # the loss moves: real training
    init = tf.train.load_checkpoint(f"{tiny_bert_dir}/bert_model.ckpt")
    final = tf.train.load_checkpoint(os.path.join(out, f"model.ckpt-{NUM_STEPS}"))
    name = "bert/encoder/layer_0/attention/output/dense/kernel"
    assert np.abs(final.get_tensor(name) - init.get_tensor(name)).max() > 1e-3
    return out


def test_mirrored_two_devices_equal_one_device(one_device_run, tiny_bert_dir, sentiment_dir, tmp_path):
    """Two replicas of batch 4 (gradients all-reduced) == one device of batch 8: the
    loss at each of the 16 steps, the final weights, eval and predictions; the export
    works from the distributed estimator."""
    out = str(tmp_path / "out")
    env = dict(_no_tf_config(), **{distribution.LOGICAL_CPUS_ENV: "2"})
    export_dir = str(tmp_path / "export")
    r = run_cli(_driver_args(tiny_bert_dir, sentiment_dir, out, "--distribution_strategy=mirrored",
                             "--do_eval", "--do_predict", "--write_reports=true", f"--export_dir={export_dir}"),
                timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    log = run_log(out)
    assert "Using MirroredStrategy with devices" in log and "device:CPU:1" in log
    assert "Num steps = 16" in log
    _assert_same_training(one_device_run, out)
    expected, got = output_files.read_eval_results(one_device_run), output_files.read_eval_results(out)
    assert expected.keys() == got.keys() and got["global_step"] == NUM_STEPS
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-4), key
    np.testing.assert_allclose(output_files.read_test_results(out), output_files.read_test_results(one_device_run),
                               atol=1e-5)
    # the reports' per-example rows: in dev order under the strategy too
    expected_rows, got_rows = (reports.read_dev_probabilities(os.path.join(d, "dev_predictions.tsv"))
                               for d in (one_device_run, out))
    assert expected_rows.shape == (24, 2)
    np.testing.assert_allclose(got_rows, expected_rows, atol=1e-5)
    assert os.path.exists(os.path.join(export_dir, "1", "saved_model.pb"))



def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_two_local_workers(one_device_run, tiny_bert_dir, sentiment_dir, tmp_path):
    """A chief and a worker on loopback, one CPU each, global batch 8 (4 per worker):
    both run the 16 steps; the chief's loss curve and checkpoint equal one device's; the
    worker keeps no checkpoint or summary (TF has it write them to
    <output_dir>/tmp_worker_0, which it removes after training)."""
    cluster = {"chief": [f"127.0.0.1:{_free_port()}"], "worker": [f"127.0.0.1:{_free_port()}"]}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=PROJECT_ROOT)
    procs, logs = {}, {}
    try:
        for task in ("chief", "worker"):
            task_env = dict(env, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": task, "index": 0}}))
            logs[task] = open(tmp_path / f"{task}.log", "w+")
            procs[task] = subprocess.Popen(
                [sys.executable, *_driver_args(tiny_bert_dir, sentiment_dir, str(tmp_path / task),
                                               "--distribution_strategy=multi_worker_mirrored")],
                stdout=logs[task], stderr=subprocess.STDOUT, env=task_env, start_new_session=True)
        deadline = time.time() + 240
        for proc in procs.values():
            proc.wait(timeout=max(1.0, deadline - time.time()))
        outputs = {}
        for task in procs:
            logs[task].seek(0)
            outputs[task] = logs[task].read()
        for task, proc in procs.items():
            assert proc.returncode == 0, f"{task}:\n{outputs[task][-3000:]}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in logs.values():
            log.close()
    for task, log in (("chief", "run_classifier.log"), ("worker", "run_classifier.worker-0.log")):
        assert "num_workers = 2" in run_log(tmp_path / task, log), task
        assert f"train step {NUM_STEPS}/{NUM_STEPS}" in outputs[task], task
    _assert_same_training(one_device_run, str(tmp_path / "chief"))
    assert tf.train.latest_checkpoint(str(tmp_path / "chief")).endswith(f"model.ckpt-{NUM_STEPS}")
    # The worker wrote only its own training records.
    assert sorted(os.listdir(tmp_path / "worker")) == ["run_classifier.worker-0.log", "train.worker-0.tf_record",
                                                       "train.worker-0.tf_record.fingerprint"]
