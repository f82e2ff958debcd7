"""The Estimator a run trains, evaluates and predicts with: one RunConfig build.

Without a TPU, TPUEstimator runs as a plain Estimator on CPU or GPU, as in the
original. With `--distribution_strategy`, training goes through tf.distribute on a
plain Estimator (`distribution.py` says why).
"""

from __future__ import annotations

import os

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from bert_estimator.core import hardware
from bert_estimator.training import distribution
from bert_estimator.training.settings import Settings


def enable_cpu_xla_jit() -> None:
    """On CPUs XLA auto-clustering also needs `--tf_xla_cpu_global_jit` in TF_XLA_FLAGS,
    which TensorFlow reads once, when it first lists the devices: `run_classifier.main`
    calls this before anything does (with --use_xla)."""
    if "--tf_xla_cpu_global_jit" not in os.environ.get("TF_XLA_FLAGS", ""):
        os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "") + " --tf_xla_cpu_global_jit").strip()


def session_config(use_xla: bool, use_amp: bool, base=None):
    """The session ConfigProto for XLA and mixed precision (`base`, or None when neither)."""
    if not (use_xla or use_amp):
        return base
    config = tf.ConfigProto() if base is None else base
    if use_xla:
        enable_cpu_xla_jit()
        config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    if use_amp:
        rewrites = config.graph_options.rewrite_options
        if tf.config.list_physical_devices("GPU"):
            rewrites.auto_mixed_precision = rewriter_config_pb2.RewriterConfig.ON  # float16
        else:
            rewrites.auto_mixed_precision_onednn_bfloat16 = rewriter_config_pb2.RewriterConfig.ON
            if not hardware.cpu_has_bfloat16():
                tf.logging.warning("--use_amp: no GPU is visible and this CPU has no native bfloat16 "
                                   "(AVX512-BF16 or AMX): the bfloat16 rewrite is emulated or skipped, so "
                                   "expect no speed-up; leave --use_amp out")
    return config


def make_run_config(settings: Settings, strategy=None):
    """The RunConfig of a run: checkpoints, summaries, seed and session, plus either the
    TPU settings (TPUEstimator) or the tf.distribute `strategy` for training (a plain
    Estimator; evaluation and prediction on one device).

    Reads --output_dir, --save_checkpoints_steps, --keep_checkpoint_max,
    --save_summary_steps, --seed, --use_xla, --use_amp and the TPU flags (--use_tpu,
    --tpu_name, --tpu_zone, --gcp_project, --master, --tpu_job_name,
    --iterations_per_loop, --num_tpu_cores).
    """
    base_session = None
    if strategy is not None:
        base_session = distribution.session_config(strategy)
    common = dict(
        model_dir=settings.output_dir,
        save_checkpoints_steps=settings.save_checkpoints_steps,
        keep_checkpoint_max=settings.keep_checkpoint_max,
        save_summary_steps=settings.save_summary_steps,
        tf_random_seed=settings.seed,
        session_config=session_config(settings.use_xla, settings.use_amp, base_session))
    if strategy is not None:
        return tf.estimator.RunConfig(**common, train_distribute=strategy, eval_distribute=None)
    cluster = None
    if settings.use_tpu and settings.tpu_name:
        cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
            settings.tpu_name, zone=settings.tpu_zone, project=settings.gcp_project)
    return tf.estimator.tpu.RunConfig(
        **common,
        cluster=cluster,
        master=settings.master,
        tpu_config=tf.estimator.tpu.TPUConfig(
            tpu_job_name=settings.tpu_job_name,
            iterations_per_loop=settings.iterations_per_loop,
            num_shards=settings.num_tpu_cores,
            per_host_input_for_training=tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2))


def make_estimator(model_fn, settings: Settings):
    """A TPUEstimator (CPU, GPU or TPU), or with --distribution_strategy a
    `distribution.DistributedEstimator`.

    Reads what `make_run_config` reads, plus --distribution_strategy, --num_gpus, the
    three batch sizes and --num_accumulation_steps.
    """
    if settings.distribution_strategy != "none":
        strategy = distribution.make_strategy(settings.distribution_strategy, settings.num_gpus)
        return distribution.DistributedEstimator(
            model_fn, make_run_config(settings, strategy),
            train_batch_size=settings.train_batch_size,
            eval_batch_size=settings.eval_batch_size,
            predict_batch_size=settings.predict_batch_size)
    return tf.estimator.tpu.TPUEstimator(
        use_tpu=settings.use_tpu,
        model_fn=model_fn,
        config=make_run_config(settings),
        # With accumulation each session run reads one micro-batch.
        train_batch_size=settings.train_batch_size // settings.num_accumulation_steps,
        eval_batch_size=settings.eval_batch_size,
        predict_batch_size=settings.predict_batch_size,
        export_to_tpu=False)  # the serving export (--export_dir) is for CPU/GPU


def remove_partial_checkpoints(model_dir: str) -> list[str]:
    """Removes what an interrupted checkpoint save leaves in `model_dir` (TensorFlow's
    `<prefix>-<step>_temp` staging directories, and `checkpoint.tmp<hex>` when the state
    file's own write failed); complete checkpoints are untouched. Returns the removed paths."""
    removed = []
    staged = tf.io.gfile.glob(os.path.join(model_dir, "*.ckpt-*_temp*"))
    for path in staged + tf.io.gfile.glob(os.path.join(model_dir, "checkpoint.tmp*")):
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
        removed.append(path)
    return removed
