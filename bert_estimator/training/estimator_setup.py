"""The Estimator a run trains, evaluates and predicts with: one RunConfig build.

Without a TPU, TPUEstimator runs as a plain Estimator on CPU or GPU, as in the
original. With `--distribution_strategy`, training goes through tf.distribute on a
plain Estimator (`distribution.py` says why).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from bert_estimator.core import hardware
from bert_estimator.core.errors import UsageError
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


def checkpoint_damage(prefix: str) -> Optional[str]:
    """Why the checkpoint `prefix` (e.g. `<output_dir>/model.ckpt-8`) cannot be restored,
    or None when it can.

    Reads the index and then every tensor, as a restore does: a `.data` file cut short
    (a copy stopped midway, a full disk) fails the read of the tensors past the cut, and
    a damaged byte fails the tensor's CRC-32C. This reads the whole checkpoint once (about
    1.3 GB for BERT-Base with Adam's slots, seconds from a local disk).
    """
    if not tf.io.gfile.exists(prefix + ".index"):
        return f"{os.path.basename(prefix)}.index is missing"
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in sorted(reader.get_variable_to_shape_map()):
            reader.get_tensor(name)
    except (tf.errors.OpError, RuntimeError, ValueError, IndexError, OSError) as e:
        # The reader raises TensorFlow's errors, or Python's for some (a read cut short:
        # IndexError "Read less bytes than requested").
        message = str(getattr(e, "message", e)).strip().splitlines()
        return message[0][:200] if message else type(e).__name__
    return None


@dataclasses.dataclass(frozen=True)
class DamagedCheckpoints:
    """The checkpoints of an output directory that cannot be restored, newest first.

    Attributes:
      damaged: ((checkpoint prefix, why it cannot be read), ...), from the latest one back.
      intact: the newest checkpoint that can be restored (older than every damaged one),
        or None when there is none.
      kept: the checkpoints the `checkpoint` file lists up to `intact`, oldest first
        (what stays listed after going back).
      timestamps: the `checkpoint` file's timestamps of `kept` (empty when it has none).
    """

    damaged: tuple[tuple[str, str], ...]
    intact: Optional[str]
    kept: tuple[str, ...]
    timestamps: tuple[float, ...]

    def describe(self) -> str:
        """The latest checkpoint and why it cannot be read (and how many others cannot)."""
        latest, reason = self.damaged[0]
        others = len(self.damaged) - 1
        more = f", nor can the {others} before it" if others else ""
        return f"the latest checkpoint {latest} cannot be read ({reason}){more}"


def find_damaged_checkpoints(model_dir: str) -> Optional[DamagedCheckpoints]:
    """Checks the latest checkpoint of `model_dir` (the one a resume, an evaluation or an
    export restores), and when it cannot be read the ones before it, newest first, back to
    the newest intact one (`checkpoint_damage`). Returns None when the latest is intact
    (or there is none), else what was found. Reads only: call it before anything is written."""
    state = tf.train.get_checkpoint_state(model_dir)
    if state is None or not state.model_checkpoint_path:
        return None
    paths = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path in paths:
        paths = paths[:paths.index(state.model_checkpoint_path) + 1]
    else:
        paths.append(state.model_checkpoint_path)
    timestamps = list(state.all_model_checkpoint_timestamps)
    damaged = []
    for index in range(len(paths) - 1, -1, -1):
        reason = checkpoint_damage(paths[index])
        if reason is None:
            if not damaged:
                return None
            kept = paths[:index + 1]
            return DamagedCheckpoints(tuple(damaged), paths[index], tuple(kept),
                                      tuple(timestamps[:index + 1]) if len(timestamps) == len(paths) else ())
        damaged.append((paths[index], reason))
    return DamagedCheckpoints(tuple(damaged), None, (), ())


def check_can_go_back(model_dir: str, found: DamagedCheckpoints) -> None:
    """Raises UsageError when `found` has no intact checkpoint to go back to."""
    if found.intact is None:
        raise UsageError(f"{found.describe()}, and no checkpoint of {model_dir} is intact: remove its model.ckpt-* "
                         "files and its checkpoint file to train from --init_checkpoint again")


def go_back_to_intact_checkpoint(model_dir: str, found: DamagedCheckpoints) -> None:
    """Makes `found.intact` the latest checkpoint of `model_dir`, so that training resumes
    from it, and says so in one console line naming both checkpoints.

    The `checkpoint` file is rewritten first, atomically (`tf.train.update_checkpoint_state`
    writes a temporary file and renames it), listing only the intact checkpoints, with
    paths relative to `model_dir` as the Estimator writes them; then the damaged
    checkpoints' files are deleted, not moved aside: nothing can be restored from them,
    training from the intact one writes those steps again (under the same names), a disk
    that filled up needs the space back, and files kept aside would never be pruned by
    --keep_checkpoint_max. A run stopped between the two steps leaves a consistent
    directory (the damaged files are then merely unlisted). Call it holding the output
    directory's lock.

    Raises:
      UsageError: `found` has no intact checkpoint (`check_can_go_back`).
    """
    check_can_go_back(model_dir, found)
    if "://" in model_dir:  # gs://...: the paths as listed
        save_dir, listed = model_dir, list(found.kept)
    else:  # local: relative to the directory, as the Estimator's Saver lists them
        save_dir = os.path.abspath(model_dir)
        listed = [os.path.relpath(os.path.abspath(path), save_dir) for path in found.kept]
    tf.train.update_checkpoint_state(save_dir, listed[-1], all_model_checkpoint_paths=listed,
                                     all_model_checkpoint_timestamps=list(found.timestamps) or None)
    for prefix, _ in found.damaged:
        for path in tf.io.gfile.glob(prefix + ".*"):
            tf.io.gfile.remove(path)
    tf.logging.warning("%s: going back to %s, the newest intact checkpoint, and training from there "
                       "(the damaged files are deleted)", found.describe(), found.intact)
