"""How fast can a float32 training step get without changing its math? The matrix products alone.

One training step (all-MiniLM-L6-v2's architecture + a 2-label head on the pooled output,
batch 32, max_seq_length 128, dropout on, float32; forward, backward and the update of
`optimization.create_optimizer`, on random weights and a fixed random feed) spends most of its
time in matrix products that no rewrite of the same math removes: per layer the six
dense layers (query, key, value, attention output, intermediate, output) and the two
attention products, forward and backward (dX = dY W^T, dW = X^T dY; dQ, dK, dP, dV).
This script builds a graph of exactly these products, with the step's shapes and
transpose flags, on random inputs (a distinct tensor per layer, as in the step), with
nothing else in it, and times it interleaved with the original's (bert-tensorflow 1.0.4's
`modeling` + `optimization`) and this repository's whole step (`TrainingStep`) in the same
process:

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

import modeling  # noqa: E402
import optimization  # noqa: E402
from bert_estimator.training.train_op_builder import TrainOpOptions  # noqa: E402
from tests.support import reference  # noqa: E402

# all-MiniLM-L6-v2's architecture (its vocabulary is BERT's uncased one).
MINILM = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
              intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2)
PROGRAMS = ("original", "current")
Feed = tuple[np.ndarray, np.ndarray, np.ndarray]


class TrainingStep:
    """One program's training graph and session: a 2-label classifier on BertModel's pooled
    output (dropout 0.1 on it), mean cross-entropy, and `create_optimizer(loss, 1e-4, 1000,
    0, False)`'s update; graph seed 0, dropout on, float32.

    `program` "original" is Google's `modeling` + `optimization` (bert-tensorflow 1.0.4,
    loaded by `tests.support.reference`); "current" this repository's, with the training
    op run_classifier.py builds (`TrainOpOptions()`: the update in TensorFlow's Adam kernel).
    """

    def __init__(self, program: str, batch: int, seq: int):
        if program == "original":
            modeling_lib, optimization_lib, hook = reference.load("modeling"), reference.load("optimization"), {}
        elif program == "current":
            modeling_lib, optimization_lib, hook = modeling, optimization, {"build_train_op": TrainOpOptions()}
        else:
            raise ValueError(f"unknown program {program!r} (one of {PROGRAMS})")
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.set_random_seed(0)
            self.input_ids = tf.placeholder(tf.int32, [batch, seq])
            self.input_mask = tf.placeholder(tf.int32, [batch, seq])
            self.labels = tf.placeholder(tf.int32, [batch])
            model = modeling_lib.BertModel(modeling_lib.BertConfig(**MINILM), True, self.input_ids,
                                           self.input_mask, tf.zeros_like(self.input_ids))
            pooled = tf.nn.dropout(model.get_pooled_output(), rate=0.1)  # float32 [batch, hidden]
            output_weights = tf.get_variable("output_weights", [2, MINILM["hidden_size"]],
                                             initializer=tf.truncated_normal_initializer(stddev=0.02))
            output_bias = tf.get_variable("output_bias", [2], initializer=tf.zeros_initializer())
            logits = tf.nn.bias_add(tf.matmul(pooled, output_weights, transpose_b=True), output_bias)  # [batch, 2]
            self.loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=self.labels, logits=logits))
            self.train_op = optimization_lib.create_optimizer(self.loss, 1e-4, 1000, 0, False, **hook)
            init = tf.global_variables_initializer()
        self.session = tf.Session(graph=self.graph)
        self.session.run(init)

    def step(self, feed: Feed) -> float:
        """Runs one training step on `feed` (input_ids, input_mask, labels); returns its loss."""
        ids, mask, labels = feed
        return self.session.run([self.loss, self.train_op],
                                {self.input_ids: ids, self.input_mask: mask, self.labels: labels})[0]


def make_feed(batch: int, seq: int, seed: int = 0) -> Feed:
    """A fixed random batch: int32 input_ids [batch, seq] (ids >= 1000), an all-ones int32
    input_mask [batch, seq] and int32 labels [batch] in {0, 1}."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(1000, MINILM["vocab_size"], (batch, seq)).astype(np.int32)
    return ids, np.ones((batch, seq), np.int32), rng.randint(0, 2, batch).astype(np.int32)


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
    feed = make_feed(args.batch, args.seq)
    common.log("building the floor graph and the two steps ...")
    session, floor_op, flops = build_floor(args.batch, args.seq, MINILM)
    steps = {name: TrainingStep(name, args.batch, args.seq) for name in PROGRAMS}
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
