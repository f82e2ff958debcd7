"""Serving: export a fine-tuned classifier as a self-contained SavedModel, and predict
on raw text with it, the graph loaded once.

    python run_classifier.py ... --do_train --export_dir=/tmp/sst2_model
    python predict.py --export_dir=/tmp/sst2_model "a gripping, funny film" "a dull mess"

or from Python:

    predictor = serving.load_predictor("/tmp/sst2_model")
    predictor.predict(["a gripping, funny film", ("premise", "hypothesis")])  # [N, num_labels]

The export directory (`export_dir` itself, no timestamped subdirectory) holds:

    saved_model.pb, variables/      the model, tag "serve", signature "serving_default":
                                    int32 `input_ids`, `input_mask`, `segment_ids` of shape
                                    [batch, length] (both dynamic) -> float32 `probabilities`
                                    [batch, num_labels] ([batch] values for regression)
    assets.extra/vocab.txt          the WordPiece vocabulary of training
    assets.extra/export_info.json   format_version, do_lower_case, max_seq_length,
                                    label_list, is_regression, truncation, pair
                                    (whether the model reads sentence pairs),
                                    vocab_casing, casing_record (`casing`), ...

so nothing else is needed to predict. Texts are tokenized and laid out exactly as in
training (`features.convert_single_example`: same ids, same truncation to
`max_seq_length`), but a batch is padded only to its longest member: a short sentence
runs at its own length. Masked padding does not change the result beyond float
round-off (about 1e-7).

Exporting into an existing directory: an empty directory or an earlier export (it has
saved_model.pb and assets.extra/export_info.json) is replaced, so a rerun refreshes its
export; anything else is refused with `ExportError`, so that a mistyped
`--export_dir=$HOME` deletes nothing. The export is written to a temporary directory
beside `export_dir` (Estimator's timestamped subdirectory inside it) and renamed into
place when complete: a crash never leaves a half-written export under the final name.

Which checkpoint: the latest in the estimator's model_dir (what training wrote). When
nothing was trained there (a --do_predict run with a fine-tuned --init_checkpoint),
`init_checkpoint` is exported instead, provided it holds every variable of the model
(a pre-trained BERT without the classifier layer is refused: its export would be a
random classifier).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Optional, Sequence, Union

import numpy as np
import tensorflow.compat.v1 as tf

import tokenization
from bert_estimator import casing
from bert_estimator.errors import UserError
from bert_estimator.features import TRUNCATION_STRATEGIES, convert_single_example
from processors.base import InputExample

EXPORT_INFO = "export_info.json"
VOCAB_FILE = "vocab.txt"
EXTRA_DIR = "assets.extra"
SIGNATURE = "serving_default"
OUTPUT = "probabilities"
INPUTS = ("input_ids", "input_mask", "segment_ids")
FORMAT_VERSION = 1


class ExportError(UserError, ValueError):
    """The export directory or the checkpoint to export is unusable; one-line message."""


# ---------------------------------------------------------------------------- export
def is_export(path: str) -> bool:
    """Whether `path` looks like a directory written by `export_model`."""
    return (tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))
            and tf.io.gfile.exists(os.path.join(path, EXTRA_DIR, EXPORT_INFO)))


def check_export_dir(export_dir: str) -> None:
    """Raises ExportError unless `export_dir` may be (over)written by `export_model`:
    absent, an empty directory, or an earlier export. Cheap: call it before training."""
    if not export_dir:
        raise ExportError("no export directory given")
    if not tf.io.gfile.exists(export_dir):
        return
    if not tf.io.gfile.isdir(export_dir):
        raise ExportError(f"export directory {export_dir} exists and is not a directory")
    if tf.io.gfile.listdir(export_dir) and not is_export(export_dir):
        raise ExportError(
            f"export directory {export_dir} is not empty and holds no earlier export "
            "(saved_model.pb and assets.extra/export_info.json); choose a new or empty directory")


def serving_input_receiver_fn_builder(is_regression: bool):
    """The receiver: three int32 [batch, length] placeholders, both dimensions dynamic.

    `model_fn` also reads `label_ids`; the receiver feeds it zeros of the batch size
    (predictions do not depend on it), so serving callers give only the three inputs.
    """

    def serving_input_receiver_fn():
        receivers = {name: tf.placeholder(tf.int32, [None, None], name=name) for name in INPUTS}
        batch_size = tf.shape(receivers["input_ids"])[:1]
        features = dict(receivers)
        features["label_ids"] = tf.zeros(batch_size, dtype=tf.float32 if is_regression else tf.int32)
        return tf.estimator.export.ServingInputReceiver(features, receivers)

    return serving_input_receiver_fn


def _checkpoint_from_init(estimator, init_checkpoint: str, receiver_fn, work_dir: str) -> str:
    """Writes a checkpoint of the PREDICT graph restored from `init_checkpoint` (for a
    run that predicted with a fine-tuned --init_checkpoint and trained nothing).

    Raises ExportError when the checkpoint lacks a model variable (e.g. a pre-trained
    BERT without the classifier layer, whose export would be a random classifier)."""
    if not tf.io.gfile.exists(init_checkpoint + ".index"):
        raise ExportError(f"no checkpoint to export: init checkpoint {init_checkpoint} not found")
    ckpt_vars = {name for name, _ in tf.train.list_variables(init_checkpoint)}
    with tf.Graph().as_default():
        if estimator.config.tf_random_seed is not None:
            tf.set_random_seed(estimator.config.tf_random_seed)
        tf.train.get_or_create_global_step()
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
                 checkpoint_path: Optional[str] = None, pair: Optional[bool] = None) -> str:
    """Exports `estimator`'s latest checkpoint as a SavedModel in `export_dir` (see the
    module docstring for the layout and the overwrite rule). Returns `export_dir`.

    Args:
      estimator: the (TPU)Estimator of training; its `model_fn` builds the graph.
      export_dir: the SavedModel directory to create (replaced if an earlier export).
      max_seq_length, vocab_file, do_lower_case, truncation: the tokenization of training.
      label_list: list of str, the labels in class-id order (empty for regression).
      is_regression: bool, one float output per example.
      init_checkpoint: used when `estimator.model_dir` holds no checkpoint (nothing was
        trained): must then be a fine-tuned checkpoint with every model variable.
      checkpoint_path: export this checkpoint instead of the latest one.
      pair: whether the model reads sentence pairs (text_a, text_b): recorded so that
        predict.py refuses a single text for a pair model. None: not recorded.

    Raises:
      ExportError: `export_dir` is not replaceable, or there is no checkpoint to export.
    """
    if truncation not in TRUNCATION_STRATEGIES:
        raise ExportError(f"unknown truncation strategy {truncation!r}")
    check_export_dir(export_dir)
    export_dir = export_dir.rstrip("/") or export_dir
    receiver_fn = serving_input_receiver_fn_builder(is_regression)
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
            "truncation": truncation,
            **({} if pair is None else {"pair": bool(pair)}),
            "vocab_file": f"{EXTRA_DIR}/{VOCAB_FILE}",
            "signature": SIGNATURE,
            "inputs": list(INPUTS),
            "output": OUTPUT,
            "checkpoint": source,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        info_file = os.path.join(staging, EXPORT_INFO)
        with tf.io.gfile.GFile(info_file, "w") as f:
            f.write(json.dumps(info, indent=2) + "\n")
        exported = estimator.export_saved_model(
            os.path.join(staging, "export"), receiver_fn, checkpoint_path=checkpoint_path,
            assets_extra={VOCAB_FILE: vocab_file, EXPORT_INFO: info_file})
        exported = exported.decode("utf-8") if isinstance(exported, bytes) else exported
        _replace_dir(exported, export_dir, staging)
    finally:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
    tf.logging.info("Exported the model to %s", export_dir)
    return export_dir


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


# ---------------------------------------------------------------------------- predict
Text = Union[str, Sequence[str]]  # a text, or a (text_a, text_b) pair


class Predictor:
    """A loaded export: `predict(texts)` -> probabilities. Build with `load_predictor`.

    The SavedModel is loaded once into its own graph and `tf.compat.v1.Session`, and
    called through `Session.make_callable`: on the tiny test model this is about 30%
    faster per single-sentence call than `tf.saved_model.load` (eager) with its
    `serving_default` function (0.77 vs 1.09 ms median), and needs no eager mode.

    Attributes:
      labels: list of str, the class names in output-column order (empty for regression).
      is_regression: bool; `predict` then returns one value per text, shape [N].
      max_seq_length: int, texts are truncated to this many tokens, as in training.
      pair: bool, whether the model reads (text_a, text_b) pairs; None when the export
        does not say.
      info: dict, the export's export_info.json.
      casing_warning: str or None, set when the export's do_lower_case contradicts its
        vocabulary's casing (`casing.export_warning`); texts are still tokenized as in training.
    """

    def __init__(self, export_dir: str, batch_size: int = 32, warm_up: bool = True):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        info = read_export_info(export_dir)
        self.export_dir = export_dir
        self.info = info
        self.labels = [str(label) for label in info["label_list"]]
        self.is_regression = bool(info["is_regression"])
        self.max_seq_length = int(info["max_seq_length"])
        self.truncation = info.get("truncation", "head")
        self.pair = info.get("pair")  # True: sentence pairs; None: not recorded (older exports)
        if self.truncation not in TRUNCATION_STRATEGIES:
            raise ExportError(f"{export_dir}: unknown truncation strategy {self.truncation!r}")
        self.batch_size = batch_size
        try:
            self.tokenizer = tokenization.FullTokenizer(
                os.path.join(export_dir, EXTRA_DIR, VOCAB_FILE), do_lower_case=bool(info["do_lower_case"]))
        except (ValueError, OSError) as e:  # a vocabulary that is not UTF-8, or empty, or unreadable
            raise ExportError(f"{export_dir}: {e}") from None
        vocab_casing = info.get("vocab_casing") or casing.vocab_casing_of_tokens(self.tokenizer.vocab).casing
        self.casing_warning = casing.export_warning(info["do_lower_case"], vocab_casing, export_dir)
        self._session, self._run = _load_session(export_dir)
        if warm_up:  # the first call of a session is slow (graph optimization)
            self.predict(["warm up"])

    def featurize(self, text: Text) -> tuple[list, list]:
        """(input_ids, segment_ids) of one text, unpadded: the training layout and ids
        (`features.convert_single_example`, truncation included)."""
        if isinstance(text, (str, bytes)):
            text_a, text_b = text, None
        elif len(text) == 2:
            text_a, text_b = text
        else:
            raise ValueError(f"expected a text or a (text_a, text_b) pair, got {text!r}")
        example = InputExample(guid="predict", text_a=text_a, text_b=text_b or None)
        # ex_index 5: convert_single_example logs the first five examples in full.
        feature = convert_single_example(5, example, self.labels, self.max_seq_length,
                                         self.tokenizer, self.truncation)
        length = sum(feature.input_mask)
        return feature.input_ids[:length], feature.segment_ids[:length]

    def predict(self, texts: Sequence[Text], batch_size: Optional[int] = None,
                timings: Optional[list] = None) -> np.ndarray:
        """Probabilities [N, num_labels] of `texts`, in their order ([N] values for
        regression).

        Args:
          texts: list of str, or of (text_a, text_b) pairs for pair tasks.
          batch_size: texts per model call (default: the predictor's). Texts are grouped
            by length, and each batch is padded to its longest member only.
          timings: optional list; gets one (texts in the call, seconds) per model call,
            the seconds including the tokenization of those texts.
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("predict takes a list of texts, not one str")
        batch_size = batch_size or self.batch_size
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        features, seconds = [], []
        for text in texts:
            start = time.perf_counter()
            features.append(self.featurize(text))
            seconds.append(time.perf_counter() - start)
        # Similar lengths together: less padding. Stable, so equal lengths keep their order.
        order = sorted(range(len(features)), key=lambda i: len(features[i][0]))
        width = () if self.is_regression else (len(self.labels),)
        outputs = np.zeros((len(features), *width), dtype=np.float32)
        for begin in range(0, len(order), batch_size):
            rows = order[begin:begin + batch_size]
            start = time.perf_counter()
            outputs[rows] = self._run(*_pad([features[i] for i in rows]))
            if timings is not None:
                timings.append((len(rows), time.perf_counter() - start + sum(seconds[i] for i in rows)))
        return outputs

    def close(self) -> None:
        """Frees the session."""
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pad(features: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacks (ids, segments) pairs into int32 [B, longest] input_ids, input_mask,
    segment_ids, zero padded."""
    longest = max(len(ids) for ids, _ in features)
    input_ids = np.zeros((len(features), longest), dtype=np.int32)
    input_mask = np.zeros_like(input_ids)
    segment_ids = np.zeros_like(input_ids)
    for row, (ids, segments) in enumerate(features):
        input_ids[row, :len(ids)] = ids
        input_mask[row, :len(ids)] = 1
        segment_ids[row, :len(ids)] = segments
    return input_ids, input_mask, segment_ids


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
    if not tf.io.gfile.exists(os.path.join(export_dir, EXTRA_DIR, VOCAB_FILE)):
        raise ExportError(f"{export_dir} lacks its vocabulary {EXTRA_DIR}/{VOCAB_FILE}")
    return info


def _load_session(export_dir: str):
    """Loads the SavedModel into its own graph and session; returns (session, run), run
    a callable (input_ids, input_mask, segment_ids) -> np.ndarray."""
    graph = tf.Graph()
    sess = tf.Session(graph=graph)
    try:
        with graph.as_default():
            meta_graph = tf.saved_model.loader.load(sess, [tf.saved_model.tag_constants.SERVING], export_dir)
        signature = meta_graph.signature_def[SIGNATURE]
        feeds = [graph.get_tensor_by_name(signature.inputs[name].name) for name in INPUTS]
        fetch = graph.get_tensor_by_name(signature.outputs[OUTPUT].name)
        return sess, sess.make_callable(fetch, feeds)
    except (KeyError, tf.errors.OpError, OSError, ValueError, RuntimeError) as e:
        sess.close()
        raise ExportError(f"{export_dir}: cannot load the SavedModel: {_first_line(e)}") from None


def _first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (TensorFlow's run to several)."""
    text = str(getattr(error, "message", None) or error or type(error).__name__)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)


def load_predictor(export_dir: str, batch_size: int = 32) -> Predictor:
    """Loads an export made by `export_model` (once) and returns a `Predictor`.

    Raises:
      ExportError: `export_dir` is missing or not such an export.
    """
    return Predictor(export_dir, batch_size=batch_size)
