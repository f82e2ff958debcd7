"""Checks on flags and inputs, done before anything is read or written.

Each check raises `UsageError` (a flag) or `DataError` (a file) with one line naming
what to fix. `run_classifier.main` calls them in order; they take the parsed flags as
an argument and never change them.
"""

from __future__ import annotations

import os
from typing import Callable

import tensorflow.compat.v1 as tf

import modeling
import processors
import tokenization
from bert_estimator import casing, hub
from bert_estimator.errors import UsageError


def validate_flags(flags) -> None:
    """Checks on the flags alone (and on the paths they name)."""
    _check_required(flags)
    _check_values(flags)
    _check_speed_flags(flags)
    _check_evaluation_flags(flags)
    _check_distribution(flags)
    _check_paths(flags)


def _check_required(flags) -> None:
    required = ["data_dir", "task_name", "output_dir"]
    if not flags.bert_hub_module_handle:
        required += ["vocab_file", "bert_config_file"]
    for name in required:
        if not getattr(flags, name):
            raise UsageError(f"--{name} is required")
    if not (flags.do_train or flags.do_eval or flags.do_predict):
        raise UsageError("at least one of --do_train, --do_eval or --do_predict must be set")


def _check_values(flags) -> None:
    for name in ("train_batch_size", "eval_batch_size", "predict_batch_size"):
        if getattr(flags, name) <= 0:
            raise UsageError(f"--{name} must be positive, got {getattr(flags, name)}")
    if flags.do_train:
        if flags.num_train_epochs <= 0:
            raise UsageError(f"--num_train_epochs must be positive, got {flags.num_train_epochs}")
        if flags.learning_rate <= 0:
            raise UsageError(f"--learning_rate must be positive, got {flags.learning_rate}")
        if not 0.0 <= flags.warmup_proportion <= 1.0:
            raise UsageError(f"--warmup_proportion must be in [0, 1], got {flags.warmup_proportion}")
    if flags.max_seq_length < 3:
        raise UsageError(f"--max_seq_length must be at least 3 ([CLS] x [SEP]), got {flags.max_seq_length}")
    if flags.use_tpu and not (flags.tpu_name or flags.master):
        raise UsageError("--use_tpu needs --tpu_name (or --master)")
    if flags.shuffle_buffer_size < 0:
        raise UsageError(f"--shuffle_buffer_size must be 0 (shuffled epochs) or positive, "
                         f"got {flags.shuffle_buffer_size}")


def _check_speed_flags(flags) -> None:
    """--bucket_by_length, --use_amp and --num_accumulation_steps, and what they exclude."""
    k = flags.num_accumulation_steps
    if k < 1:
        raise UsageError(f"--num_accumulation_steps must be at least 1, got {k}")
    if k > 1 and flags.train_batch_size % k:
        raise UsageError(f"--train_batch_size {flags.train_batch_size} is not divisible by "
                         f"--num_accumulation_steps {k}: each update is {k} equal micro-batches")
    single_device = {"--use_amp": flags.use_amp, f"--num_accumulation_steps={k}": k > 1}
    for name, used in single_device.items():
        if used and flags.use_tpu:
            raise UsageError(f"{name} is not supported with --use_tpu")
        if used and flags.distribution_strategy != "none":
            raise UsageError(f"{name} is not supported with --distribution_strategy="
                             f"{flags.distribution_strategy} (single device only)")
    if flags.use_amp and k > 1:
        raise UsageError("--use_amp and --num_accumulation_steps > 1 cannot be combined yet")
    if flags.bucket_by_length and flags.use_tpu:
        raise UsageError("--bucket_by_length is not supported with --use_tpu (TPUs need a fixed sequence length)")
    if flags.bucket_by_length and flags.fixed_padding:
        raise UsageError("--bucket_by_length and --fixed_padding exclude each other")


def evaluates_during_training(flags) -> bool:
    return bool(flags.evaluate_every_n_steps or flags.evaluate_every_epoch)


def _check_evaluation_flags(flags) -> None:
    """--evaluate_every_n_steps, --evaluate_every_epoch, --best_metric, --early_stopping_patience."""
    for name in ("evaluate_every_n_steps", "early_stopping_patience"):
        if getattr(flags, name) < 0:
            raise UsageError(f"--{name} must be 0 (off) or positive, got {getattr(flags, name)}")
    during = evaluates_during_training(flags)
    if not during:
        for name in ("early_stopping_patience", "best_metric"):
            if getattr(flags, name):
                raise UsageError(f"--{name} needs evaluation during training: set --evaluate_every_n_steps "
                                 "or --evaluate_every_epoch")
        return
    if not (flags.do_train and flags.do_eval):
        raise UsageError("--evaluate_every_n_steps and --evaluate_every_epoch need --do_train and --do_eval "
                         "(the dev set is what they evaluate)")
    if flags.use_tpu:
        raise UsageError("evaluation during training is not supported with --use_tpu (the original's flow: "
                         "evaluate after training)")
    if flags.distribution_strategy == "multi_worker_mirrored":
        raise UsageError("evaluation during training is not supported with "
                         "--distribution_strategy=multi_worker_mirrored")


def _check_distribution(flags) -> None:
    """tf.distribute (docs/DISTRIBUTED.md): the strategy, TF_CONFIG and the visible devices."""
    strategy = flags.distribution_strategy
    if strategy == "none":
        if flags.num_gpus:
            raise UsageError("--num_gpus needs --distribution_strategy=mirrored (or multi_worker_mirrored)")
        return
    if flags.use_tpu:
        raise UsageError(f"--distribution_strategy={strategy} and --use_tpu exclude each other: on a TPU, "
                         "TPUEstimator spreads each batch over --num_tpu_cores")
    from bert_estimator import distribution

    replicas = distribution.num_replicas(strategy, flags.num_gpus)
    if flags.do_train and flags.train_batch_size % replicas:
        raise UsageError(f"--train_batch_size {flags.train_batch_size} is not divisible by the {replicas} "
                         f"replicas of --distribution_strategy={strategy}: it is the global batch, split "
                         "evenly")
    chief_only = [f"--{name}" for name in ("do_eval", "do_predict", "export_dir") if getattr(flags, name)]
    if strategy == "multi_worker_mirrored" and chief_only and not distribution.is_chief():
        raise UsageError(f"{', '.join(chief_only)}: only the chief evaluates, predicts and exports with "
                         "--distribution_strategy=multi_worker_mirrored; leave them out of the other "
                         "workers' command lines")


def _check_paths(flags) -> None:
    if not tf.io.gfile.isdir(flags.data_dir):
        raise UsageError(f"--data_dir not found: {flags.data_dir}")
    if flags.export_dir:
        from bert_estimator import serving

        try:
            serving.check_export_dir(flags.export_dir, flags.export_version)
        except serving.ExportError as e:
            raise UsageError(f"--export_dir: {e}") from None
    if flags.bert_hub_module_handle:
        if flags.init_checkpoint:
            raise UsageError("--init_checkpoint and --bert_hub_module_handle exclude each other: "
                             "the module carries its weights")
        return
    for name in ("vocab_file", "bert_config_file"):
        if not tf.io.gfile.exists(getattr(flags, name)):
            raise UsageError(f"--{name} not found: {getattr(flags, name)}")
    if flags.init_checkpoint and not tf.io.gfile.exists(flags.init_checkpoint + ".index"):
        raise UsageError(f"--init_checkpoint not found: {flags.init_checkpoint} "
                         f"(expected {flags.init_checkpoint}.index and its data files)")


def load_bert_config(flags):
    """The model's `BertConfig`, checked against --max_seq_length (None with a Hub module)."""
    if flags.bert_hub_module_handle:
        return None
    try:
        bert_config = modeling.BertConfig.from_json_file(flags.bert_config_file)
    except (ValueError, TypeError, KeyError) as e:
        raise UsageError(f"--bert_config_file {flags.bert_config_file} is not a BERT config: {e}") from None
    if flags.max_seq_length > bert_config.max_position_embeddings:
        raise UsageError(
            f"--max_seq_length {flags.max_seq_length} is longer than the model's "
            f"max_position_embeddings {bert_config.max_position_embeddings} ({flags.bert_config_file})")
    return bert_config


def flag_given(flags, name: str) -> bool:
    """Whether flag `name` was set (on the command line or by assignment) rather than
    left at its default; True for a flags object that cannot tell (a namespace)."""
    try:
        return not flags[name].using_default_value
    except (TypeError, KeyError, AttributeError):
        return True


def tokenizer_settings(flags) -> tuple[str, bool]:
    """(vocab_file, do_lower_case): from the Hub module; else the casing recorded beside
    the model (`casing`: tokenizer_config.json, which a contradicting --do_lower_case
    may not override) or --do_lower_case, checked against the checkpoint's name as the
    original does and, with no record, against the vocabulary. --allow_casing_mismatch
    turns the record and vocabulary checks into warnings."""
    if flags.bert_hub_module_handle:
        return hub.tokenization_info(flags.bert_hub_module_handle)
    given = flag_given(flags, "do_lower_case")
    allow = bool(getattr(flags, "allow_casing_mismatch", False))
    do_lower_case, record, warning = casing.model_casing(
        flags.do_lower_case, given, allow, (flags.init_checkpoint, flags.vocab_file, flags.bert_config_file))
    try:
        tokenization.validate_case_matches_checkpoint(do_lower_case, flags.init_checkpoint)
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    if record is None:
        warning = casing.check_vocab(do_lower_case, given, allow, flags.vocab_file)
    elif not given:
        tf.logging.info("do_lower_case=%s, as %s records", do_lower_case, record.path)
    if warning:
        tf.logging.warning(warning)
    return flags.vocab_file, do_lower_case


def make_tokenizer(vocab_file: str, do_lower_case: bool) -> tokenization.FullTokenizer:
    try:
        return tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=do_lower_case)
    except (ValueError, OSError) as e:
        raise UsageError(f"--vocab_file: {e}") from None


def make_processor(flags) -> processors.DataProcessor:
    """The task's processor, with the options its flags set."""
    options = dict(
        language=flags.xnli_language,
        text_column=flags.text_column,
        text_b_column=flags.text_b_column,
        label_column=flags.label_column,
        labels=flags.labels,
        train_file=flags.train_file,
        dev_file=flags.dev_file,
        test_file=flags.test_file,
        imdb_dev_split=flags.imdb_dev_split,
        dev_fraction=flags.dev_fraction,
        data_dir=flags.data_dir,
    )
    if flags.seed is not None:
        options["seed"] = flags.seed
    try:
        return processors.get_processor(flags.task_name, **options)
    except (KeyError, ValueError) as e:
        raise UsageError(f"--task_name: {e}") from None


def check_checkpoint_fits(build_model: Callable[[], None], init_checkpoint: str) -> None:
    """Raises UsageError naming the first model variable whose shape differs in
    `init_checkpoint`. `build_model()` builds the model in the current (throwaway)
    graph, so nothing is written before the user hears of the mismatch."""
    ckpt_shapes = dict(tf.train.list_variables(init_checkpoint))
    with tf.Graph().as_default():
        build_model()
        for var in tf.global_variables():
            name = var.op.name
            if name in ckpt_shapes and list(ckpt_shapes[name]) != var.shape.as_list():
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
