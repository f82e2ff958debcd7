"""The checks of gpu_check.py: what each trains, the tolerances, the plan for the visible
devices, and the comparison of a run with its reference, as one table row. No TensorFlow
here: `gpu_training` trains the runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

PROG = "gpu_check.py"
# distribution.LOGICAL_CPUS_ENV (importing it would load TensorFlow; a test keeps them equal).
LOGICAL_CPUS_ENV = "BERT_LOGICAL_CPUS"
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


