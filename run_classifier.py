"""BERT fine-tuning for sequence (pair) classification on TPUEstimator.

The program of google-research/bert, on TensorFlow 2.15's `tf.compat.v1` Estimator:

    python run_classifier.py --task_name=MRPC --do_train --do_eval \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_DIR/vocab.txt \
      --bert_config_file=$BERT_DIR/bert_config.json \
      --init_checkpoint=$BERT_DIR/bert_model.ckpt --output_dir=/tmp/mrpc_output

Every flag of the original keeps its name and default; the flags after "Additions"
below are new. On CPU/GPU, TPUEstimator runs as a plain Estimator (`--use_tpu=False`).
"""

from __future__ import annotations

import os
import sys
import time

import tensorflow.compat.v1 as tf
from absl import app, flags
from tensorflow.core.protobuf import rewriter_config_pb2

import classifier_metrics
import modeling
import optimization
import processors
import tokenization

# Re-exported: callers of the original import these from run_classifier.
from classifier_data import (  # noqa: F401
    _truncate_seq_pair,
    cached_convert_examples_to_features,
    convert_examples_to_features,
    convert_single_example,
    file_based_convert_examples_to_features,
    file_based_input_fn_builder,
    input_fn_builder,
    pad_to_batch_multiple,
)
from processors import (  # noqa: F401
    DataProcessor,
    InputExample,
    InputFeatures,
    PaddingInputExample,
)

FLAGS = flags.FLAGS

# ---------------------------------------------------------------- the original's flags
# Required (marked in `__main__`; --bert_hub_module_handle replaces the first two).
flags.DEFINE_string("data_dir", None,
                    "Input data directory: the .tsv (or other) files of the task.")
flags.DEFINE_string("bert_config_file", None,
                    "bert_config.json of the pre-trained model: its architecture.")
flags.DEFINE_string("task_name", None, "Task to train, e.g. mrpc, cola, sst-2, imdb, csv.")
flags.DEFINE_string("vocab_file", None, "vocab.txt the BERT model was trained with.")
flags.DEFINE_string("output_dir", None,
                    "Where checkpoints, TFRecords and results are written.")
# Other parameters.
flags.DEFINE_string("init_checkpoint", None,
                    "Checkpoint to start from, usually a pre-trained BERT (bert_model.ckpt).")
flags.DEFINE_bool("do_lower_case", True,
                  "Lower-case the input: True for uncased models, False for cased ones.")
flags.DEFINE_integer("max_seq_length", 128,
                     "Length in WordPiece tokens every example is truncated or padded to.")
flags.DEFINE_bool("do_train", False, "Run training.")
flags.DEFINE_bool("do_eval", False, "Evaluate on the dev set.")
flags.DEFINE_bool("do_predict", False, "Predict on the test set (writes test_results.tsv).")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
flags.DEFINE_float("learning_rate", 5e-5, "Initial (peak) learning rate for Adam.")
flags.DEFINE_float("num_train_epochs", 3.0, "Number of training epochs.")
flags.DEFINE_float("warmup_proportion", 0.1,
                   "Fraction of training steps with linear learning-rate warmup.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "Save a checkpoint every this many steps.")
flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per TPU estimator call.")
flags.DEFINE_bool("use_tpu", False, "Run on a Cloud TPU (else CPU/GPU).")
flags.DEFINE_string("tpu_name", None,
                    "Cloud TPU name, or a grpc://ip.address.of.tpu:8470 URL.")
flags.DEFINE_string("tpu_zone", None, "[Optional] GCE zone of the Cloud TPU (else detected).")
flags.DEFINE_string("gcp_project", None, "[Optional] GCP project of the Cloud TPU (else detected).")
flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")
flags.DEFINE_integer("num_tpu_cores", 8, "Total TPU cores to use (with --use_tpu).")
flags.DEFINE_string("tpu_job_name", None, "TPU worker job name, if not 'tpu_worker'.")

# --------------------------------------------------------------------------- Additions
flags.DEFINE_string("bert_hub_module_handle", None,
                    "A TF1 Hub BERT module (local path or URL, with 'tokens' and 'tokenization_info' "
                    "signatures, as Google published BERT on TF-Hub) used instead of "
                    "--bert_config_file/--init_checkpoint; vocab and casing come from the module.")
flags.DEFINE_integer("seed", None,
                     "Graph-level random seed (init, dropout, shuffling): same seed, same run on CPU.")
flags.DEFINE_enum("truncation_strategy", "head", ["head", "tail", "head_tail"],
                  "How single texts longer than max_seq_length are cut: keep the head (the "
                  "original), the tail, or head+tail (Sun et al. 2019, best for long reviews).")
flags.DEFINE_string("xnli_language", "zh", "XNLI language (the original hard-coded zh).")
flags.DEFINE_string("text_column", None, "csv task: column holding the (first) text.")
flags.DEFINE_string("text_b_column", None, "csv task: column holding the second text of pairs.")
flags.DEFINE_string("label_column", None, "csv task: column holding the label.")
flags.DEFINE_list("labels", None, "csv task: the label list, in class-id order "
                  "(default: the sorted distinct labels of the train file).")
flags.DEFINE_string("train_file", None, "csv task: train file name inside --data_dir.")
flags.DEFINE_string("dev_file", None, "csv task: dev file name inside --data_dir.")
flags.DEFINE_string("test_file", None, "csv task: test file name inside --data_dir.")
flags.DEFINE_enum("imdb_dev_split", None, ["test", "heldout"],
                  "imdb task: evaluate on the test split, or on a seeded held-out slice of train.")
flags.DEFINE_float("dev_fraction", None, "imdb task with --imdb_dev_split=heldout: slice size.")
flags.DEFINE_string("export_dir", None,
                    "After the other steps, export a SavedModel with a serving signature here "
                    "(plus the vocab and labels), for predict.py.")
flags.DEFINE_bool("write_reports", True,
                  "After eval, write a classification report, a confusion matrix and PNG plots "
                  "of it and of the training loss to --output_dir.")
flags.DEFINE_integer("save_summary_steps", 100,
                     "Write the training loss to TensorBoard (and training_loss.png) every this many steps.")
flags.DEFINE_integer("keep_checkpoint_max", 5, "How many recent checkpoints to keep.")
flags.DEFINE_integer("log_every_seconds", 10, "Seconds between training progress lines.")
flags.DEFINE_enum("distribution_strategy", "none", ["none", "mirrored", "multi_worker_mirrored"],
                  "Training through tf.distribute (docs/DISTRIBUTED.md): none (one device, TPUEstimator), "
                  "mirrored (the GPUs of this machine), multi_worker_mirrored (the machines of TF_CONFIG). "
                  "--train_batch_size stays the global batch. Not with --use_tpu.")
flags.DEFINE_integer("num_gpus", 0, "With --distribution_strategy: GPUs to use on each machine "
                     "(0 = all visible GPUs, or the CPU when there are none).")
# Training data order and optimizer (docs/RESULTS.md). The data pipeline shuffles by
# epoch by default, the one place where the default departs from the original; the
# optimizer stays BERT's.
flags.DEFINE_integer("shuffle_buffer_size", 0,
                     "Training data order. 0 (default): epochs, each a fresh random order of the whole "
                     "training set (every example once per epoch). N > 0: the original's pipeline, the "
                     "data repeated and streamed through an N-record shuffle buffer; 100 is the original's: "
                     "on a training file sorted by source (CoLA's is) each batch then comes from ~100 "
                     "neighbouring examples, which costs CoLA most of its score (docs/RESULTS.md).")
flags.DEFINE_bool("adam_bias_correction", False,
                  "Adam's bias correction in the optimizer (as torch.optim.AdamW). Off: BERT's original "
                  "optimizer, which has none: larger updates early on, in effect a higher learning rate on "
                  "short runs (docs/RESULTS.md).")
# Speed (docs/BENCHMARKS.md). All off by default: the original's behaviour.
flags.DEFINE_bool("bucket_by_length", False,
                  "Pad each batch only to its longest member; in training, also group examples of "
                  "similar length into batches. The same model outputs per example; faster on short "
                  "texts. Not with --use_tpu.")
flags.DEFINE_bool("use_xla", False, "Compile the model with XLA (JIT auto-clustering), on CPU and GPU.")
flags.DEFINE_bool("use_amp", False,
                  "Mixed precision: float16 with dynamic loss scaling on GPUs, oneDNN bfloat16 on CPUs. "
                  "Variables stay float32. Single device; not with --use_tpu, --distribution_strategy or "
                  "--num_accumulation_steps > 1.")
flags.DEFINE_integer("num_accumulation_steps", 1,
                     "Gradient accumulation: each update sums the gradients of this many micro-batches of "
                     "--train_batch_size / N examples (same update as one batch of --train_batch_size, "
                     "in 1/N of the memory). Single device; not with --use_tpu or --distribution_strategy.")

class UsageError(ValueError):
    """A flag or input the user must fix; printed as one line, exit status 1."""


# ------------------------------------------------------------------------------ the model
def create_model(bert_config, is_training, input_ids, input_mask, segment_ids, labels,
                 num_labels, use_one_hot_embeddings, is_regression=False, hub_module_handle=None):
    """Builds BERT plus a classification (or regression) layer on the pooled output.

    Args:
      bert_config: `modeling.BertConfig`.
      is_training: bool, enables dropout.
      input_ids, input_mask, segment_ids: int32 Tensors of shape [batch_size, seq_length].
      labels: int32 Tensor of shape [batch_size] (float32 for regression).
      num_labels: int, number of classes (1 for regression).
      use_one_hot_embeddings: bool, embedding lookup by one-hot matmul (faster on TPU).
      is_regression: bool, one output trained with mean squared error.
      hub_module_handle: optional TF-Hub BERT module used instead of `bert_config`.

    Returns:
      (loss, per_example_loss, logits, probabilities): loss a float32 scalar,
      per_example_loss [batch_size], logits and probabilities [batch_size, num_labels]
      (for regression, "probabilities" holds the predicted values, [batch_size]).
    """
    if hub_module_handle:
        output_layer = hub_pooled_output(hub_module_handle, is_training, input_ids, input_mask, segment_ids)
    else:
        model = modeling.BertModel(
            config=bert_config,
            is_training=is_training,
            input_ids=input_ids,
            input_mask=input_mask,
            token_type_ids=segment_ids,
            use_one_hot_embeddings=use_one_hot_embeddings)
        # The [CLS] vector after the pooler's dense+tanh represents the whole input.
        output_layer = model.get_pooled_output()  # [B, H]
    hidden_size = tf.compat.dimension_value(output_layer.shape[-1])

    # names kept: the original's classifier variables, so its fine-tuned checkpoints load.
    output_weights = tf.get_variable(
        "output_weights", [num_labels, hidden_size],
        initializer=tf.truncated_normal_initializer(stddev=0.02))
    output_bias = tf.get_variable("output_bias", [num_labels], initializer=tf.zeros_initializer())

    with tf.variable_scope("loss"):
        if is_training:
            output_layer = tf.nn.dropout(output_layer, rate=0.1)
        logits = tf.matmul(output_layer, output_weights, transpose_b=True)  # [B, num_labels]
        logits = tf.nn.bias_add(logits, output_bias)
        if is_regression:
            predictions = tf.squeeze(logits, axis=-1)  # [B]
            per_example_loss = tf.square(predictions - tf.cast(labels, tf.float32))
            return tf.reduce_mean(per_example_loss), per_example_loss, logits, predictions
        probabilities = tf.nn.softmax(logits, axis=-1)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
        per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)  # [B]
        loss = tf.reduce_mean(per_example_loss)
        return loss, per_example_loss, logits, probabilities


# ------------------------------------------------------------------------------ TF-Hub
def _require_tf1_hub_module(handle):
    if not tf.io.gfile.exists(os.path.join(handle, "tfhub_module.pb")):
        raise UsageError(
            f"--bert_hub_module_handle {handle} is not a TF1 Hub module (no tfhub_module.pb); "
            "download and untar the module (Google's BERT modules on TF-Hub are in this format)")


def hub_pooled_output(handle, is_training, input_ids, input_mask, segment_ids):
    """The pooled output [batch_size, hidden_size] of a TF1 Hub BERT module, called
    through its "tokens" signature (with the "train" tag, hence dropout, when training).
    The module's weights are fine-tuned with the classifier."""
    import tensorflow_hub as hub

    module = hub.Module(handle, tags={"train"} if is_training else set(), trainable=True)
    outputs = module(dict(input_ids=input_ids, input_mask=input_mask, segment_ids=segment_ids),
                     signature="tokens", as_dict=True)
    return outputs["pooled_output"]


def hub_tokenization_info(handle):
    """Returns (vocab_file, do_lower_case) from a Hub module's "tokenization_info" signature."""
    import tensorflow_hub as hub

    _require_tf1_hub_module(handle)
    with tf.Graph().as_default():
        info = hub.Module(handle)(signature="tokenization_info", as_dict=True)
        with tf.Session() as sess:
            vocab_file, do_lower_case = sess.run([info["vocab_file"], info["do_lower_case"]])
    return vocab_file.decode("utf-8"), bool(do_lower_case)


def check_checkpoint_fits(bert_config, init_checkpoint, num_labels, is_regression):
    """Raises UsageError naming the first model variable whose shape differs in
    `init_checkpoint`. Builds the model in a throwaway graph, so nothing is written
    before the user hears of the mismatch."""
    ckpt_shapes = dict(tf.train.list_variables(init_checkpoint))
    with tf.Graph().as_default():
        ids = tf.zeros([1, 8], dtype=tf.int32)
        labels = tf.zeros([1], dtype=tf.float32 if is_regression else tf.int32)
        create_model(bert_config, False, ids, ids, ids, labels, num_labels, False, is_regression)
        for var in tf.global_variables():
            name = var.op.name
            if name in ckpt_shapes and list(ckpt_shapes[name]) != var.shape.as_list():
                raise UsageError(
                    f"--init_checkpoint {init_checkpoint} does not fit --bert_config_file: variable "
                    f"{name} has shape {list(ckpt_shapes[name])} in the checkpoint but "
                    f"{var.shape.as_list()} in the model")


def model_fn_builder(bert_config, num_labels, init_checkpoint, learning_rate, num_train_steps,
                     num_warmup_steps, use_tpu, use_one_hot_embeddings, is_regression=False,
                     hub_module_handle=None, num_accumulation_steps=1, use_amp=False,
                     adam_bias_correction=False):
    """Returns the `model_fn(features, labels, mode, params)` closure for TPUEstimator.

    `num_accumulation_steps`, `use_amp` and `adam_bias_correction` are passed on to
    `optimization.create_optimizer` (gradient accumulation, loss scaling, Adam's bias
    correction).
    """

    def model_fn(features, labels, mode, params):  # labels and params are unused
        tf.logging.info("*** Features ***")
        for name in sorted(features):
            tf.logging.info("  name = %s, shape = %s", name, features[name].shape)

        input_ids = features["input_ids"]
        input_mask = features["input_mask"]
        segment_ids = features["segment_ids"]
        label_ids = features["label_ids"]
        if "is_real_example" in features:
            is_real_example = tf.cast(features["is_real_example"], tf.float32)
        else:
            is_real_example = tf.ones(tf.shape(label_ids), dtype=tf.float32)

        is_training = mode == tf.estimator.ModeKeys.TRAIN
        total_loss, per_example_loss, logits, probabilities = create_model(
            bert_config, is_training, input_ids, input_mask, segment_ids, label_ids,
            num_labels, use_one_hot_embeddings, is_regression, hub_module_handle)

        tvars = tf.trainable_variables()
        initialized_variable_names = {}
        scaffold_fn = None
        if init_checkpoint:
            assignment_map, initialized_variable_names = modeling.get_assignment_map_from_checkpoint(
                tvars, init_checkpoint)
            if use_tpu:
                # On TPU the restore must happen inside the scaffold (on the host).
                def tpu_scaffold():
                    tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
                    return tf.train.Scaffold()

                scaffold_fn = tpu_scaffold
            else:
                tf.train.init_from_checkpoint(init_checkpoint, assignment_map)

        tf.logging.info("**** Trainable Variables ****")
        for var in tvars:
            init_string = ", *INIT_FROM_CKPT*" if var.name in initialized_variable_names else ""
            tf.logging.info("  name = %s, shape = %s%s", var.name, var.shape, init_string)

        if mode == tf.estimator.ModeKeys.TRAIN:
            train_op = optimization.create_optimizer(
                total_loss, learning_rate, num_train_steps, num_warmup_steps, use_tpu,
                num_accumulation_steps=num_accumulation_steps, use_amp=use_amp,
                adam_bias_correction=adam_bias_correction)
            return tf.estimator.tpu.TPUEstimatorSpec(
                mode=mode, loss=total_loss, train_op=train_op, scaffold_fn=scaffold_fn)

        if mode == tf.estimator.ModeKeys.EVAL:
            if is_regression:
                metric_fn = classifier_metrics.regression_metrics
                metric_args = [per_example_loss, label_ids, probabilities, is_real_example]
            else:
                def metric_fn(per_example_loss, label_ids, logits, is_real_example):
                    return classifier_metrics.classification_metrics(
                        per_example_loss, label_ids, logits, is_real_example, num_labels)

                metric_args = [per_example_loss, label_ids, logits, is_real_example]
            return tf.estimator.tpu.TPUEstimatorSpec(
                mode=mode, loss=total_loss, eval_metrics=(metric_fn, metric_args),
                scaffold_fn=scaffold_fn)

        return tf.estimator.tpu.TPUEstimatorSpec(
            mode=mode, predictions={"probabilities": probabilities}, scaffold_fn=scaffold_fn)

    return model_fn


# --------------------------------------------------------------------------- helpers
class ProgressHook(tf.train.SessionRunHook):
    """Logs step, loss, examples/sec and ETA every `every_seconds` during training."""

    def __init__(self, num_train_steps, batch_size, every_seconds=10.0, runs_per_step=1):
        self.num_train_steps = num_train_steps
        self.batch_size = batch_size  # examples per global step (all micro-batches)
        self.every_seconds = every_seconds
        self.runs_per_step = runs_per_step  # session runs per global step (accumulation)

    def begin(self):
        self._global_step = tf.train.get_global_step()

    def after_create_session(self, session, coord):
        self._start_step = self._last_step = session.run(self._global_step)
        self._start_time = self._last_time = time.time()
        self._runs = 0

    def after_run(self, run_context, run_values):
        self._runs += 1
        if self._runs % self.runs_per_step:
            return  # in the middle of an accumulated update
        step = self._start_step + self._runs // self.runs_per_step  # the step just completed
        now = time.time()
        if now - self._last_time < self.every_seconds and step < self.num_train_steps:
            return
        rate = (step - self._last_step) * self.batch_size / max(now - self._last_time, 1e-9)
        overall = (step - self._start_step) / max(now - self._start_time, 1e-9)
        eta = (self.num_train_steps - step) / overall if overall > 0 else float("inf")
        tf.logging.info("train step %d/%d (%.0f%%), %.1f examples/sec, ETA %s",
                        step, self.num_train_steps, 100.0 * step / self.num_train_steps, rate,
                        _format_seconds(eta))
        self._last_step, self._last_time = step, now


def _format_seconds(seconds):
    if seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def write_text_atomically(path, text):
    """Writes `text` to `path` through a temporary file, so readers never see half."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def format_eval_results(result):
    """The original's eval_results.txt: one `key = value` line per metric, sorted."""
    # str(), not an f-string: numpy's float32.__format__ goes through a Python float and
    # would print 0.31617647409439087 where the original prints 0.31617647.
    return "".join(f"{key} = {str(result[key])}\n" for key in sorted(result))


def format_test_results(probabilities_rows):
    """The original's test_results.tsv: one tab-separated row of probabilities per example."""
    return "".join("\t".join(str(p) for p in row) + "\n" for row in probabilities_rows)


def validate_flags():
    """Checks on flags alone, done before anything is read or written. Raises UsageError."""
    required = ["data_dir", "task_name", "output_dir"]
    if not FLAGS.bert_hub_module_handle:
        required += ["vocab_file", "bert_config_file"]
    for name in required:
        if not getattr(FLAGS, name):
            raise UsageError(f"--{name} is required")
    if not (FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict):
        raise UsageError("at least one of --do_train, --do_eval or --do_predict must be set")
    for name in ("train_batch_size", "eval_batch_size", "predict_batch_size"):
        if getattr(FLAGS, name) <= 0:
            raise UsageError(f"--{name} must be positive, got {getattr(FLAGS, name)}")
    if FLAGS.do_train:
        if FLAGS.num_train_epochs <= 0:
            raise UsageError(f"--num_train_epochs must be positive, got {FLAGS.num_train_epochs}")
        if FLAGS.learning_rate <= 0:
            raise UsageError(f"--learning_rate must be positive, got {FLAGS.learning_rate}")
        if not 0.0 <= FLAGS.warmup_proportion <= 1.0:
            raise UsageError(f"--warmup_proportion must be in [0, 1], got {FLAGS.warmup_proportion}")
    if FLAGS.max_seq_length < 3:
        raise UsageError(f"--max_seq_length must be at least 3 ([CLS] x [SEP]), got {FLAGS.max_seq_length}")
    if FLAGS.use_tpu and not (FLAGS.tpu_name or FLAGS.master):
        raise UsageError("--use_tpu needs --tpu_name (or --master)")
    validate_speed_flags()
    # tf.distribute (docs/DISTRIBUTED.md): the strategy, TF_CONFIG and the visible devices.
    strategy = FLAGS.distribution_strategy
    if strategy == "none" and FLAGS.num_gpus:
        raise UsageError("--num_gpus needs --distribution_strategy=mirrored (or multi_worker_mirrored)")
    if strategy != "none" and FLAGS.use_tpu:
        raise UsageError(f"--distribution_strategy={strategy} and --use_tpu exclude each other: on a TPU, "
                         "TPUEstimator spreads each batch over --num_tpu_cores")
    if strategy != "none":
        import distribution

        try:
            replicas = distribution.num_replicas(strategy, FLAGS.num_gpus)
        except distribution.DistributionError as e:
            raise UsageError(str(e)) from None
        if FLAGS.do_train and FLAGS.train_batch_size % replicas:
            raise UsageError(f"--train_batch_size {FLAGS.train_batch_size} is not divisible by the {replicas} "
                             f"replicas of --distribution_strategy={strategy}: it is the global batch, split "
                             "evenly")
        chief_only = [f"--{name}" for name in ("do_eval", "do_predict", "export_dir") if getattr(FLAGS, name)]
        if strategy == "multi_worker_mirrored" and chief_only and not distribution.is_chief():
            raise UsageError(f"{', '.join(chief_only)}: only the chief evaluates, predicts and exports with "
                             "--distribution_strategy=multi_worker_mirrored; leave them out of the other "
                             "workers' command lines")
    if not tf.io.gfile.isdir(FLAGS.data_dir):
        raise UsageError(f"--data_dir not found: {FLAGS.data_dir}")
    if FLAGS.export_dir:
        import serving

        try:
            serving.check_export_dir(FLAGS.export_dir)
        except serving.ExportError as e:
            raise UsageError(f"--export_dir: {e}") from None
    if FLAGS.bert_hub_module_handle:
        if FLAGS.init_checkpoint:
            raise UsageError("--init_checkpoint and --bert_hub_module_handle exclude each other: "
                             "the module carries its weights")
        return
    for name in ("vocab_file", "bert_config_file"):
        if not tf.io.gfile.exists(getattr(FLAGS, name)):
            raise UsageError(f"--{name} not found: {getattr(FLAGS, name)}")
    if FLAGS.init_checkpoint and not tf.io.gfile.exists(FLAGS.init_checkpoint + ".index"):
        raise UsageError(f"--init_checkpoint not found: {FLAGS.init_checkpoint} "
                         f"(expected {FLAGS.init_checkpoint}.index and its data files)")


def validate_speed_flags():
    """Checks --bucket_by_length, --use_xla, --use_amp and --num_accumulation_steps."""
    k = FLAGS.num_accumulation_steps
    if k < 1:
        raise UsageError(f"--num_accumulation_steps must be at least 1, got {k}")
    if k > 1 and FLAGS.train_batch_size % k:
        raise UsageError(f"--train_batch_size {FLAGS.train_batch_size} is not divisible by "
                         f"--num_accumulation_steps {k}: each update is {k} equal micro-batches")
    single_device = {"--use_amp": FLAGS.use_amp, f"--num_accumulation_steps={k}": k > 1}
    for name, used in single_device.items():
        if used and FLAGS.use_tpu:
            raise UsageError(f"{name} is not supported with --use_tpu")
        if used and FLAGS.distribution_strategy != "none":
            raise UsageError(f"{name} is not supported with --distribution_strategy="
                             f"{FLAGS.distribution_strategy} (single device only)")
    if FLAGS.use_amp and k > 1:
        raise UsageError("--use_amp and --num_accumulation_steps > 1 cannot be combined yet")
    if FLAGS.shuffle_buffer_size < 0:
        raise UsageError(f"--shuffle_buffer_size must be 0 (shuffled epochs) or positive, "
                         f"got {FLAGS.shuffle_buffer_size}")
    if FLAGS.bucket_by_length and FLAGS.use_tpu:
        raise UsageError("--bucket_by_length is not supported with --use_tpu (TPUs need a fixed sequence length)")


def session_config(base=None):
    """The session ConfigProto for --use_xla and --use_amp (`base` or None when neither)."""
    if not (FLAGS.use_xla or FLAGS.use_amp):
        return base
    config = tf.ConfigProto() if base is None else base
    if FLAGS.use_xla:
        # On CPUs XLA auto-clustering also needs this flag, read when the first session starts.
        if "--tf_xla_cpu_global_jit" not in os.environ.get("TF_XLA_FLAGS", ""):
            os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "") + " --tf_xla_cpu_global_jit").strip()
        config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    if FLAGS.use_amp:
        rewrites = config.graph_options.rewrite_options
        if tf.config.list_physical_devices("GPU"):
            rewrites.auto_mixed_precision = rewriter_config_pb2.RewriterConfig.ON  # float16
        else:
            rewrites.auto_mixed_precision_onednn_bfloat16 = rewriter_config_pb2.RewriterConfig.ON
    return config


def load_bert_config():
    """The model config, checked against --max_seq_length (None with a Hub module)."""
    if FLAGS.bert_hub_module_handle:
        return None
    try:
        bert_config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
    except (ValueError, TypeError, KeyError) as e:
        raise UsageError(f"--bert_config_file {FLAGS.bert_config_file} is not a BERT config: {e}") from None
    if FLAGS.max_seq_length > bert_config.max_position_embeddings:
        raise UsageError(
            f"--max_seq_length {FLAGS.max_seq_length} is longer than the model's "
            f"max_position_embeddings {bert_config.max_position_embeddings} ({FLAGS.bert_config_file})")
    return bert_config


def tokenizer_settings():
    """(vocab_file, do_lower_case) for training and serving: from the flags, checked
    against the checkpoint's name, or from the Hub module."""
    if FLAGS.bert_hub_module_handle:
        return hub_tokenization_info(FLAGS.bert_hub_module_handle)
    try:
        tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case, FLAGS.init_checkpoint)
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    return FLAGS.vocab_file, FLAGS.do_lower_case


def make_output_dir(path):
    """Creates `path` and checks it is writable; raises UsageError if not."""
    try:
        tf.io.gfile.makedirs(path)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as e:
        raise UsageError(f"--output_dir {path} is not writable: {getattr(e, 'message', e)}") from None


def make_processor():
    """The task's processor with the options its flags set."""
    options = dict(
        language=FLAGS.xnli_language,
        text_column=FLAGS.text_column,
        text_b_column=FLAGS.text_b_column,
        label_column=FLAGS.label_column,
        labels=FLAGS.labels,
        train_file=FLAGS.train_file,
        dev_file=FLAGS.dev_file,
        test_file=FLAGS.test_file,
        imdb_dev_split=FLAGS.imdb_dev_split,
        dev_fraction=FLAGS.dev_fraction,
        data_dir=FLAGS.data_dir,
    )
    if FLAGS.seed is not None:
        options["seed"] = FLAGS.seed
    try:
        return processors.get_processor(FLAGS.task_name, **options)
    except (KeyError, ValueError) as e:
        raise UsageError(f"--task_name: {e}") from None


def check_labels(label_list, **splits):
    """Raises DataError for the first labelled example whose label is not in `label_list`."""
    known = set(label_list)
    for split, examples in splits.items():
        for example in examples or ():
            if example.label is not None and example.label not in known:
                raise processors.DataError(
                    f"{split} example {example.guid}: label {example.label!r} is not in the label list "
                    f"({', '.join(label_list)})")


def make_estimator(model_fn):
    if FLAGS.distribution_strategy != "none":
        # tf.distribute on CPUs/GPUs: a plain Estimator (distribution.py says why);
        # evaluation and prediction on one device.
        import distribution

        try:
            strategy = distribution.make_strategy(FLAGS.distribution_strategy, FLAGS.num_gpus)
            run_config = tf.estimator.RunConfig(
                model_dir=FLAGS.output_dir,
                save_checkpoints_steps=FLAGS.save_checkpoints_steps,
                keep_checkpoint_max=FLAGS.keep_checkpoint_max,
                save_summary_steps=FLAGS.save_summary_steps,
                tf_random_seed=FLAGS.seed,
                session_config=session_config(distribution.session_config(strategy)),
                train_distribute=strategy,
                eval_distribute=None)
            return distribution.DistributedEstimator(
                model_fn, run_config,
                train_batch_size=FLAGS.train_batch_size,
                eval_batch_size=FLAGS.eval_batch_size,
                predict_batch_size=FLAGS.predict_batch_size)
        except distribution.DistributionError as e:
            raise UsageError(str(e)) from None
    tpu_cluster_resolver = None
    if FLAGS.use_tpu and FLAGS.tpu_name:
        tpu_cluster_resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            FLAGS.tpu_name, zone=FLAGS.tpu_zone, project=FLAGS.gcp_project)
    run_config = tf.estimator.tpu.RunConfig(
        cluster=tpu_cluster_resolver,
        master=FLAGS.master,
        model_dir=FLAGS.output_dir,
        save_checkpoints_steps=FLAGS.save_checkpoints_steps,
        keep_checkpoint_max=FLAGS.keep_checkpoint_max,
        save_summary_steps=FLAGS.save_summary_steps,
        tf_random_seed=FLAGS.seed,
        session_config=session_config(),
        tpu_config=tf.estimator.tpu.TPUConfig(
            tpu_job_name=FLAGS.tpu_job_name,
            iterations_per_loop=FLAGS.iterations_per_loop,
            num_shards=FLAGS.num_tpu_cores,
            per_host_input_for_training=tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2))
    # Without a TPU, TPUEstimator runs as a plain Estimator on CPU or GPU.
    return tf.estimator.tpu.TPUEstimator(
        use_tpu=FLAGS.use_tpu,
        model_fn=model_fn,
        config=run_config,
        # With accumulation each session run reads one micro-batch.
        train_batch_size=FLAGS.train_batch_size // FLAGS.num_accumulation_steps,
        eval_batch_size=FLAGS.eval_batch_size,
        predict_batch_size=FLAGS.predict_batch_size,
        export_to_tpu=False)  # the serving export (--export_dir) is for CPU/GPU


# ---------------------------------------------------------------------------- the steps
def write_records(examples, label_list, tokenizer, record_file):
    """Writes (or reuses, when its fingerprint matches) the TFRecord file of `examples`."""
    cached_convert_examples_to_features(
        examples, label_list, FLAGS.max_seq_length, tokenizer, record_file,
        truncation=FLAGS.truncation_strategy, extra_fingerprint={"task": FLAGS.task_name.lower()})


def train(estimator, train_examples, label_list, tokenizer, num_train_steps, is_regression):
    train_file = os.path.join(FLAGS.output_dir, "train.tf_record")
    if FLAGS.distribution_strategy == "multi_worker_mirrored":
        import distribution

        if not distribution.is_chief():  # its own file: workers may share --output_dir
            task = distribution.read_tf_config()["task"]
            train_file = os.path.join(FLAGS.output_dir, f"train.{task['type']}-{task.get('index', 0)}.tf_record")
    write_records(train_examples, label_list, tokenizer, train_file)
    tf.logging.info("***** Running training *****")
    tf.logging.info("  Num examples = %d", len(train_examples))
    tf.logging.info("  Batch size = %d", FLAGS.train_batch_size)
    tf.logging.info("  Num steps = %d", num_train_steps)
    if FLAGS.num_accumulation_steps > 1:
        tf.logging.info("  Gradient accumulation: %d micro-batches of %d per step", FLAGS.num_accumulation_steps,
                        FLAGS.train_batch_size // FLAGS.num_accumulation_steps)
    input_fn = file_based_input_fn_builder(
        input_file=train_file, seq_length=FLAGS.max_seq_length, is_training=True,
        drop_remainder=True, is_regression=is_regression, bucket_by_length=FLAGS.bucket_by_length,
        shuffle_buffer_size=FLAGS.shuffle_buffer_size, num_examples=len(train_examples))
    hooks = [ProgressHook(num_train_steps, FLAGS.train_batch_size, FLAGS.log_every_seconds,
                          runs_per_step=FLAGS.num_accumulation_steps)]
    estimator.train(input_fn=input_fn, max_steps=num_train_steps, hooks=hooks)


def _prepare_for_inference(examples, batch_size, name, label_list, tokenizer, is_regression):
    """Pads for TPUs, writes the TFRecord and returns (input_fn, num_actual, steps)."""
    num_actual = len(examples)
    if FLAGS.use_tpu:
        # TPUs need full batches: pad with fake examples that get weight 0.
        examples = pad_to_batch_multiple(examples, batch_size)
    record_file = os.path.join(FLAGS.output_dir, f"{name}.tf_record")
    write_records(examples, label_list, tokenizer, record_file)
    tf.logging.info("  Num examples = %d (%d actual, %d padding)",
                    len(examples), num_actual, len(examples) - num_actual)
    tf.logging.info("  Batch size = %d", batch_size)
    input_fn = file_based_input_fn_builder(
        input_file=record_file, seq_length=FLAGS.max_seq_length, is_training=False,
        drop_remainder=FLAGS.use_tpu, is_regression=is_regression, bucket_by_length=FLAGS.bucket_by_length)
    # On TPU the number of steps must be given; elsewhere the estimator reads to the end.
    steps = len(examples) // batch_size if FLAGS.use_tpu else None
    return input_fn, num_actual, steps


def evaluate(estimator, examples, label_list, tokenizer, is_regression):
    tf.logging.info("***** Running evaluation *****")
    input_fn, num_actual, steps = _prepare_for_inference(
        examples, FLAGS.eval_batch_size, "eval", label_list, tokenizer, is_regression)
    result = estimator.evaluate(input_fn=input_fn, steps=steps)
    tf.logging.info("***** Eval results *****")
    for key in sorted(result):
        tf.logging.info("  %s = %s", key, result[key])
    write_text_atomically(os.path.join(FLAGS.output_dir, "eval_results.txt"),
                          format_eval_results(result))
    if FLAGS.write_reports and not is_regression:
        import reports

        probabilities = [p["probabilities"] for _, p in zip(range(num_actual), estimator.predict(input_fn))]
        label_ids = [label_list.index(e.label) for e in examples[:num_actual]]
        reports.write_eval_reports(FLAGS.output_dir, label_list, label_ids, probabilities)
        reports.plot_training_loss(FLAGS.output_dir)
    return result


def predict(estimator, examples, label_list, tokenizer, is_regression):
    tf.logging.info("***** Running prediction *****")
    input_fn, num_actual, _ = _prepare_for_inference(
        examples, FLAGS.predict_batch_size, "predict", label_list, tokenizer, is_regression)
    rows = []
    for i, prediction in enumerate(estimator.predict(input_fn=input_fn)):
        if i >= num_actual:
            break  # TPU padding
        probabilities = prediction["probabilities"]
        rows.append([probabilities] if is_regression else list(probabilities))
    if len(rows) != num_actual:
        raise RuntimeError(f"predicted {len(rows)} examples, expected {num_actual}")
    write_text_atomically(os.path.join(FLAGS.output_dir, "test_results.tsv"),
                          format_test_results(rows))
    return rows


# ---------------------------------------------------------------------------------- main
def main(_):
    tf.logging.set_verbosity(tf.logging.INFO)
    tf.get_logger().propagate = False  # one copy of each line, even if a library set up logging

    validate_flags()
    bert_config = load_bert_config()
    vocab_file, do_lower_case = tokenizer_settings()
    try:
        tokenizer = tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=do_lower_case)
    except (ValueError, OSError) as e:
        raise UsageError(f"--vocab_file: {e}") from None
    processor = make_processor()
    label_list = processor.get_labels()
    is_regression = processor.output_mode == processors.REGRESSION
    num_labels = 1 if is_regression else len(label_list)

    train_examples, num_train_steps, num_warmup_steps = None, None, None
    # Every data file is read before anything is written, so bad data stops the run early.
    eval_examples = processor.get_dev_examples(FLAGS.data_dir) if FLAGS.do_eval else None
    predict_examples = processor.get_test_examples(FLAGS.data_dir) if FLAGS.do_predict else None
    if FLAGS.do_train:
        train_examples = processor.get_train_examples(FLAGS.data_dir)
        num_train_steps = int(len(train_examples) / FLAGS.train_batch_size * FLAGS.num_train_epochs)
        num_warmup_steps = int(num_train_steps * FLAGS.warmup_proportion)
        if num_train_steps < 1:
            raise UsageError(
                f"{len(train_examples)} training examples make no full batch of --train_batch_size "
                f"{FLAGS.train_batch_size} in --num_train_epochs {FLAGS.num_train_epochs}")
    if not is_regression:
        check_labels(label_list, train=train_examples, dev=eval_examples)
    if FLAGS.init_checkpoint:
        check_checkpoint_fits(bert_config, FLAGS.init_checkpoint, num_labels, is_regression)
    make_output_dir(FLAGS.output_dir)

    model_fn = model_fn_builder(
        bert_config=bert_config,
        num_labels=num_labels,
        init_checkpoint=FLAGS.init_checkpoint,
        learning_rate=FLAGS.learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        use_tpu=FLAGS.use_tpu,
        use_one_hot_embeddings=FLAGS.use_tpu,
        is_regression=is_regression,
        hub_module_handle=FLAGS.bert_hub_module_handle,
        num_accumulation_steps=FLAGS.num_accumulation_steps,
        use_amp=FLAGS.use_amp,
        adam_bias_correction=FLAGS.adam_bias_correction)
    estimator = make_estimator(model_fn)

    if FLAGS.do_train:
        train(estimator, train_examples, label_list, tokenizer, num_train_steps, is_regression)
    if FLAGS.do_eval:
        evaluate(estimator, eval_examples, label_list, tokenizer, is_regression)
    if FLAGS.do_predict:
        predict(estimator, predict_examples, label_list, tokenizer, is_regression)
    if FLAGS.export_dir:
        import serving

        serving.export_model(estimator, FLAGS.export_dir, max_seq_length=FLAGS.max_seq_length,
                             vocab_file=vocab_file, do_lower_case=do_lower_case,
                             label_list=label_list, is_regression=is_regression,
                             truncation=FLAGS.truncation_strategy, init_checkpoint=FLAGS.init_checkpoint)


def run_main(argv):
    """`main` with user errors turned into one line and exit status 1.

    Set BERT_TRACEBACK=1 to see the full traceback instead.
    """
    try:
        main(argv)
    except (UsageError, processors.DataError, FileNotFoundError, ValueError) as e:
        # ValueError also covers serving.ExportError and checks inside libraries.
        if os.environ.get("BERT_TRACEBACK"):
            raise
        hint = "" if isinstance(e, (UsageError, processors.DataError)) else " (BERT_TRACEBACK=1 shows where)"
        print(f"run_classifier.py: error: {e}{hint}", file=sys.stderr)
        sys.exit(1)
    except tf.train.NanLossDuringTrainingError:
        print("run_classifier.py: error: the training loss became NaN; lower --learning_rate or "
              "check the data and the checkpoint", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    # As the original; vocab_file and bert_config_file are required too unless
    # --bert_hub_module_handle is given, which validate_flags checks.
    for _name in ("data_dir", "task_name", "output_dir"):
        flags.mark_flag_as_required(_name)
    app.run(run_main)
