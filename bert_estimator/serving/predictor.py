"""Predictions from an export: `load_predictor(export_dir)` loads a version of a model
exported by `saved_model.export_model` once and classifies raw texts, tokenized in Python
with the training tokenizer (the ids signature) or in the graph (`serving_text`).

    with load_predictor("/tmp/sst2_model") as predictor:
        probabilities = predictor.predict(["a gripping, funny film", "a dull mess"])

A multi-label export (`predictor.is_multi_label`) gives a probability per label, and
`predict_label_sets(texts)` the predicted set of each text: the labels whose
probability reaches the export's threshold for them, as its `predicted` output.
"""

from __future__ import annotations

import os
import time
from typing import Optional, Sequence, Union

import numpy as np
import tensorflow.compat.v1 as tf

import tokenization
from bert_estimator.data import casing
from bert_estimator.data.features import TRUNCATION_STRATEGIES, convert_single_example
from bert_estimator.serving.saved_model import (
    EXTRA_DIR,
    INPUTS,
    OUTPUT,
    SIGNATURE,
    TEXT_INPUTS,
    TEXT_SIGNATURE,
    VOCAB_FILE,
    ExportError,
    float32_thresholds,
    read_export_info,
    resolve_export_dir,
)
from processors.base import InputExample

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
      is_multi_label: bool, a multi-label model: `predict` returns a probability per
        label (a sigmoid each, not summing to 1) and `predict_label_sets` the labels
        predicted for each text.
      thresholds: tuple of float, one per label: the multi-label decision thresholds
        of the export (a label is predicted when its probability is >= its threshold);
        None for the other models.
      label_separator: str, what the export's `labels` output (serving_text) puts
        between the labels of a text (multi-label); None for the other models.
      max_seq_length: int, texts are truncated to this many tokens, as in training.
      pair: bool, whether the model reads (text_a, text_b) pairs; None when the export
        does not say.
      info: dict, the export's export_info.json.
      casing_warning: str or None, set when the export's do_lower_case contradicts its
        vocabulary's casing (`casing.export_warning`); texts are still tokenized as in training.
      export_dir: the export loaded (with a base directory of versions, the highest).
      in_graph_tokenizer: bool, `predict` calls the `serving_text` signature (tokenized
        in the graph, as TF Serving does) instead of tokenizing in Python.
      text_inputs: tuple of str, the inputs of `serving_text` (("text",) or ("text_a",
        "text_b")); None for an export without it.
    """

    def __init__(self, export_dir: str, batch_size: int = 32, warm_up: bool = True,
                 in_graph_tokenizer: bool = False):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        export_dir = resolve_export_dir(export_dir)
        info = read_export_info(export_dir)
        self.export_dir = export_dir
        self.info = info
        self.labels = [str(label) for label in info["label_list"]]
        self.is_regression = bool(info["is_regression"])
        self.is_multi_label = bool(info["is_multi_label"])
        self.thresholds = tuple(info["thresholds"]) if self.is_multi_label else None
        self.label_separator = info["label_separator"] if self.is_multi_label else None
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
        self.text_inputs = tuple(info["text_inputs"]) if info.get("text_inputs") else None
        self.in_graph_tokenizer = bool(in_graph_tokenizer)
        if self.in_graph_tokenizer and not self.text_inputs:
            raise ExportError(f"{export_dir} has no {TEXT_SIGNATURE} signature (exported by an earlier version): "
                              "export the model again, or tokenize in Python")
        self._session, self._run, text_callables = _load_session(
            export_dir, self.text_inputs if self.in_graph_tokenizer else None)
        self._run_text, self._text_mask = text_callables or (None, None)
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
                timings: Optional[list] = None, in_graph: Optional[bool] = None) -> np.ndarray:
        """Probabilities [N, num_labels] of `texts`, in their order ([N] values for
        regression; for a multi-label model each label's own probability).

        Args:
          texts: list of str, or of (text_a, text_b) pairs for pair tasks.
          batch_size: texts per model call (default: the predictor's). Texts are grouped
            by length, and each batch is padded to its longest member only.
          timings: optional list; gets one (texts in the call, seconds) per model call,
            the seconds including the tokenization of those texts.
          in_graph: tokenize in the graph (`serving_text`) or in Python (`serving_default`);
            default: `in_graph_tokenizer`. In the graph needs a predictor made with it.
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("predict takes a list of texts, not one str")
        batch_size = batch_size or self.batch_size
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if self.in_graph_tokenizer if in_graph is None else in_graph:
            return self._predict_in_graph(texts, batch_size, timings)
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

    def _predict_in_graph(self, texts: Sequence[Text], batch_size: int, timings: Optional[list]) -> np.ndarray:
        if self._run_text is None:
            raise ValueError("this predictor was loaded without in_graph_tokenizer")
        pairs = [_split_text(text) for text in texts]
        if self.text_inputs == TEXT_INPUTS and any(b for _, b in pairs):
            raise ValueError(f"the {TEXT_SIGNATURE} signature of {self.export_dir} takes single texts, not pairs")
        encoded = [(_utf8(a), _utf8(b or "")) for a, b in pairs]

        def columns(rows):
            return [np.array([encoded[i][k] for i in rows], dtype=object) for k in range(len(self.text_inputs))]

        order, share = list(range(len(encoded))), 0.0
        if batch_size > 1 and len(encoded) > batch_size:
            # Similar lengths together, as in the Python path (the same batches): the
            # token counts come from the graph's tokenizer, its time shared by the texts.
            start = time.perf_counter()
            lengths = np.concatenate([self._text_mask(*columns(order[i:i + 512])).sum(axis=1)
                                      for i in range(0, len(order), 512)])
            share = (time.perf_counter() - start) / len(encoded)
            order.sort(key=lengths.__getitem__)
        width = () if self.is_regression else (len(self.labels),)
        outputs = np.zeros((len(encoded), *width), dtype=np.float32)
        for begin in range(0, len(order), batch_size):
            rows = order[begin:begin + batch_size]
            batch = columns(rows)
            start = time.perf_counter()
            outputs[rows] = self._run_text(*batch)
            if timings is not None:
                timings.append((len(rows), time.perf_counter() - start + share * len(rows)))
        return outputs

    def predicted(self, probabilities: np.ndarray) -> np.ndarray:
        """int32 [N, num_labels] multi-hot: 1 where a probability of `predict`'s output
        [N, num_labels] reaches its label's threshold (the export's `predicted`
        output). Multi-label exports only (ValueError otherwise)."""
        self._require_multi_label()
        probabilities = np.asarray(probabilities, dtype=np.float32)
        if probabilities.ndim != 2 or probabilities.shape[1] != len(self.labels):
            raise ValueError(f"expected probabilities of shape [N, {len(self.labels)}], got {probabilities.shape}")
        return (probabilities >= float32_thresholds(self.thresholds)).astype(np.int32)

    def label_sets(self, probabilities: np.ndarray) -> list[tuple[str, ...]]:
        """The predicted labels of each row of `probabilities` [N, num_labels] (the
        output of `predict`), in label-list order: a list of N tuples of str, () for a
        text with no label over its threshold. Multi-label exports only."""
        return [tuple(label for label, hit in zip(self.labels, row) if hit) for row in self.predicted(probabilities)]

    def predict_label_sets(self, texts: Sequence[Text], **kwargs) -> list[tuple[str, ...]]:
        """`label_sets(predict(texts, **kwargs))`: the predicted label set of each text,
        e.g. [("comedy", "drama"), ()]. Multi-label exports only (ValueError otherwise)."""
        self._require_multi_label()
        return self.label_sets(self.predict(texts, **kwargs))

    def _require_multi_label(self) -> None:
        if not self.is_multi_label:
            raise ValueError(f"{self.export_dir} is not a multi-label model: it predicts "
                             f"{'a value' if self.is_regression else 'one label'} per text")

    def close(self) -> None:
        """Frees the session."""
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _split_text(text: Text) -> tuple:
    """(text_a, text_b or None) of a text or a pair."""
    if isinstance(text, (str, bytes)):
        return text, None
    if len(text) == 2:
        return text[0], text[1]
    raise ValueError(f"expected a text or a (text_a, text_b) pair, got {text!r}")


def _utf8(text) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


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


def _load_session(export_dir: str, text_inputs: Optional[Sequence[str]] = None):
    """Loads the SavedModel into its own graph and session; returns (session, run,
    text_callables): run a callable (input_ids, input_mask, segment_ids) -> np.ndarray;
    with `text_inputs`, text_callables is (run_text, mask): callables of string arrays
    (in that order), run_text through the `serving_text` signature, mask the
    input_mask its tokenizer makes; else None."""
    graph = tf.Graph()
    sess = tf.Session(graph=graph)
    try:
        with graph.as_default():
            meta_graph = tf.saved_model.loader.load(sess, [tf.saved_model.tag_constants.SERVING], export_dir)
        signature = meta_graph.signature_def[SIGNATURE]
        feeds = [graph.get_tensor_by_name(signature.inputs[name].name) for name in INPUTS]
        fetch = graph.get_tensor_by_name(signature.outputs[OUTPUT].name)
        text_callables = None
        if text_inputs:
            text = meta_graph.signature_def[TEXT_SIGNATURE]
            text_feeds = [graph.get_tensor_by_name(text.inputs[name].name) for name in text_inputs]
            text_callables = (
                sess.make_callable(graph.get_tensor_by_name(text.outputs[OUTPUT].name), text_feeds),
                sess.make_callable(feeds[INPUTS.index("input_mask")], text_feeds))  # the ids' defaults
        return sess, sess.make_callable(fetch, feeds), text_callables
    except (KeyError, tf.errors.OpError, OSError, ValueError, RuntimeError) as e:
        sess.close()
        raise ExportError(f"{export_dir}: cannot load the SavedModel: {_first_line(e)}") from None


def _first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (TensorFlow's run to several)."""
    text = str(getattr(error, "message", None) or error or type(error).__name__)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)


def load_predictor(export_dir: str, batch_size: int = 32, in_graph_tokenizer: bool = False) -> Predictor:
    """Loads an export made by `export_model` (once) and returns a `Predictor`.
    `export_dir` is a version directory, or the base directory (its highest version).

    Raises:
      ExportError: `export_dir` is missing or not such an export.
    """
    return Predictor(export_dir, batch_size=batch_size, in_graph_tokenizer=in_graph_tokenizer)
