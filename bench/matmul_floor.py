"""How fast can a float32 training step get without changing its math? The matrix products alone.

One training step of `bench/profile_variants.py` (all-MiniLM-L6-v2's architecture + a
2-label head, batch 32, max_seq_length 128, dropout on, float32) spends most of its
time in matrix products that no rewrite of the same math removes: per layer the six
dense layers (query, key, value, attention output, intermediate, output) and the two
attention products, forward and backward (dX = dY W^T, dW = X^T dY; dQ, dK, dP, dV).
This script builds a graph of exactly these products, with the step's shapes and
transpose flags, on random inputs (a distinct tensor per layer, as in the step), with
nothing else in it, and times it interleaved with the original's and this repository's
whole step (profile_variants' `Run`) in the same process:

* floor: the products alone, the time no element-wise rewrite can go under;
* the rest: (whole step - floor), GELU, dropout, LayerNorm, softmax, residuals, the
  optimizer, embeddings;
* for the step to be `--goal` times the original's, the rest must shrink to
  (original / goal - floor): the script prints by how much.

    .venv/bin/python bench/matmul_floor.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

common.quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from bench import profile_variants  # noqa: E402


def build_floor(batch: int, seq: int, cfg: dict):
    """(graph, op): every matrix product of one training step of `cfg`, nothing else."""
    D, F, heads = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"]  # F: feed-forward width
    H, M, BN = D // heads, batch * seq, batch * heads
    rng = np.random.RandomState(0)
    graph = tf.Graph()
    with graph.as_default():
        def var(*shape):
            return tf.Variable(rng.standard_normal(shape).astype(np.float32) * 0.05, trainable=False)

        products = []
        for _ in range(cfg["num_hidden_layers"]):
            x, x_i = var(M, D), var(M, F)                        # a layer's inputs (hidden, intermediate)
            dy, dy_i = var(M, D), var(M, F)                      # their gradients
            w, w_in, w_out = var(D, D), var(D, F), var(F, D)
            for _ in range(4):                                   # query, key, value, attention output
                products += [tf.matmul(x, w), tf.matmul(dy, w, transpose_b=True),
                             tf.matmul(x, dy, transpose_a=True)]
            products += [tf.matmul(x, w_in), tf.matmul(dy_i, w_in, transpose_b=True),
                         tf.matmul(x, dy_i, transpose_a=True)]   # intermediate
            products += [tf.matmul(x_i, w_out), tf.matmul(dy, w_out, transpose_b=True),
                         tf.matmul(x_i, dy, transpose_a=True)]   # output
            q, k, v, d_ctx = var(BN, seq, H), var(BN, seq, H), var(BN, seq, H), var(BN, seq, H)
            p, d_p = var(BN, seq, seq), var(BN, seq, seq)
            products += [tf.matmul(q, k, transpose_b=True), tf.matmul(p, v),          # scores, context
                         tf.matmul(d_p, k), tf.matmul(d_p, q, transpose_a=True),      # dQ, dK
                         tf.matmul(d_ctx, v, transpose_b=True), tf.matmul(p, d_ctx, transpose_a=True)]  # dP, dV
        # One element of each product fetched (a group of control edges alone is pruned).
        op = tf.add_n([tf.reshape(t, [-1])[0] for t in products])
        init = tf.global_variables_initializer()
    session = tf.Session(graph=graph)
    session.run(init)
    flops = sum(2 * np.prod(t.shape.as_list()) * _inner(t) for t in products)
    return session, op, flops


def _inner(t) -> int:
    """The contracted dimension of a MatMul/BatchMatMul output `t`."""
    a = t.op.inputs[0]
    transpose_a = t.op.get_attr("transpose_a") if t.op.type == "MatMul" else t.op.get_attr("adj_x")
    return a.shape.as_list()[-2] if transpose_a else a.shape.as_list()[-1]


def run(args) -> dict:
    feed = profile_variants.make_feed(args.batch, args.seq)
    common.log("building the floor graph and the two steps ...")
    session, floor_op, flops = build_floor(args.batch, args.seq, profile_variants.MINILM)
    steps = {name: profile_variants.Run(name, args.batch, args.seq) for name in ("original", "current")}
    timers = {"floor": lambda: session.run(floor_op)}
    timers.update({name: (lambda r=r: r.step(feed)) for name, r in steps.items()})
    for fn in timers.values():
        for _ in range(args.warmup):
            fn()
    times = {name: [] for name in timers}
    loads = [common.load_average()]
    for r in range(args.rounds):
        names = list(timers)[r % len(timers):] + list(timers)[:r % len(timers)]
        for name in names:
            start = time.perf_counter()
            for _ in range(args.steps):
                timers[name]()
            times[name].append((time.perf_counter() - start) / args.steps * 1000)
        loads.append(common.load_average())
        common.log(f"round {r}: " + ", ".join(f"{n} {t[-1]:.0f} ms" for n, t in times.items()))
    ms = {name: statistics.median(t) for name, t in times.items()}
    target = ms["original"] / args.goal
    return {"ms": ms, "rounds_ms": times, "gflop_per_step": flops / 1e9,
            "floor_gflops": flops / 1e9 / (ms["floor"] / 1000), "goal": args.goal,
            "rest_now_ms": ms["current"] - ms["floor"], "rest_allowed_ms": target - ms["floor"],
            "loads": loads, "machine": common.python_and_cpus()}


def report(result: dict, args) -> int:
    ms = result["ms"]
    print(f"machine: {result['machine']}; load {result['loads'][0]} -> {result['loads'][-1]}")
    print("| what | median ms per step | vs original |\n|---|---:|---:|")
    for name in ("original", "current", "floor"):
        print(f"| {name} | {ms[name]:,.1f} | {ms['original'] / ms[name]:.2f}x |")
    print(f"\nmatrix products: {result['gflop_per_step']:.1f} GFLOP per step, "
          f"{result['floor_gflops']:.0f} GFLOP/s alone")
    rest, allowed = result["rest_now_ms"], result["rest_allowed_ms"]
    print(f"the rest of the current step: {rest:.0f} ms; for {result['goal']}x the original it must be "
          f"<= {allowed:.0f} ms ({(1 - allowed / rest) * 100:.0f}% less)" if allowed > 0 else
          f"the floor alone is slower than {result['goal']}x the original")
    if args.json:
        common.write_json(args.json, result, indent=1)
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--goal", type=float, default=1.2, help="the speed-up over the original to assess")
    parser.add_argument("--json", help="also write the result here")
    return parser.parse_args(argv)


main = common.entry_point(parse_args, run, report)

if __name__ == "__main__":
    sys.exit(main())
