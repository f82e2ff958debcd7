"""The Estimator a run trains, evaluates and predicts with: one RunConfig build.

Without a TPU, TPUEstimator runs as a plain Estimator on CPU or GPU, as in the
original. With `--distribution_strategy`, training goes through tf.distribute on a
plain Estimator (`distribution.py` says why).
"""

from __future__ import annotations

import os

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2


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
    return config


def make_run_config(flags, strategy=None):
    """The RunConfig of a run: checkpoints, summaries, seed and session, plus either the
    TPU settings (TPUEstimator) or the tf.distribute `strategy` for training (a plain
    Estimator; evaluation and prediction on one device)."""
    base_session = None
    if strategy is not None:
        from bert_estimator import distribution

        base_session = distribution.session_config(strategy)
    common = dict(
        model_dir=flags.output_dir,
        save_checkpoints_steps=flags.save_checkpoints_steps,
        keep_checkpoint_max=flags.keep_checkpoint_max,
        save_summary_steps=flags.save_summary_steps,
        tf_random_seed=flags.seed,
        session_config=session_config(flags.use_xla, flags.use_amp, base_session))
    if strategy is not None:
        return tf.estimator.RunConfig(**common, train_distribute=strategy, eval_distribute=None)
    cluster = None
    if flags.use_tpu and flags.tpu_name:
        cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
            flags.tpu_name, zone=flags.tpu_zone, project=flags.gcp_project)
    return tf.estimator.tpu.RunConfig(
        **common,
        cluster=cluster,
        master=flags.master,
        tpu_config=tf.estimator.tpu.TPUConfig(
            tpu_job_name=flags.tpu_job_name,
            iterations_per_loop=flags.iterations_per_loop,
            num_shards=flags.num_tpu_cores,
            per_host_input_for_training=tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2))


def make_estimator(model_fn, flags):
    """A TPUEstimator (CPU, GPU or TPU), or with --distribution_strategy a
    `distribution.DistributedEstimator`."""
    if flags.distribution_strategy != "none":
        from bert_estimator import distribution

        strategy = distribution.make_strategy(flags.distribution_strategy, flags.num_gpus)
        return distribution.DistributedEstimator(
            model_fn, make_run_config(flags, strategy),
            train_batch_size=flags.train_batch_size,
            eval_batch_size=flags.eval_batch_size,
            predict_batch_size=flags.predict_batch_size)
    return tf.estimator.tpu.TPUEstimator(
        use_tpu=flags.use_tpu,
        model_fn=model_fn,
        config=make_run_config(flags),
        # With accumulation each session run reads one micro-batch.
        train_batch_size=flags.train_batch_size // flags.num_accumulation_steps,
        eval_batch_size=flags.eval_batch_size,
        predict_batch_size=flags.predict_batch_size,
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
