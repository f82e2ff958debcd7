"""Shared fixtures: the real data (from the package index, see tests/real_data.py) and a
tiny random BERT checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from bert_estimator.core.console import RUN_STARTED

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where bert_estimator.data.assets caches the uncased vocabulary (with all-MiniLM-L6-v2). It may
# not be there yet: tests.real_data.uncased_vocab() fetches it.
UNCASED_VOCAB = os.path.join(os.environ.get("BERT_ASSETS_DIR") or os.path.join(PROJECT_ROOT, ".cache", "assets"),
                             "all-MiniLM-L6-v2", "vocab.txt")

if PROJECT_ROOT not in sys.path:
    sys.path.insert(0, PROJECT_ROOT)

# The tiny architecture of the unit tests, with the real uncased vocabulary so that
# real sentences tokenize to real ids.
TINY_CONFIG = {
    "vocab_size": 30522,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 128,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
}


def write_tiny_checkpoint(model_dir: str, config: dict = TINY_CONFIG, seed: int = 1,
                          num_labels: int | None = None) -> str:
    """Writes bert_config.json, vocab.txt and a randomly initialised bert_model.ckpt
    (built by our modeling.BertModel) into `model_dir`; returns the checkpoint prefix.
    With `num_labels`, the classifier's `output_weights`/`output_bias` are saved too, as
    in a fine-tuned checkpoint."""
    import tensorflow.compat.v1 as tf

    import modeling

    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "bert_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    from tests.real_data import uncased_vocab

    shutil.copy(uncased_vocab(), os.path.join(model_dir, "vocab.txt"))
    ckpt = os.path.join(model_dir, "bert_model.ckpt")
    with tf.Graph().as_default():
        tf.set_random_seed(seed)
        input_ids = tf.zeros([1, 8], dtype=tf.int32)
        modeling.BertModel(modeling.BertConfig.from_dict(config), False, input_ids)
        if num_labels:
            tf.get_variable("output_weights", [num_labels, config["hidden_size"]],
                            initializer=tf.truncated_normal_initializer(stddev=0.5))
            tf.get_variable("output_bias", [num_labels], initializer=tf.random_normal_initializer())
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver().save(sess, ckpt, write_meta_graph=False)
    return ckpt


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> str:
    """A directory with a tiny random BERT: bert_config.json, vocab.txt, bert_model.ckpt."""
    model_dir = str(tmp_path_factory.mktemp("tiny_bert") / "uncased_L-2_H-32_A-4")
    write_tiny_checkpoint(model_dir)
    return model_dir


@pytest.fixture(scope="session")
def hub_module(tiny_bert_dir, tmp_path_factory) -> str:
    """`tiny_bert_dir`'s model exported as a TF1 TF-Hub module (read only by the tests)."""
    from tests.test_hub import export_tf1_hub_module

    path = str(tmp_path_factory.mktemp("hub") / "tiny_bert_module")
    export_tf1_hub_module(tiny_bert_dir, path)
    return path


def edit_export_info(version_dir: str, **changes) -> None:
    """Updates the export's `assets.extra/export_info.json` with `changes`."""
    path = os.path.join(version_dir, "assets.extra", "export_info.json")
    with open(path, encoding="utf-8") as f:
        info = json.load(f)
    info.update(changes)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(info, f)


# ---------------------------------------------------------------- signal handler leaks
# Training installs SIGINT/SIGTERM handlers (bert_estimator/training/preemption.py) and must give
# them back; a leaked one silently changes what Ctrl-C does in every later test of the
# process. Each test (setup, call, teardown) is checked; leaks fail the session.
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_signal_leaks: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = {s: signal.getsignal(s) for s in _SIGNALS}
    yield
    after = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        if after[s] is not before[s]:
            _signal_leaks.append(f"{item.nodeid} left the {signal.Signals(s).name} handler {after[s]!r}")
            signal.signal(s, before[s])


def pytest_sessionfinish(session, exitstatus):
    if _signal_leaks:
        print("\nsignal handlers not given back:\n  " + "\n  ".join(_signal_leaks))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def run_cli(args: list[str], cwd: str = PROJECT_ROOT, timeout: int = 600, env: dict | None = None):
    """Runs a command with the project's Python; returns CompletedProcess (text)."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=PROJECT_ROOT)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def run_log(output_dir, name: str = "run_classifier.log", last_run: bool = False) -> str:
    """The whole INFO log of the runs in `output_dir` (run_classifier.log; the console shows
    only part of it); with `last_run`, only the last run's lines."""
    with open(os.path.join(output_dir, name), encoding="utf-8") as f:
        text = f.read()
    return RUN_STARTED + text.rsplit(RUN_STARTED, 1)[-1] if last_run else text


def write_csv(path, rows, header=("text", "label")) -> None:
    """Writes `rows` as a UTF-8 CSV file with a header row."""
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture(scope="module")
def sentiment_dir(tmp_path_factory) -> str:
    """A small CSV sentiment task from real SST-2 rows (tests/real_data.py): the first 64
    training rows rated clearly positive or negative (|rating| >= 2 of 4), dev = the
    first 24 of them (so fitting train must lower the dev loss), test = the first 10."""
    from tests.real_data import clear_sentiment_rows

    rows = clear_sentiment_rows(64)
    d = tmp_path_factory.mktemp("sentiment")
    write_csv(d / "train.csv", rows)
    write_csv(d / "dev.csv", rows[:24])
    write_csv(d / "test.csv", rows[:10])
    return str(d)
