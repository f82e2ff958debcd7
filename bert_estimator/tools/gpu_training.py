"""The runs of gpu_check.py: a tiny BERT classifier trained for NUM_STEPS steps per
check (run_classifier.create_model and optimization.create_optimizer with the
product's train-op hook), on the device and with the options of its `Spec`.
"""

from __future__ import annotations

import os
import platform
import time
import traceback

import numpy as np
import tensorflow as tf2
import tensorflow.compat.v1 as tf
from tensorflow.core.framework import types_pb2

import modeling
import optimization
import run_classifier
from bert_estimator.tools.gpu_checks import (
    BATCH_SIZE,
    BERT_CONFIG,
    LEARNING_RATE,
    NUM_LABELS,
    NUM_STEPS,
    NUM_WARMUP_STEPS,
    PERTURBED_WEIGHT,
    PROG,
    SEED,
    SEQ_LENGTH,
    Check,
    Result,
    Spec,
    evaluate,
    format_row,
    header,
    plan,
)
from bert_estimator.training import distribution, estimator_setup
from bert_estimator.training.train_op_builder import TrainOpOptions


# ------------------------------------------------------------------------ the training
def make_data() -> dict:
    """NUM_STEPS batches of BATCH_SIZE pairs, fixed seed: ids, masks, segments, labels
    (label 1 when the first segment's ids sum to more than the second's)."""
    rng = np.random.RandomState(SEED)
    n = NUM_STEPS * BATCH_SIZE
    input_ids = rng.randint(1, BERT_CONFIG["vocab_size"], size=(n, SEQ_LENGTH)).astype(np.int32)
    lengths = rng.randint(SEQ_LENGTH // 2, SEQ_LENGTH + 1, size=n)
    input_mask = (np.arange(SEQ_LENGTH)[None, :] < lengths[:, None]).astype(np.int32)
    segment_ids = ((np.arange(SEQ_LENGTH)[None, :] >= lengths[:, None] // 2) * input_mask).astype(np.int32)
    input_ids *= input_mask
    first, second = (input_ids * (1 - segment_ids)).sum(axis=1), (input_ids * segment_ids).sum(axis=1)
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids,
            "label_ids": (first > second).astype(np.int32)}


def initial_values() -> dict:
    """The model's initial weights, drawn once on the CPU (seeded), for every run."""


    with tf.Graph().as_default(), tf.device("/device:CPU:0"):
        tf.set_random_seed(SEED)
        _model_loss(modeling.BertConfig.from_dict(BERT_CONFIG), _placeholders())
        with tf.Session(config=tf.ConfigProto(device_count={"GPU": 0})) as sess:
            sess.run(tf.global_variables_initializer())
            return dict(zip([v.op.name for v in tf.global_variables()], sess.run(tf.global_variables())))


def _placeholders() -> dict:
    shapes = {"input_ids": [None, SEQ_LENGTH], "input_mask": [None, SEQ_LENGTH],
              "segment_ids": [None, SEQ_LENGTH], "label_ids": [None]}
    return {name: tf.placeholder(tf.int32, shape, name=name) for name, shape in shapes.items()}


def _model_loss(bert_config, features: dict):
    """run_classifier's classifier, without dropout (is_training=False)."""

    loss, _, _, _ = run_classifier.create_model(
        bert_config, False, features["input_ids"], features["input_mask"], features["segment_ids"],
        features["label_ids"], NUM_LABELS, use_one_hot_embeddings=False)
    return loss


def _build(spec: Spec, features: dict, init: dict, strategy=None):
    """(loss fetches, train op, {name: [variable copies]}) of `spec`, variables
    initialized to `init` (+ the perturbation); under `strategy` when it has one."""


    bert_config = modeling.BertConfig.from_dict(BERT_CONFIG)
    init = dict(init)
    if spec.perturb:
        init[PERTURBED_WEIGHT] = init[PERTURBED_WEIGHT].copy()
        init[PERTURBED_WEIGHT][0, 0] += spec.perturb

    def fixed_initializer(getter, name, *args, **kwargs):
        if name in init:
            kwargs["initializer"] = tf.constant_initializer(init[name])
        return getter(name, *args, **kwargs)

    def step(replica_features):
        with tf.variable_scope(tf.get_variable_scope(), custom_getter=fixed_initializer):
            loss = _model_loss(bert_config, replica_features)
        train_op = optimization.create_optimizer(loss, LEARNING_RATE, NUM_STEPS, NUM_WARMUP_STEPS, False,
                                                 build_train_op=TrainOpOptions(use_amp=spec.use_amp))
        return loss, train_op

    if strategy is None:
        with tf.device(spec.devices[0]):
            loss, train_op = step(features)
        return [loss], train_op, {_name(v): [v] for v in tf.trainable_variables()}
    num_replicas = strategy.num_replicas_in_sync

    def replica_step():  # each replica trains on its slice of the global batch
        replica = int(tf.get_static_value(tf.distribute.get_replica_context().replica_id_in_sync_group))
        return step({name: tf.split(value, num_replicas)[replica] for name, value in features.items()})

    with strategy.scope():
        tf.train.create_global_step()  # in cross-replica context, as Estimator does
        loss, train_op = strategy.extended.call_for_each_replica(replica_step)
        weights = {_name(v): list(strategy.experimental_local_results(v)) for v in tf.trainable_variables()}
        return list(strategy.experimental_local_results(loss)), strategy.group(train_op), weights


def _name(variable) -> str:
    return variable.name.split(":")[0]


def _strategy(spec: Spec):
    """run_classifier's MirroredStrategy (distribution.make_strategy) for `spec`'s devices;
    None for one device."""
    if len(spec.devices) == 1:
        return None

    num_gpus = len(spec.devices) if "GPU" in spec.devices[0] else 0
    strategy = distribution.make_strategy("mirrored", num_gpus)
    devices = strategy.extended.worker_devices
    if [d.split("/")[-1] for d in devices] != [d.split("/")[-1] for d in spec.devices]:
        raise RuntimeError(f"mirrored strategy on {devices}, expected {spec.devices}")
    return strategy


def train(spec: Spec, data: dict, init: dict) -> Result:
    """NUM_STEPS steps of `spec` on `data` from the weights `init`."""


    tf2.config.experimental.enable_tensor_float_32_execution(spec.tf32)  # global, read per matmul
    with tf.Graph().as_default():
        strategy = _strategy(spec)
        features = _placeholders()
        losses, train_op, weights = _build(spec, features, init, strategy)
        base = distribution.session_config(strategy) if strategy is not None else None
        if base is None:  # a check should not take all the memory of a shared GPU
            base = tf.ConfigProto(allow_soft_placement=True, gpu_options=tf.GPUOptions(allow_growth=True))
        config = estimator_setup.session_config(spec.use_xla, spec.use_amp, base)
        history, metadata = [], tf.RunMetadata()
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            for k in range(NUM_STEPS):
                feed = {features[n]: v[k * BATCH_SIZE:(k + 1) * BATCH_SIZE] for n, v in data.items()}
                first = dict(options=tf.RunOptions(output_partition_graphs=True), run_metadata=metadata)
                values, _ = sess.run([losses, train_op], feed, **(first if k == 0 else {}))
                history.append(float(np.mean(values)))  # equal replica batches: the global mean
            final = sess.run(weights)
    return Result(np.array(history), final, op_counts(metadata, spec))


def op_counts(metadata, spec: Spec) -> dict:
    """What the first step executed (after the graph rewrites): ops on the run's device
    type, XLA clusters, ops computing in float16/bfloat16."""
    low = {types_pb2.DT_HALF, types_pb2.DT_BFLOAT16}
    target = "GPU" if "GPU" in spec.devices[0] else "CPU"
    counts = {"target": 0, "xla": 0, "low_precision": 0}
    for graph in metadata.partition_graphs:
        for node in graph.node:
            counts["target"] += f"/device:{target}:" in node.device
            counts["xla"] += node.op in ("_XlaCompile", "XlaLaunch")
            counts["low_precision"] += any(attr.type in low for key, attr in node.attr.items()
                                           if key in ("T", "DstT", "dtype"))
    return counts


def describe_devices() -> list:
    """Prints TensorFlow's build and the visible devices; returns the GPUs as
    [(device, compute capability or None)]."""


    info = tf2.sysconfig.get_build_info()
    build = (f"built for CUDA {info['cuda_version']} and cuDNN {info.get('cudnn_version', '?')}"
             if info.get("is_cuda_build") else "built without CUDA")
    print(f"TensorFlow {tf2.__version__} ({build}), Python {platform.python_version()}")
    print("visible devices:")
    for i, _ in enumerate(tf2.config.list_physical_devices("CPU")):
        print(f"  CPU:{i}  {platform.machine() or 'cpu'}, {os.cpu_count()} cores")
    gpus = []
    for i, gpu in enumerate(tf2.config.list_physical_devices("GPU")):
        details = tf2.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        cc = f"compute capability {capability[0]}.{capability[1]}" if capability else "compute capability ?"
        print(f"  GPU:{i}  {details.get('device_name', 'GPU')}, {cc}")
        gpus.append((f"/device:GPU:{i}", tuple(capability) if capability else None))
    if not gpus:
        hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = f"CUDA_VISIBLE_DEVICES={hidden!r}; " if hidden is not None else ""
        print(f"{PROG}: no GPU visible to TensorFlow {tf2.__version__} ({why}install and drivers: see "
              "docs/GPU.md); checking the CPU path only")
    return gpus


def _logical_cpus(variants, gpus: list) -> int:
    """Without GPUs, splits the CPU for the mirrored check (before the first session)."""

    if gpus or "mirrored" not in variants:
        return 1
    os.environ.setdefault(distribution.LOGICAL_CPUS_ENV, "2")
    return distribution.configure_logical_cpus()


def run_checks(checks: list[Check], scale: float) -> tuple[int, int]:
    """Trains what `checks` need and prints one row per check; returns (failed, runs)."""
    data, init = make_data(), initial_values()
    results, failed = {}, 0

    def result(spec):
        if spec not in results:
            try:
                results[spec] = train(spec, data, init)
            except Exception as e:  # a device or compiler error is a failed check, not a crash
                traceback.print_exc()
                results[spec] = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
        return results[spec]

    print(header())
    for check in checks:
        spec = check.spec
        if check.reference is None:
            print(format_row(spec.name, spec.device_label, "-", "-", "-", "-", "-", "skip", check.note))
            continue
        run, ref = result(spec), result(check.reference)
        if isinstance(run, str) or isinstance(ref, str):
            error = run if isinstance(run, str) else f"reference run: {ref}"
            ok, row = False, format_row(spec.name, spec.device_label, check.reference.name,
                                        "-", "-", "-", "-", "FAIL", error)
        else:
            ok, row = evaluate(check, run, ref, init, scale)
        failed += not ok
        print(row, flush=True)
    return failed, len(results)


def run(args, variants: list, start: float) -> int:
    """Trains and compares the checks of `variants` (flags checked by gpu_check.run), prints
    the table and the summary line (timed from `start`); returns the exit status."""
    tf.logging.set_verbosity(tf.logging.ERROR)  # no deprecation warnings around the table
    if "xla" in variants:
        estimator_setup.enable_cpu_xla_jit()  # before the first device listing, or XLA on the CPU compiles nothing
    gpus = describe_devices()
    num_cpus = _logical_cpus(variants, gpus)
    checks = plan(gpus, variants, args.perturb_weight, num_cpus)
    failed, runs = run_checks(checks, args.tolerance_scale)
    print("(max|dloss|: over the 20 steps; max|dweight|: final weights; update err: ||w - w_ref|| / "
          "||w_ref - w_init||; tolerance: loss / weight / update, '-' = not checked)")
    done = len(checks) - sum(check.reference is None for check in checks)
    print(f"{PROG}: {done - failed} ok, {failed} FAIL, {len(checks) - done} skipped; {runs} runs of "
          f"{NUM_STEPS} steps in {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0
