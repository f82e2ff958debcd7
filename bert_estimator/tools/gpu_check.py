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
import os
import time

from bert_estimator.core.errors import UsageError, run_cli
from bert_estimator.tools.gpu_checks import PERTURBED_WEIGHT, PROG, VARIANTS


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
    """Checks the flags, then trains and compares (importing TensorFlow only then)."""
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        raise UsageError(f"--variants {args.variants!r}: choose from {', '.join(VARIANTS)}")
    if not args.tolerance_scale >= 0:
        raise UsageError(f"--tolerance_scale must be >= 0, got {args.tolerance_scale}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    start = time.perf_counter()
    # TensorFlow and the model (about 3 s): only now, so --help and flag errors answer at once.
    from bert_estimator.tools import gpu_training

    return gpu_training.run(args, variants, start)


