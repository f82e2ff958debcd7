r"""BERT fine-tuning for sequence (pair) classification on TPUEstimator.

The program of google-research/bert, on TensorFlow 2.15's `tf.compat.v1` Estimator:

    python run_classifier.py --task_name=MRPC --do_train --do_eval \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_DIR/vocab.txt \
      --bert_config_file=$BERT_DIR/bert_config.json \
      --init_checkpoint=$BERT_DIR/bert_model.ckpt --output_dir=/tmp/mrpc_output

Every flag of the original keeps its name and default; docs/FLAGS.md lists them all,
and the ones this project adds, by group (as `--help` does). On CPU/GPU, TPUEstimator runs as a plain Estimator
(`--use_tpu=False`).

This file holds what the original's does: the flags, the classifier head
(`create_model`), `model_fn_builder`, the train/evaluate/predict steps and `main`.
The machinery they use lives in `bert_estimator/` (features and TFRecords, input
pipeline, checks, Estimator set-up, outputs); the names the original defined here are
importable from here as before. `main` reads the flags' values once, into a
`bert_estimator.training.settings.Settings`, and passes that (or the values it holds)
on: none of the functions it calls reads FLAGS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import textwrap

import tensorflow.compat.v1 as tf
from absl import app, flags

import modeling
import optimization
import processors
from bert_estimator.core import console
from bert_estimator.core.errors import UsageError, run_cli
from bert_estimator.core.progress import TRAIN_LOSS, ProgressHook

# Re-exported: the original defines these here, and its callers (run_classifier_with_tfhub.py,
# user code) import them from run_classifier.
from bert_estimator.data.feature_cache import (
    cached_convert_examples_to_features,  # noqa: F401
    reading_records,
)
from bert_estimator.data.features import (  # noqa: F401
    _truncate_seq_pair,
    convert_examples_to_features,
    convert_single_example,
    file_based_convert_examples_to_features,
    label_id_for,
)
from bert_estimator.data.input_features import InputFeatures  # noqa: F401
from bert_estimator.data.input_pipeline import (  # noqa: F401
    file_based_input_fn_builder,
    input_fn_builder,
    pad_to_batch_multiple,
)
from bert_estimator.glue import submission_files
from bert_estimator.results import eval_collector, output_files
from bert_estimator.serving import saved_model
from bert_estimator.training import (
    checks,
    class_weights,
    distribution,
    estimator_setup,
    evaluation,
    tfhub,
    thresholds,
)
from bert_estimator.training import metrics as classifier_metrics
from bert_estimator.training.output_lock import OutputDirLock
from bert_estimator.training.preemption import PreemptionHook
from bert_estimator.training.settings import Settings
from bert_estimator.training.train_op_builder import TrainOpOptions
from processors import (  # noqa: F401
    ColaProcessor,
    DataProcessor,
    InputExample,
    MnliProcessor,
    MrpcProcessor,
    PaddingInputExample,
    XnliProcessor,
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
flags.DEFINE_bool("allow_casing_mismatch", False,
                  "Go on when --do_lower_case contradicts the model's casing: the tokenizer_config.json "
                  "beside the checkpoint (convert_checkpoint.py writes it), or, with none, the vocabulary "
                  "(a cased vocab lower-cased, or an uncased one not). Off: such a run stops.")
flags.DEFINE_bool("reinitialize_head", False,
                  "Restore everything of --init_checkpoint but its classifier layer (output_weights, "
                  "output_bias), which starts from random: to fine-tune a classifier of another label count "
                  "on this task. Off: such a checkpoint stops the run with a shape error.")
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
# allow_override: the original's run_classifier_with_tfhub.py imports this module and
# then defines this flag itself.
flags.DEFINE_string("bert_hub_module_handle", None,
                    "A TF1 Hub BERT module directory (downloaded and untarred, with 'tokens' and "
                    "'tokenization_info' signatures, as Google published BERT on TF-Hub) used instead of "
                    "--bert_config_file/--init_checkpoint; vocab and casing come from the module.",
                    allow_override=True)
flags.DEFINE_integer("seed", None,
                     "Graph-level random seed (init, dropout, shuffling): same seed, same run on CPU.")
flags.DEFINE_enum("truncation_strategy", "head", ["head", "tail", "head_tail"],
                  "How single texts longer than max_seq_length are cut: keep the head (the "
                  "original), the tail, or head+tail (Sun et al. 2019, best for long reviews).")
flags.DEFINE_string("xnli_language", "zh", "XNLI language (the original hard-coded zh).")
flags.DEFINE_string("text_column", None, "csv task: column holding the (first) text (default: text); several "
                    "comma-separated columns (title,body) are joined with a space, as transformers' "
                    "--text_column_names.")
flags.DEFINE_string("text_b_column", None, "csv task: column holding the second text of pairs (default: none, "
                    "single texts).")
flags.DEFINE_string("label_column", None, "csv task: column holding the label (default: label).")
flags.DEFINE_list("labels", None, "csv task: the label list, in class-id order "
                  "(default: the sorted distinct labels of the train file).")
flags.DEFINE_string("train_file", None, "csv task: train file name inside --data_dir (default: train.csv).")
flags.DEFINE_string("dev_file", None, "csv task: dev file name inside --data_dir (default: dev.csv).")
flags.DEFINE_string("test_file", None, "csv task: test file name inside --data_dir (default: test.csv).")
flags.DEFINE_enum("problem_type", None, ["regression", "single_label_classification", "multi_label_classification"],
                  "csv task: regression (one real-valued output, mean squared error, as STS-B), a class per "
                  "label, or several labels per example (one sigmoid output per label, binary cross-entropy). "
                  "Default: classification with --labels; else multi-label when a train label holds "
                  "--label_separator, regression when the train labels are numbers not all whole, and a stop "
                  "asking for this flag when they are over 20 distinct whole numbers (docs/TASKS.md).")
flags.DEFINE_string("label_separator", None, "csv task: what separates the labels of a multi-label example in the "
                    "label column (default: a comma, as in \"joy,surprise\").")
flags.DEFINE_string("class_weights", None,
                    "Weights on the training loss per label, for imbalanced data: 'balanced' (from the train "
                    "file's counts: n / (labels * count) per class; multi-label: negatives / positives as each "
                    "label's pos_weight), or one weight per label in label order (1,5) or label:weight pairs "
                    "(neg:1,pos:5). Recorded in <output_dir>/class_weights.json. Default: none (unweighted).")
flags.DEFINE_bool("tune_thresholds", False,
                  "Multi-label: after evaluation, pick each label's decision threshold that maximises its F1 on "
                  "the dev set, save them in <output_dir>/thresholds.json and use them for --do_predict's label "
                  "sets and --export_dir. Off: 0.5 for every label.")
flags.DEFINE_enum("imdb_dev_split", None, ["test", "heldout"],
                  "imdb task: evaluate on the test split, or on a seeded held-out slice of train (default: test).")
flags.DEFINE_float("dev_fraction", None, "imdb task with --imdb_dev_split=heldout: the fraction of train held out "
                   "(default: 0.1).")
flags.DEFINE_string("export_dir", None,
                    "After the other steps, export a SavedModel with a serving signature here "
                    "(plus the vocab and labels), for predict.py. Alone (no --do_train, --do_eval or "
                    "--do_predict) it exports the last checkpoint of --output_dir again.")
flags.DEFINE_integer("export_version", None,
                     "With --export_dir: the numbered version subdirectory to write (TF Serving's layout; a "
                     "positive integer, an existing version is replaced). Default: the next free number, 1 in "
                     "a new directory.")
flags.DEFINE_bool("write_reports", True,
                  "After eval, write a classification report, a confusion matrix and PNG plots "
                  "of it and of the training loss to --output_dir.")
flags.DEFINE_integer("save_summary_steps", 100,
                     "Write the training loss to TensorBoard (and training_loss.png) every this many steps.")
flags.DEFINE_integer("keep_checkpoint_max", 5, "How many recent checkpoints to keep.")
flags.DEFINE_integer("log_every_seconds", 10, "Seconds between training progress lines.")
flags.DEFINE_bool("verbose", False,
                  "Print TensorFlow's whole INFO log on the console, as the original does (example dumps, "
                  "variable lists...). Off: the console shows the settings, progress, metrics, outputs and "
                  "warnings. Either way the whole log goes to <output_dir>/run_classifier.log.")
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
# Evaluation during training (not on TPU): the best checkpoint, early stopping.
flags.DEFINE_integer("evaluate_every_n_steps", 0,
                     "With --do_train --do_eval: also evaluate on the dev set every this many steps "
                     "(0: only at the end, as the original). Results go to TensorBoard (eval/) and "
                     "eval_history.tsv; the best checkpoint is kept in best/.")
flags.DEFINE_bool("evaluate_every_epoch", False,
                  "With --do_train --do_eval: also evaluate at the end of each epoch.")
flags.DEFINE_string("best_metric", None,
                    "The dev metric that picks the best checkpoint (default: the task's main metric: "
                    "f1 for MRPC and QQP, mcc for CoLA, pearson_spearman_mean for STS-B, else "
                    "eval_accuracy). eval_loss, loss and mse count as lower-is-better.")
flags.DEFINE_integer("early_stopping_patience", 0,
                     "Stop training after this many evaluations during training without a new best "
                     "(0: never).")
flags.DEFINE_enum("predict_from", "last", ["last", "best"],
                  "The checkpoint --do_predict and --export_dir use: the last one, or the best one of "
                  "the evaluations during training (best/).")
flags.DEFINE_bool("allow_untrained_head", False,
                  "Evaluate or predict with a classifier layer no training wrote: no checkpoint in --output_dir "
                  "and an --init_checkpoint without output_weights (a pre-trained model), i.e. a random head. "
                  "Off: such a run stops.")
flags.DEFINE_bool("allow_single_label", False,
                  "Train on a training set whose examples all carry one label. Off: such a run stops "
                  "(a file sorted by label, cut in two, gives one).")
# Speed (docs/BENCHMARKS.md). All off by default: the original's behaviour.
flags.DEFINE_bool("bucket_by_length", False,
                  "Pad each batch only to its longest member; in training, also group examples of "
                  "similar length into batches. The same model outputs per example; faster on short "
                  "texts. Not with --use_tpu.")
flags.DEFINE_bool("fixed_padding", False,
                  "Pad every batch to --max_seq_length, as the original. By default (off TPU) evaluation and "
                  "prediction pad each batch only to its longest member, which gives the same results "
                  "(eval_results.txt, test_results.tsv) faster; training keeps fixed padding unless "
                  "--bucket_by_length.")
flags.DEFINE_bool("use_xla", False, "Compile the model with XLA (JIT auto-clustering), on CPU and GPU.")
flags.DEFINE_bool("use_amp", False,
                  "Mixed precision: float16 with dynamic loss scaling on GPUs, oneDNN bfloat16 on CPUs. "
                  "Variables stay float32. Single device; not with --use_tpu, --distribution_strategy or "
                  "--num_accumulation_steps > 1.")
flags.DEFINE_integer("num_accumulation_steps", 1,
                     "Gradient accumulation: each update sums the gradients of this many micro-batches of "
                     "--train_batch_size / N examples (same update as one batch of --train_batch_size, "
                     "in 1/N of the memory). Single device; not with --use_tpu or --distribution_strategy.")


# The original run_classifier.py's flags (same names, same defaults); the rest are added.
ORIGINAL_FLAGS = ("data_dir", "bert_config_file", "task_name", "vocab_file", "output_dir", "init_checkpoint",
                  "do_lower_case", "max_seq_length", "do_train", "do_eval", "do_predict", "train_batch_size",
                  "eval_batch_size", "predict_batch_size", "learning_rate", "num_train_epochs", "warmup_proportion",
                  "save_checkpoints_steps", "iterations_per_loop", "use_tpu", "tpu_name", "tpu_zone",
                  "gcp_project", "master", "num_tpu_cores", "tpu_job_name")
# The flags by job, in the order `--help` and docs/FLAGS.md list them (tests check that
# every flag is in exactly one group).
FLAG_GROUPS = (
    ("Required (--vocab_file and --bert_config_file unless --bert_hub_module_handle)", ("data_dir", "task_name", "output_dir", "vocab_file", "bert_config_file")),
    ("What to run", ("do_train", "do_eval", "do_predict", "export_dir", "export_version")),
    ("Model and tokenizer", ("init_checkpoint", "bert_hub_module_handle", "reinitialize_head", "do_lower_case",
                             "allow_casing_mismatch", "max_seq_length", "truncation_strategy")),
    ("Training", ("train_batch_size", "learning_rate", "num_train_epochs", "warmup_proportion", "seed",
                  "shuffle_buffer_size", "adam_bias_correction", "class_weights", "save_checkpoints_steps",
                  "keep_checkpoint_max", "allow_single_label")),
    ("Evaluation and prediction", ("eval_batch_size", "predict_batch_size", "evaluate_every_n_steps",
                                   "evaluate_every_epoch", "best_metric", "early_stopping_patience",
                                   "predict_from", "tune_thresholds", "allow_untrained_head", "write_reports")),
    ("Task options", ("xnli_language", "text_column", "text_b_column", "label_column", "labels", "train_file",
                      "dev_file", "test_file", "problem_type", "label_separator", "imdb_dev_split", "dev_fraction")),
    ("Speed", ("bucket_by_length", "fixed_padding", "use_xla", "use_amp", "num_accumulation_steps")),
    ("Devices", ("use_tpu", "tpu_name", "tpu_zone", "gcp_project", "master", "num_tpu_cores", "tpu_job_name",
                 "iterations_per_loop", "distribution_strategy", "num_gpus")),
    ("Console and logs", ("verbose", "log_every_seconds", "save_summary_steps")),
)

# ------------------------------------------------------------------------------ the model
def create_model(bert_config, is_training, input_ids, input_mask, segment_ids, labels,
                 num_labels, use_one_hot_embeddings, is_regression=False, hub_module_handle=None,
                 is_multi_label=False, class_weights=None):
    """Builds BERT plus a classification (or regression) layer on the pooled output.

    Args:
      bert_config: `modeling.BertConfig`.
      is_training: bool, enables dropout.
      input_ids, input_mask, segment_ids: int32 Tensors of shape [batch_size, seq_length].
      labels: int32 Tensor of shape [batch_size] (float32 for regression; int32
        [batch_size, num_labels], multi-hot, for multi-label).
      num_labels: int, number of classes (1 for regression).
      use_one_hot_embeddings: bool, embedding lookup by one-hot matmul (faster on TPU).
      is_regression: bool, one output trained with mean squared error.
      hub_module_handle: optional TF-Hub BERT module used instead of `bert_config`.
      is_multi_label: bool, an independent sigmoid output per label trained with binary
        cross-entropy (averaged over labels and examples, as torch's BCEWithLogitsLoss).
      class_weights: optional list of num_labels floats (bert_estimator/training/class_weights.py):
        the loss is the class-weighted mean of the cross-entropies; for multi-label,
        each label's pos_weight. None: unweighted (the original).

    Returns:
      (loss, per_example_loss, logits, probabilities): loss a float32 scalar,
      per_example_loss [batch_size], logits and probabilities [batch_size, num_labels]
      (for regression, "probabilities" holds the predicted values, [batch_size]; for
      multi-label, each label's sigmoid).
    """
    if hub_module_handle:
        output_layer = tfhub.pooled_output(hub_module_handle, is_training, input_ids, input_mask, segment_ids)
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
        if is_multi_label:
            multi_hot = tf.cast(labels, tf.float32)  # [B, num_labels]
            if class_weights is None:
                losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=multi_hot, logits=logits)
            else:
                losses = tf.nn.weighted_cross_entropy_with_logits(
                    labels=multi_hot, logits=logits, pos_weight=tf.constant(class_weights, tf.float32))
            per_example_loss = tf.reduce_mean(losses, axis=-1)  # [B]
            return tf.reduce_mean(per_example_loss), per_example_loss, logits, tf.nn.sigmoid(logits)
        probabilities = tf.nn.softmax(logits, axis=-1)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
        per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)  # [B]
        if class_weights is None:
            loss = tf.reduce_mean(per_example_loss)
        else:  # each example weighs its class's weight: sum(w * loss) / sum(w), as torch's CrossEntropyLoss
            example_weights = tf.gather(tf.constant(class_weights, tf.float32), labels)  # [B]
            loss = tf.reduce_sum(example_weights * per_example_loss) / tf.reduce_sum(example_weights)
        return loss, per_example_loss, logits, probabilities


def model_fn_builder(bert_config, num_labels, init_checkpoint, learning_rate, num_train_steps,
                     num_warmup_steps, use_tpu, use_one_hot_embeddings, is_regression=False,
                     hub_module_handle=None, num_accumulation_steps=1, use_amp=False,
                     adam_bias_correction=False, reinitialize_head=False, is_multi_label=False,
                     class_weights=None, label_list=None):
    """Returns the `model_fn(features, labels, mode, params)` closure for TPUEstimator.

    `reinitialize_head` (--reinitialize_head) restores everything of `init_checkpoint` but
    its classifier layer (`output_weights`, `output_bias`), which keeps its random
    initialisation: a fine-tuned classifier of another label count as the start.

    `is_multi_label`: one sigmoid output per label; `label_list` names them in the eval
    metrics (`f1_<label>`...). `class_weights` (one float per label) weigh the training
    loss only; `eval_loss` stays unweighted.

    `num_accumulation_steps`, `use_amp` and `adam_bias_correction` reach
    `optimization.create_optimizer` as its `build_train_op` hook,
    `bert_estimator.training.train_op_builder.TrainOpOptions` (gradient accumulation, loss
    scaling, Adam's bias correction; with the defaults, the original's update in
    TensorFlow's Adam kernel).
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
            num_labels, use_one_hot_embeddings, is_regression, hub_module_handle, is_multi_label,
            class_weights if is_training else None)

        tvars = tf.trainable_variables()
        initialized_variable_names = {}
        scaffold_fn = None
        if init_checkpoint:
            assignment_map, initialized_variable_names = modeling.get_assignment_map_from_checkpoint(
                tvars, init_checkpoint)
            if reinitialize_head:
                for name in checks.CLASSIFIER_HEAD:
                    assignment_map.pop(name, None)
                    initialized_variable_names.pop(name, None)
                    initialized_variable_names.pop(f"{name}:0", None)
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
            if not use_tpu:  # for the progress lines (ProgressHook); on TPU the loss lives on the device
                tf.add_to_collection(TRAIN_LOSS, total_loss)
            train_op = optimization.create_optimizer(
                total_loss, learning_rate, num_train_steps, num_warmup_steps, use_tpu,
                build_train_op=TrainOpOptions(num_accumulation_steps=num_accumulation_steps, use_amp=use_amp,
                                              adam_bias_correction=adam_bias_correction))
            return tf.estimator.tpu.TPUEstimatorSpec(
                mode=mode, loss=total_loss, train_op=train_op, scaffold_fn=scaffold_fn)

        if mode == tf.estimator.ModeKeys.EVAL:
            # for the reports' per-example rows (`eval_collector.ProbabilitiesCollector`)
            tf.add_to_collection(eval_collector.EVAL_PROBABILITIES, probabilities)
            if is_regression:
                metric_fn = classifier_metrics.regression_metrics
                metric_args = [per_example_loss, label_ids, probabilities, is_real_example]
            elif is_multi_label:
                def metric_fn(per_example_loss, label_ids, probabilities, is_real_example):
                    return classifier_metrics.multi_label_metrics(
                        per_example_loss, label_ids, probabilities, is_real_example,
                        label_list or [str(i) for i in range(num_labels)])

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


# ---------------------------------------------------------------------------- the steps
@dataclasses.dataclass(frozen=True)
class RecordSettings:
    """How examples become TFRecords and batches, shared by the steps below."""

    output_dir: str
    max_seq_length: int
    truncation: str
    task_name: str
    is_regression: bool
    use_tpu: bool
    bucket_by_length: bool
    dynamic_padding: bool = False  # eval and predict batches cut to their longest member
    multi_label_count: int = 0  # labels of a multi-label task (multi-hot label_ids); 0 for the others

    @classmethod
    def from_settings(cls, settings: Settings, is_regression: bool, multi_label_count: int = 0) -> RecordSettings:
        return cls(output_dir=settings.output_dir, max_seq_length=settings.max_seq_length,
                   truncation=settings.truncation_strategy, task_name=settings.task_name.lower(),
                   is_regression=is_regression, use_tpu=settings.use_tpu,
                   bucket_by_length=settings.bucket_by_length,
                   dynamic_padding=not (settings.use_tpu or settings.fixed_padding),
                   multi_label_count=multi_label_count)


def write_records(examples, label_list, tokenizer, record_file, settings: RecordSettings):
    """Writes (or reuses, when its fingerprint matches) the TFRecord file of `examples`."""
    cached_convert_examples_to_features(
        examples, label_list, settings.max_seq_length, tokenizer, record_file,
        truncation=settings.truncation, extra_fingerprint={"task": settings.task_name})


def train(estimator, examples, label_list, tokenizer, settings: RecordSettings, *, record_file,
          num_train_steps, batch_size, num_accumulation_steps=1, shuffle_buffer_size=0,
          log_every_seconds=10, extra_hooks=()):
    """Writes the training records and trains to `num_train_steps` (resuming from the
    last checkpoint in the output directory, if any). SIGTERM or SIGINT saves a
    checkpoint at the current step and raises `preemption.Preempted`."""
    write_records(examples, label_list, tokenizer, record_file, settings)
    tf.logging.info("***** Running training *****")
    tf.logging.info("  Num examples = %d", len(examples))
    tf.logging.info("  Batch size = %d", batch_size)
    tf.logging.info("  Num steps = %d", num_train_steps)
    if num_accumulation_steps > 1:
        tf.logging.info("  Gradient accumulation: %d micro-batches of %d per step", num_accumulation_steps,
                        batch_size // num_accumulation_steps)
    input_fn = file_based_input_fn_builder(
        input_file=record_file, seq_length=settings.max_seq_length, is_training=True,
        drop_remainder=True, is_regression=settings.is_regression, bucket_by_length=settings.bucket_by_length,
        shuffle_buffer_size=shuffle_buffer_size, num_examples=len(examples),
        multi_label_count=settings.multi_label_count)
    resumed_from = tf.train.latest_checkpoint(settings.output_dir)
    if resumed_from:
        console.show("Resuming training from %s", resumed_from)
    preemption = PreemptionHook(runs_per_step=num_accumulation_steps)
    hooks = [ProgressHook(num_train_steps, batch_size, log_every_seconds, runs_per_step=num_accumulation_steps),
             preemption, *extra_hooks]
    try:
        with reading_records(record_file):
            estimator.train(input_fn=input_fn, max_steps=num_train_steps, hooks=hooks)
    finally:
        preemption.restore_handlers()  # a failed run calls no hook's end
    preemption.raise_if_preempted(settings.output_dir)


def _inference_input(examples, batch_size, name, label_list, tokenizer, settings: RecordSettings):
    """Pads for TPUs, writes the TFRecord and returns (input_fn, num_actual, steps, record_file)."""
    num_actual = len(examples)
    if settings.use_tpu:
        # TPUs need full batches: pad with fake examples that get weight 0.
        examples = pad_to_batch_multiple(examples, batch_size)
    record_file = os.path.join(settings.output_dir, f"{name}.tf_record")
    write_records(examples, label_list, tokenizer, record_file, settings)
    tf.logging.info("  Num examples = %d (%d actual, %d padding)",
                    len(examples), num_actual, len(examples) - num_actual)
    tf.logging.info("  Batch size = %d", batch_size)
    input_fn = file_based_input_fn_builder(
        input_file=record_file, seq_length=settings.max_seq_length, is_training=False,
        drop_remainder=settings.use_tpu, is_regression=settings.is_regression,
        bucket_by_length=settings.bucket_by_length or settings.dynamic_padding,  # in order, trimmed
        multi_label_count=settings.multi_label_count)
    # On TPU the number of steps must be given; elsewhere the estimator reads to the end.
    steps = len(examples) // batch_size if settings.use_tpu else None
    return input_fn, num_actual, steps, record_file


def evaluate(estimator, examples, label_list, tokenizer, settings: RecordSettings, *, batch_size,
             write_reports=True, tracker=None):
    """Evaluates the last checkpoint on `examples`, writes eval_results.txt (and the
    reports; with evaluation during training, the last row of its history); returns the metrics."""
    tf.logging.info("***** Running evaluation *****")
    input_fn, num_actual, steps, record_file = _inference_input(examples, batch_size, "eval", label_list, tokenizer,
                                                                settings)
    checkpoint_path = estimator.latest_checkpoint()
    write_reports = write_reports and not settings.is_regression
    collector = eval_collector.ProbabilitiesCollector() if write_reports and not settings.use_tpu else None
    with reading_records(record_file):
        result = estimator.evaluate(input_fn=input_fn, steps=steps, checkpoint_path=checkpoint_path,
                                    hooks=[collector] if collector else None)
    if tracker is not None:
        tracker.record(result["global_step"], result, checkpoint_path)
    console.show("***** Eval results *****")
    per_label = set(classifier_metrics.per_label_metric_names(label_list)) if settings.multi_label_count else set()
    for key in sorted(result):
        (tf.logging.info if key in per_label else console.show)("  %s = %s", key, result[key])
    if per_label:
        console.show("  (and precision, recall, f1 and auc of each label: in eval_results.txt)")
    console.show("Wrote %s", output_files.write_eval_results(settings.output_dir, result, checkpoint_path))
    if write_reports:
        from bert_estimator.results import reports  # matplotlib and scikit-learn: only when reporting

        probabilities = collector.rows(num_actual) if collector else None
        if probabilities is None:  # on TPU (or nothing collected): a prediction pass
            with reading_records(record_file):
                predictions = estimator.predict(input_fn, checkpoint_path=checkpoint_path)
                probabilities = [p["probabilities"] for _, p in zip(range(num_actual), predictions)]
        label_ids = gold_label_ids(examples[:num_actual], label_list)
        if settings.multi_label_count:
            reports.write_multi_label_reports(settings.output_dir, label_list, label_ids, probabilities)
        else:
            reports.write_eval_reports(settings.output_dir, label_list, label_ids, probabilities)
        reports.plot_training_loss(settings.output_dir)
    return result


def gold_label_ids(examples, label_list) -> list:
    """The class id of each labelled example (a multi-hot list for a multi-label task)."""
    label_map = {label: i for i, label in enumerate(label_list)}
    multi_label = isinstance(label_list, processors.MultiLabelList)
    return [label_id_for(example, label_map, multi_label) for example in examples]


def tune_thresholds(estimator, examples, label_list, tokenizer, settings: RecordSettings, *, batch_size,
                    checkpoint_path):
    """--tune_thresholds: each label's threshold tuned on the predictions of
    `checkpoint_path` (the one --do_predict and --export_dir use) for the dev `examples`,
    written to thresholds.json (bert_estimator/training/thresholds.py)."""
    probabilities = predict(estimator, examples, label_list, tokenizer, settings, batch_size=batch_size,
                            checkpoint_path=checkpoint_path, name="eval")
    thresholds.tune_and_write(settings.output_dir, label_list, probabilities, gold_label_ids(examples, label_list),
                              checkpoint_path)


def predict(estimator, examples, label_list, tokenizer, settings: RecordSettings, *, batch_size,
            checkpoint_path=None, name="predict"):
    """Predicts `examples` from `checkpoint_path` (default: the last checkpoint); returns
    one row of class probabilities per example (one value for regression)."""
    tf.logging.info("***** Running prediction (%s) *****", name)
    input_fn, num_actual, _, record_file = _inference_input(examples, batch_size, name, label_list, tokenizer,
                                                            settings)
    rows = []
    with reading_records(record_file):
        for i, prediction in enumerate(estimator.predict(input_fn=input_fn, checkpoint_path=checkpoint_path)):
            if i >= num_actual:
                break  # TPU padding
            probabilities = prediction["probabilities"]
            rows.append([probabilities] if settings.is_regression else list(probabilities))
    if len(rows) != num_actual:
        raise RuntimeError(f"predicted {len(rows)} examples, expected {num_actual}")
    return rows


def write_glue_submission(estimator, processor, data_dir, rows, label_list, tokenizer, settings, *,
                          batch_size, checkpoint_path=None):
    """On a GLUE task, the file the GLUE server takes (and MNLI's AX.tsv when the
    diagnostic set is there); nothing for other tasks."""
    name = submission_files.submission_file(settings.task_name)
    if name is None:
        return
    path = submission_files.write_submission(settings.output_dir, name, processor.get_test_ids(data_dir), rows,
                                            label_list, settings.is_regression)
    console.show("GLUE submission file: %s", path)
    diagnostic = processor.diagnostic_file(data_dir) if settings.task_name == "mnli" else None
    if diagnostic:
        ax_rows = predict(estimator, processor.get_diagnostic_examples(diagnostic), label_list, tokenizer, settings,
                          batch_size=batch_size, checkpoint_path=checkpoint_path, name="diagnostic")
        path = submission_files.write_submission(settings.output_dir, submission_files.DIAGNOSTIC_FILE,
                                                processor.get_diagnostic_ids(diagnostic), ax_rows, label_list,
                                                settings.is_regression)
        console.show("GLUE diagnostic submission file: %s", path)


def export(estimator, export_dir, settings: RecordSettings, *, vocab_file, do_lower_case, label_list,
           init_checkpoint, checkpoint_path=None, pair=None, version=None, thresholds=None, label_separator=None):
    """Exports a SavedModel of `checkpoint_path` (default: the last checkpoint) with the
    tokenizer's files, for `predict.py`; a multi-label one with each label's decision
    threshold and the separator of its label sets."""
    multi_label = {"is_multi_label": True, "thresholds": thresholds,
                   "label_separator": label_separator} if settings.multi_label_count else {}
    saved_model.export_model(estimator, export_dir, max_seq_length=settings.max_seq_length,
                         vocab_file=vocab_file, do_lower_case=do_lower_case, label_list=label_list,
                         is_regression=settings.is_regression, truncation=settings.truncation,
                         init_checkpoint=init_checkpoint, checkpoint_path=checkpoint_path, pair=pair,
                         version=version, **multi_label)


def evaluation_during_training(estimator, examples, label_list, tokenizer, settings: RecordSettings, *,
                               batch_size, num_train_steps, every_n_steps, steps_per_epoch, best_metric,
                               patience, save_checkpoints_steps):
    """(tracker, saver hook) that evaluate on `examples` at the evaluation steps while
    training, keep the best checkpoint and stop early (bert_estimator/training/evaluation.py)."""
    tf.logging.info("***** Preparing evaluation during training *****")
    input_fn, _, steps, _ = _inference_input(examples, batch_size, "eval", label_list, tokenizer, settings)
    tracker = evaluation.EvaluationTracker(settings.output_dir, best_metric, patience)
    eval_steps = evaluation.evaluation_steps(num_train_steps, every_n_steps, steps_per_epoch)
    listener = evaluation.EvaluateOnSaveListener(
        lambda checkpoint: estimator.evaluate(input_fn=input_fn, steps=steps, checkpoint_path=checkpoint),
        eval_steps, tracker, settings.output_dir)
    return tracker, evaluation.evaluating_saver_hook(settings.output_dir, save_checkpoints_steps, listener)


# ---------------------------------------------------------------------------------- main
def read_examples(processor, data_dir: str, *, do_train: bool, do_eval: bool, do_predict: bool,
                  task_name: str = "", allow_single_label: bool = True):
    """(train, dev, test) examples of the steps asked for (None for the others), all
    read before anything is written, so bad data stops the run early. A classification
    training set of one label stops the run unless `allow_single_label`
    (`checks.check_label_variety`)."""
    train_examples = processor.get_train_examples(data_dir) if do_train else None
    if train_examples is not None and processor.output_mode != processors.REGRESSION:
        # before the dev set, whose other labels a label list taken from train would not know
        checks.check_label_variety(train_examples, processor.get_labels(), task_name=task_name,
                                   allow=allow_single_label)
    eval_examples = processor.get_dev_examples(data_dir) if do_eval else None
    predict_examples = processor.get_test_examples(data_dir) if do_predict else None
    if processor.output_mode != processors.REGRESSION:
        processors.check_labels(processor.get_labels(), {"train": train_examples, "dev": eval_examples})
    return train_examples, eval_examples, predict_examples


def reads_pairs(processor, data_dir: str, examples) -> bool:
    """Whether the task's examples are sentence pairs (what an export records): of the
    first of `examples` (train, dev, test; None for a split not read) that holds any;
    with none read (an export alone), of the train split, else of the dev or the test
    split, the first that reads (the first one's error when none does)."""
    read = next((split for split in examples if split), None)
    if read is None:
        error = None
        for get_examples in (processor.get_train_examples, processor.get_dev_examples,
                             processor.get_test_examples):
            try:
                read = get_examples(data_dir)
                break
            except processors.DataError as e:
                error = error or e
        if read is None:
            raise error
    return any(e.text_b is not None for e in read)


def training_steps(num_examples: int, *, train_batch_size: int, num_train_epochs: float,
                   warmup_proportion: float) -> tuple[int, int]:
    """(num_train_steps, num_warmup_steps), computed as the original does."""
    num_train_steps = int(num_examples / train_batch_size * num_train_epochs)
    if num_train_steps < 1:
        raise UsageError(
            f"{num_examples} training examples make no full batch of --train_batch_size "
            f"{train_batch_size} in --num_train_epochs {num_train_epochs}")
    return num_train_steps, int(num_train_steps * warmup_proportion)


def show_settings(settings: Settings, label_list, is_regression: bool, examples, num_train_steps,
                  num_warmup_steps, log_file: str) -> None:
    """The run in a few console lines: task, data, model, training, outputs."""
    counts = ", ".join(f"{len(split)} {name}" for name, split in zip(("train", "dev", "test"), examples)
                       if split is not None)
    labels = "regression (one value)" if is_regression else f"{len(label_list)} labels ({', '.join(label_list)})"
    if isinstance(label_list, processors.MultiLabelList):
        labels = f"multi-label, {labels}"
    console.show("Task %s: %s; examples: %s (from %s)", settings.task_name, labels, counts or "none read",
                 settings.data_dir)
    model = settings.bert_hub_module_handle or settings.init_checkpoint or "random weights (no --init_checkpoint)"
    fine_tuned = None if settings.do_train else tf.train.latest_checkpoint(settings.output_dir)
    if fine_tuned:  # evaluation, prediction or export alone: the run's own checkpoint is what they restore
        model = f"{fine_tuned} (the last checkpoint of --output_dir)"
    console.show("Model: %s; max_seq_length %d, do_lower_case %s", model, settings.max_seq_length,
                 settings.do_lower_case)
    if settings.do_train:
        console.show("Training: %d steps of %d examples (%s epochs), %d warmup, learning rate %g",
                     num_train_steps, settings.train_batch_size, f"{settings.num_train_epochs:g}",
                     num_warmup_steps, settings.learning_rate)
    console.show("Output: %s (the full log: %s)", settings.output_dir, log_file)


def main(_):
    settings = Settings.from_flags(FLAGS)  # the flags' values, read once
    run_log = console.RunLog(verbose=settings.verbose).install()  # console, and run_classifier.log
    try:
        run(settings, run_log)
    finally:
        run_log.uninstall()


def run(settings: Settings, run_log: console.RunLog):
    """The run: checks and inputs first (nothing is written before they pass), then the
    steps the flags ask for."""
    if settings.use_xla:
        estimator_setup.enable_cpu_xla_jit()  # before anything lists the devices

    # Checks and inputs: whatever bad input stops the run, before anything is written.
    checks.validate_flags(settings)
    processor = checks.make_processor(settings)
    bert_config = checks.load_bert_config(settings.bert_config_file, settings.max_seq_length,
                                          settings.bert_hub_module_handle)
    vocab_file, do_lower_case = checks.tokenizer_settings(settings)
    tokenizer = checks.make_tokenizer(vocab_file, do_lower_case)
    label_list = processor.get_labels()
    is_regression = processor.output_mode == processors.REGRESSION
    is_multi_label = processor.output_mode == processors.MULTI_LABEL
    # how a multi-label task writes an example's labels as one string (the csv task: --label_separator)
    label_separator = getattr(processor, "label_separator", processors.DEFAULT_LABEL_SEPARATOR)
    num_labels = 1 if is_regression else len(label_list)
    checks.check_problem_options(settings, processor.output_mode, label_list)
    train_examples, eval_examples, predict_examples = read_examples(
        processor, settings.data_dir, do_train=settings.do_train, do_eval=settings.do_eval,
        do_predict=settings.do_predict, task_name=settings.task_name,
        allow_single_label=settings.allow_single_label)
    pair = reads_pairs(processor, settings.data_dir, (train_examples, eval_examples, predict_examples)) \
        if settings.export_dir else None
    weights = class_weights.parse(settings.class_weights, label_list, train_examples)
    num_train_steps, num_warmup_steps = training_steps(
        len(train_examples), train_batch_size=settings.train_batch_size,
        num_train_epochs=settings.num_train_epochs,
        warmup_proportion=settings.warmup_proportion) if settings.do_train else (None, None)
    if settings.init_checkpoint:
        check_init_checkpoint(bert_config, settings.init_checkpoint, num_labels, is_regression,
                              reinitialize_head=settings.reinitialize_head, is_multi_label=is_multi_label)
    # A latest checkpoint that cannot be read: training goes back to the newest intact
    # one (inside the lock, below); the other steps would restore it, so they stop. With
    # multi-worker training the chief, which holds the lock, does it alone.
    writes_checkpoints = settings.distribution_strategy != "multi_worker_mirrored" or distribution.is_chief()
    damaged = estimator_setup.find_damaged_checkpoints(settings.output_dir) \
        if writes_checkpoints and tf.io.gfile.isdir(settings.output_dir) else None
    if damaged is not None:
        estimator_setup.check_can_go_back(settings.output_dir, damaged)
        if not settings.do_train:
            raise UsageError(f"{damaged.describe()}: rerun with --do_train to go back to {damaged.intact}, the "
                             "newest intact checkpoint, and train from there")
    best_metric = settings.best_metric or evaluation.main_metric(settings.task_name, is_regression, is_multi_label)
    evaluation.check_best_metric(best_metric, settings.task_name, num_labels, is_regression,
                                 label_list if is_multi_label else None)
    during_training = checks.evaluates_during_training(settings.evaluate_every_n_steps,
                                                       settings.evaluate_every_epoch)
    # The checkpoint to predict and export from. A run that does not evaluate during
    # training leaves best/ as it is: chosen now, and --predict_from=best without one stops
    # here; otherwise after training and evaluation, which keep the best in best/.
    checkpoint_path = None if during_training else chosen_checkpoint(settings.predict_from, settings.output_dir)
    checks.check_trained_head(settings)
    checks.make_output_dir(settings.output_dir)
    log_file = run_log.attach_log_file(log_file_path(settings.distribution_strategy, settings.output_dir))
    show_settings(settings, label_list, is_regression, (train_examples, eval_examples, predict_examples),
                  num_train_steps, num_warmup_steps, log_file)
    if weights is not None:
        console.show("Class weights (%s, %s): %s; recorded in %s", settings.class_weights,
                     "pos_weight per label" if is_multi_label else "per class",
                     class_weights.describe(weights, label_list),
                     class_weights.record(settings.output_dir, settings.class_weights, weights, label_list,
                                          train_examples))

    # The steps.
    with output_dir_lock(settings.distribution_strategy, settings.output_dir):
        if damaged is not None:
            estimator_setup.go_back_to_intact_checkpoint(settings.output_dir, damaged)
        if settings.reinitialize_head:
            console.show("--reinitialize_head: the classifier layer (output_weights, output_bias) is not restored "
                         "from %s; a new one of %d outputs starts from random", settings.init_checkpoint,
                         num_labels)
        model_fn = model_fn_from_settings(settings, bert_config, num_labels, is_regression, num_train_steps,
                                          num_warmup_steps, label_list, class_weights=weights)
        estimator = estimator_setup.make_estimator(model_fn, settings)
        records = RecordSettings.from_settings(settings, is_regression, num_labels if is_multi_label else 0)
        tracker, eval_hooks = None, []
        if during_training:
            tracker, saver_hook = evaluation_during_training(
                estimator, eval_examples, label_list, tokenizer, records, batch_size=settings.eval_batch_size,
                num_train_steps=num_train_steps, every_n_steps=settings.evaluate_every_n_steps,
                steps_per_epoch=(len(train_examples) // settings.train_batch_size
                                 if settings.evaluate_every_epoch else None),
                best_metric=best_metric, patience=settings.early_stopping_patience,
                save_checkpoints_steps=settings.save_checkpoints_steps)
            eval_hooks = [saver_hook]
        if settings.do_train:
            train(estimator, train_examples, label_list, tokenizer, records,
                  record_file=train_record_file(settings.distribution_strategy, settings.output_dir),
                  num_train_steps=num_train_steps, batch_size=settings.train_batch_size,
                  num_accumulation_steps=settings.num_accumulation_steps,
                  shuffle_buffer_size=settings.shuffle_buffer_size, log_every_seconds=settings.log_every_seconds,
                  extra_hooks=eval_hooks)
        if settings.do_eval:
            evaluate(estimator, eval_examples, label_list, tokenizer, records,
                     batch_size=settings.eval_batch_size, write_reports=settings.write_reports, tracker=tracker)
        if during_training:  # after the last evaluation, which may have made a new best
            checkpoint_path = chosen_checkpoint(settings.predict_from, settings.output_dir)
        if settings.tune_thresholds:
            tune_thresholds(estimator, eval_examples, label_list, tokenizer, records,
                            batch_size=settings.eval_batch_size,
                            checkpoint_path=checkpoint_path or estimator.latest_checkpoint())
        label_thresholds = None
        if is_multi_label and (settings.do_predict or settings.export_dir):
            label_thresholds = thresholds.for_checkpoint(settings.output_dir, label_list,
                                                         checkpoint_path or estimator.latest_checkpoint())
        if settings.do_predict:
            rows = predict(estimator, predict_examples, label_list, tokenizer, records,
                           batch_size=settings.predict_batch_size, checkpoint_path=checkpoint_path)
            console.show("Wrote %s", output_files.write_test_results(settings.output_dir, rows))
            if is_multi_label:
                console.show("Wrote %s", output_files.write_predicted_label_sets(
                    settings.output_dir, [e.guid for e in predict_examples], rows, label_list, label_thresholds,
                    label_separator))
            write_glue_submission(estimator, processor, settings.data_dir, rows, label_list, tokenizer, records,
                                  batch_size=settings.predict_batch_size, checkpoint_path=checkpoint_path)
        if settings.export_dir:
            export(estimator, settings.export_dir, records, vocab_file=vocab_file, do_lower_case=do_lower_case,
                   label_list=label_list, init_checkpoint=settings.init_checkpoint,
                   checkpoint_path=checkpoint_path, pair=pair, version=settings.export_version,
                   thresholds=label_thresholds, label_separator=label_separator)


def chosen_checkpoint(predict_from: str, output_dir: str) -> str | None:
    """The checkpoint --do_predict and --export_dir use: None (the last) or the best,
    which must then be in `output_dir`/best/ (UsageError if not)."""
    if predict_from != "best":
        return None
    path = evaluation.best_checkpoint(output_dir)
    if path is None:
        raise UsageError(f"--predict_from=best: no best checkpoint in {os.path.join(output_dir, evaluation.BEST_DIR)}; "
                         "evaluate during training (--evaluate_every_n_steps or --evaluate_every_epoch)")
    console.show("Predicting and exporting from the best checkpoint: %s", path)
    return path


def check_init_checkpoint(bert_config, init_checkpoint, num_labels, is_regression, reinitialize_head=False,
                          is_multi_label=False):
    """Stops before anything is written when the checkpoint's shapes do not fit the model
    (its classifier layer aside with `reinitialize_head`: that is not restored)."""

    def build_model():
        ids = tf.zeros([1, 8], tf.int32)
        labels = tf.zeros([1, num_labels] if is_multi_label else [1], tf.float32 if is_regression else tf.int32)
        create_model(bert_config, False, ids, ids, ids, labels, num_labels, False, is_regression,
                     is_multi_label=is_multi_label)

    checks.check_checkpoint_fits(build_model, init_checkpoint,
                                 skip=checks.CLASSIFIER_HEAD if reinitialize_head else ())


def model_fn_from_settings(settings: Settings, bert_config, num_labels, is_regression, num_train_steps,
                           num_warmup_steps, label_list, class_weights=None):
    """`model_fn_builder` with the run's --init_checkpoint, --learning_rate, --use_tpu,
    --bert_hub_module_handle, --num_accumulation_steps, --use_amp, --adam_bias_correction and
    --reinitialize_head; the task's `label_list` (a `processors.MultiLabelList` makes a
    multi-label head), and the weights of --class_weights (None: unweighted)."""
    return model_fn_builder(
        bert_config=bert_config,
        num_labels=num_labels,
        init_checkpoint=settings.init_checkpoint,
        learning_rate=settings.learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        use_tpu=settings.use_tpu,
        use_one_hot_embeddings=settings.use_tpu,
        is_regression=is_regression,
        hub_module_handle=settings.bert_hub_module_handle,
        num_accumulation_steps=settings.num_accumulation_steps,
        use_amp=settings.use_amp,
        adam_bias_correction=settings.adam_bias_correction,
        reinitialize_head=settings.reinitialize_head,
        is_multi_label=isinstance(label_list, processors.MultiLabelList),
        class_weights=class_weights,
        label_list=label_list)


def output_dir_lock(distribution_strategy: str, output_dir: str):
    """The lock of --output_dir; with multi-worker training only the chief takes it
    (the workers share the directory by design)."""
    if distribution_strategy == "multi_worker_mirrored":
        if not distribution.is_chief():
            return contextlib.nullcontext()
    return OutputDirLock(output_dir)


def log_file_path(distribution_strategy: str, output_dir: str) -> str:
    """The run's full log: run_classifier.log, each worker's own with multi-worker training."""
    if distribution_strategy == "multi_worker_mirrored":
        return distribution.task_file(output_dir, "run_classifier", "log")
    return os.path.join(output_dir, console.LOG_FILE)


def train_record_file(distribution_strategy: str, output_dir: str) -> str:
    """The training TFRecord file: each worker's own with multi-worker training."""
    if distribution_strategy == "multi_worker_mirrored":
        return distribution.train_record_file(output_dir)
    return os.path.join(output_dir, "train.tf_record")


def run_main(argv):
    """`main` with user errors turned into one line and exit status 1 (bert_estimator.core.errors)."""

    def main_with_nan_message():
        try:
            main(argv)
        except tf.train.NanLossDuringTrainingError:
            raise UsageError("the training loss became NaN; lower --learning_rate or check the data and "
                             "the checkpoint") from None

    run_cli(main_with_nan_message, "run_classifier.py",
            cleanup=lambda: FLAGS.output_dir and estimator_setup.remove_partial_checkpoints(FLAGS.output_dir))


HELP_ARGS = ("-h", "--help", "-?", "--helpshort")


def flag_rows():
    """(group, flag name, default as the command line spells it, help) of every flag, in
    `FLAG_GROUPS` order: what `--help` prints and docs/FLAGS.md tabulates."""
    for group, names in FLAG_GROUPS:
        for name in names:
            flag = FLAGS[name]
            yield group, name, flag.default_as_str, flag.help


def flags_help() -> str:
    """The `--help` text of the flags, grouped as `FLAG_GROUPS`."""
    lines, previous = [], None
    for group, name, default, text in flag_rows():
        if group != previous:
            lines += ["", f"{group}:"] if previous else [f"{group}:"]
            previous = group
        spelled = f"--[no]{name}" if FLAGS[name].boolean else f"--{name}"
        described = f"{spelled}: {text}" + (f" (default: {default})" if default else "")
        lines.append(textwrap.fill(described, width=100, initial_indent="  ", subsequent_indent="      "))
    return "\n".join(lines)


def cli():
    """The command line: `python run_classifier.py ...` or the installed `bert-run-classifier`."""
    # As the original; vocab_file and bert_config_file are required too unless
    # --bert_hub_module_handle is given, which checks.validate_flags checks.
    for name in ("data_dir", "task_name", "output_dir"):
        flags.mark_flag_as_required(name)
    if any(arg in HELP_ARGS for arg in sys.argv[1:]):
        # absl's --help exits 1, and under a console script (whose __main__ is pip's
        # wrapper) lists no flag: print this module's flags, by group, and exit 0.
        print(f"{__doc__.strip()}\n\n{flags_help()}")
        sys.exit(0)
    app.run(run_main)


if __name__ == "__main__":
    cli()
