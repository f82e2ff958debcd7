"""Human-readable reports for a fine-tuning run: what the eval metrics alone don't show.

`run_classifier.py --do_eval` (with `--write_reports`, the default) calls
`write_eval_reports` and `plot_training_loss`, which write into `--output_dir`:

* `classification_report.txt`: per-class precision/recall/F1/support (scikit-learn's
  `classification_report`, 4 digits), then `accuracy`, and for two-class tasks `mcc`
  and `roc_auc` (from the probability of class 1, label_list[1]) as `key = value` lines;
* `confusion_matrix.tsv`: rows are gold labels, columns predicted labels;
* `confusion_matrix.png`: the same matrix as an annotated heat map;
* `dev_predictions.tsv`: one row per dev example, in dev-file order, with the gold and
  predicted label, whether they agree and the probability of every label, for error
  analysis (`awk -F'\\t' '$4 == 0'` lists the mistakes);
* `training_loss.png`: the training loss the Estimator logged for TensorBoard, by step.

Every file is written through a temporary file and renamed, with `tf.io.gfile`, so
`gs://` output dirs work and readers never see half a file. The plots use matplotlib's
Agg canvas directly (no pyplot, no global backend change).

To regenerate the plots of an existing output dir (e.g. after more training):

    python -m bert_estimator.results.reports --output_dir=/tmp/mrpc_output
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import sys
from typing import Iterable, Sequence

import numpy as np
import tensorflow.compat.v1 as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn import metrics as skm
from tensorboard.backend.event_processing import event_file_loader

from bert_estimator.core import console
from bert_estimator.core.fileio import write_atomically
from bert_estimator.results import output_files

CLASSIFICATION_REPORT = "classification_report.txt"
CONFUSION_MATRIX_TSV = "confusion_matrix.tsv"
CONFUSION_MATRIX_PNG = "confusion_matrix.png"
DEV_PREDICTIONS = "dev_predictions.tsv"
TRAINING_LOSS_PNG = "training_loss.png"

EVENT_FILE_PATTERN = "events.out.tfevents.*"
# The Estimator's own summary of the training loss; `loss_N` when a model_fn also
# summarised a tensor named `loss`.
LOSS_TAG = "loss"
# With at least this many loss points the plot adds an exponentially smoothed line.
SMOOTHING_MIN_POINTS = 20
CONFUSION_CORNER = "gold\\predicted"
PROB_PREFIX = "prob_"


# ------------------------------------------------------------------------------ file I/O
def save_figure(fig: Figure, path: str, dpi: int = 120) -> None:
    """Renders `fig` as PNG with the Agg canvas and writes it atomically."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    write_atomically(path, buffer.getvalue())


def _tsv_cell(value: object) -> str:
    """`value` as a TSV cell: tabs and line breaks would break the columns."""
    return re.sub(r"[\t\r\n]", " ", str(value))


def _tsv(rows: Iterable[Sequence[object]]) -> str:
    return "".join("\t".join(_tsv_cell(cell) for cell in row) + "\n" for row in rows)


# ------------------------------------------------------------------------ eval reports
def write_eval_reports(output_dir: str, label_list: Sequence[str], label_ids: Sequence[int],
                       probabilities: Sequence[np.ndarray]) -> dict[str, str]:
    """Writes the classification report, confusion matrix (TSV and PNG) and predictions.

    Args:
      output_dir: directory to write into (local or `gs://`); must exist.
      label_list: the label names, in class-id order.
      label_ids: gold class id of each real dev example.
      probabilities: per example, a 1-D array of `len(label_list)` class probabilities,
        in the same order as `label_ids`. The prediction is their argmax.

    Returns:
      {"classification_report", "confusion_matrix_tsv", "confusion_matrix_png",
      "dev_predictions"} -> path written; {} when there are no examples.

    Raises:
      ValueError: when the inputs disagree in length, shape or class ids.
    """
    label_names = [str(label) for label in label_list]
    gold, probs = _check_eval_inputs(label_names, label_ids, probabilities)
    if len(gold) == 0:
        tf.logging.warning("No dev examples: no classification report written.")
        return {}
    predicted = probs.argmax(axis=1)
    matrix = confusion_matrix(gold, predicted, len(label_names))

    report = classification_report_text(label_names, gold, predicted, probs)
    tf.logging.info("***** Classification report *****\n%s", report)
    tf.logging.info("***** Confusion matrix (rows: gold, columns: predicted) *****\n%s",
                    format_matrix(label_names, matrix))

    paths = {
        "classification_report": os.path.join(output_dir, CLASSIFICATION_REPORT),
        "confusion_matrix_tsv": os.path.join(output_dir, CONFUSION_MATRIX_TSV),
        "confusion_matrix_png": os.path.join(output_dir, CONFUSION_MATRIX_PNG),
        "dev_predictions": os.path.join(output_dir, DEV_PREDICTIONS),
    }
    write_atomically(paths["classification_report"], report)
    write_atomically(paths["confusion_matrix_tsv"], confusion_matrix_tsv(label_names, matrix))
    save_figure(confusion_matrix_figure(label_names, matrix), paths["confusion_matrix_png"])
    write_atomically(paths["dev_predictions"], dev_predictions_tsv(label_names, gold, probs))
    console.show("Reports written: %s", ", ".join(sorted(paths.values())))
    return paths


def write_multi_label_reports(output_dir: str, label_list: Sequence[str], label_ids: Sequence[Sequence[int]],
                              probabilities: Sequence[np.ndarray],
                              threshold: float = output_files.DEFAULT_THRESHOLD) -> dict[str, str]:
    """The reports of a multi-label evaluation: `classification_report.txt` (scikit-learn's
    per-label precision/recall/F1/support with micro, macro, weighted and samples
    averages, each label's ROC AUC, Hamming loss and subset accuracy) and
    `dev_predictions.tsv` (per example: gold and predicted label sets, then each label's
    probability). Labels are predicted at probability >= `threshold`, as eval_results.txt's.

    Args:
      output_dir: directory to write into; must exist.
      label_list: the labels, in output order.
      label_ids: per real dev example, its multi-hot gold vector (len(label_list) ints).
      probabilities: per example, len(label_list) sigmoid outputs.

    Returns:
      {"classification_report", "dev_predictions"} -> path written; {} without examples.
    """
    names = [str(label) for label in label_list]
    gold = np.asarray(label_ids, dtype=np.int64).reshape(-1, len(names))
    probs = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(names))
    if len(gold) == 0:
        tf.logging.warning("No dev examples: no classification report written.")
        return {}
    predicted = (probs >= threshold).astype(np.int64)
    table = skm.classification_report(gold, predicted, target_names=names, digits=4, zero_division=0)
    lines = [f"Dev examples: {len(gold)}; a label is predicted at probability >= {threshold:g}.", "",
             table.rstrip("\n"), "", "ROC AUC per label (from the probabilities):"]
    for i, name in enumerate(names):
        defined = 0 < gold[:, i].sum() < len(gold)
        lines.append(f"  {name} = {skm.roc_auc_score(gold[:, i], probs[:, i]):.4f}" if defined
                     else f"  {name} = undefined (one gold value)")
    lines += ["", f"hamming_loss = {skm.hamming_loss(gold, predicted):.4f}",
              f"subset_accuracy = {skm.accuracy_score(gold, predicted):.4f}"]
    report = "\n".join(lines) + "\n"
    tf.logging.info("***** Classification report *****\n%s", report)

    def label_set(row) -> str:
        return ",".join(name for name, on in zip(names, row) if on)

    rows: list[list[object]] = [["index", "gold", "predicted", "correct", *(f"{PROB_PREFIX}{n}" for n in names)]]
    for index, (gold_row, predicted_row, prob_row) in enumerate(zip(gold, predicted, probs)):
        rows.append([index, label_set(gold_row), label_set(predicted_row), int((gold_row == predicted_row).all()),
                     *(f"{p:.6f}" for p in prob_row)])
    paths = {"classification_report": os.path.join(output_dir, CLASSIFICATION_REPORT),
             "dev_predictions": os.path.join(output_dir, DEV_PREDICTIONS)}
    write_atomically(paths["classification_report"], report)
    write_atomically(paths["dev_predictions"], _tsv(rows))
    console.show("Reports written: %s", ", ".join(sorted(paths.values())))
    return paths


def _check_eval_inputs(label_names: Sequence[str], label_ids: Sequence[int],
                       probabilities: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Returns (gold [n] int64, probabilities [n, num_labels] float64), validated."""
    num_labels = len(label_names)
    if len(label_ids) != len(probabilities):
        raise ValueError(f"{len(label_ids)} label ids but {len(probabilities)} probability rows")
    gold = np.asarray(label_ids, dtype=np.int64).reshape(-1)
    if len(gold) == 0:
        return gold, np.zeros([0, num_labels])
    probs = np.stack([np.asarray(p, dtype=np.float64).reshape(-1) for p in probabilities])
    if probs.shape[1] != num_labels:
        raise ValueError(f"probability rows have {probs.shape[1]} entries, "
                         f"label_list has {num_labels} labels")
    if gold.min() < 0 or gold.max() >= num_labels:
        raise ValueError(f"label ids must lie in [0, {num_labels}), got {gold.min()}..{gold.max()}")
    return gold, probs


def summary_metrics(gold: np.ndarray, predicted: np.ndarray,
                    probs: np.ndarray) -> dict[str, float | None]:
    """accuracy; for two classes also mcc and roc_auc (None when gold has one class)."""
    metrics: dict[str, float | None] = {"accuracy": skm.accuracy_score(gold, predicted)}
    if probs.shape[1] == 2:
        metrics["mcc"] = skm.matthews_corrcoef(gold, predicted)
        two_classes = len(np.unique(gold)) == 2
        metrics["roc_auc"] = skm.roc_auc_score(gold, probs[:, 1]) if two_classes else None
    return metrics


def classification_report_text(label_names: Sequence[str], gold: np.ndarray, predicted: np.ndarray,
                               probs: np.ndarray) -> str:
    """scikit-learn's classification report (4 digits) plus `key = value` summary lines."""
    num_labels = len(label_names)
    table = skm.classification_report(
        gold, predicted, labels=list(range(num_labels)), target_names=list(label_names),
        digits=4, zero_division=0)
    lines = [f"Dev examples: {len(gold)}; predicted label = argmax of the probabilities.", "",
             table.rstrip("\n"), ""]
    for key, value in summary_metrics(gold, predicted, probs).items():
        lines.append(f"{key} = {'undefined (one gold class)' if value is None else f'{value:.4f}'}")
    if num_labels == 2:
        lines.append(f"positive class (mcc, roc_auc) = {label_names[1]}")
    return "\n".join(lines) + "\n"


def confusion_matrix(gold: np.ndarray, predicted: np.ndarray, num_labels: int) -> np.ndarray:
    """[num_labels, num_labels] counts; rows are gold classes, columns predicted ones."""
    return skm.confusion_matrix(gold, predicted, labels=list(range(num_labels)))


def confusion_matrix_tsv(label_names: Sequence[str], matrix: np.ndarray) -> str:
    """Header `gold\\predicted, label...`, then one row per gold label."""
    rows = [[CONFUSION_CORNER, *label_names]]
    rows += [[name, *(int(count) for count in row)] for name, row in zip(label_names, matrix)]
    return _tsv(rows)


def format_matrix(label_names: Sequence[str], matrix: np.ndarray) -> str:
    """The confusion matrix as an aligned text table, for the log."""
    rows = [["gold \\ predicted", *label_names]]
    rows += [[name, *(str(int(count)) for count in row)] for name, row in zip(label_names, matrix)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])])
        for row in rows)


def dev_predictions_tsv(label_names: Sequence[str], gold: np.ndarray, probs: np.ndarray) -> str:
    """Header `index gold predicted correct prob_<label>...`, one row per example."""
    rows: list[list[object]] = [["index", "gold", "predicted", "correct",
                                 *(f"{PROB_PREFIX}{name}" for name in label_names)]]
    for index, (gold_id, row) in enumerate(zip(gold, probs)):
        predicted_id = int(row.argmax())
        rows.append([index, label_names[gold_id], label_names[predicted_id],
                     int(predicted_id == gold_id), *(f"{p:.6f}" for p in row)])
    return _tsv(rows)


def _read_dev_table(path: str) -> tuple[list[str], list[str], list[list[str]]]:
    """(label_names, header, rows) of a `dev_predictions.tsv`."""
    with tf.io.gfile.GFile(path) as f:
        lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    if not lines:
        raise ValueError(f"{path} is empty")
    header, rows = lines[0], lines[1:]
    label_names = [column[len(PROB_PREFIX):] for column in header if column.startswith(PROB_PREFIX)]
    return label_names, header, rows


def read_dev_predictions(path: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Parses a `dev_predictions.tsv`; returns (label_names, gold ids, predicted ids)."""
    label_names, header, rows = _read_dev_table(path)
    ids = {name: i for i, name in enumerate(label_names)}
    gold_col, predicted_col = header.index("gold"), header.index("predicted")
    gold = np.array([ids[row[gold_col]] for row in rows], dtype=np.int64)
    predicted = np.array([ids[row[predicted_col]] for row in rows], dtype=np.int64)
    return label_names, gold, predicted


def read_dev_probabilities(path: str) -> np.ndarray:
    """The probabilities of a `dev_predictions.tsv`: float64 [examples, labels], in file order."""
    _, header, rows = _read_dev_table(path)
    columns = [i for i, column in enumerate(header) if column.startswith(PROB_PREFIX)]
    return np.array([[float(row[i]) for i in columns] for row in rows])


def confusion_matrix_figure(label_names: Sequence[str], matrix: np.ndarray) -> Figure:
    """A heat map of `matrix` with every count written in its cell."""
    num_labels = len(label_names)
    total = int(matrix.sum())
    accuracy = np.trace(matrix) / total if total else 0.0
    side = min(4.0 + 0.8 * num_labels, 20.0)
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="examples")
    ticks = list(range(num_labels))
    tilted = num_labels > 3 or max(map(len, label_names)) > 12
    ax.set_xticks(ticks, labels=label_names, rotation=45 if tilted else 0,
                  ha="right" if tilted else "center")
    ax.set_yticks(ticks, labels=label_names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("Gold label")
    ax.set_title(f"Confusion matrix: accuracy {accuracy:.4f} on {total} dev examples")
    _annotate_cells(ax, matrix)
    return fig


def _annotate_cells(ax, matrix: np.ndarray) -> None:
    """Writes each count in its cell, white on dark cells and black on light ones."""
    threshold = matrix.max() / 2 if matrix.size else 0
    fontsize = max(6, 14 - len(matrix) // 2)
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(int(count)), ha="center", va="center", fontsize=fontsize,
                color="white" if count > threshold else "black")


# ------------------------------------------------------------------------ training loss
def _event_values(path: str) -> Iterable[tuple[int, float, str, float]]:
    """(step, wall_time, tag, value) of every scalar in one event file.

    Reads both the TF1 `simple_value` scalars the Estimator writes and TF2
    `tf.summary.scalar` tensors, with TensorBoard's own reader: a truncated last record
    (a run still writing) ends the file quietly, without TF's deprecation warnings.
    """
    for event in event_file_loader.LegacyEventFileLoader(path).Load():
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                yield event.step, event.wall_time, value.tag, float(value.simple_value)
            elif kind == "tensor" and _is_scalar_tensor(value):
                yield event.step, event.wall_time, value.tag, float(tf.make_ndarray(value.tensor))


def _is_scalar_tensor(value) -> bool:
    shape = value.tensor.tensor_shape
    numeric = value.tensor.dtype in (tf.float16.as_datatype_enum, tf.float32.as_datatype_enum,
                                     tf.float64.as_datatype_enum, tf.int32.as_datatype_enum,
                                     tf.int64.as_datatype_enum)
    return numeric and not shape.dim


def read_scalars(log_dir: str) -> dict[str, list[tuple[int, float]]]:
    """Every scalar summary in the event files directly in `log_dir` (not subdirectories,
    so the Estimator's `eval/` events stay out): tag -> [(step, value)] sorted by step.

    When several files hold the same step (training resumed from a checkpoint), the value
    written last wins.
    """
    try:
        paths = tf.io.gfile.glob(os.path.join(log_dir, EVENT_FILE_PATTERN))
    except tf.errors.NotFoundError:
        paths = []
    latest: dict[str, dict[int, tuple[float, float]]] = {}
    for path in sorted(paths):
        for step, wall_time, tag, value in _event_values(path):
            by_step = latest.setdefault(tag, {})
            if step not in by_step or wall_time >= by_step[step][0]:
                by_step[step] = (wall_time, value)
    return {tag: [(step, by_step[step][1]) for step in sorted(by_step)]
            for tag, by_step in latest.items()}


def read_scalar_events(log_dir: str, tag: str) -> list[tuple[int, float]]:
    """[(step, value)] of scalar `tag` in the event files directly in `log_dir`."""
    return read_scalars(log_dir).get(tag, [])


def choose_loss_tag(tags: Iterable[str]) -> str | None:
    """The training-loss tag: `loss`, else the lowest `loss_N`, else one named `.../loss`."""
    tags = set(tags)
    if LOSS_TAG in tags:
        return LOSS_TAG
    numbered = sorted((int(m.group(1)), tag) for tag in tags
                      if (m := re.fullmatch(r"loss_(\d+)", tag)))
    if numbered:
        return numbered[0][1]
    nested = sorted(tag for tag in tags if tag.rsplit("/", 1)[-1] == LOSS_TAG)
    return nested[0] if nested else None


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's debiased exponential moving average; non-finite values are skipped."""
    smoothed, last, count = [], 0.0, 0
    for value in values:
        if math.isfinite(value):
            last = last * weight + (1 - weight) * value
            count += 1
        smoothed.append(last / (1 - weight ** count) if count else math.nan)
    return smoothed


def smoothing_weight(num_points: int) -> float:
    """Heavier smoothing for more points: an averaging window of about 5% of the run."""
    return min(0.98, max(0.6, 1 - 20 / num_points))


def _count_points(points: Sequence[object]) -> str:
    return f"{len(points)} point{'' if len(points) == 1 else 's'}"


def training_loss_figure(points: Sequence[tuple[int, float]], tag: str = LOSS_TAG) -> Figure:
    """Loss by step: the raw points, plus a smoothed line when there are many."""
    steps = [step for step, _ in points]
    losses = [loss for _, loss in points]
    many = len(points) >= SMOOTHING_MIN_POINTS
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    ax.plot(steps, losses, marker=None if many else "o", color="tab:blue",
            alpha=0.35 if many else 1.0, label=f"{tag} (raw)" if many else tag)
    if many:
        weight = smoothing_weight(len(points))
        ax.plot(steps, smooth(losses, weight), color="tab:blue", linewidth=2,
                label=f"{tag} (smoothed, weight {weight:.2f})")
    ax.set_xlabel("Global step")
    ax.set_ylabel("Training loss")
    ax.set_title(f"Training loss: {losses[-1]:.4g} at step {steps[-1]} ({_count_points(points)})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def plot_training_loss(output_dir: str) -> str | None:
    """Writes `training_loss.png` from the Estimator's event files in `output_dir`.

    Returns:
      The path written, or None (logged) when `output_dir` holds no training-loss
      summaries, e.g. after an eval-only run, or holds eval summaries instead.
    """
    scalars = read_scalars(output_dir)
    tag = choose_loss_tag(scalars)
    if tag is not None and any(name.startswith("eval_") for name in scalars):
        tf.logging.info("%s holds eval summaries (an Estimator eval/ dir?), not training ones: "
                        "%s not written.", output_dir, TRAINING_LOSS_PNG)
        return None
    if tag is None:
        tf.logging.info("No training loss summaries in %s (eval-only run?): %s not written.",
                        output_dir, TRAINING_LOSS_PNG)
        return None
    path = os.path.join(output_dir, TRAINING_LOSS_PNG)
    save_figure(training_loss_figure(scalars[tag], tag), path)
    tf.logging.info("Training loss plot of %r (%s) written: %s", tag, _count_points(scalars[tag]), path)
    return path


def plot_confusion_matrix_from_predictions(output_dir: str) -> str | None:
    """Rewrites `confusion_matrix.png` from `dev_predictions.tsv`; None when it is absent."""
    predictions = os.path.join(output_dir, DEV_PREDICTIONS)
    if not tf.io.gfile.exists(predictions):
        tf.logging.info("No %s in %s: %s not written.", DEV_PREDICTIONS, output_dir, CONFUSION_MATRIX_PNG)
        return None
    label_names, gold, predicted = read_dev_predictions(predictions)
    path = os.path.join(output_dir, CONFUSION_MATRIX_PNG)
    save_figure(confusion_matrix_figure(label_names, confusion_matrix(gold, predicted, len(label_names))), path)
    tf.logging.info("Confusion matrix plot written: %s", path)
    return path


# ---------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bert_estimator.results.reports --output_dir DIR`: regenerates the plots of a run's output dir."""
    # argparse, not absl flags: run_classifier imports this module and owns --output_dir.
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--output_dir", required=True,
                        help="run_classifier's --output_dir (event files, dev_predictions.tsv).")
    args = parser.parse_args(argv)
    if not tf.io.gfile.isdir(args.output_dir):
        print(f"reports.py: no such directory: {args.output_dir}", file=sys.stderr)
        return 1
    tf.logging.set_verbosity(tf.logging.INFO)
    written = [path for path in (plot_training_loss(args.output_dir),
                                 plot_confusion_matrix_from_predictions(args.output_dir)) if path]
    for path in written:
        print(path)
    if not written:
        print(f"reports.py: nothing to plot in {args.output_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
