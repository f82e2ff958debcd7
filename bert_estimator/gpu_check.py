"""Self-check of the GPU code paths, run once after installing (docs/GPU.md):

    python gpu_check.py                          # installed: bert-gpu-check
    CUDA_VISIBLE_DEVICES=0,1 python gpu_check.py

Lists the devices TensorFlow sees, then trains a tiny random BERT classifier
(run_classifier.create_model + optimization.create_optimizer, dropout off, fixed data
and initial weights) for 20 steps per check and compares each run's per-step losses and
final weights with the same training on the CPU:

    float32   GPU:0, TensorFloat-32 off                            vs CPU float32
    tf32      GPU:0, TensorFloat-32 on (TF's default on compute capability >= 8.0)
    xla       GPU:0, --use_xla                                     vs CPU --use_xla
    amp       GPU:0, --use_amp (float16, dynamic loss scaling)     vs CPU float32
    mirrored  --distribution_strategy=mirrored on 2+ GPUs, the same global batch

Without a GPU it says so in one line and checks the CPU path: float32 twice (bit-
identical), --use_xla, --use_amp (oneDNN bfloat16) and mirrored over 2 logical CPUs.
One row per check, ok/FAIL; exit status 1 when a row FAILs, including when XLA compiled
nothing, the float16 rewrite changed nothing or a GPU run put no op on a GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from bert_estimator.errors import UsageError, run_cli

PROG = "gpu_check.py"
NUM_STEPS, BATCH_SIZE, SEQ_LENGTH, NUM_LABELS = 20, 8, 32, 2
LEARNING_RATE, NUM_WARMUP_STEPS, SEED = 1e-3, 2, 12345
PERTURBED_WEIGHT = "bert/pooler/dense/kernel"  # --perturb_weight changes its [0, 0]
# TINY_CONFIG of the tests with a 100-id vocabulary (no vocab file: ids are drawn
# directly) and dropout off, so that runs on different devices compute the same function.
BERT_CONFIG = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=37, hidden_act="gelu", hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0, max_position_embeddings=64, type_vocab_size=2,
                   initializer_range=0.02)
VARIANTS = ("float32", "tf32", "xla", "amp", "mirrored")


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Largest allowed differences from the reference run (absolute): max |loss
    difference| over the steps, max |final weight difference| (None: not checked), and
    the relative update error ||w - w_ref|| / ||w_ref - w_init|| over all weights."""

    loss: float
    weight: float | None
    update: float

    def scaled(self, factor: float) -> Tolerance:
        return Tolerance(self.loss * factor, None if self.weight is None else self.weight * factor,
                         self.update * factor)

    def __str__(self):
        return " / ".join("-" if v is None else ("0" if v == 0 else f"{v:.0e}")
                          for v in (self.loss, self.weight, self.update))


# Measured against CPU float32 on 2 cores, 6 seeds (docs/GPU.md, "Tolerances"):
# float32 elsewhere (XLA, 2 mirrored replicas): loss <= 1.2e-7, weight <= 4.5e-6, update
# <= 3.4e-6; a GPU reorders float32 sums the same way. bfloat16 (--use_amp on the CPU):
# loss <= 2.5e-3, update <= 2.6e-2; float16 and TF32 round 8x finer. Reduced precision
# leaves max |weight| unchecked: Adam moves a component whose gradient is ~0 by ~lr per
# step in whichever direction rounding gives it (2.1e-2 with bfloat16). No training = 1.0.
TOLERANCES = {
    "exact": Tolerance(0.0, 0.0, 0.0),  # the same run twice on the CPU: bit-identical
    "float32": Tolerance(1e-5, 1e-4, 1e-4),
    "reduced": Tolerance(1e-2, None, 1e-1),
}


@dataclasses.dataclass(frozen=True)
class Spec:
    """One training run: where and how."""

    name: str
    devices: tuple  # one device, or the replicas of a MirroredStrategy
    use_xla: bool = False
    use_amp: bool = False
    tf32: bool = False  # TensorFloat-32 matmuls (GPUs with compute capability >= 8.0)
    perturb: float = 0.0

    @property
    def device_label(self) -> str:
        short = [d.replace("/device:", "") for d in self.devices]
        return short[0] if len(short) == 1 else f"{len(short)}x {short[0].split(':')[0]}"

    @property
    def device_type(self) -> str:
        return "GPU" if "GPU" in self.devices[0] else "CPU"


@dataclasses.dataclass
class Result:
    losses: np.ndarray  # [NUM_STEPS], the loss of each step (before its update)
    weights: dict  # name -> list of values (one per replica copy)
    op_counts: dict  # statistics of the executed (post-rewrite) graph


@dataclasses.dataclass
class Check:
    """One row: `spec` compared with `reference` within TOLERANCES[tolerance]."""

    spec: Spec
    reference: Spec | None  # None: skipped, `note` says why
    tolerance: str = "float32"
    note: str = ""
    needs_float16: bool = True  # amp on a GPU: nothing computed in float16 is a FAIL


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
    import tensorflow.compat.v1 as tf

    import modeling

    with tf.Graph().as_default(), tf.device("/device:CPU:0"):
        tf.set_random_seed(SEED)
        _model_loss(modeling.BertConfig.from_dict(BERT_CONFIG), _placeholders(tf))
        with tf.Session(config=tf.ConfigProto(device_count={"GPU": 0})) as sess:
            sess.run(tf.global_variables_initializer())
            return dict(zip([v.op.name for v in tf.global_variables()], sess.run(tf.global_variables())))


def _placeholders(tf) -> dict:
    shapes = {"input_ids": [None, SEQ_LENGTH], "input_mask": [None, SEQ_LENGTH],
              "segment_ids": [None, SEQ_LENGTH], "label_ids": [None]}
    return {name: tf.placeholder(tf.int32, shape, name=name) for name, shape in shapes.items()}


def _model_loss(bert_config, features: dict):
    """run_classifier's classifier, without dropout (is_training=False)."""
    import run_classifier

    loss, _, _, _ = run_classifier.create_model(
        bert_config, False, features["input_ids"], features["input_mask"], features["segment_ids"],
        features["label_ids"], NUM_LABELS, use_one_hot_embeddings=False)
    return loss


def _build(spec: Spec, features: dict, init: dict, strategy=None):
    """(loss fetches, train op, {name: [variable copies]}) of `spec`, variables
    initialized to `init` (+ the perturbation); under `strategy` when it has one."""
    import tensorflow.compat.v1 as tf

    import modeling
    import optimization

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
                                                 use_amp=spec.use_amp)
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
    from bert_estimator import distribution

    num_gpus = len(spec.devices) if "GPU" in spec.devices[0] else 0
    strategy = distribution.make_strategy("mirrored", num_gpus)
    devices = strategy.extended.worker_devices
    if [d.split("/")[-1] for d in devices] != [d.split("/")[-1] for d in spec.devices]:
        raise RuntimeError(f"mirrored strategy on {devices}, expected {spec.devices}")
    return strategy


def train(spec: Spec, data: dict, init: dict) -> Result:
    """NUM_STEPS steps of `spec` on `data` from the weights `init`."""
    import tensorflow as tf2
    import tensorflow.compat.v1 as tf

    from bert_estimator import distribution, runtime

    tf2.config.experimental.enable_tensor_float_32_execution(spec.tf32)  # global, read per matmul
    with tf.Graph().as_default():
        strategy = _strategy(spec)
        features = _placeholders(tf)
        losses, train_op, weights = _build(spec, features, init, strategy)
        base = distribution.session_config(strategy) if strategy is not None else None
        if base is None:  # a check should not take all the memory of a shared GPU
            base = tf.ConfigProto(allow_soft_placement=True, gpu_options=tf.GPUOptions(allow_growth=True))
        config = runtime.session_config(spec.use_xla, spec.use_amp, base)
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
    from tensorflow.core.framework import types_pb2

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


# -------------------------------------------------------------------- the comparisons
def compare(run: Result, ref: Result, init: dict) -> tuple[float, float, float]:
    """(max |loss difference| over the steps, max |final weight difference| over every
    weight of every replica copy, relative update error ||w - w_ref|| / ||w_ref - w_init||
    over all weights (worst copy))."""
    loss_diff = float(np.abs(run.losses - ref.losses).max())
    weight_diff, squares = 0.0, None
    moved = sum(float(np.square(np.float64(ref.weights[n][0]) - init[n]).sum()) for n in ref.weights)
    for n, copies in run.weights.items():
        diffs = [np.float64(copy) - ref.weights[n][0] for copy in copies]
        weight_diff = max([weight_diff] + [float(np.abs(d).max()) for d in diffs])
        copy_squares = np.array([np.square(d).sum() for d in diffs])
        squares = copy_squares if squares is None else squares + copy_squares
    return loss_diff, weight_diff, float(np.sqrt(squares.max() / moved)) if moved else float("inf")


# --------------------------------------------------------------------------- the plan
CPU = ("/device:CPU:0",)
CPU_FLOAT32 = Spec("CPU float32", CPU)  # the reference runs
CPU_XLA = Spec("CPU xla", CPU, use_xla=True)


def plan(gpus: list, variants, perturb: float = 0.0, num_cpus: int = 1) -> list[Check]:
    """The checks: on the visible `gpus` ([(device, compute capability)]) or, with none,
    of the CPU path (`num_cpus` logical CPUs for mirrored)."""
    if not gpus:
        return _cpu_plan(variants, perturb, num_cpus)
    gpu0, capability = (gpus[0][0],), gpus[0][1] or (0, 0)
    checks = []
    if "float32" in variants:
        checks.append(Check(Spec("float32", gpu0, perturb=perturb), CPU_FLOAT32))
    if "tf32" in variants:
        spec = Spec("tf32", gpu0, tf32=True, perturb=perturb)
        checks.append(Check(spec, CPU_FLOAT32, "reduced") if capability >= (8, 0) else
                      Check(spec, None, note=f"compute capability {capability[0]}.{capability[1]} < 8.0: "
                                             "TensorFloat-32 is not used"))
    if "xla" in variants:
        checks.append(Check(Spec("xla", gpu0, use_xla=True, perturb=perturb), CPU_XLA))
    if "amp" in variants:  # TensorFlow's float16 rewrite skips GPUs older than 7.0
        old = "" if capability >= (7, 0) else "compute capability < 7.0: --use_amp computes in float32 here"
        checks.append(Check(Spec("amp", gpu0, use_amp=True, perturb=perturb), CPU_FLOAT32, "reduced", old,
                            needs_float16=not old))
    if "mirrored" in variants:
        # The first k GPUs, k the most that split the batch evenly (all of 2, 4 or 8 GPUs).
        k = max(d for d in range(1, min(len(gpus), BATCH_SIZE) + 1) if BATCH_SIZE % d == 0)
        spec = Spec("mirrored", tuple(device for device, _ in gpus[:k]), perturb=perturb)
        note = f"{k} of {len(gpus)} GPUs (a batch of {BATCH_SIZE} splits evenly)" if k < len(gpus) else ""
        checks.append(Check(spec, CPU_FLOAT32, note=note) if k > 1 else
                      Check(spec, None, note="needs 2 or more GPUs; 1 is visible"))
    return checks


def _cpu_plan(variants, perturb: float, num_cpus: int) -> list[Check]:
    checks = []
    if "float32" in variants:  # determinism: the reference run once more
        checks.append(Check(Spec("float32", CPU, perturb=perturb), CPU_FLOAT32, "exact"))
    if "xla" in variants:
        checks.append(Check(Spec("xla", CPU, use_xla=True, perturb=perturb), CPU_FLOAT32))
    if "amp" in variants:
        checks.append(Check(Spec("amp", CPU, use_amp=True, perturb=perturb), CPU_FLOAT32, "reduced"))
    if "mirrored" in variants:
        from bert_estimator.distribution import LOGICAL_CPUS_ENV

        spec = Spec("mirrored", tuple(f"/device:CPU:{i}" for i in range(num_cpus)), perturb=perturb)
        checks.append(Check(spec, CPU_FLOAT32) if num_cpus > 1 and BATCH_SIZE % num_cpus == 0 else
                      Check(spec, None, note=f"needs {LOGICAL_CPUS_ENV}=2 or 4 (now {num_cpus})"))
    return checks


# -------------------------------------------------------------------------- the table
COLUMNS = (("check", 9), ("device", 7), ("vs", 12), ("max|dloss|", 10), ("max|dweight|", 12),
           ("update err", 10), ("tolerance", 21), ("result", 6), ("note", 0))


def format_row(*cells) -> str:
    return "  ".join(str(cell).ljust(width) for cell, (_, width) in zip(cells, COLUMNS)).rstrip()


def header() -> str:
    return format_row(*(name for name, _ in COLUMNS)) + "\n" + format_row(
        *("-" * max(width, len(name)) for name, width in COLUMNS[:-1]))


def evaluate(check: Check, run: Result, ref: Result, init: dict, scale: float) -> tuple[bool, str]:
    """(ok, table row) of `check` from its run and its reference run."""
    tolerance = TOLERANCES[check.tolerance].scaled(scale)
    loss_diff, weight_diff, update_err = compare(run, ref, init)
    ok = (loss_diff <= tolerance.loss and update_err <= tolerance.update
          and (tolerance.weight is None or weight_diff <= tolerance.weight))  # False on NaN
    notes, spec = [check.note] if check.note else [], check.spec
    counts = run.op_counts
    if spec.device_type == "GPU" and not counts["target"]:
        ok, notes = False, notes + ["no op ran on a GPU"]
    if spec.use_xla:
        ok = ok and counts["xla"] > 0
        notes.append(f"{counts['xla']} XLA clusters" if counts["xla"] else "XLA compiled nothing")
    if spec.use_amp:
        precision = "float16" if spec.device_type == "GPU" else "bfloat16"
        notes.append(f"{counts['low_precision']} {precision} ops" if counts["low_precision"] else
                     f"the {precision} rewrite changed nothing")
        ok = ok and (counts["low_precision"] > 0 or spec.device_type == "CPU" or not check.needs_float16)
    if len(spec.devices) > 1:
        notes.append(f"{len(spec.devices)} replicas, every copy compared")
    if check.tolerance == "exact":
        notes.append("the same run twice must be bit-identical")
    numbers = ("0" if value == 0 else f"{value:.1e}" for value in (loss_diff, weight_diff, update_err))
    return ok, format_row(spec.name, spec.device_label, check.reference.name, *numbers, tolerance,
                          "ok" if ok else "FAIL", "; ".join(notes))


# ------------------------------------------------------------------------------- main
def describe_devices() -> list:
    """Prints TensorFlow's build and the visible devices; returns the GPUs as
    [(device, compute capability or None)]."""
    import platform

    import tensorflow as tf2

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
    from bert_estimator import distribution

    if gpus or "mirrored" not in variants:
        return 1
    os.environ.setdefault(distribution.LOGICAL_CPUS_ENV, "2")
    return distribution.configure_logical_cpus()


def run_checks(checks: list[Check], scale: float) -> tuple[int, int]:
    """Trains what `checks` need and prints one row per check; returns (failed, runs)."""
    import traceback

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated checks to run, of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--tolerance_scale", type=float, default=1.0,
                        help="multiply every tolerance by this (default 1; 0 demands bit-identical results)")
    parser.add_argument("--perturb_weight", type=float, default=0.0,
                        help="testing: add this to one initial weight of every run under test "
                             f"({PERTURBED_WEIGHT}[0, 0]); the check must then FAIL")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), PROG)


def run(args) -> int:
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        raise UsageError(f"--variants {args.variants!r}: choose from {', '.join(VARIANTS)}")
    if not args.tolerance_scale >= 0:
        raise UsageError(f"--tolerance_scale must be >= 0, got {args.tolerance_scale}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    import tensorflow.compat.v1 as tf

    from bert_estimator import runtime

    tf.logging.set_verbosity(tf.logging.ERROR)  # no deprecation warnings around the table
    if "xla" in variants:
        runtime.enable_cpu_xla_jit()  # before the first device listing, or XLA on the CPU compiles nothing
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
