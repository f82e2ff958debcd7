"""run_classifier.py end to end: flags, outputs, learning, parity with the original."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from bert_estimator.results import output_files, reports
from tests.conftest import PROJECT_ROOT, run_cli, run_log
from tests.real_data import write_glue
from tests.support import reference

RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")
ORIGINAL = ["-m", "tests.support.reference"]


def model_flags(model_dir: str) -> list[str]:
    return [
        f"--vocab_file={model_dir}/vocab.txt",
        f"--bert_config_file={model_dir}/bert_config.json",
        f"--init_checkpoint={model_dir}/bert_model.ckpt",
    ]


def read_eval_results(path: str) -> dict:
    """`output_files.read_eval_results`, which keeps the file's order, plus the check
    that the lines are sorted by key as the original writes them."""
    result = output_files.read_eval_results(path)
    assert list(result) == sorted(result), "eval_results.txt must be sorted by key"
    return result


def read_probabilities(path: str) -> np.ndarray:
    with open(path) as f:
        return np.array([[float(x) for x in line.rstrip("\n").split("\t")] for line in f])


@pytest.mark.skipif(not reference.available(), reason="bert-tensorflow reference not installed")
def test_every_original_flag_keeps_its_name_and_default():
    from absl import flags

    import run_classifier  # noqa: F401  (defines our flags on absl's FLAGS)

    original = reference.load("run_classifier").FLAGS  # holds only the original's flags
    names = [name for name in original if name != "preserve_unused_tokens"]  # a tokenization flag
    assert len(names) == 26
    for name in names:
        assert name in flags.FLAGS, f"flag --{name} of the original is missing"
        assert flags.FLAGS[name].default == original[name].default, name


def test_train_eval_predict_end_to_end(tiny_bert_dir, sentiment_dir, tmp_path):
    common = ["--task_name=csv", f"--data_dir={sentiment_dir}", "--max_seq_length=32",
              "--eval_batch_size=7", "--predict_batch_size=3", "--seed=3", *model_flags(tiny_bert_dir)]
    before = tmp_path / "before"
    # the random classifier layer of the pre-trained model, before any training
    r = run_cli([RUN_CLASSIFIER, *common, f"--output_dir={before}", "--do_eval", "--allow_untrained_head"])
    assert r.returncode == 0, r.stderr[-3000:]
    results_before = read_eval_results(before / "eval_results.txt")
    loss_before = results_before["eval_loss"]
    assert "checkpoint" not in results_before  # no checkpoint of --output_dir was evaluated

    out = tmp_path / "out"
    r = run_cli([RUN_CLASSIFIER, *common, f"--output_dir={out}", "--do_train", "--do_eval", "--do_predict",
                 "--train_batch_size=16", "--num_train_epochs=12", "--learning_rate=1e-3",
                 "--save_checkpoints_steps=20"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "*INIT_FROM_CKPT*" in run_log(out)
    assert "examples/sec" in r.stderr and "ETA" in r.stderr

    result = read_eval_results(out / "eval_results.txt")
    for key in ("eval_accuracy", "eval_loss", "loss", "global_step", "precision", "recall", "f1", "auc",
                "mcc", "true_positives", "true_negatives", "false_positives", "false_negatives"):
        assert key in result, key
    assert result["global_step"] == 48  # int(64 / 16 * 12)
    assert result["checkpoint"] == "model.ckpt-48"  # the one evaluated, beside global_step
    assert result["true_positives"] + result["true_negatives"] + result["false_positives"] + \
        result["false_negatives"] == 24
    assert result["eval_loss"] < loss_before - 0.05, (loss_before, result["eval_loss"])

    probs = read_probabilities(out / "test_results.tsv")
    assert probs.shape == (10, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (out / "train.tf_record").exists() and (out / "checkpoint").exists()
    assert not [p for p in os.listdir(out) if ".tmp" in p]


def test_eval_reports_come_from_the_evaluation_pass(tiny_bert_dir, sentiment_dir, tmp_path):
    """--do_eval's reports take their per-example probabilities from the evaluation's own
    session runs (one model_fn call for eval, none for a second pass over the dev set),
    and they equal --do_predict's on the same rows (test.csv = the first 10 dev rows)."""
    out = tmp_path / "out"
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sentiment_dir}", "--max_seq_length=32",
                 "--eval_batch_size=7", "--predict_batch_size=3", *model_flags(tiny_bert_dir),
                 f"--output_dir={out}", "--do_train", "--train_batch_size=16", "--num_train_epochs=1",
                 "--do_eval", "--do_predict"])  # trained: eval and predict read one checkpoint
    assert r.returncode == 0, r.stderr[-3000:]
    assert run_log(out).count("Calling model_fn.") == 3  # train, eval, predict (the reports add none)
    dev_probabilities = reports.read_dev_probabilities(out / "dev_predictions.tsv")
    assert dev_probabilities.shape == (24, 2)
    np.testing.assert_allclose(dev_probabilities[:10], read_probabilities(out / "test_results.tsv"), atol=1e-6)


@pytest.mark.skipif(not reference.available(), reason="bert-tensorflow reference not installed")
def test_mrpc_predictions_equal_the_original(tmp_path):
    from tests.conftest import write_tiny_checkpoint

    # A "fine-tuned" checkpoint: the classifier layer is restored too, so both programs
    # compute the same function.
    model_dir = str(tmp_path / "uncased_L-2_H-32_A-4")
    write_tiny_checkpoint(model_dir, seed=7, num_labels=2)
    # MRPC's layout (BOM and header included) with real sentences (tests/real_data.py)
    data = write_glue("mrpc", tmp_path / "MRPC", limit={"train": 40, "dev": 20, "test": 30})
    args = ["--task_name=MRPC", "--do_predict", "--do_eval", f"--data_dir={data}", "--max_seq_length=64",
            *model_flags(model_dir)]
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    r1 = run_cli([RUN_CLASSIFIER, *args, f"--output_dir={ours}"])
    assert r1.returncode == 0, r1.stderr[-3000:]
    r2 = run_cli([*ORIGINAL, *args, f"--output_dir={theirs}"])
    assert r2.returncode == 0, r2.stderr[-3000:]
    p1, p2 = read_probabilities(ours / "test_results.tsv"), read_probabilities(theirs / "test_results.tsv")
    assert p1.shape == p2.shape == (30, 2)
    assert np.abs(p1 - 0.5).max() > 0.05  # a real function of the input, not a constant
    np.testing.assert_allclose(p1, p2, atol=1e-5, rtol=0)
    e1, e2 = read_eval_results(ours / "eval_results.txt"), read_eval_results(theirs / "eval_results.txt")
    for key in ("eval_accuracy", "eval_loss", "global_step"):
        assert e1[key] == pytest.approx(e2[key], abs=1e-5), key
    # The original's lines appear as written by the original (str() of numpy scalars).
    our_lines = set((ours / "eval_results.txt").read_text().splitlines())
    their_lines = (theirs / "eval_results.txt").read_text().splitlines()
    assert len(their_lines) == 4 and set(their_lines) <= our_lines, (their_lines, our_lines)
    # test_results.tsv rows are written as the original writes them.
    first = (ours / "test_results.tsv").read_text().splitlines()[0]
    assert len(first.split("\t")) == 2


# The CLI contract on three cases; tests/test_bad_input.py runs the whole matrix in-process.
@pytest.mark.parametrize("extra, message", [
    (["--task_name=nope"], "unknown task 'nope'"),
    (["--max_seq_length=512"], "--max_seq_length 512 is longer than the model's max_position_embeddings 128"),
    (["--init_checkpoint=/nonexistent/bert_model.ckpt"], "--init_checkpoint not found"),
])
def test_bad_flags_give_one_line_and_exit_1(tiny_bert_dir, sentiment_dir, tmp_path, extra, message):
    out = tmp_path / "out"
    args = [RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sentiment_dir}", f"--output_dir={out}",
            "--do_train", *model_flags(tiny_bert_dir), *extra]
    r = run_cli(args)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("run_classifier.py: error: ") and message in last, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_checkpoint_that_does_not_fit_the_config(tiny_bert_dir, sentiment_dir, tmp_path):
    import json

    bad = tmp_path / "bad_model"
    shutil.copytree(tiny_bert_dir, bad)
    config = json.loads((bad / "bert_config.json").read_text())
    config["intermediate_size"] = 40
    (bad / "bert_config.json").write_text(json.dumps(config))
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sentiment_dir}",
                 f"--output_dir={tmp_path / 'out'}", "--do_eval", *model_flags(str(bad))])
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "does not fit --bert_config_file" in last and "bert/encoder/layer_0/intermediate/dense" in last, last
    assert not (tmp_path / "out").exists()


def test_same_seed_same_run(tiny_bert_dir, sentiment_dir, tmp_path):
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sentiment_dir}", f"--output_dir={out}",
                     "--do_train", "--do_eval", "--do_predict", "--max_seq_length=32", "--train_batch_size=8",
                     "--num_train_epochs=1", "--seed=11", "--write_reports=false", *model_flags(tiny_bert_dir)])
        assert r.returncode == 0, r.stderr[-3000:]
        outputs.append(((out / "eval_results.txt").read_text(), (out / "test_results.tsv").read_text()))
    assert outputs[0] == outputs[1]


def test_killed_training_resumes_from_the_last_checkpoint(tiny_bert_dir, sentiment_dir, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    args = [sys.executable, RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sentiment_dir}",
            f"--output_dir={out}", "--do_train", "--max_seq_length=16", "--train_batch_size=4",
            "--num_train_epochs=8", "--save_checkpoints_steps=10", "--seed=5", *model_flags(tiny_bert_dir)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=PROJECT_ROOT)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while not (out / "model.ckpt-10.index").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "model.ckpt-10.index").exists()
    assert not (out / "model.ckpt-128.index").exists(), "the run finished before it could be killed"

    r = run_cli(args[1:])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Restoring parameters from" in run_log(out, last_run=True)
    steps = [int(line.split("model.ckpt-")[1].split()[0].rstrip(".")) for line in run_log(out, last_run=True).splitlines()
             if "Restoring parameters from" in line and "model.ckpt-" in line]
    assert steps and steps[0] >= 10
    assert "Reusing train.tf_record" in r.stderr
    import tensorflow.compat.v1 as tf

    assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-128")  # int(64 / 4 * 8)


def test_failed_training_gives_back_the_signal_handlers(tmp_path):
    """A run that fails inside `estimator.train` calls no hook's `end`: the train step
    itself must put back the SIGINT/SIGTERM handlers its preemption hook installed, or
    a later Ctrl-C in the same process is swallowed."""
    import signal

    import tensorflow.compat.v1 as tf

    import run_classifier
    import tokenization

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad"]) + "\n")
    tokenizer = tokenization.FullTokenizer(str(vocab), do_lower_case=True)
    examples = [run_classifier.InputExample(f"train-{i}", "good" if i % 2 else "bad", label=str(i % 2))
                for i in range(4)]
    settings = run_classifier.RecordSettings(
        output_dir=str(tmp_path), max_seq_length=8, truncation="head", task_name="csv",
        is_regression=False, use_tpu=False, bucket_by_length=False)
    installed = {}

    class FailingEstimator:
        def latest_checkpoint(self):
            return None  # nothing to resume from

        def train(self, input_fn, max_steps, hooks):
            with tf.Graph().as_default():
                tf.train.get_or_create_global_step()
                for hook in hooks:
                    hook.begin()
                installed.update({s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)})
                raise RuntimeError("failed inside training")

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(RuntimeError, match="failed inside training"):
        run_classifier.train(FailingEstimator(), examples, ["0", "1"], tokenizer, settings,
                             record_file=str(tmp_path / "train.tf_record"), num_train_steps=1, batch_size=2)
    assert installed and installed != before  # the hook did install its handlers
    assert {s: signal.getsignal(s) for s in before} == before
