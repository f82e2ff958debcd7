"""Evaluation during training (bert_estimator/training/evaluation.py): the history, TensorBoard,
the best checkpoint, early stopping, --predict_from=best, and the training trajectory
left untouched.

Four training runs of the tiny model on an SST-2-format task made of real movie-review
snippets are shared by the module (run by `runs`):

* `evaluated`: every 4 steps, best by `auc`, `--keep_checkpoint_max=1`, predicting from
  the best checkpoint;
* `plain`: the same run without evaluation during training (the trajectory reference);
* `stopped`: every 3 steps and at each epoch's end, best by `eval_loss`, early stopping;
* `from_best`: a prediction-only run from `evaluated`'s `best/` checkpoint.

The dev set is the first 24 training rows with their labels flipped, so fitting the
training set makes the dev metrics worse: the best checkpoint is an early one, and
early stopping has something to stop.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from absl import flags

from bert_estimator.data import assets
from bert_estimator.results import reports
from bert_estimator.training import evaluation
from tests.conftest import PROJECT_ROOT, write_tiny_checkpoint
from tests.test_run_classifier import RUN_CLASSIFIER, model_flags, read_eval_results, read_probabilities

NUM_TRAIN = 64
TRAIN_BATCH = 8
EPOCHS = 3
STEPS_PER_EPOCH = NUM_TRAIN // TRAIN_BATCH  # 8
NUM_TRAIN_STEPS = STEPS_PER_EPOCH * EPOCHS  # 24
WARMUP_PROPORTION = 0.25
NUM_WARMUP_STEPS = int(NUM_TRAIN_STEPS * WARMUP_PROPORTION)  # 6
LEARNING_RATE = 3e-3
SEED = 3
EVERY = 4  # evaluated: steps 4, 8, ..., 20, then the final --do_eval at 24
STOP_EVERY, STOP_PATIENCE = 3, 2  # stopped: steps 3, 6, 8, 9, 12, 15, 16, 18, 21 (+ 24)
NUM_TEST = 10


# ------------------------------------------------------------------------------ data
def snippet_rows(n: int) -> list[tuple[str, str]]:
    """`n` real movie-review snippets as (sentence, label), label "1" when the mean human
    score is positive, alternating positive and negative (the file is mostly positive at
    its start)."""
    with open(assets.fetch_movie_snippets(), encoding="utf-8", newline="") as f:
        lines = [line for line in f.read().split("\r\n") if line]
    positive, negative = [], []
    for line in lines:
        _, score, text = line.split("\t")
        if float(score) != 0:
            (positive if float(score) > 0 else negative).append((text, "1" if float(score) > 0 else "0"))
    rows = [row for pair in zip(positive, negative) for row in pair]
    assert len(rows) >= n
    return rows[:n]


def write_tsv(path, header: str, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(header + "\n" + "".join("\t".join(row) + "\n" for row in rows))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    """SST-2 layout: train.tsv/dev.tsv `sentence label` with a header, test.tsv `index
    sentence`."""
    rows = snippet_rows(NUM_TRAIN + NUM_TEST)
    train, test = rows[:NUM_TRAIN], rows[NUM_TRAIN:]
    flipped = [(text, "0" if label == "1" else "1") for text, label in train[:24]]
    d = tmp_path_factory.mktemp("SST-2")
    write_tsv(d / "train.tsv", "sentence\tlabel", train)
    write_tsv(d / "dev.tsv", "sentence\tlabel", flipped)
    write_tsv(d / "test.tsv", "index\tsentence", [(str(7 * i + 2), text) for i, (text, _) in enumerate(test)])
    return str(d)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    """A tiny BERT whose classifier layer is in the checkpoint (outputs that depend on
    the input from step 0, so the dev metrics move)."""
    d = str(tmp_path_factory.mktemp("tiny_finetuned") / "uncased_L-2_H-32_A-4")
    write_tiny_checkpoint(d, seed=5, num_labels=2)
    return d


# ------------------------------------------------------------------------------ runs
def train_args(data: str, model: str, out, *extra: str) -> list[str]:
    return [RUN_CLASSIFIER, "--task_name=SST-2", f"--data_dir={data}", f"--output_dir={out}",
            *model_flags(model), "--do_train", "--do_eval", "--max_seq_length=32",
            f"--train_batch_size={TRAIN_BATCH}", f"--num_train_epochs={EPOCHS}",
            f"--learning_rate={LEARNING_RATE}", f"--warmup_proportion={WARMUP_PROPORTION}", f"--seed={SEED}",
            "--eval_batch_size=5", "--predict_batch_size=3", "--save_summary_steps=1",
            "--save_checkpoints_steps=10", "--write_reports=false", *extra]


def run_all(commands: dict[str, list[str]], log_dir) -> dict[str, subprocess.CompletedProcess]:
    """Runs the commands (argument lists for the project's Python) one after the other
    (at the same time they are slower: TensorFlow's thread pools fight over the cores)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=PROJECT_ROOT)
    results = {}
    for name, args in commands.items():
        result = subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                                text=True, timeout=600)
        with open(os.path.join(log_dir, f"{name}.log"), "w") as f:
            f.write(result.stderr)
        assert result.returncode == 0, f"run {name!r} failed:\n{result.stderr[-3000:]}"
        results[name] = result
    return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir, model_dir) -> dict:
    root = tmp_path_factory.mktemp("evaluation_runs")
    out = {name: root / name for name in ("evaluated", "plain", "stopped", "from_best")}
    results = run_all({
        "evaluated": train_args(data_dir, model_dir, out["evaluated"], "--do_predict",
                                f"--evaluate_every_n_steps={EVERY}", "--best_metric=auc",
                                "--keep_checkpoint_max=1", "--predict_from=best"),
        "plain": train_args(data_dir, model_dir, out["plain"], "--do_predict", "--keep_checkpoint_max=1"),
        "stopped": train_args(data_dir, model_dir, out["stopped"], f"--evaluate_every_n_steps={STOP_EVERY}",
                              "--evaluate_every_epoch", "--best_metric=eval_loss",
                              f"--early_stopping_patience={STOP_PATIENCE}"),
    }, root)
    best = evaluation.best_checkpoint(str(out["evaluated"]))
    assert best is not None
    results.update(run_all({
        "from_best": [RUN_CLASSIFIER, "--task_name=SST-2", f"--data_dir={data_dir}",
                      f"--output_dir={out['from_best']}", f"--vocab_file={model_dir}/vocab.txt",
                      f"--bert_config_file={model_dir}/bert_config.json", f"--init_checkpoint={best}",
                      "--do_predict", "--max_seq_length=32", "--predict_batch_size=4"],
    }, root))
    return {"out": out, "results": results}


def read_history(path) -> tuple[list[str], list[dict]]:
    with open(path) as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    return header, [{k: (int(v) if k == "step" else float(v)) for k, v in row.items()} for row in rows]


def best_row(rows: list[dict], metric: str, lower_is_better: bool) -> dict:
    """The first row with the best value (a later tie is no improvement)."""
    best = None
    for row in sorted(rows, key=lambda r: r["step"]):
        if best is None or (row[metric] < best[metric] if lower_is_better else row[metric] > best[metric]):
            best = row
    return best


def checkpoint_step(path: str) -> int:
    return int(tf.train.load_checkpoint(path).get_tensor("global_step"))


# ------------------------------------------------------------------------- the tests
def test_history_every_n_steps_and_tensorboard_events(runs):
    out = runs["out"]["evaluated"]
    header, rows = read_history(out / "eval_history.tsv")
    assert header[0] == "step" and header[1:] == sorted(header[1:])
    for metric in ("auc", "eval_accuracy", "eval_loss", "f1", "mcc", "precision", "recall"):
        assert metric in header, metric
    assert "global_step" not in header
    # Evaluations at the multiples of 4 below 24 (not at the periodic saves 10, 20 -> only 20),
    # then the final --do_eval's row.
    assert [r["step"] for r in rows] == [4, 8, 12, 16, 20, NUM_TRAIN_STEPS]
    # The last row is the final evaluation (eval_results.txt).
    final = read_eval_results(out / "eval_results.txt")
    assert final["global_step"] == NUM_TRAIN_STEPS
    for key in ("eval_loss", "eval_accuracy", "auc"):
        assert rows[-1][key] == pytest.approx(final[key], abs=1e-6), key
    # Each evaluation is in TensorBoard under eval/, at its step, with the history's values.
    events = glob.glob(str(out / "eval" / "events.out.tfevents.*"))
    assert events
    scalars = reports.read_scalars(str(out / "eval"))
    for tag in ("eval_loss", "auc", "eval_accuracy"):
        assert [step for step, _ in scalars[tag]] == [r["step"] for r in rows], tag
        np.testing.assert_allclose([v for _, v in scalars[tag]], [r[tag] for r in rows], atol=1e-6)
    # The run without evaluation during training has only the final one.
    plain = runs["out"]["plain"]
    assert not (plain / "eval_history.tsv").exists() and not (plain / "best").exists()
    assert [s for s, _ in reports.read_scalars(str(plain / "eval"))["eval_loss"]] == [NUM_TRAIN_STEPS]


def expected_learning_rate(step: int) -> float:
    """BERT's schedule at global step `step`: linear warmup, then linear decay to 0."""
    if step < NUM_WARMUP_STEPS:
        return LEARNING_RATE * step / NUM_WARMUP_STEPS
    return LEARNING_RATE * (1 - step / NUM_TRAIN_STEPS)


@pytest.mark.parametrize("run", ["evaluated", "plain"])
def test_learning_rate_and_gradient_norm_scalars(runs, run):
    scalars = reports.read_scalars(str(runs["out"][run]))
    lr, norm = dict(scalars["learning_rate"]), dict(scalars["global_gradient_norm"])
    # --save_summary_steps=1: a value after every step. The summary of the update that
    # took the global step from s-1 to s is recorded at s, with the rate of step s-1.
    assert sorted(lr) == sorted(norm) == list(range(1, NUM_TRAIN_STEPS + 1))
    assert lr[1] == 0.0  # warmup starts at 0
    for step in (2, 4, 6, 7, 8, 16, 24):  # warmup, its end (the peak at s-1 = 6), decay
        assert lr[step] == pytest.approx(expected_learning_rate(step - 1), rel=1e-5, abs=1e-9), step
    np.testing.assert_allclose([lr[s] for s in sorted(lr)],
                               [expected_learning_rate(s - 1) for s in sorted(lr)], rtol=1e-5, atol=1e-9)
    assert all(np.isfinite(v) and v > 0 for v in norm.values())
    assert len({round(v, 6) for v in norm.values()}) > 10  # a real per-step norm, not a constant


def test_best_checkpoint_is_the_argmax_and_survives_keep_checkpoint_max(runs):
    out = runs["out"]["evaluated"]
    _, rows = read_history(out / "eval_history.tsv")
    best = best_row(rows, "auc", lower_is_better=False)
    # Non-trivial: neither the first evaluation nor the last (the dev labels are flipped).
    assert best["step"] not in (rows[0]["step"], NUM_TRAIN_STEPS), [(r["step"], r["auc"]) for r in rows]
    path = evaluation.best_checkpoint(str(out))
    assert path == str(out / "best" / f"model.ckpt-{best['step']}")
    assert os.path.exists(path + ".index") and glob.glob(path + ".data-*")
    assert checkpoint_step(path) == best["step"]
    # --keep_checkpoint_max=1 deleted it from the output directory, not from best/.
    assert not os.path.exists(out / f"model.ckpt-{best['step']}.index")
    assert tf.train.latest_checkpoint(str(out)).endswith(f"model.ckpt-{NUM_TRAIN_STEPS}")
    assert sorted(glob.glob(str(out / "best" / "model.ckpt-*.index"))) == [path + ".index"]
    # The best evaluation's results are kept beside it.
    kept = read_eval_results(out / "best" / "eval_results.txt")
    assert kept["global_step"] == best["step"]
    for key in ("auc", "eval_loss", "eval_accuracy"):
        assert kept[key] == pytest.approx(best[key], abs=1e-6), key


def simulate_early_stopping(rows: list[dict], metric: str, patience: int) -> int | None:
    """The step of the evaluation that stops training (lower is better), or None."""
    best, without = None, 0
    for row in sorted(rows, key=lambda r: r["step"]):
        if best is None or row[metric] < best:
            best, without = row[metric], 0
        else:
            without += 1
            if without >= patience:
                return row["step"]
    return None


def test_early_stopping_stops_at_the_expected_evaluation(runs):
    out = runs["out"]["stopped"]
    _, rows = read_history(out / "eval_history.tsv")
    steps = [r["step"] for r in rows]
    # Evaluation points: the multiples of 3 and the ends of epochs (8, 16), below 24.
    points = sorted(set(range(STOP_EVERY, NUM_TRAIN_STEPS, STOP_EVERY)) |
                    set(range(STEPS_PER_EPOCH, NUM_TRAIN_STEPS, STEPS_PER_EPOCH)))
    stop = simulate_early_stopping(rows, "eval_loss", STOP_PATIENCE)
    assert stop is not None and stop < NUM_TRAIN_STEPS, [(r["step"], r["eval_loss"]) for r in rows]
    # Training ran to that evaluation and no further; the final --do_eval re-evaluated it.
    assert steps == [p for p in points if p <= stop]
    assert tf.train.latest_checkpoint(str(out)).endswith(f"model.ckpt-{stop}")
    assert checkpoint_step(tf.train.latest_checkpoint(str(out))) == stop
    assert read_eval_results(out / "eval_results.txt")["global_step"] == stop
    assert "Early stopping at step" in runs["results"]["stopped"].stderr
    # The best checkpoint is the argmin of the (lower-is-better) eval_loss.
    best = best_row(rows, "eval_loss", lower_is_better=True)
    assert evaluation.best_checkpoint(str(out)) == str(out / "best" / f"model.ckpt-{best['step']}")
    assert checkpoint_step(evaluation.best_checkpoint(str(out))) == best["step"]
    assert read_eval_results(out / "best" / "eval_results.txt")["eval_loss"] == pytest.approx(
        best["eval_loss"], abs=1e-6)


def test_predict_from_best_uses_the_best_checkpoint(runs):
    out = runs["out"]
    from_best = read_probabilities(out["evaluated"] / "test_results.tsv")
    assert from_best.shape == (NUM_TEST, 2)
    # The same predictions as a prediction-only run from best/model.ckpt-K.
    np.testing.assert_allclose(from_best, read_probabilities(out["from_best"] / "test_results.tsv"),
                               atol=1e-6, rtol=0)
    # ... and not those of the last checkpoint (best != last here; `plain` ends on the same
    # last checkpoint, its trajectory being the same).
    last = read_probabilities(out["plain"] / "test_results.tsv")
    assert np.abs(from_best - last).max() > 1e-3
    assert "Predicting and exporting from the best checkpoint" in runs["results"]["evaluated"].stderr
    # The GLUE submission file is made from the same (best) predictions.
    with open(out["evaluated"] / "SST-2.tsv") as f:
        lines = f.read().splitlines()
    assert lines[0] == "index\tprediction"
    assert [line.split("\t") for line in lines[1:]] == [
        [str(7 * i + 2), str(int(np.argmax(p)))] for i, p in enumerate(from_best)]


def test_evaluation_during_training_leaves_the_trajectory_unchanged(runs):
    out = runs["out"]
    evaluated = read_eval_results(out["evaluated"] / "eval_results.txt")
    plain = read_eval_results(out["plain"] / "eval_results.txt")
    assert evaluated["global_step"] == plain["global_step"] == NUM_TRAIN_STEPS
    for key in ("eval_loss", "loss", "eval_accuracy", "auc"):
        assert evaluated[key] == pytest.approx(plain[key], abs=1e-6), key
    # Step by step: the same training losses, learning rates and gradient norms.
    a, b = reports.read_scalars(str(out["evaluated"])), reports.read_scalars(str(out["plain"]))
    loss_tag = reports.choose_loss_tag(a)
    for tag in (loss_tag, "learning_rate", "global_gradient_norm"):
        assert [s for s, _ in a[tag]] == [s for s, _ in b[tag]], tag
        np.testing.assert_allclose([v for _, v in a[tag]], [v for _, v in b[tag]], atol=1e-6, err_msg=tag)
    # A different evaluation schedule (`stopped`: steps 3, 6, 8) sees the same model at a
    # step both evaluate.
    _, evaluated_rows = read_history(out["evaluated"] / "eval_history.tsv")
    _, stopped_rows = read_history(out["stopped"] / "eval_history.tsv")
    common = {r["step"] for r in evaluated_rows} & {r["step"] for r in stopped_rows}
    assert common == {8}
    for key in ("eval_loss", "auc"):
        assert [r[key] for r in evaluated_rows if r["step"] == 8] == pytest.approx(
            [r[key] for r in stopped_rows if r["step"] == 8], abs=1e-6), key
    # The last checkpoints hold the same weights.
    ra = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(out["evaluated"])))
    rb = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(out["plain"])))
    for name in ("output_weights", "bert/pooler/dense/kernel", "bert/embeddings/word_embeddings"):
        np.testing.assert_allclose(ra.get_tensor(name), rb.get_tensor(name), atol=1e-6, err_msg=name)


# ------------------------------------------------------------------- bad input (in-process)
FLAGS = flags.FLAGS


@pytest.fixture()
def _reset_flags():
    yield
    FLAGS.unparse_flags()


def expect_error(capsys, argv_extra, out, data_dir, model_dir, message):
    import run_classifier

    argv = ["run_classifier.py", "--task_name=sst-2", f"--data_dir={data_dir}", f"--output_dir={out}",
            *model_flags(model_dir), "--max_seq_length=16", "--train_batch_size=8", "--num_train_epochs=1",
            "--write_reports=false", *argv_extra]
    FLAGS.unparse_flags()
    FLAGS(argv)
    with pytest.raises(SystemExit) as exit_info:
        run_classifier.run_main([])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert exit_info.value.code == 1
    assert lines[-1].startswith("run_classifier.py: error: "), lines[-1]
    assert message in lines[-1], lines[-1]
    assert "Traceback" not in err
    assert not os.path.exists(out), "nothing may be written for bad input"
    return lines[-1]


@pytest.mark.usefixtures("_reset_flags")
@pytest.mark.parametrize("extra, message", [
    (["--do_train", "--do_eval", "--evaluate_every_n_steps=2", "--best_metric=pearson"],
     "--best_metric 'pearson' is not a metric of task 'sst-2'"),
    (["--do_train", "--do_eval", "--evaluate_every_epoch", "--best_metric=f1_score"],
     "--best_metric 'f1_score' is not a metric of task 'sst-2'"),
    (["--do_train", "--do_eval", "--early_stopping_patience=2"],
     "--early_stopping_patience needs evaluation during training"),
    (["--do_train", "--do_eval", "--best_metric=auc"], "--best_metric needs evaluation during training"),
    (["--do_predict", "--predict_from=best"], "--predict_from=best: no best checkpoint in"),
    (["--do_train", "--evaluate_every_n_steps=2"], "need --do_train and --do_eval"),
    (["--do_eval", "--evaluate_every_epoch"], "need --do_train and --do_eval"),
    (["--do_train", "--do_eval", "--evaluate_every_n_steps=-1"], "--evaluate_every_n_steps must be 0 (off) or"),
    (["--do_train", "--do_eval", "--evaluate_every_n_steps=2", "--early_stopping_patience=-2"],
     "--early_stopping_patience must be 0 (off) or positive"),
    (["--do_train", "--do_eval", "--evaluate_every_n_steps=2", "--use_tpu", "--tpu_name=x"],
     "not supported with --use_tpu"),
    (["--do_train", "--do_eval", "--evaluate_every_epoch", "--distribution_strategy=multi_worker_mirrored"],
     "not supported with --distribution_strategy=multi_worker_mirrored"),
])
def test_bad_evaluation_flags(capsys, tmp_path, data_dir, model_dir, extra, message):
    last = expect_error(capsys, extra, tmp_path / "out", data_dir, model_dir, message)
    if "--predict_from=best" in message:
        assert "evaluate during training" in last


def test_main_metric_of_each_task():
    expected = {"mrpc": "f1", "qqp": "f1", "cola": "mcc", "sts-b": "pearson_spearman_mean",
                "sst-2": "eval_accuracy", "mnli": "eval_accuracy", "rte": "eval_accuracy", "csv": "eval_accuracy"}
    for task, metric in expected.items():
        assert evaluation.main_metric(task.upper(), task == "sts-b") == metric, task


def test_mse_is_a_lower_is_better_metric_of_regression(tmp_path):
    evaluation.check_best_metric("mse", "sts-b", 1, True)  # reported by regression_metrics
    with pytest.raises(ValueError, match="--best_metric 'mse' is not a metric of task 'mrpc'"):
        evaluation.check_best_metric("mse", "mrpc", 2, False)
    tracker = evaluation.EvaluationTracker(str(tmp_path), "mse", patience=0)
    assert tracker.lower_is_better
