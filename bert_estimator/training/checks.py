"""Checks on flags and inputs, done before anything is read or written.

Each check raises `UsageError` (a flag) or `DataError` (a file) with one line naming
what to fix. `run_classifier.main` calls them in order, with the run's `Settings` (the
flags, read once) or the values they read.
"""

from __future__ import annotations

import collections
import os
import re
from typing import Callable, Optional, Sequence

import tensorflow.compat.v1 as tf

import modeling
import processors
import tokenization
from bert_estimator.core.errors import UsageError
from bert_estimator.data import casing
from bert_estimator.serving import saved_model
from bert_estimator.training import distribution, evaluation, metrics, tfhub
from bert_estimator.training.settings import Settings
from processors import imdb

# The classifier layer's variables (run_classifier.create_model): what a fine-tuned
# checkpoint adds to a pre-trained BERT, and what --reinitialize_head leaves out.
CLASSIFIER_HEAD = ("output_weights", "output_bias")
# The guid of an example of the Kaggle IMDB file's train split (processors/imdb.py): its
# split is by position, the first half of the rows.
_KAGGLE_IMDB_TRAIN_GUID = re.compile(r"train-\d+")


def validate_flags(settings: Settings) -> None:
    """Checks on the flags alone (and on the paths they name)."""
    _check_required(settings)
    _check_values(settings)
    _check_speed_flags(settings)
    _check_evaluation_flags(settings)
    _check_distribution(settings)
    _check_paths(settings)


def _check_required(settings: Settings) -> None:
    required = ["data_dir", "task_name", "output_dir"]
    if not settings.bert_hub_module_handle:
        required += ["vocab_file", "bert_config_file"]
    for name in required:
        if not getattr(settings, name):
            raise UsageError(f"--{name} is required")
    if not (settings.do_train or settings.do_eval or settings.do_predict or settings.export_dir):
        raise UsageError("at least one of --do_train, --do_eval or --do_predict must be set "
                         "(or --export_dir alone, to export the last checkpoint of --output_dir)")
    if settings.reinitialize_head and not settings.init_checkpoint:
        raise UsageError("--reinitialize_head needs --init_checkpoint (the checkpoint whose classifier layer "
                         "it leaves out)")


def _check_values(settings: Settings) -> None:
    for name in ("train_batch_size", "eval_batch_size", "predict_batch_size"):
        if getattr(settings, name) <= 0:
            raise UsageError(f"--{name} must be positive, got {getattr(settings, name)}")
    if settings.do_train:
        if settings.num_train_epochs <= 0:
            raise UsageError(f"--num_train_epochs must be positive, got {settings.num_train_epochs}")
        if settings.learning_rate <= 0:
            raise UsageError(f"--learning_rate must be positive, got {settings.learning_rate}")
        if not 0.0 <= settings.warmup_proportion <= 1.0:
            raise UsageError(f"--warmup_proportion must be in [0, 1], got {settings.warmup_proportion}")
    if settings.max_seq_length < 3:
        raise UsageError(f"--max_seq_length must be at least 3 ([CLS] x [SEP]), got {settings.max_seq_length}")
    if settings.use_tpu and not (settings.tpu_name or settings.master):
        raise UsageError("--use_tpu needs --tpu_name (or --master)")
    if settings.shuffle_buffer_size < 0:
        raise UsageError(f"--shuffle_buffer_size must be 0 (shuffled epochs) or positive, "
                         f"got {settings.shuffle_buffer_size}")


def _check_speed_flags(settings: Settings) -> None:
    """--bucket_by_length, --use_amp and --num_accumulation_steps, and what they exclude."""
    k = settings.num_accumulation_steps
    if k < 1:
        raise UsageError(f"--num_accumulation_steps must be at least 1, got {k}")
    if k > 1 and settings.train_batch_size % k:
        raise UsageError(f"--train_batch_size {settings.train_batch_size} is not divisible by "
                         f"--num_accumulation_steps {k}: each update is {k} equal micro-batches")
    single_device = {"--use_amp": settings.use_amp, f"--num_accumulation_steps={k}": k > 1}
    for name, used in single_device.items():
        if used and settings.use_tpu:
            raise UsageError(f"{name} is not supported with --use_tpu")
        if used and settings.distribution_strategy != "none":
            raise UsageError(f"{name} is not supported with --distribution_strategy="
                             f"{settings.distribution_strategy} (single device only)")
    if settings.use_amp and k > 1:
        raise UsageError("--use_amp and --num_accumulation_steps > 1 cannot be combined yet")
    if settings.bucket_by_length and settings.use_tpu:
        raise UsageError("--bucket_by_length is not supported with --use_tpu (TPUs need a fixed sequence length)")
    if settings.bucket_by_length and settings.fixed_padding:
        raise UsageError("--bucket_by_length and --fixed_padding exclude each other")


def evaluates_during_training(evaluate_every_n_steps: int, evaluate_every_epoch: bool) -> bool:
    """Whether a run with these flags evaluates on the dev set while it trains."""
    return bool(evaluate_every_n_steps or evaluate_every_epoch)


def _check_evaluation_flags(settings: Settings) -> None:
    """--evaluate_every_n_steps, --evaluate_every_epoch, --best_metric, --early_stopping_patience."""
    for name in ("evaluate_every_n_steps", "early_stopping_patience"):
        if getattr(settings, name) < 0:
            raise UsageError(f"--{name} must be 0 (off) or positive, got {getattr(settings, name)}")
    during = evaluates_during_training(settings.evaluate_every_n_steps, settings.evaluate_every_epoch)
    if not during:
        for name in ("early_stopping_patience", "best_metric"):
            if getattr(settings, name):
                raise UsageError(f"--{name} needs evaluation during training: set --evaluate_every_n_steps "
                                 "or --evaluate_every_epoch")
        return
    if not (settings.do_train and settings.do_eval):
        raise UsageError("--evaluate_every_n_steps and --evaluate_every_epoch need --do_train and --do_eval "
                         "(the dev set is what they evaluate)")
    if settings.use_tpu:
        raise UsageError("evaluation during training is not supported with --use_tpu (the original's flow: "
                         "evaluate after training)")
    if settings.distribution_strategy == "multi_worker_mirrored":
        raise UsageError("evaluation during training is not supported with "
                         "--distribution_strategy=multi_worker_mirrored")


def _check_distribution(settings: Settings) -> None:
    """tf.distribute (docs/DISTRIBUTED.md): the strategy, TF_CONFIG and the visible devices."""
    strategy = settings.distribution_strategy
    if strategy == "none":
        if settings.num_gpus:
            raise UsageError("--num_gpus needs --distribution_strategy=mirrored (or multi_worker_mirrored)")
        return
    if settings.use_tpu:
        raise UsageError(f"--distribution_strategy={strategy} and --use_tpu exclude each other: on a TPU, "
                         "TPUEstimator spreads each batch over --num_tpu_cores")
    replicas = distribution.num_replicas(strategy, settings.num_gpus)
    if settings.do_train and settings.train_batch_size % replicas:
        raise UsageError(f"--train_batch_size {settings.train_batch_size} is not divisible by the {replicas} "
                         f"replicas of --distribution_strategy={strategy}: it is the global batch, split "
                         "evenly")
    chief_only = [f"--{name}" for name in ("do_eval", "do_predict", "export_dir") if getattr(settings, name)]
    if strategy == "multi_worker_mirrored" and chief_only and not distribution.is_chief():
        raise UsageError(f"{', '.join(chief_only)}: only the chief evaluates, predicts and exports with "
                         "--distribution_strategy=multi_worker_mirrored; leave them out of the other "
                         "workers' command lines")


def _check_paths(settings: Settings) -> None:
    if not tf.io.gfile.isdir(settings.data_dir):
        raise UsageError(f"--data_dir not found: {settings.data_dir}")
    if settings.export_dir:
        try:
            saved_model.check_export_dir(settings.export_dir, settings.export_version)
        except saved_model.ExportError as e:
            raise UsageError(f"--export_dir: {e}") from None
    if settings.bert_hub_module_handle:
        if settings.init_checkpoint:
            raise UsageError("--init_checkpoint and --bert_hub_module_handle exclude each other: "
                             "the module carries its weights")
        return
    for name in ("vocab_file", "bert_config_file"):
        if not tf.io.gfile.exists(getattr(settings, name)):
            raise UsageError(f"--{name} not found: {getattr(settings, name)}")
    if settings.init_checkpoint and not tf.io.gfile.exists(settings.init_checkpoint + ".index"):
        raise UsageError(f"--init_checkpoint not found: {settings.init_checkpoint} "
                         f"(expected {settings.init_checkpoint}.index and its data files)")


def load_bert_config(bert_config_file: Optional[str], max_seq_length: int,
                     bert_hub_module_handle: Optional[str] = None) -> Optional[modeling.BertConfig]:
    """The model's `BertConfig`, checked against --max_seq_length (None with a Hub module)."""
    if bert_hub_module_handle:
        return None
    try:
        bert_config = modeling.BertConfig.from_json_file(bert_config_file)
    except (ValueError, TypeError, KeyError) as e:
        raise UsageError(f"--bert_config_file {bert_config_file} is not a BERT config: {e}") from None
    if max_seq_length > bert_config.max_position_embeddings:
        raise UsageError(
            f"--max_seq_length {max_seq_length} is longer than the model's "
            f"max_position_embeddings {bert_config.max_position_embeddings} ({bert_config_file})")
    return bert_config


def tokenizer_settings(settings: Settings) -> tuple[str, bool]:
    """(vocab_file, do_lower_case): from the Hub module; else the casing recorded beside
    the model (`casing`: tokenizer_config.json, which a contradicting --do_lower_case
    may not override) or --do_lower_case, checked against the checkpoint's name as the
    original does and, with no record, against the vocabulary. --allow_casing_mismatch
    turns the record and vocabulary checks into warnings."""
    if settings.bert_hub_module_handle:
        return tfhub.tokenization_info(settings.bert_hub_module_handle)
    given = settings.given("do_lower_case")
    allow = settings.allow_casing_mismatch
    do_lower_case, record, warning = casing.model_casing(
        settings.do_lower_case, given, allow,
        (settings.init_checkpoint, settings.vocab_file, settings.bert_config_file))
    try:
        tokenization.validate_case_matches_checkpoint(do_lower_case, settings.init_checkpoint)
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    if record is None:
        warning = casing.check_vocab(do_lower_case, given, allow, settings.vocab_file)
    elif not given:
        tf.logging.info("do_lower_case=%s, as %s records", do_lower_case, record.path)
    if warning:
        tf.logging.warning(warning)
    return settings.vocab_file, do_lower_case


def make_tokenizer(vocab_file: str, do_lower_case: bool) -> tokenization.FullTokenizer:
    try:
        return tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=do_lower_case)
    except (ValueError, OSError) as e:
        raise UsageError(f"--vocab_file: {e}") from None


def check_problem_options(settings: Settings, output_mode: str, label_list: Sequence[str]) -> None:
    """Flags that only a kind of task reads: --tune_thresholds (multi-label, with
    --do_eval, whose dev set it tunes on), --class_weights (classification); and labels
    whose metric names (`f1_<label>`) would collide."""
    multi_label = output_mode == processors.MULTI_LABEL
    if settings.tune_thresholds and not multi_label:
        raise UsageError(f"--tune_thresholds tunes the per-label thresholds of a multi-label task; --task_name="
                         f"{settings.task_name} is {output_mode} (--problem_type=multi_label_classification)")
    if settings.tune_thresholds and not settings.do_eval:
        raise UsageError("--tune_thresholds tunes on the dev set: add --do_eval")
    if settings.class_weights and output_mode == processors.REGRESSION:
        raise UsageError("--class_weights weighs the labels of a classification task; this one is a regression")
    if multi_label:
        names = collections.Counter(metrics.metric_label(label) for label in label_list)
        clashes = [label for label in label_list if names[metrics.metric_label(label)] > 1]
        if clashes:
            raise UsageError(f"labels {clashes} give the same metric names ({metrics.metric_label(clashes[0])}): "
                             "rename them (letters, digits, '-', '.' and '_' are kept)")


def make_processor(settings: Settings) -> processors.DataProcessor:
    """The task's processor, with the options (`processors.OPTION_FLAGS`) of the flags
    given: a flag left at its default sets nothing (--xnli_language's "zh" is XNLI's own
    default, not an option of every task), and a given flag the task does not read stops
    the run (`processors.get_processor`)."""
    options = {option: getattr(settings, flag) for option, flag in processors.OPTION_FLAGS.items()
               if settings.given(flag)}
    try:
        return processors.get_processor(settings.task_name, data_dir=settings.data_dir, seed=settings.seed,
                                        **options)
    except UsageError:
        raise  # names its flag already
    except (KeyError, ValueError) as e:
        raise UsageError(f"--task_name: {e}") from None


def check_checkpoint_fits(build_model: Callable[[], None], init_checkpoint: str,
                          skip: Sequence[str] = ()) -> None:
    """Raises UsageError naming the first model variable whose shape differs in
    `init_checkpoint` (the variables named in `skip` aside: those not restored).
    `build_model()` builds the model in the current (throwaway) graph, so nothing is
    written before the user hears of the mismatch. A classifier layer of another label
    count gets its own message, pointing to --reinitialize_head."""
    ckpt_shapes = dict(tf.train.list_variables(init_checkpoint))
    with tf.Graph().as_default():
        build_model()
        for var in tf.global_variables():
            name = var.op.name
            if name in skip:
                continue
            if name in ckpt_shapes and list(ckpt_shapes[name]) != var.shape.as_list():
                if name in CLASSIFIER_HEAD:
                    raise UsageError(
                        f"--init_checkpoint {init_checkpoint} is a fine-tuned classifier of "
                        f"{ckpt_shapes[name][0]} labels, this task has {var.shape.as_list()[0]} (variable {name} "
                        f"has shape {list(ckpt_shapes[name])} in the checkpoint but {var.shape.as_list()} in the "
                        "model); pass --reinitialize_head to train a new classifier layer on its encoder")
                raise UsageError(
                    f"--init_checkpoint {init_checkpoint} does not fit --bert_config_file: variable "
                    f"{name} has shape {list(ckpt_shapes[name])} in the checkpoint but "
                    f"{var.shape.as_list()} in the model")


def make_output_dir(path: str) -> None:
    """Creates `path` and checks it is writable; raises UsageError if not."""
    try:
        tf.io.gfile.makedirs(path)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as e:
        raise UsageError(f"--output_dir {path} is not writable: {getattr(e, 'message', e)}") from None


def head_in_checkpoint(init_checkpoint: Optional[str]) -> bool:
    """Whether `init_checkpoint` holds a classifier layer (`output_weights`): a fine-tuned
    checkpoint rather than a pre-trained BERT."""
    if not init_checkpoint:
        return False
    return CLASSIFIER_HEAD[0] in dict(tf.train.list_variables(init_checkpoint))


def check_trained_head(settings: Settings) -> None:
    """Stops a run that evaluates, predicts or exports without training when no training
    ever wrote its classifier layer: no checkpoint in --output_dir, and --init_checkpoint
    (if any) holds no `output_weights` (or --reinitialize_head leaves them out). Such a
    head is random: its eval_accuracy is chance. --allow_untrained_head lets evaluation
    and prediction go on; an export of a random head is refused all the same
    (`saved_model.export_model` would refuse it after the other steps)."""
    if settings.do_train:
        return
    if tf.train.latest_checkpoint(settings.output_dir) is not None:
        return
    if settings.predict_from == "best" and not settings.do_eval and evaluation.best_checkpoint(settings.output_dir):
        return  # --do_predict and --export_dir restore best/'s checkpoint (a pruned sweep run keeps no other)
    if not settings.reinitialize_head and head_in_checkpoint(settings.init_checkpoint):
        return
    if settings.init_checkpoint:
        source = (f"--reinitialize_head leaves out the classifier layer of --init_checkpoint "
                  f"{settings.init_checkpoint}" if settings.reinitialize_head else
                  f"--init_checkpoint {settings.init_checkpoint} holds no classifier layer (output_weights): "
                  "a pre-trained model, not a fine-tuned one")
    elif settings.bert_hub_module_handle:
        source = "the Hub module holds no classifier layer"
    else:
        source = "no --init_checkpoint was given"
    where = f"nothing was trained in --output_dir {settings.output_dir} and {source}"
    if settings.export_dir:
        raise UsageError(f"--export_dir: no fine-tuned classifier to export: {where}; add --do_train, or pass the "
                         "--output_dir of a training run (or a fine-tuned --init_checkpoint)")
    if settings.allow_untrained_head:
        return
    steps = ", ".join(f"--{name}" for name in ("do_eval", "do_predict") if getattr(settings, name))
    raise UsageError(f"{steps}: the classifier layer is untrained (random): {where}; add --do_train, pass the "
                     "--output_dir of a training run or a fine-tuned --init_checkpoint (a model.ckpt-N of one), or "
                     "--allow_untrained_head to go on with a random head")


def check_label_variety(train_examples: Sequence[processors.InputExample], label_list: Sequence[str], *,
                        task_name: str, allow: bool) -> None:
    """Stops training on examples that all carry one label (unless `allow`,
    --allow_single_label): a classifier trained so predicts that label for everything.
    The message counts the examples of each label and, for the Kaggle IMDB file (whose
    train split is its first half of rows), says that the file looks sorted by label.
    Labels outside `label_list` are left to `processors.check_labels`."""
    multi_label = isinstance(label_list, processors.MultiLabelList)  # then: one label set for every example
    counts = collections.Counter(frozenset(processors.example_labels(e.label)) if multi_label else e.label
                                 for e in train_examples)
    if allow or len(counts) != 1:
        return
    (only, count), = counts.items()
    if multi_label:
        shown = "{" + ", ".join(label for label in label_list if label in only) + "}"
        raise processors.DataError(f"the training set has one label set: its {count} examples all carry {shown}; "
                                   "a multi-label model learns nothing from it (--allow_single_label to train on "
                                   "it anyway)")
    if only not in label_list:
        return
    per_label = ", ".join(f"{label}: {counts.get(label, 0)}" for label in label_list)
    message = f"the training set has one label: its {count} examples are all {only!r} ({per_label})"
    if task_name.lower() == "imdb" and all(_KAGGLE_IMDB_TRAIN_GUID.fullmatch(e.guid) for e in train_examples):
        message += (f"; {imdb.KAGGLE_FILE!r} looks sorted by label: the imdb task's train split is its first half "
                    "of rows, so shuffle the file's rows")
    else:
        message += "; a file sorted by label and cut in two gives this: shuffle its rows before splitting"
    raise processors.DataError(f"{message} (--allow_single_label to train on it anyway)")
