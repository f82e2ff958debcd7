"""Serving: export a fine-tuned classifier as a self-contained SavedModel (`export_model`)
and find and check an export for prediction; predicting on raw text with it, the graph
loaded once, is `predictor`'s job (and `predict.py`'s on the command line).

    python run_classifier.py ... --do_train --export_dir=/tmp/models/sst2
    python predict.py --export_dir=/tmp/models/sst2 "a gripping, funny film" "a dull mess"

or from Python:

    from bert_estimator.serving.predictor import load_predictor

    with load_predictor("/tmp/models/sst2") as predictor:
        predictor.predict(["a gripping, funny film", ("premise", "hypothesis")])  # [N, num_labels]

`export_dir` is a base directory of numbered versions, the layout TF Serving loads as
it is (`--model_base_path=/tmp/models/sst2`): each export writes the next free number
(1 in a new directory), or the version asked for (an existing one is then replaced).
A version directory holds:

    saved_model.pb, variables/      the model, tag "serve", two signatures:
        "serving_default"           (the default, as before) int32 `input_ids`,
                                    `input_mask`, `segment_ids` of shape [batch, length]
                                    (both dynamic) -> float32 `probabilities`
                                    [batch, num_labels] ([batch] values for regression)
        "serving_text"              string `text` [batch] (`text_a`, `text_b` for pair
                                    tasks, and when the exporter did not say) ->
                                    `probabilities`, and string `label` (classification):
                                    tokenized in the graph with core TensorFlow ops, the
                                    ids of FullTokenizer (text_signature.py)
    assets.extra/vocab.txt          the WordPiece vocabulary of training
    assets.extra/export_info.json   format_version, do_lower_case, max_seq_length,
                                    label_list, is_regression, is_multi_label,
                                    truncation, pair (whether the model reads sentence
                                    pairs), vocab_casing, casing_record (`casing`),
                                    text_inputs, unicode_version (of the in-graph
                                    tokenizer), ...; multi-label: thresholds,
                                    label_separator

so nothing else is needed to predict.

A multi-label model (`is_multi_label`: a sigmoid per label, a set of labels per text)
has `probabilities` [batch, num_labels], each in [0, 1] on its own, and both signatures
also return int32 `predicted` [batch, num_labels], 1 where the probability reaches its
label's threshold (`probability >= threshold`, `thresholds` of export_info.json: 0.5
each, or those tuned on dev); `serving_text` returns string `labels` [batch] instead of
`label`: the predicted labels in label-list order joined by `label_separator` ("" for
none). Single-label and regression exports have the signatures they always had.

Texts are tokenized and laid out exactly as in
training (`features.convert_single_example`: same ids, same truncation to
`max_seq_length`), in Python or in the graph, but a batch is padded only to its longest
member: a short sentence runs at its own length. Masked padding does not change the
result beyond float round-off (about 1e-7).

`predictor.load_predictor` takes a version directory or the base directory (its highest
version). The versions of one base directory must agree on what a client sends and
gets (labels, regression or multi-label, the label separator, serving_text inputs): TF
Serving serves them all under one model name. The thresholds of a multi-label model
may differ between versions: they change which labels are predicted, as new weights
do, not the form of a request or an answer, so tuning them again is a new version. Exporting a model of another interface into it is refused, and so is
predicting from a directory whose versions disagree (`ExportError`).

Exporting into an existing directory: an empty directory, or one holding only earlier
versions (each with saved_model.pb and assets.extra/export_info.json) receives the new
version; anything else is refused with `ExportError`, so that a mistyped
`--export_dir=$HOME` touches nothing, and so is an unversioned export of an earlier
run_classifier.py (saved_model.pb at the top). The version is written to a temporary
directory beside `export_dir` and renamed into place when complete: a crash never
leaves a half-written version for TF Serving to load.

Which checkpoint: the latest in the estimator's model_dir (what training wrote). When
nothing was trained there (a --do_predict run with a fine-tuned --init_checkpoint),
`init_checkpoint` is exported instead, provided it holds every variable of the model
(a pre-trained BERT without the classifier layer is refused: its export would be a
random classifier).
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import time
import uuid
from typing import Iterator, Optional, Sequence

import numpy as np
import tensorflow.compat.v1 as tf

from bert_estimator.core import console
from bert_estimator.core.errors import UserError
from bert_estimator.data import casing
from bert_estimator.data.features import TRUNCATION_STRATEGIES
from bert_estimator.results.output_files import DEFAULT_THRESHOLD
from bert_estimator.serving import text_signature
from processors.base import DEFAULT_LABEL_SEPARATOR

EXPORT_INFO = "export_info.json"
VOCAB_FILE = "vocab.txt"
EXTRA_DIR = "assets.extra"
SIGNATURE = "serving_default"
OUTPUT = "probabilities"
INPUTS = ("input_ids", "input_mask", "segment_ids")
FORMAT_VERSION = 1
# The raw-text signature: strings in, tokenized in the graph (text_signature.py).
TEXT_SIGNATURE = "serving_text"
LABEL_OUTPUT = "label"
TEXT_INPUTS = ("text",)
PAIR_INPUTS = ("text_a", "text_b")
# Multi-label exports: int32 multi-hot `predicted` (both signatures) and the string
# `labels` of serving_text (the predicted labels joined by the label separator).
PREDICTED_OUTPUT = "predicted"
LABELS_OUTPUT = "labels"


class ExportError(UserError, ValueError):
    """The export directory or the checkpoint to export is unusable; one-line message."""


# ---------------------------------------------------------------------------- export
def is_export(path: str) -> bool:
    """Whether `path` looks like a directory written by `export_model`."""
    return (tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))
            and tf.io.gfile.exists(os.path.join(path, EXTRA_DIR, EXPORT_INFO)))


def check_export_dir(export_dir: str, version: Optional[int] = None) -> None:
    """Raises ExportError unless `export_dir` may receive a new version from
    `export_model`: absent, an empty directory, or one holding only numbered versions
    written by it (TF Serving's layout). Cheap: call it before training."""
    if not export_dir:
        raise ExportError("no export directory given")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ExportError(f"the export version must be a positive integer, got {version!r}")
    if not tf.io.gfile.exists(export_dir):
        return
    if not tf.io.gfile.isdir(export_dir):
        raise ExportError(f"export directory {export_dir} exists and is not a directory")
    if is_export(export_dir):
        raise ExportError(
            f"export directory {export_dir} holds an unversioned export (saved_model.pb at its top, from an "
            f"earlier run_classifier.py); exports now go to numbered version subdirectories, as TF Serving "
            f"reads them: move it to {os.path.join(export_dir, '1')} or choose a new directory")
    for name in _entries(export_dir):
        if not (_is_version_name(name) and is_export(os.path.join(export_dir, name))):
            raise ExportError(
                f"export directory {export_dir} is not empty and holds {name!r}, which is no earlier export "
                "(a numbered version subdirectory with saved_model.pb and assets.extra/export_info.json); "
                "choose a new or empty directory")


def _entries(path: str) -> list:
    return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(path))


def _is_version_name(name: str) -> bool:
    return name.isdigit() and name.isascii()


def export_versions(base: str) -> list:
    """The numbered version subdirectories of `base`, as ints, ascending (the
    directories TF Serving would load; whether they hold exports is not checked)."""
    if not tf.io.gfile.isdir(base):
        return []
    return sorted(int(name) for name in _entries(base)
                  if _is_version_name(name) and tf.io.gfile.isdir(os.path.join(base, name)))


def text_inputs_for(pair: Optional[bool]) -> tuple:
    """The inputs of the `serving_text` signature: `text` for a model of single texts;
    `text_a`, `text_b` for pairs, and when the exporter did not say (an empty text_b
    then makes a single text, as in the Python path)."""
    return TEXT_INPUTS if pair is False else PAIR_INPUTS


def _interface(info: dict) -> dict:
    """What a client of the export depends on: the label list, regression or not,
    multi-label or not and the separator of its joined `labels` output (None for the
    others), and the raw-text signature's inputs (None: an export without that
    signature). Not the thresholds: they change which labels come back, as new weights
    do, not the form of a request or an answer."""
    text_inputs = info.get("text_inputs")
    is_multi_label = bool(info.get("is_multi_label"))
    return {"labels": [str(label) for label in info.get("label_list", [])],
            "is_regression": bool(info.get("is_regression")),
            "is_multi_label": is_multi_label,
            "label_separator": info.get("label_separator", DEFAULT_LABEL_SEPARATOR) if is_multi_label else None,
            "text_inputs": tuple(text_inputs) if text_inputs else None}


def _describe(interface: dict) -> str:
    if interface["is_regression"]:
        kind = "is a regression"
    else:
        kind = f"has the labels {', '.join(interface['labels'])}"
        if interface["is_multi_label"]:
            kind += f" (multi-label, joined by {interface['label_separator']!r})"
    if interface["text_inputs"]:
        kind += f" and {TEXT_SIGNATURE} inputs {', '.join(interface['text_inputs'])}"
    return kind


def _incompatibility(a: dict, b: dict) -> bool:
    if a["labels"] != b["labels"] or a["is_regression"] != b["is_regression"]:
        return True
    if a["is_multi_label"] != b["is_multi_label"] or a["label_separator"] != b["label_separator"]:
        return True
    return bool(a["text_inputs"] and b["text_inputs"] and a["text_inputs"] != b["text_inputs"])


def check_versions_compatible(base: str, infos: dict) -> None:
    """ExportError when the exports of `base` ({version: export_info}) differ in what a
    client depends on (labels, regression, multi-label and its label separator, text
    inputs; `_interface`): TF Serving serves all the versions of a directory under one
    model name."""
    versions = sorted(infos)
    for older, newer in zip(versions, versions[1:]):
        a, b = _interface(infos[older]), _interface(infos[newer])
        if _incompatibility(a, b):
            raise ExportError(
                f"{base} holds incompatible exports: version {older} {_describe(a)}, version {newer} "
                f"{_describe(b)}; TF Serving serves every version of a directory as one model, so keep one "
                "model per directory (remove the stale versions or export to a new directory)")


def resolve_export_dir(path: str) -> str:
    """The export that `path` names: `path` itself when it is one (a version
    directory, or an unversioned export), else its highest numbered version.

    Raises:
      ExportError: `path` is missing or holds no export; or it holds an unversioned
        export and numbered versions, or versions incompatible with each other.
    """
    if not tf.io.gfile.isdir(path):
        raise ExportError(f"export directory not found: {path}")
    versions = export_versions(path)
    if is_export(path):
        if versions:
            raise ExportError(
                f"{path} holds two exports: an unversioned one at its top and the numbered version(s) "
                f"{', '.join(map(str, versions))}; keep one layout (move the top one into a version directory)")
        return path
    if not versions:
        raise ExportError(f"{path} is not a model exported by run_classifier.py --export_dir (no saved_model.pb "
                          f"and {EXTRA_DIR}/{EXPORT_INFO}, nor numbered version subdirectories holding them)")
    infos = {v: read_export_info(os.path.join(path, str(v))) for v in versions}
    check_versions_compatible(path, infos)
    return os.path.join(path, str(versions[-1]))


def serving_input_receiver_fn_builder(is_regression: bool, num_multi_labels: Optional[int] = None):
    """The receiver: three int32 [batch, length] placeholders, both dimensions dynamic.

    `model_fn` also reads `label_ids`; the receiver feeds it zeros (predictions do not
    depend on it), so serving callers give only the three inputs: int32 [batch]
    (float32 for regression), or with `num_multi_labels` (a multi-label model of that
    many labels) int32 [batch, num_multi_labels].
    """

    def serving_input_receiver_fn():
        receivers = {name: tf.placeholder(tf.int32, [None, None], name=name) for name in INPUTS}
        features = dict(receivers)
        features["label_ids"] = zero_label_ids(receivers["input_ids"], is_regression, num_multi_labels)
        return tf.estimator.export.ServingInputReceiver(features, receivers)

    return serving_input_receiver_fn


def zero_label_ids(input_ids, is_regression: bool, num_multi_labels: Optional[int] = None):
    """The `label_ids` feature that an exported `model_fn` reads (and ignores): zeros,
    int32 [batch] (float32 for regression), or int32 [batch, num_multi_labels] (multi-hot,
    multi-label); batch is that of `input_ids`, an int32 Tensor [batch, length]."""
    if num_multi_labels:
        shape = tf.concat([tf.shape(input_ids)[:1], [num_multi_labels]], axis=0)
        return tf.zeros(shape, dtype=tf.int32)
    return tf.zeros(tf.shape(input_ids)[:1], dtype=tf.float32 if is_regression else tf.int32)


def check_multi_label(label_list: Sequence[str], thresholds: Optional[Sequence[float]],
                      label_separator: str) -> list:
    """The decision thresholds of a multi-label export, one float per label (0.5 each
    when `thresholds` is None); ExportError when they are not one probability in [0, 1]
    per label, when `label_separator` is not a non-empty str, or when a label holds it
    (its joined `labels` output would be ambiguous)."""
    if not label_list:
        raise ExportError("a multi-label model needs at least one label")
    if not isinstance(label_separator, str) or not label_separator:
        raise ExportError(f"the label separator must be a non-empty string, got {label_separator!r}")
    joined = [str(label) for label in label_list if label_separator in str(label)]
    if joined:
        raise ExportError(f"the label {joined[0]!r} holds the label separator {label_separator!r}: the "
                          f"{LABELS_OUTPUT} output of {TEXT_SIGNATURE} would be ambiguous")
    if thresholds is None:
        return [DEFAULT_THRESHOLD] * len(label_list)
    try:
        thresholds = list(thresholds)
    except TypeError:
        raise ExportError(f"the thresholds must be a list of one float per label, got {thresholds!r}") from None
    if len(thresholds) != len(label_list):
        raise ExportError(f"{len(thresholds)} threshold(s) for {len(label_list)} labels "
                          f"({', '.join(map(str, label_list))}): give one per label")
    for label, value in zip(label_list, thresholds):
        if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
                or not 0 <= value <= 1):
            raise ExportError(f"the threshold of label {label!r} must be a probability in [0, 1], got {value!r}")
    return [float(value) for value in thresholds]


def float32_thresholds(thresholds: Sequence[float]) -> np.ndarray:
    """The thresholds as float32 [num_labels], each the smallest float32 not below the
    given (float64) one: for a float32 probability p, `p >= float32_thresholds(t)` is
    exactly `p >= t` computed in float64, in the graph and in NumPy alike."""
    wanted = np.asarray(thresholds, dtype=np.float64)
    rounded = wanted.astype(np.float32)
    below = rounded.astype(np.float64) < wanted
    rounded[below] = np.nextafter(rounded[below], np.float32(np.inf))
    return rounded


def multi_label_outputs(probabilities, label_list: Sequence[str], thresholds: Sequence[float],
                        label_separator: str):
    """The outputs of a multi-label export beside `probabilities`.

    Args:
      probabilities: float32 Tensor [batch, num_labels], a sigmoid per label.
      label_list: list of str, the labels in output-column order.
      thresholds: list of float, one per label: a label is predicted when its
        probability is >= its threshold.
      label_separator: str between the labels of a text in `labels`.

    Returns:
      (predicted, labels): int32 Tensor [batch, num_labels], 1 for each predicted label,
      named "predicted"; string Tensor [batch], the predicted labels of each text in
      label-list order joined by `label_separator` ("" for none), named "labels".
    """
    with tf.name_scope("multi_label"):
        hits = tf.greater_equal(probabilities, tf.constant(float32_thresholds(thresholds), name="thresholds"))
        where = tf.where(hits)  # [hits, 2] int64 (row, label), in row-major order
        names = tf.gather(tf.constant([str(label) for label in label_list]), where[:, 1])
        # Joins the strings of each segment in the order they come: label-list order.
        joined = tf.strings.unsorted_segment_join(names, where[:, 0], tf.shape(probabilities)[0],
                                                  separator=label_separator)
        predicted = tf.cast(hits, tf.int32)
    return tf.identity(predicted, name=PREDICTED_OUTPUT), tf.identity(joined, name=LABELS_OUTPUT)


@contextlib.contextmanager
def _predict_graph(estimator) -> Iterator[tf.Graph]:
    """A new default graph as the Estimator starts one for `model_fn`: seeded with
    `RunConfig.tf_random_seed`, holding the global step."""
    with tf.Graph().as_default() as graph:
        if estimator.config.tf_random_seed is not None:
            tf.set_random_seed(estimator.config.tf_random_seed)
        tf.train.get_or_create_global_step()
        yield graph


def _checkpoint_from_init(estimator, init_checkpoint: str, receiver_fn, work_dir: str) -> str:
    """Writes a checkpoint of the PREDICT graph restored from `init_checkpoint` (for a
    run that predicted with a fine-tuned --init_checkpoint and trained nothing).

    Raises ExportError when the checkpoint lacks a model variable (e.g. a pre-trained
    BERT without the classifier layer, whose export would be a random classifier)."""
    if not tf.io.gfile.exists(init_checkpoint + ".index"):
        raise ExportError(f"no checkpoint to export: init checkpoint {init_checkpoint} not found")
    ckpt_vars = {name for name, _ in tf.train.list_variables(init_checkpoint)}
    with _predict_graph(estimator):
        receiver = receiver_fn()
        estimator.model_fn(receiver.features, None, tf.estimator.ModeKeys.PREDICT, estimator.config)
        missing = [v.op.name for v in tf.trainable_variables() if v.op.name not in ckpt_vars]
        if missing:
            raise ExportError(
                f"no fine-tuned checkpoint to export: nothing was trained in {estimator.model_dir} and "
                f"the init checkpoint {init_checkpoint} lacks {', '.join(missing[:3])}"
                f"{' ...' if len(missing) > 3 else ''} (a pre-trained model, not a fine-tuned one); "
                "run with --do_train")
        with tf.Session() as sess:
            sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
            return tf.train.Saver().save(sess, os.path.join(work_dir, "ckpt", "model.ckpt"),
                                         write_meta_graph=False)


def export_model(estimator, export_dir: str, max_seq_length: int, vocab_file: str,
                 do_lower_case: bool, label_list: Sequence[str], is_regression: bool,
                 truncation: str = "head", init_checkpoint: Optional[str] = None,
                 checkpoint_path: Optional[str] = None, pair: Optional[bool] = None,
                 version: Optional[int] = None, is_multi_label: bool = False,
                 thresholds: Optional[Sequence[float]] = None,
                 label_separator: Optional[str] = DEFAULT_LABEL_SEPARATOR) -> str:
    """Exports `estimator`'s latest checkpoint as a SavedModel in a new numbered version
    subdirectory of `export_dir` (see the module docstring for the layout and the
    overwrite rule). Returns the version directory.

    Args:
      estimator: the (TPU)Estimator of training; its `model_fn` builds the graph.
      export_dir: the base directory (TF Serving's model directory).
      max_seq_length, vocab_file, do_lower_case, truncation: the tokenization of training.
      label_list: list of str, the labels in class-id order (empty for regression).
      is_regression: bool, one float output per example.
      init_checkpoint: used when `estimator.model_dir` holds no checkpoint (nothing was
        trained): must then be a fine-tuned checkpoint with every model variable.
      checkpoint_path: export this checkpoint instead of the latest one.
      pair: whether the model reads sentence pairs (text_a, text_b): recorded so that
        predict.py refuses a single text for a pair model, and sets the inputs of the
        `serving_text` signature (`text_inputs_for`). None: not recorded.
      version: the version number (a positive int; an existing one is replaced).
        Default: the next free one, 1 for a new directory.
      is_multi_label: bool, a multi-label model: `model_fn` reads int32 `label_ids`
        [batch, num_labels] and predicts a sigmoid probability per label; the export
        adds `predicted` and (serving_text) `labels` outputs (module docstring).
      thresholds: multi-label only: list of float in [0, 1], one per label, a label
        is predicted when its probability is >= its threshold. None: 0.5 each.
      label_separator: multi-label only: the str between the labels of the
        serving_text `labels` output (the --label_separator of the training data);
        None: a comma.

    Raises:
      ExportError: `export_dir` may not receive a version, its versions are of another
        interface (labels, regression, multi-label, label separator, text inputs), the
        multi-label settings are unusable (`check_multi_label`), or there is no
        checkpoint to export.
    """
    if truncation not in TRUNCATION_STRATEGIES:
        raise ExportError(f"unknown truncation strategy {truncation!r}")
    is_multi_label = bool(is_multi_label)
    label_separator = DEFAULT_LABEL_SEPARATOR if label_separator is None else label_separator
    if is_multi_label and is_regression:
        raise ExportError("a model is either a regression or a multi-label classifier, not both")
    if is_multi_label:
        thresholds = check_multi_label(label_list, thresholds, label_separator)
    elif thresholds is not None:
        raise ExportError("thresholds are for multi-label models only (is_multi_label=True)")
    check_export_dir(export_dir, version)
    export_dir = export_dir.rstrip("/") or export_dir
    try:  # what the in-graph tokenizer needs: the vocabulary, with [CLS], [SEP], [UNK]
        spec = text_signature.TokenizerSpec.from_vocab_file(vocab_file, do_lower_case, max_seq_length, truncation)
        spec.check()
    except (ValueError, OSError) as e:
        raise ExportError(f"{vocab_file}: {e}") from None
    text_inputs = text_inputs_for(pair)
    interface = {"label_list": list(label_list), "is_regression": is_regression, "is_multi_label": is_multi_label,
                 "label_separator": label_separator, "text_inputs": list(text_inputs)}
    others = {v: read_export_info(os.path.join(export_dir, str(v)))
              for v in export_versions(export_dir) if v != version}
    for v, other in others.items():
        if _incompatibility(_interface(other), _interface(interface)):
            raise ExportError(
                f"cannot add this model to {export_dir}: its version {v} {_describe(_interface(other))}, this "
                f"model {_describe(_interface(interface))}; TF Serving serves every version of a directory as "
                "one model, so export it to a new directory (or remove the old versions)")
    # Staged next to export_dir (same file system, so the final rename is atomic).
    staging = f"{export_dir}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tf.io.gfile.makedirs(staging)
    try:
        checkpoint_path = checkpoint_path or estimator.latest_checkpoint()
        source = checkpoint_path
        if checkpoint_path is None:
            if not init_checkpoint:
                raise ExportError(
                    f"no checkpoint to export: nothing was trained in {estimator.model_dir} "
                    "(run with --do_train) and no fine-tuned init checkpoint was given to export")
            receiver_fn = serving_input_receiver_fn_builder(is_regression,
                                                            len(label_list) if is_multi_label else None)
            checkpoint_path = _checkpoint_from_init(estimator, init_checkpoint, receiver_fn, staging)
            source = init_checkpoint
        tf.logging.info("***** Exporting %s as a SavedModel to %s *****", source, export_dir)
        info = {
            "format_version": FORMAT_VERSION,
            "do_lower_case": bool(do_lower_case),
            **_casing_info(vocab_file, init_checkpoint),
            "max_seq_length": int(max_seq_length),
            "label_list": [str(label) for label in label_list],
            "is_regression": bool(is_regression),
            "is_multi_label": is_multi_label,
            **({"thresholds": thresholds, "label_separator": label_separator} if is_multi_label else {}),
            "truncation": truncation,
            **({} if pair is None else {"pair": bool(pair)}),
            "vocab_file": f"{EXTRA_DIR}/{VOCAB_FILE}",
            "signature": SIGNATURE,
            "inputs": list(INPUTS),
            "output": OUTPUT,
            **({"outputs": [OUTPUT, PREDICTED_OUTPUT]} if is_multi_label else {}),
            "text_signature": TEXT_SIGNATURE,
            "text_inputs": list(text_inputs),
            "text_outputs": ([OUTPUT, PREDICTED_OUTPUT, LABELS_OUTPUT] if is_multi_label else
                             [OUTPUT] + ([] if is_regression else [LABEL_OUTPUT])),
            # The in-graph tokenizer reproduces FullTokenizer on this Unicode version.
            "unicode_version": text_signature.unicode_tables().unidata_version,
            "checkpoint": source,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        model_dir = os.path.join(staging, "model")
        multi_label = (thresholds, label_separator) if is_multi_label else None
        _write_saved_model(estimator, checkpoint_path, model_dir, spec, text_inputs, label_list, is_regression,
                           multi_label)
        extra = os.path.join(model_dir, EXTRA_DIR)
        tf.io.gfile.makedirs(extra)
        tf.io.gfile.copy(vocab_file, os.path.join(extra, VOCAB_FILE))
        with tf.io.gfile.GFile(os.path.join(extra, EXPORT_INFO), "w") as f:
            f.write(json.dumps(info, indent=2) + "\n")
        target = _move_into_place(model_dir, export_dir, version, staging)
    finally:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
    console.show("Exported the model to %s", target)
    return target


def _write_saved_model(estimator, checkpoint_path: str, target: str, spec, text_inputs: tuple,
                       label_list: Sequence[str], is_regression: bool, multi_label: Optional[tuple] = None) -> None:
    """Writes the SavedModel of `checkpoint_path` to the new directory `target`.

    One graph: the model reads the three int32 inputs of `serving_default`, which are
    `placeholder_with_default`s whose default is the in-graph tokenization of the
    string inputs of `serving_text`. Fed ids, the tokenizer does not run; fed strings,
    it does. The lookup tables are initialized by the SavedModel's main op.
    `multi_label`: (thresholds, label_separator) of a multi-label model, else None.
    """
    with _predict_graph(estimator):
        texts = {name: tf.placeholder(tf.string, [None], name=name) for name in text_inputs}
        with tf.name_scope("text_tokenizer"):
            tokenized = text_signature.features(texts.get("text", texts.get("text_a")), texts.get("text_b"), spec)
        receivers = {name: tf.placeholder_with_default(value, [None, None], name=name)
                     for name, value in zip(INPUTS, tokenized)}
        features = dict(receivers)
        features["label_ids"] = zero_label_ids(receivers["input_ids"], is_regression,
                                               len(label_list) if multi_label else None)
        model = estimator.model_fn(features, None, tf.estimator.ModeKeys.PREDICT, estimator.config)
        probabilities = model.predictions[OUTPUT]
        outputs = {OUTPUT: probabilities}
        text_outputs = {OUTPUT: probabilities}
        if multi_label:
            predicted, joined = multi_label_outputs(probabilities, label_list, *multi_label)
            outputs[PREDICTED_OUTPUT] = predicted
            text_outputs.update({PREDICTED_OUTPUT: predicted, LABELS_OUTPUT: joined})
        elif not is_regression:
            text_outputs[LABEL_OUTPUT] = tf.gather(tf.constant([str(label) for label in label_list]),
                                                   tf.argmax(probabilities, axis=-1), name=LABEL_OUTPUT)
        signatures = {
            SIGNATURE: tf.saved_model.signature_def_utils.predict_signature_def(receivers, outputs),
            TEXT_SIGNATURE: tf.saved_model.signature_def_utils.predict_signature_def(texts, text_outputs),
        }
        main_op = tf.train.Scaffold.default_local_init_op()  # local variables and the lookup tables
        saver = tf.train.Saver(sharded=True)
        builder = tf.saved_model.builder.SavedModelBuilder(target)
        with tf.Session() as sess:
            saver.restore(sess, checkpoint_path)
            builder.add_meta_graph_and_variables(
                sess, [tf.saved_model.tag_constants.SERVING], signature_def_map=signatures, main_op=main_op,
                saver=saver, strip_default_attrs=True)
        builder.save()


def _move_into_place(model_dir: str, export_dir: str, version: Optional[int], scratch: str) -> str:
    """Renames the staged `model_dir` to `export_dir`/<version> (an existing one is
    replaced) or, without `version`, to the next free version; returns that path."""
    tf.io.gfile.makedirs(export_dir)
    if version is not None:
        target = os.path.join(export_dir, str(version))
        _replace_dir(model_dir, target, scratch)
        return target
    for _ in range(10):  # another export may take the same number meanwhile
        target = os.path.join(export_dir, str(max(export_versions(export_dir), default=0) + 1))
        try:
            tf.io.gfile.rename(model_dir, target, overwrite=False)
            return target
        except (tf.errors.AlreadyExistsError, tf.errors.FailedPreconditionError, OSError):
            if not tf.io.gfile.exists(target):
                raise
    raise ExportError(f"could not find a free version number in {export_dir}")


def _casing_info(vocab_file: str, init_checkpoint: Optional[str]) -> dict:
    """What export_info.json records of the casing: the vocabulary's ("cased", "uncased",
    "unknown") and the model's casing record (tokenizer_config.json), if any."""
    records = casing.find_records((init_checkpoint, vocab_file))
    return {"vocab_casing": casing.vocab_casing(vocab_file).casing,
            "casing_record": records[0].path if records else None}


def _replace_dir(new: str, target: str, scratch: str) -> None:
    """Renames directory `new` to `target`; an existing `target` is first moved into
    `scratch` (deleted by the caller)."""
    if tf.io.gfile.exists(target):
        tf.io.gfile.rename(target, os.path.join(scratch, "previous"))
    tf.io.gfile.rename(new, target)


def read_export_info(export_dir: str) -> dict:
    """The export's export_info.json; ExportError if `export_dir` is not an export."""
    if not tf.io.gfile.isdir(export_dir):
        raise ExportError(f"export directory not found: {export_dir}")
    if not is_export(export_dir):
        raise ExportError(f"{export_dir} is not a model exported by run_classifier.py --export_dir "
                          f"(no saved_model.pb and {EXTRA_DIR}/{EXPORT_INFO})")
    path = os.path.join(export_dir, EXTRA_DIR, EXPORT_INFO)
    try:
        with tf.io.gfile.GFile(path) as f:
            info = json.loads(f.read())
    except ValueError as e:
        raise ExportError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(info, dict):
        raise ExportError(f"{path} holds no JSON object")
    version = info.get("format_version")
    if version != FORMAT_VERSION:
        raise ExportError(f"{export_dir} is an export of format version {version}, this version reads format "
                          f"version {FORMAT_VERSION} only: export the model again with this version's "
                          "run_classifier.py --export_dir")
    missing = [k for k in ("do_lower_case", "max_seq_length", "label_list", "is_regression") if k not in info]
    if missing:
        raise ExportError(f"{path} lacks {', '.join(missing)}")
    info.setdefault("is_multi_label", False)  # exports from before multi-label: single-label or regression
    if info["is_multi_label"]:
        missing = [k for k in ("thresholds", "label_separator") if k not in info]
        if missing:
            raise ExportError(f"{path} is of a multi-label model and lacks {', '.join(missing)}")
        if info["is_regression"]:
            raise ExportError(f"{path} says both is_regression and is_multi_label")
        try:
            info["thresholds"] = check_multi_label(info["label_list"], info["thresholds"], info["label_separator"])
        except ExportError as e:
            raise ExportError(f"{path}: {e}") from None
    if not tf.io.gfile.exists(os.path.join(export_dir, EXTRA_DIR, VOCAB_FILE)):
        raise ExportError(f"{export_dir} lacks its vocabulary {EXTRA_DIR}/{VOCAB_FILE}")
    return info
