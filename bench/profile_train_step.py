"""Profiles one training step of ours and of Google's original: where the time goes, by op type.

The training graph of `bench/bench_training.py` (all-MiniLM-L6-v2's config: 6 layers,
hidden 384, 12 heads; batch 32, max_seq_length 128; a 2-label classifier on the pooled
output; the optimizer of `create_optimizer`, dropout on), built with each program's own
`run_classifier.create_model` and `optimization.create_optimizer` on random weights and
random token ids. Every `--steps` step after `--warmup` is traced
(`RunOptions.FULL_TRACE`); the op time of each node (its start to its end, summed over
the steps) is added up by op type and printed as shares of the total, beside the mean
wall time of an untraced step. Op times overlap when
two ops run at once, so the shares say what the cores spend their time on; the wall time
is what the step costs.

    .venv/bin/python bench/profile_train_step.py                  # ours and the original
    .venv/bin/python bench/profile_train_step.py --use_amp         # ours with oneDNN bfloat16

Each program runs in a subprocess of its own (the original needs the `tensorflow.contrib`
shim of `tests.support.reference` and TF1 shapes).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

# all-MiniLM-L6-v2's architecture (its vocabulary is BERT's uncased one).
MINILM = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
              intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2)
# Op types grouped for the table, after oneDNN's prefixes are removed (every MatMul or Einsum
# kernel counts as matmul; anything else unlisted is reported under its own name).
GROUPS = {
    "Mul": "element-wise", "AddV2": "element-wise", "Sub": "element-wise", "RealDiv": "element-wise",
    "Tanh": "element-wise", "Pow": "element-wise", "Square": "element-wise", "Rsqrt": "element-wise",
    "SquaredDifference": "element-wise", "Sqrt": "element-wise", "Maximum": "element-wise",
    "GreaterEqual": "element-wise", "Cast": "element-wise", "Select": "element-wise",
    "SelectV2": "element-wise", "Neg": "element-wise", "BiasAdd": "element-wise", "TanhGrad": "element-wise",
    "RandomUniform": "dropout random numbers",
    "Mean": "reductions", "Sum": "reductions", "Max": "reductions",
    "Softmax": "softmax",
    "Transpose": "reshape/transpose", "Reshape": "reshape/transpose",
    "ConcatV2": "reshape/transpose",
    "ResourceGather": "embeddings", "UnsortedSegmentSum": "embeddings", "GatherV2": "embeddings",
    "AssignVariableOp": "optimizer state", "ReadVariableOp": "optimizer state",
    "AssignSubVariableOp": "optimizer state", "AssignAddVariableOp": "optimizer state",
}


def build_and_profile(program: str, steps: int, warmup: int, use_amp: bool) -> dict:
    """Runs in the child process: builds `program`'s graph, times and traces steps."""
    import numpy as np

    if program == "original":
        from tests.support import reference

        reference.install_shims()
        import tensorflow.compat.v1 as tf

        tf.disable_v2_tensorshape()  # the original reads TF1 Dimensions (`.shape[-1].value`)
        modeling, optimization, run_classifier = (
            reference.load(name) for name in ("modeling", "optimization", "run_classifier"))
    else:
        import tensorflow.compat.v1 as tf
        from tensorflow.core.protobuf import rewriter_config_pb2

        import modeling
        import optimization
        import run_classifier
        from bert_estimator.training.train_op_builder import TrainOpOptions

    batch, seq = 32, 128
    graph = tf.Graph()
    with graph.as_default():
        input_ids = tf.placeholder(tf.int32, [batch, seq])
        input_mask = tf.placeholder(tf.int32, [batch, seq])
        labels = tf.placeholder(tf.int32, [batch])
        # Each program's own classifier (BERT + dropout + output_weights/output_bias).
        loss, _, _, _ = run_classifier.create_model(
            modeling.BertConfig(**MINILM), True, input_ids, input_mask, tf.zeros_like(input_ids), labels,
            num_labels=2, use_one_hot_embeddings=False)
        # ours: the product's training op (Adam kernel update, --use_amp); the original's
        # create_optimizer has no such argument
        hook = {} if program == "original" else {"build_train_op": TrainOpOptions(use_amp=use_amp)}
        train_op = optimization.create_optimizer(loss, 5e-5, 1000, 100, False, **hook)
        session_config = tf.ConfigProto()
        if use_amp:
            session_config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
                rewriter_config_pb2.RewriterConfig.ON)
        op_types = {op.name: op.type for op in graph.get_operations()}
        rng = np.random.RandomState(0)
        feed = {input_ids: rng.randint(0, MINILM["vocab_size"], (batch, seq)),
                input_mask: np.ones((batch, seq), np.int32), labels: rng.randint(0, 2, batch)}
        with tf.Session(config=session_config) as session:
            session.run(tf.global_variables_initializer())
            for _ in range(warmup):
                session.run(train_op, feed)
            start = time.perf_counter()
            for _ in range(steps):
                session.run(train_op, feed)
            step_seconds = (time.perf_counter() - start) / steps
            micros = collections.Counter()
            options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
            for _ in range(steps):
                metadata = tf.RunMetadata()
                session.run(train_op, feed, options=options, run_metadata=metadata)
                for device in metadata.step_stats.dev_stats:
                    for node in device.node_stats:
                        # The kernel that ran ("name = OpType(inputs)"): grappler's fusions keep
                        # the name of a node they replace, so the graph's op type can be stale.
                        label = node.timeline_label
                        if " = " in label:
                            op_type = label.split(" = ", 1)[1].split("(", 1)[0].strip()
                        else:
                            op_type = op_types.get(node.node_name.split(":")[0], node.node_name)
                        micros[op_type] += node.all_end_rel_micros
    return {"program": program, "use_amp": use_amp, "step_seconds": step_seconds,
            "examples_per_second": batch / step_seconds, "op_micros": dict(micros)}


def grouped_shares(op_micros: dict) -> list[tuple[str, float]]:
    groups = collections.Counter()
    for op_type, us in op_micros.items():
        plain = op_type.removeprefix("_MklNative").removeprefix("_Mkl")  # oneDNN's kernels
        if "MatMul" in plain or "Einsum" in plain:
            group = "matmul (dense layers, attention; bias fused where oneDNN fuses it)"
        else:
            group = GROUPS.get(plain, GROUPS.get(op_type, op_type))
        groups[group] += us
    total = sum(groups.values()) or 1
    return [(name, us / total) for name, us in groups.most_common()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps, then as many traced ones")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--use_amp", action="store_true", help="profile ours with oneDNN bfloat16 only")
    parser.add_argument("--top", type=int, default=12, help="rows of the table")
    parser.add_argument("--child", choices=["ours", "original"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[dict]:
    """Each program's profile, each measured in a child process of its own."""
    programs = ["ours"] if args.use_amp else ["original", "ours"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    results = []
    for program in programs:
        common.log(f"profiling {program} ...")
        child = [sys.executable, os.path.abspath(__file__), "--child", program, "--steps", str(args.steps),
                 "--warmup", str(args.warmup)] + (["--use_amp"] if args.use_amp else [])
        out = subprocess.run(child, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"profile_train_step.py: error: the {program} child failed:\n{out.stderr[-2000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def report(results: list[dict], args: argparse.Namespace) -> None:
    """Prints the table of op-time shares and the untraced step's wall time."""
    print(f"One training step, MiniLM config, batch 32, seq 128, CPU ({os.cpu_count()} cores); load average "
          f"{common.format_load()} at the end. Op time by op type, summed over {args.steps} traced steps.\n")
    shares = [dict(grouped_shares(r["op_micros"])) for r in results]
    names = sorted(set().union(*shares), key=lambda n: -max(s.get(n, 0) for s in shares))[:args.top]
    titles = [r["program"] + (" --use_amp" if r["use_amp"] else "") for r in results]
    print(common.markdown_row(["op type", *titles]))
    print("|---|" + "---:|" * len(results))
    for name in names:
        print(common.markdown_row([name, *(f"{s.get(name, 0):.1%}" for s in shares)]))
    print(common.markdown_row(["**untraced step, wall**", *(
        f"{r['step_seconds'] * 1000:,.0f} ms ({r['examples_per_second']:.1f} ex/s)" for r in results)]))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:  # a subprocess of run()
        print(json.dumps(build_and_profile(args.child, args.steps, args.warmup, args.use_amp)))
        return
    results = run(args)
    report(results, args)


if __name__ == "__main__":
    main()
