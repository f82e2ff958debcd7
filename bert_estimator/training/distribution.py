"""Multi-device and multi-worker training through `tf.distribute`, on the Estimator engine.

`run_classifier.py --distribution_strategy=...` uses this module:

* `make_strategy(name, num_gpus)` builds the strategy: `mirrored` (one machine, several
  GPUs, or several logical CPUs for tests) or `multi_worker_mirrored` (several machines
  described by `TF_CONFIG`, each with its GPUs or its CPU; collective all-reduce).
* `DistributedEstimator` wraps a plain `tf.estimator.Estimator` to take the
  TPUEstimator-style `model_fn(features, labels, mode, params)` and `input_fn(params)` of
  run_classifier (the TPUEstimator path, `--use_tpu` or no strategy, is untouched).
  Under a strategy the training `input_fn` is called with `params["batch_size"]` = the
  global batch / the number of replicas, and on several workers each worker's dataset is
  sharded, so one training step consumes one global batch of `--train_batch_size`
  examples (the step count and learning-rate schedule are those of one device).
  Its `train` is `Estimator.train`, or on a multi-worker cluster
  `tf.estimator.train_and_evaluate`, the only entry point TF 2.15's Estimator accepts
  there (`Estimator.train` raises "Only `STANDALONE_CLIENT` mode is supported when you
  call `estimator.train`" when `TF_CONFIG` describes a cluster).

Why not `TPUEstimator(use_tpu=False, config=RunConfig(train_distribute=...))`: it does
take the strategy (TPUEstimator inherits `Estimator._train_model_distributed`), but it
gives `input_fn` the global batch size, so every replica reads a full global batch (N
times the intended batch), it passes `params` without "batch_size" to every replica but
the first, and its global step has no aggregation. See docs/DISTRIBUTED.md.

Evaluation and prediction run on one device (`eval_distribute=None`): TF 2.15's
distributed input iterator stops as soon as one replica runs out of data, which drops
the last batches of an evaluation whose batch count is not a multiple of the replica
count, and evaluation is cheap next to training.

`BERT_LOGICAL_CPUS=N` (environment) splits the CPU into N logical devices before
TensorFlow starts, so `mirrored` has N replicas on a machine without GPUs (tests).
"""

from __future__ import annotations

import json
import os

import tensorflow.compat.v1 as tf

from bert_estimator.core.errors import UserError

STRATEGIES = ("none", "mirrored", "multi_worker_mirrored")
LOGICAL_CPUS_ENV = "BERT_LOGICAL_CPUS"
WORKER_TASK_TYPES = ("chief", "worker")


class DistributionError(UserError, ValueError):
    """A strategy that cannot be built as asked; the message is one line for the user."""


# ----------------------------------------------------------------------------- devices
def configure_logical_cpus(count: int | None = None) -> int:
    """Splits the first CPU into `count` logical devices (default: $BERT_LOGICAL_CPUS,
    unset: 1, nothing done).

    Must run before TensorFlow initializes its devices (listing physical devices is
    fine); idempotent. Returns the number of logical CPUs.
    """
    if count is None:
        raw = os.environ.get(LOGICAL_CPUS_ENV, "").strip()
        if not raw:
            return 1
        try:
            count = int(raw)
        except ValueError:
            raise DistributionError(f"{LOGICAL_CPUS_ENV}={raw!r} is not a number of CPU devices") from None
    if count < 1:
        raise DistributionError(f"{LOGICAL_CPUS_ENV} must be at least 1, got {count}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if (current is None and count == 1) or (current is not None and len(current) == count):
        return count
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as e:
        raise DistributionError(
            f"cannot split the CPU into {count} logical devices ({LOGICAL_CPUS_ENV}): TensorFlow has "
            f"already initialized its devices ({e})") from None
    return count


def local_devices(num_gpus: int = 0) -> list[str]:
    """The devices of one machine's replicas: the first `num_gpus` GPUs (0 = all visible
    GPUs), else the logical CPUs ($BERT_LOGICAL_CPUS, default one CPU)."""
    if num_gpus < 0:
        raise DistributionError(f"--num_gpus must be 0 (all visible GPUs) or positive, got {num_gpus}")
    num_cpus = configure_logical_cpus()
    gpus = tf.config.list_physical_devices("GPU")
    if num_gpus > len(gpus):
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
        raise DistributionError(f"--num_gpus {num_gpus}: only {len(gpus)} GPU(s) are visible{where}")
    if gpus:
        return [f"/device:GPU:{i}" for i in range(num_gpus or len(gpus))]
    return [f"/device:CPU:{i}" for i in range(num_cpus)]


# ------------------------------------------------------------------------------ cluster
def read_tf_config() -> dict:
    """$TF_CONFIG as a dict ({} when unset); DistributionError when it is not valid JSON."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except ValueError as e:
        raise DistributionError(f"TF_CONFIG is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise DistributionError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return config


def check_tf_config(strategy_name: str, tf_config: dict | None = None) -> None:
    """Raises DistributionError when TF_CONFIG does not fit `strategy_name`.

    `multi_worker_mirrored` needs a cluster of "chief" and/or "worker" tasks (no "ps",
    "evaluator" or "master" job) with this task in it; without TF_CONFIG it trains on
    this machine alone. `mirrored` is one machine: a TF_CONFIG cluster (other than the
    single "master" some job schedulers set) is a mistake.
    """
    tf_config = read_tf_config() if tf_config is None else tf_config
    cluster = tf_config.get("cluster") or {}
    if strategy_name == "mirrored":
        if cluster and "master" not in cluster:
            raise DistributionError(
                "--distribution_strategy=mirrored trains on one machine, but TF_CONFIG describes a "
                f"cluster ({', '.join(sorted(cluster))}): use --distribution_strategy=multi_worker_mirrored, "
                "or unset TF_CONFIG")
        return
    if strategy_name != "multi_worker_mirrored" or not tf_config:
        return
    if not isinstance(cluster, dict) or not cluster:
        raise DistributionError("TF_CONFIG has no 'cluster' (e.g. {\"cluster\": {\"chief\": [\"host0:2222\"], "
                                "\"worker\": [\"host1:2222\"]}, \"task\": {\"type\": \"chief\", \"index\": 0}})")
    unsupported = sorted(set(cluster) - set(WORKER_TASK_TYPES))
    if unsupported:
        raise DistributionError(
            f"TF_CONFIG cluster jobs {unsupported} are not supported with "
            "--distribution_strategy=multi_worker_mirrored: use only 'chief' and 'worker' tasks "
            "(evaluate afterwards with --do_eval on one machine)")
    if len(cluster.get("chief", [])) > 1:
        raise DistributionError(f"TF_CONFIG cluster has {len(cluster['chief'])} 'chief' tasks; at most 1")
    task = tf_config.get("task") or {}
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in WORKER_TASK_TYPES:
        raise DistributionError(f"TF_CONFIG task type {task_type!r} must be 'chief' or 'worker'")
    if not isinstance(index, int) or not 0 <= index < len(cluster.get(task_type, [])):
        raise DistributionError(
            f"TF_CONFIG task {task_type}:{index} is not in the cluster "
            f"({len(cluster.get(task_type, []))} {task_type} task(s))")


def session_config(strategy):
    """The Estimator's session config for `strategy`: None (RunConfig's default) unless
    the strategy mirrors over several logical CPUs, which a `tf.Session` creates only
    when its config asks for them (`device_count`); the eager context's logical-device
    setup does not reach it, and soft placement would otherwise put every replica on
    CPU:0."""
    devices = getattr(strategy.extended, "worker_devices", ()) if strategy is not None else ()
    num_cpus = sum(1 for device in devices if "CPU" in device.upper())
    if num_cpus <= 1:
        return None
    config = tf.ConfigProto(allow_soft_placement=True, device_count={"CPU": num_cpus})
    # The rest as RunConfig's default session config.
    config.graph_options.rewrite_options.meta_optimizer_iterations = (
        config.graph_options.rewrite_options.ONE)
    return config


def is_chief(tf_config: dict | None = None) -> bool:
    """Whether this process is the task that writes checkpoints and summaries: the
    "chief", else "worker" 0 when the cluster has no chief; True without a cluster."""
    tf_config = read_tf_config() if tf_config is None else tf_config
    cluster, task = tf_config.get("cluster") or {}, tf_config.get("task") or {}
    if not cluster:
        return True
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and task.get("index", 0) == 0


def task_file(output_dir: str, stem: str, extension: str) -> str:
    """A file of this task in `output_dir`: `<stem>.<extension>`, or on a non-chief worker
    `<stem>.<type>-<index>.<extension>` (workers may share --output_dir; each writes its own)."""
    if is_chief():
        return os.path.join(output_dir, f"{stem}.{extension}")
    task = read_tf_config()["task"]
    return os.path.join(output_dir, f"{stem}.{task['type']}-{task.get('index', 0)}.{extension}")


def train_record_file(output_dir: str) -> str:
    """The training TFRecord of this task: `train.tf_record`, or on a non-chief worker
    `train.<type>-<index>.tf_record`."""
    return task_file(output_dir, "train", "tf_record")


# ----------------------------------------------------------------------------- strategy
def num_replicas(name: str, num_gpus: int = 0) -> int:
    """How many replicas `make_strategy(name, num_gpus)` will have, without building it
    (checks the flags, TF_CONFIG and the visible devices on the way)."""
    if name not in STRATEGIES:
        raise DistributionError(f"--distribution_strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "none":
        return 1
    tf_config = read_tf_config()
    check_tf_config(name, tf_config)
    per_worker = len(local_devices(num_gpus))
    if name == "mirrored":
        return per_worker
    cluster = tf_config.get("cluster") or {}
    num_workers = sum(len(cluster.get(job, [])) for job in WORKER_TASK_TYPES) or 1
    # MultiWorkerMirroredStrategy uses every GPU, else one CPU per worker.
    return num_workers * (per_worker if tf.config.list_physical_devices("GPU") else 1)


def make_strategy(name: str, num_gpus: int = 0):
    """The `tf.distribute` strategy for `--distribution_strategy=name` (None for "none").

    Estimator needs the `tf.compat.v1` strategies (`make_input_fn_iterator`).

    Args:
      name: one of STRATEGIES.
      num_gpus: mirrored: GPUs to use (0 = all visible GPUs, or the CPU(s) when there
        are none); multi_worker_mirrored: GPUs per worker (0 = all visible).

    Raises:
      DistributionError: unknown name, more GPUs asked than visible, TF_CONFIG that does
        not fit the strategy.
    """
    num_replicas(name, num_gpus)  # the checks
    if name == "none":
        return None
    devices = local_devices(num_gpus)
    if name == "mirrored":
        # On CPUs, TF's own choice for graph/Session mode (Estimator's): its default for
        # a strategy built in TF2's eager mode is collective ops, meant for tf.function.
        cpus_only = all("CPU" in device for device in devices)
        cross_device_ops = tf.distribute.ReductionToOneDevice() if cpus_only else None
        return tf.compat.v1.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross_device_ops)
    cluster_resolver = None
    if num_gpus:
        base = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        cluster_resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            base.cluster_spec(), task_type=base.task_type, task_id=base.task_id,
            num_accelerators={"GPU": num_gpus}, rpc_layer=base.rpc_layer or "grpc")
    return tf.compat.v1.distribute.experimental.MultiWorkerMirroredStrategy(cluster_resolver=cluster_resolver)


# ---------------------------------------------------------------------------- estimator
def estimator_model_fn(model_fn, batch_sizes=None):
    """Adapts a TPUEstimator `model_fn(features, labels, mode, params)` (returning a
    `TPUEstimatorSpec`) to `tf.estimator.Estimator`, as TPUEstimator does on CPU/GPU
    (`TPUEstimatorSpec.as_estimator_spec()`).

    `params` gets "use_tpu" False and, from `batch_sizes` ({mode: global batch size}),
    "batch_size": per replica in training under a strategy, as TPUEstimator gives it.
    In training under a strategy the reported loss is divided by the number of replicas:
    Estimator SUMs the replicas' losses for the loss it logs and summarizes, so the
    logged loss is the mean over the global batch, as on one device. (Only the reported
    value: the gradients come from each replica's own mean loss, see train_op_builder.py.)
    """

    def adapted_model_fn(features, labels, mode, params, config):
        del config  # the model_fn of run_classifier does not take it
        replica_context = None
        if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
            replica_context = tf.distribute.get_replica_context()
        num_replicas = replica_context.num_replicas_in_sync if replica_context is not None else 1
        params = dict(params, use_tpu=False)
        if batch_sizes and mode in batch_sizes:
            params["batch_size"] = batch_sizes[mode] // num_replicas
        spec = model_fn(features, labels, mode, params)
        if isinstance(spec, tf.estimator.tpu.TPUEstimatorSpec):
            spec = spec.as_estimator_spec()
        if mode == tf.estimator.ModeKeys.TRAIN and num_replicas > 1:
            spec = spec._replace(loss=spec.loss / float(num_replicas))
        return spec

    return adapted_model_fn


class DistributedEstimator:
    """A `tf.estimator.Estimator` (`.estimator`) training under the strategy of
    `config.train_distribute`, with the TPUEstimator interface run_classifier uses: a
    TPUEstimator-style `model_fn` and `input_fn(params)`, and the batch sizes.

    `train`, `evaluate` and `predict` call `input_fn` with `params["batch_size"]` as
    TPUEstimator sets it: for training under the strategy, the per-replica batch
    (`train_batch_size` / replicas: each replica reads its own batches); for eval and
    predict (one device), `eval_batch_size` and `predict_batch_size`. With several
    workers each worker's training dataset is sharded (`Dataset.shard(num_workers,
    worker_index)`, after batching), so with the same seed the workers' batches of one
    step are consecutive batches of one stream. Everything else (`export_saved_model`,
    `model_fn`, `config`, `model_dir`, `latest_checkpoint`, ...) is the Estimator's.

    (Not a subclass: Estimator forbids its subclasses, TPUEstimator excepted by name, to
    override the members that would do this.)
    """

    def __init__(self, model_fn, config, train_batch_size, eval_batch_size, predict_batch_size, params=None):
        strategy = config.train_distribute
        if strategy is not None:
            replicas = strategy.num_replicas_in_sync
            if train_batch_size % replicas:
                raise DistributionError(
                    f"--train_batch_size {train_batch_size} is not divisible by the {replicas} replicas "
                    f"of the distribution strategy; use a multiple of {replicas}")
        self._batch_sizes = {
            tf.estimator.ModeKeys.TRAIN: train_batch_size,
            tf.estimator.ModeKeys.EVAL: eval_batch_size,
            tf.estimator.ModeKeys.PREDICT: predict_batch_size,
        }
        self.estimator = tf.estimator.Estimator(
            model_fn=estimator_model_fn(model_fn, self._batch_sizes), config=config, params=dict(params or {}))

    def __getattr__(self, name):  # only for what the instance itself lacks
        if name == "estimator" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.estimator, name)

    def _input_fn(self, input_fn, mode):
        """`input_fn(params)` with params["batch_size"] for `mode`, per replica and
        sharded over the workers when Estimator passes an `input_context`."""
        global_batch_size = self._batch_sizes[mode]

        def input_fn_with_batch_size(params, input_context=None):
            batch_size = global_batch_size
            if input_context is not None:
                batch_size = input_context.get_per_replica_batch_size(global_batch_size)
            dataset = input_fn(params=dict(params, batch_size=batch_size))
            if input_context is not None and input_context.num_input_pipelines > 1:
                dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
            return dataset

        return input_fn_with_batch_size

    def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
        """`Estimator.train`; on a TF_CONFIG cluster `tf.estimator.train_and_evaluate`
        (every task runs it with its own TF_CONFIG; only the chief writes checkpoints
        and summaries), the only entry point TF 2.15's Estimator accepts there."""
        input_fn = self._input_fn(input_fn, tf.estimator.ModeKeys.TRAIN)
        if getattr(self.estimator.config, "_distribute_coordinator_mode", None):
            if steps is not None or saving_listeners:
                raise DistributionError("multi-worker training takes max_steps only (no steps, saving_listeners)")
            train_spec = tf.estimator.TrainSpec(input_fn=input_fn, max_steps=max_steps, hooks=list(hooks or ()))
            # check_tf_config allows no "evaluator" task, so this is never run.
            eval_spec = tf.estimator.EvalSpec(input_fn=input_fn, steps=1)
            tf.estimator.train_and_evaluate(self.estimator, train_spec, eval_spec)
            self._remove_worker_scratch_dir()
            return self
        self.estimator.train(input_fn=input_fn, hooks=hooks, steps=steps, max_steps=max_steps,
                             saving_listeners=saving_listeners)
        return self

    def _remove_worker_scratch_dir(self):
        """Removes what a non-chief worker wrote: TF's MonitoredTrainingSession makes
        the workers other than the chief save their checkpoints and summaries too
        (the save ops may hold collective ops every worker must run), into
        `<model_dir>/tmp_<task type>_<task index>`; nobody reads them."""
        tf_config = read_tf_config()
        task = tf_config.get("task") or {}
        if is_chief(tf_config) or not task.get("type"):
            return
        scratch = os.path.join(self.estimator.model_dir, f"tmp_{task['type']}_{task.get('index', 0)}")
        if tf.io.gfile.isdir(scratch):
            tf.logging.info("Removing %s: this worker's copies of the chief's checkpoints", scratch)
            tf.io.gfile.rmtree(scratch)

    def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None, name=None):
        return self.estimator.evaluate(self._input_fn(input_fn, tf.estimator.ModeKeys.EVAL), steps=steps,
                                       hooks=hooks, checkpoint_path=checkpoint_path, name=name)

    def predict(self, input_fn, predict_keys=None, hooks=None, checkpoint_path=None, yield_single_examples=True):
        return self.estimator.predict(self._input_fn(input_fn, tf.estimator.ModeKeys.PREDICT),
                                      predict_keys=predict_keys, hooks=hooks, checkpoint_path=checkpoint_path,
                                      yield_single_examples=yield_single_examples)
