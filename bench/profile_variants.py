"""A/B timing of modeling.py variants against Google's original, interleaved in one process.

One training step (forward + backward + the optimizer of `create_optimizer`) of a 2-label
classifier on BertModel's pooled output, all-MiniLM-L6-v2's config (6 layers, hidden
384, 12 heads, intermediate 1536, vocabulary 30522), max_seq_length 128, dropout on,
fixed random feed, float32, CPU. Every variant gets its own graph and session, all built
in this process from the same initial weights; then the variants are timed in rounds,
each round running `--steps` steps of every variant (the order rotated every round), so
that the load of a shared machine hits all of them alike. The ratios are taken per round
against the original of the same round, and their median is reported.

Variants (`--variants`; `a+b` stacks patches on a base):

* original: Google's modeling.py + optimization.py (bert-tensorflow 1.0.4);
* before: our modeling.py as of commit BASE_COMMIT (before the speed work), our
  optimization.py;
* current: modeling.py of the working tree;
* before+PATCH...: `before` with the patches of PATCHES applied (gelu_nn, gelu_cube,
  gelu_grad, ln_grad, ln_fbn, drop_mul, drop_int, qkv, qscale...).

Parity (`--parity`): every variant's outputs (is_training=False: sequence output, pooled
output) on the original's weights, max |difference| against the original; and three
training steps with dropout off (weights and Adam moments after them) against the
original's optimizer trajectory.

    .venv/bin/python bench/profile_variants.py --variants original before current
    .venv/bin/python bench/profile_variants.py --trace current   # op time by kernel, fusions
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time
import types

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

common.quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

BASE_COMMIT = "e78f7db"  # modeling.py before the speed work
MINILM = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
              intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2)


# ============================================================================ variants
def _load_source(name: str, source: str) -> types.ModuleType:
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__source__ = source
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def _resource(m, replacements, extra=""):
    """Re-executes `m` from its source with `replacements` [(old, new)] made and `extra` appended
    (source patches run before function patches, which re-execution would undo)."""
    source = m.__source__
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new)
    m.__source__ = source + "\n" + extra
    exec(compile(m.__source__, f"<{m.__name__}>", "exec"), m.__dict__)


def _before_module(name: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{BASE_COMMIT}:modeling.py"], cwd=common.PROJECT_ROOT,
                            capture_output=True, text=True, check=True).stdout
    return _load_source(name, source)


def _current_module(name: str) -> types.ModuleType:
    with open(os.path.join(common.PROJECT_ROOT, "modeling.py")) as f:
        return _load_source(name, f.read())


# ---- patches: each takes the module and replaces some of its functions.
def p_gelu_nn(m):
    """tf.nn.gelu(approximate=True): the same tanh formula, TF's own ops (x^3 as x*x*x)."""
    import tensorflow as tf2

    m.gelu = lambda x: tf2.nn.gelu(x, approximate=True)


def p_gelu_cube(m):
    """The original's formula with x*x*x for tf.pow(x, 3) (Pow is exp/log, and its gradient another Pow)."""
    def gelu(x):
        cdf = 0.5 * (1.0 + tf.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * (x * x * x))))
        return x * cdf
    m.gelu = gelu


def p_gelu_grad(m):
    """The original's formula (x*x*x) forward, and a hand-written derivative reusing tanh."""
    c = float(np.sqrt(2.0 / np.pi))

    @tf.custom_gradient
    def gelu(x):
        t = tf.tanh(c * (x + 0.044715 * (x * x * x)))
        y = x * (0.5 * (1.0 + t))

        def grad(dy):
            # d/dx [x/2 (1 + t)] = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)
            x2 = x * x
            return dy * (0.5 * (1.0 + t) + (0.5 * c) * x * (1.0 - t * t) * (1.0 + 3 * 0.044715 * x2))
        return y, grad
    m.gelu = gelu


def p_ln_grad(m):
    """LayerNorm: same forward (moments, then (x - mean) * rsqrt(var + eps) * gamma + beta),
    with a hand-written backward (the usual closed form) instead of autodiff of moments."""
    def layer_norm(input_tensor, name=None):
        width = tf.compat.dimension_value(input_tensor.shape[-1])
        with tf.variable_scope(name, default_name="LayerNorm"):
            beta = tf.get_variable("beta", shape=[width], initializer=tf.zeros_initializer())
            gamma = tf.get_variable("gamma", shape=[width], initializer=tf.ones_initializer())
            return _ln(input_tensor, gamma, beta)

    @tf.custom_gradient
    def _ln(x, gamma, beta):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        xc = x - mean
        variance = tf.reduce_mean(tf.square(xc), axis=-1, keepdims=True)
        inv = tf.math.rsqrt(variance + 1e-12)
        xhat = xc * inv
        y = xhat * gamma + beta

        def grad(dy):
            axes = list(range(len(x.shape) - 1))
            dxhat = dy * gamma
            dx = inv * (dxhat - tf.reduce_mean(dxhat, -1, keepdims=True)
                        - xhat * tf.reduce_mean(dxhat * xhat, -1, keepdims=True))
            return dx, tf.reduce_sum(dy * xhat, axes), tf.reduce_sum(dy, axes)
        return y, grad
    m.layer_norm = layer_norm


def p_ln_fbn(m):
    """LayerNorm through FusedBatchNormV3 (oneDNN), [M, D] viewed as NCHW [1, M, D, 1] (Keras'
    fused LayerNormalization trick), epsilon 1e-12 passed to the raw op; gamma, beta after."""
    def layer_norm(input_tensor, name=None):
        width = tf.compat.dimension_value(input_tensor.shape[-1])
        with tf.variable_scope(name, default_name="LayerNorm"):
            beta = tf.get_variable("beta", shape=[width], initializer=tf.zeros_initializer())
            gamma = tf.get_variable("gamma", shape=[width], initializer=tf.ones_initializer())
            shape = tf.shape(input_tensor)
            x = tf.reshape(input_tensor, [1, -1, width, 1])
            rows = tf.shape(x)[1]
            ones = tf.ones([rows], tf.float32)
            zeros = tf.zeros([rows], tf.float32)
            y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=ones, offset=zeros, mean=tf.zeros([0]), variance=tf.zeros([0]),
                epsilon=1e-12, data_format="NCHW", is_training=True)
            y = tf.reshape(y, shape)
            return y * gamma + beta
    m.layer_norm = layer_norm


def p_drop_mul(m):
    """Dropout as x * mask, mask = (uniform >= rate) * 1/keep in float (one Mul in the backward)."""
    def dropout(input_tensor, dropout_prob):
        if dropout_prob is None or dropout_prob == 0.0:
            return input_tensor
        u = tf.random.uniform(tf.shape(input_tensor), dtype=input_tensor.dtype)
        mask = tf.cast(u >= dropout_prob, input_tensor.dtype) * (1.0 / (1.0 - dropout_prob))
        return input_tensor * mask
    m.dropout = dropout


def p_drop_int(m):
    """Dropout on raw 32-bit random integers (no float conversion): drop if bits < rate * 2^32."""
    def dropout(input_tensor, dropout_prob):
        if dropout_prob is None or dropout_prob == 0.0:
            return input_tensor
        seed = tf.random.uniform([2], maxval=2 ** 62, dtype=tf.int64)
        bits = tf.random.stateless_uniform(tf.shape(input_tensor), seed, minval=None, maxval=None, dtype=tf.int32)
        threshold = int(round(dropout_prob * 2 ** 32)) - 2 ** 31  # P(bits < threshold) = rate
        keep = bits >= threshold
        return tf.where(keep, input_tensor * (1.0 / (1.0 - dropout_prob)), tf.zeros_like(input_tensor))
    m.dropout = dropout


def p_drop_stateless(m):
    """Dropout on tf.random.stateless_uniform (Philox, counter-based), seeds from a stateful int draw."""
    def dropout(input_tensor, dropout_prob):
        if dropout_prob is None or dropout_prob == 0.0:
            return input_tensor
        seed = tf.random.uniform([2], maxval=2 ** 62, dtype=tf.int64)
        u = tf.random.stateless_uniform(tf.shape(input_tensor), seed, dtype=input_tensor.dtype)
        return tf.where(u >= dropout_prob, input_tensor * (1.0 / (1.0 - dropout_prob)),
                        tf.zeros_like(input_tensor))
    m.dropout = dropout


def p_xla_gelu(m):
    """The original's gelu inside an XLA jit_scope (its gradient too): one compiled kernel each way."""
    original_gelu = m.gelu

    def gelu(x):
        with tf.xla.experimental.jit_scope(compile_ops=True, separate_compiled_gradients=True):
            return original_gelu(x)
    m.gelu = gelu


def p_xla_ln(m):
    """LayerNorm (moments + batch_normalization, as before) inside an XLA jit_scope."""
    original_layer_norm = m.layer_norm

    def layer_norm(input_tensor, name=None):
        with tf.xla.experimental.jit_scope(compile_ops=True, separate_compiled_gradients=True):
            return original_layer_norm(input_tensor, name)
    m.layer_norm = layer_norm


_FOLD_EXTRA = '''
def _dropout_unscaled(x, rate):
    """The keep mask of dropout without the 1/keep scale (applied by the caller)."""
    u = tf.random.uniform(tf.shape(x), dtype=x.dtype)
    return tf.where(u >= rate, x, tf.zeros_like(x))
'''


def p_drop_fold(m):
    """Attention dropout: the mask on the probabilities, the 1/keep scale on the context (4x smaller)."""
    _resource(m, [
        ("    attention_probs = dropout(attention_probs, attention_probs_dropout_prob)\n",
         "    if attention_probs_dropout_prob:\n"
         "        attention_probs = _dropout_unscaled(attention_probs, attention_probs_dropout_prob)\n"),
        ("    context_layer = tf.matmul(attention_probs, value_layer)  # [B, N, F, H]\n",
         "    context_layer = tf.matmul(attention_probs, value_layer)  # [B, N, F, H]\n"
         "    if attention_probs_dropout_prob:\n"
         "        context_layer *= 1.0 / (1.0 - attention_probs_dropout_prob)\n")], _FOLD_EXTRA)


_XLA_ATTN_EXTRA = '''
def _softmax_dropout(scores, rate):
    """softmax then dropout, the element-wise work in one XLA cluster (random numbers outside)."""
    u = tf.random.uniform(tf.shape(scores), dtype=scores.dtype) if rate else None
    with tf.xla.experimental.jit_scope(compile_ops=True, separate_compiled_gradients=True):
        probs = tf.nn.softmax(scores)
        if rate:
            probs = tf.where(u >= rate, probs * (1.0 / (1.0 - rate)), tf.zeros_like(probs))
        return probs
'''


def p_xla_attn(m):
    """Attention: softmax + dropout (not the random numbers) in an XLA cluster."""
    _resource(m, [
        ("    attention_probs = tf.nn.softmax(attention_scores)  # [B, N, F, T]\n",
         "    attention_probs = _softmax_dropout(attention_scores, attention_probs_dropout_prob)\n"),
        ("    attention_probs = dropout(attention_probs, attention_probs_dropout_prob)\n", "")],
        _XLA_ATTN_EXTRA)


_XLA_DLN_EXTRA = '''
def _dropout_add_layer_norm(x, residual, rate):
    """layer_norm(dropout(x) + residual), the element-wise work in one XLA cluster."""
    u = tf.random.uniform(tf.shape(x), dtype=x.dtype) if rate else None
    width = tf.compat.dimension_value(x.shape[-1])
    with tf.variable_scope(None, default_name="LayerNorm"):
        beta = tf.get_variable("beta", shape=[width], initializer=tf.zeros_initializer())
        gamma = tf.get_variable("gamma", shape=[width], initializer=tf.ones_initializer())
        with tf.xla.experimental.jit_scope(compile_ops=True, separate_compiled_gradients=True):
            if rate:
                x = tf.where(u >= rate, x * (1.0 / (1.0 - rate)), tf.zeros_like(x))
            x = x + residual
            mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
            return tf.nn.batch_normalization(x, mean, variance, offset=beta, scale=gamma,
                                             variance_epsilon=1e-12)
'''


def p_xla_dln(m):
    """dropout + residual + LayerNorm (random numbers outside) in an XLA cluster."""
    _resource(m, [
        ("                    attention_output = dropout(attention_output, hidden_dropout_prob)\n"
         "                    attention_output = layer_norm(attention_output + layer_input)\n",
         "                    attention_output = _dropout_add_layer_norm(attention_output, layer_input,\n"
         "                                                               hidden_dropout_prob)\n"),
        ("                layer_output = dropout(layer_output, hidden_dropout_prob)\n"
         "                layer_output = layer_norm(layer_output + attention_output)\n",
         "                layer_output = _dropout_add_layer_norm(layer_output, attention_output,\n"
         "                                                       hidden_dropout_prob)\n")], _XLA_DLN_EXTRA)


_QKV_OLD = """    query_layer = _dense(from_tensor_2d, num_attention_heads * size_per_head,
                         activation=query_act, kernel_initializer=initializer, name="query")  # [B*F, N*H]
    key_layer = _dense(to_tensor_2d, num_attention_heads * size_per_head,
                       activation=key_act, kernel_initializer=initializer, name="key")  # [B*T, N*H]
    value_layer = _dense(to_tensor_2d, num_attention_heads * size_per_head,
                         activation=value_act, kernel_initializer=initializer, name="value")  # [B*T, N*H]
"""
_QKV_NEW = """    width = num_attention_heads * size_per_head
    if from_tensor is to_tensor and not (query_act or key_act or value_act):
        in_width = get_shape_list(from_tensor_2d)[-1]
        kernels, biases = [], []
        for name in ("query", "key", "value"):
            with tf.variable_scope(name):
                kernels.append(tf.get_variable("kernel", shape=[in_width, width], initializer=initializer))
                biases.append(tf.get_variable("bias", shape=[width], initializer=tf.zeros_initializer()))
        qkv = tf.nn.bias_add(tf.matmul(from_tensor_2d, tf.concat(kernels, 1)), tf.concat(biases, 0))
        query_layer, key_layer, value_layer = tf.split(qkv, 3, axis=1)
    else:
""" + "\n".join("    " + line if line else line for line in _QKV_OLD.split("\n"))


def p_qkv(m):
    """Self-attention's query, key and value projections as one [D, 3D] matmul (the three kernels
    concatenated at run time; same variables)."""
    _resource(m, [(_QKV_OLD, _QKV_NEW)])


_EMB_EXTRA = '''
@tf.function(jit_compile=True, autograph=False)
def _layer_norm_dropout_forward(x, gamma, beta, seed, dropout_prob):
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    centered = x - mean
    inverse_std = tf.math.rsqrt(tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True) + 1e-12)
    normalized = centered * inverse_std
    return _apply_keep_mask(normalized * gamma + beta, seed, dropout_prob), normalized, inverse_std


@tf.function(jit_compile=True, autograph=False)
def _layer_norm_dropout_backward(dy, normalized, inverse_std, gamma, seed, dropout_prob):
    dy = _apply_keep_mask(dy, seed, dropout_prob)
    d_normalized = dy * gamma
    dx = inverse_std * (d_normalized - tf.reduce_mean(d_normalized, axis=-1, keepdims=True)
                        - normalized * tf.reduce_mean(d_normalized * normalized, axis=-1, keepdims=True))
    outer_axes = list(range(len(dy.shape) - 1))
    return dx, tf.reduce_sum(dy * normalized, axis=outer_axes), tf.reduce_sum(dy, axis=outer_axes)


def _fused_layer_norm_and_dropout(input_tensor, dropout_prob, name=None):
    width = tf.compat.dimension_value(input_tensor.shape[-1])
    with tf.variable_scope(name, default_name="LayerNorm"):
        beta = tf.get_variable("beta", shape=[width], initializer=tf.zeros_initializer())
        gamma = tf.get_variable("gamma", shape=[width], initializer=tf.ones_initializer())
        seed = _dropout_seed()
        dropout_prob = float(dropout_prob)

        @tf.custom_gradient
        def fused(x, gamma, beta):
            y, normalized, inverse_std = _layer_norm_dropout_forward(x, gamma, beta, seed, dropout_prob)
            return y, lambda dy: _layer_norm_dropout_backward(dy, normalized, inverse_std, gamma, seed, dropout_prob)
        return fused(input_tensor, tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta))
'''


def p_emb(m):
    """The embeddings' LayerNorm + dropout as fused kernels (training, dropout > 0)."""
    _resource(m, [("    return layer_norm_and_dropout(output, dropout_prob)\n",
                   "    if dropout_prob:\n"
                   "        return _fused_layer_norm_and_dropout(output, dropout_prob)\n"
                   "    return layer_norm_and_dropout(output, dropout_prob)\n")], _EMB_EXTRA)


SOURCE_PATCHES = ("drop_fold", "xla_attn", "xla_dln", "qkv", "emb")

PATCHES = {"gelu_nn": p_gelu_nn, "gelu_cube": p_gelu_cube, "gelu_grad": p_gelu_grad, "ln_grad": p_ln_grad,
           "ln_fbn": p_ln_fbn, "drop_mul": p_drop_mul, "drop_int": p_drop_int,
           "drop_stateless": p_drop_stateless, "xla_gelu": p_xla_gelu, "xla_ln": p_xla_ln,
           "drop_fold": p_drop_fold, "xla_attn": p_xla_attn, "xla_dln": p_xla_dln, "qkv": p_qkv,
           "emb": p_emb}


def load_variant(variant: str):
    """(modeling module, optimization module) of `variant`; VARIANT@adam_ops: the
    optimizer's element-wise update graph instead of its Adam kernel (`_fused_update`)."""
    variant, *options = variant.split("@")
    if variant == "original":
        from bert_estimator import reference

        return reference.load("modeling"), reference.load("optimization")
    import optimization

    if "adam_ops" in options:
        with open(os.path.join(common.PROJECT_ROOT, "optimization.py")) as f:
            optimization = _load_source("optimization_adam_ops", f.read())
        optimization._is_resource_variable = lambda var: False

    base, *patches = variant.split("+")
    name = "modeling_" + variant.replace("+", "_")
    module = {"before": _before_module, "current": _current_module}[base](name)
    for patch in sorted(patches, key=lambda p: p not in SOURCE_PATCHES):
        PATCHES[patch](module)
    return module, optimization


# ======================================================================== the graphs
def session_config(intra: int, inter: int):
    config = tf.ConfigProto()
    if intra or inter:
        config.intra_op_parallelism_threads = intra
        config.inter_op_parallelism_threads = inter
    return config


def variant_config(variant: str, base):
    """`base`, or a copy with the variant's session options: VARIANT@inter=N its own
    inter-op pool of N threads (`use_per_session_threads`; the intra-op pool is the
    process's, whatever the session); VARIANT@amp the oneDNN bfloat16 rewrite (--use_amp).
    VARIANT@adam_ops changes the graph, not the session (`load_variant`)."""
    options = variant.split("@")[1:]
    if not options:
        return base
    config = tf.ConfigProto()
    if base is not None:
        config.CopyFrom(base)
    for option in options:
        if option.startswith("inter="):
            config.use_per_session_threads = True
            config.inter_op_parallelism_threads = int(option.split("=")[1])
        elif option == "adam_ops":
            pass  # an optimizer option (`load_variant`)
        elif option == "amp":
            from tensorflow.core.protobuf import rewriter_config_pb2

            config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
                rewriter_config_pb2.RewriterConfig.ON)
        else:
            raise ValueError(f"unknown variant option {option!r}")
    return config


class Run:
    """One variant's training graph and session."""

    def __init__(self, variant, batch, seq, init_values=None, config=None, seed=0, dropout=True):
        self.variant = variant
        modeling, optimization = load_variant(variant)
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.set_random_seed(seed)
            self.input_ids = tf.placeholder(tf.int32, [batch, seq])
            self.input_mask = tf.placeholder(tf.int32, [batch, seq])
            self.labels = tf.placeholder(tf.int32, [batch])
            bert_config = modeling.BertConfig(**MINILM)
            if not dropout:
                bert_config.hidden_dropout_prob = bert_config.attention_probs_dropout_prob = 0.0
            model = modeling.BertModel(bert_config, True, self.input_ids, self.input_mask,
                                       tf.zeros_like(self.input_ids))
            pooled = model.get_pooled_output()
            if dropout:
                pooled = tf.nn.dropout(pooled, rate=0.1)
            output_weights = tf.get_variable("output_weights", [2, MINILM["hidden_size"]],
                                             initializer=tf.truncated_normal_initializer(stddev=0.02))
            output_bias = tf.get_variable("output_bias", [2], initializer=tf.zeros_initializer())
            logits = tf.nn.bias_add(tf.matmul(pooled, output_weights, transpose_b=True), output_bias)
            self.loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=self.labels, logits=logits))
            amp = {"use_amp": True} if variant.endswith("@amp") else {}  # loss scaling (ours only)
            self.train_op = optimization.create_optimizer(self.loss, 1e-4, 1000, 0, False, **amp)
            self.state = {v.op.name: v for v in tf.global_variables()}
            self.trainable = {v.op.name: v for v in tf.trainable_variables()}
            init = tf.global_variables_initializer()
        self.session = tf.Session(graph=self.graph, config=config)
        self.session.run(init)
        if init_values is not None:
            with self.graph.as_default():
                for name, var in self.trainable.items():
                    var.load(init_values[name], self.session)

    def feed(self, feed):
        return {self.input_ids: feed[0], self.input_mask: feed[1], self.labels: feed[2]}

    def step(self, feed, **kwargs):
        return self.session.run([self.loss, self.train_op], self.feed(feed), **kwargs)[0]

    def values(self):
        return self.session.run(self.trainable)


def make_feed(batch, seq, seed=0):
    rng = np.random.RandomState(seed)
    ids = rng.randint(1000, MINILM["vocab_size"], (batch, seq)).astype(np.int32)
    return ids, np.ones((batch, seq), np.int32), rng.randint(0, 2, batch).astype(np.int32)


# ========================================================================== timing
def time_variants(args) -> dict:
    feed = make_feed(args.batch, args.seq)
    config = session_config(args.intra, args.inter)
    runs = []
    init_values = None
    for variant in args.variants:
        common.log(f"building {variant} ...")
        run = Run(variant, args.batch, args.seq, init_values, variant_config(variant, config))
        if init_values is None:
            init_values = run.values()
        for _ in range(args.warmup):
            run.step(feed)
        runs.append(run)
    times = {v: [] for v in args.variants}
    cpu = {v: [] for v in args.variants}
    loads = [common.load_average()]
    for r in range(args.rounds):
        order = runs[r % len(runs):] + runs[:r % len(runs)]
        for run in order:
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                run.step(feed)
            times[run.variant].append((time.perf_counter() - start) / args.steps)
            cpu[run.variant].append((time.process_time() - cpu_start) / args.steps)
        loads.append(common.load_average())
        common.log(f"round {r}: " + ", ".join(f"{v} {t[-1] * 1000:.0f} ms" for v, t in times.items())
                   + f"; load {common.format_load(loads[-1])}")
    ref = times.get("original")
    result = {}
    if ref:
        ref_low = statistics.mean(sorted(ref)[:max(1, len(ref) // 5)])
    for variant, t in times.items():
        ratios = [o / x for o, x in zip(ref, t)] if ref else []
        c = cpu[variant]
        cpu_ratios = [o / x for o, x in zip(cpu["original"], c)] if ref else []
        low = sorted(t)[:max(1, len(t) // 5)]  # the quickest fifth: the least disturbed by other load
        result[variant] = {"ms": [round(x * 1000, 1) for x in t], "median_ms": round(statistics.median(t) * 1000, 1),
                           "min_ms": round(min(t) * 1000, 1), "fastest_fifth_ms": round(statistics.mean(low) * 1000, 1),
                           "ratio_vs_original": round(statistics.median(ratios), 3) if ratios else None,
                           "ratios": [round(x, 3) for x in ratios],
                           "cpu_ms": [round(x * 1000, 1) for x in c],
                           "median_cpu_ms": round(statistics.median(c) * 1000, 1),
                           "cpu_ratio_vs_original": round(statistics.median(cpu_ratios), 3) if cpu_ratios else None,
                           "fastest_fifth_ratio_vs_original": round(ref_low / statistics.mean(low), 3) if ref else None,
                           "min_ratio_vs_original": round(min(ref) / min(t), 3) if ref else None}
    return {"batch": args.batch, "seq": args.seq, "steps": args.steps, "rounds": args.rounds,
            "intra": args.intra, "inter": args.inter, "loads": loads, "variants": result,
            "env": {k: os.environ[k] for k in os.environ if k.startswith(("OMP", "TF_", "ONEDNN", "KMP"))}}


# ========================================================================== parity
def eval_outputs(variant, values, feed):
    modeling, _ = load_variant(variant)
    with tf.Graph().as_default():
        ids = tf.constant(feed[0])
        mask = feed[1].copy()
        mask[1, 50:] = 0  # some padding
        model = modeling.BertModel(modeling.BertConfig(**MINILM), False, ids, tf.constant(mask),
                                   tf.constant((np.arange(feed[0].shape[1]) >= 40).astype(np.int32)[None]
                                               .repeat(feed[0].shape[0], 0)))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for var in tf.trainable_variables():
                var.load(values[var.op.name], sess)
            return sess.run({"sequence": model.get_sequence_output(), "pooled": model.get_pooled_output()})


def parity(args) -> dict:
    batch, seq = 4, args.seq
    feed = make_feed(batch, seq, seed=1)
    rng = np.random.RandomState(3)
    reference_run = Run("original", batch, seq, dropout=False)
    values = reference_run.values()
    for name in values:  # LayerNorm away from 1/0, so that it is tested too
        if "LayerNorm" in name:
            values[name] = rng.normal(1.0 if "gamma" in name else 0.0, 0.1, values[name].shape).astype(np.float32)
    expected = eval_outputs("original", values, feed)
    result = {}
    trajectories = {}
    for variant in args.variants:
        outputs = expected if variant == "original" else eval_outputs(variant, values, feed)
        run = Run(variant, batch, seq, values, dropout=False)
        with run.graph.as_default():
            state = run.session.run(run.state)
            history = []
            for _ in range(3):
                run.step(feed)
                history.append(run.session.run(run.state))
        run.session.close()
        trajectories[variant] = history
        out_diff = max(float(np.abs(outputs[k] - expected[k]).max()) for k in expected)
        ref = trajectories["original"]
        traj_diff = max(float(np.abs(np.asarray(a[k], np.float64) - b[k]).max())
                        for a, b in zip(history, ref) for k in b)
        result[variant] = {"outputs_max_abs_diff": out_diff, "trajectory_max_abs_diff": traj_diff}
        common.log(f"parity {variant}: outputs {out_diff:.2e}, 3-step trajectory {traj_diff:.2e}")
        del state
    return result


# =========================================================================== trace
def trace(args) -> dict:
    feed = make_feed(args.batch, args.seq)
    variant = args.trace
    run = Run(variant, args.batch, args.seq, config=session_config(args.intra, args.inter))
    for _ in range(args.warmup):
        run.step(feed)
    micros = collections.Counter()
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE, output_partition_graphs=True)
    fused = collections.Counter()
    by_scope = collections.Counter()
    for i in range(args.steps):
        metadata = tf.RunMetadata()
        run.step(feed, options=options, run_metadata=metadata)
        for device in metadata.step_stats.dev_stats:
            for node in device.node_stats:
                label = node.timeline_label
                op_type = label.split(" = ", 1)[1].split("(", 1)[0].strip() if " = " in label else node.node_name
                micros[op_type] += node.all_end_rel_micros
                scope = re.sub(r"layer_\d+", "layer_N", node.node_name)
                scope = re.sub(r"_\d+$", "", scope) if not op_type.endswith("MatMul") else scope
                by_scope[f"{op_type} {scope}"] += node.all_end_rel_micros
        if i == 0:
            for graph_def in metadata.partition_graphs:
                for node in graph_def.node:
                    if "fused_ops" in node.attr:
                        ops = ",".join(x.decode() for x in node.attr["fused_ops"].list.s)
                        fused[f"{node.op}[{ops}]"] += 1
                    elif node.op.startswith("_Mkl") or "Fused" in node.op or "LayerNorm" in node.op:
                        fused[node.op] += 1
    total = sum(micros.values())
    top = [(k, round(v / total, 4), round(v / args.steps / 1000, 1)) for k, v in micros.most_common(40)]
    scopes = [(k, round(v / args.steps / 1000, 1)) for k, v in by_scope.most_common(60)]
    return {"variant": variant, "op_share_ms_per_step": top, "fused_nodes": dict(fused.most_common()),
            "by_scope_ms_per_step": scopes}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=["original", "before", "current"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--intra", type=int, default=0, help="intra_op_parallelism_threads (0: TF's default)")
    parser.add_argument("--inter", type=int, default=0, help="inter_op_parallelism_threads (0: TF's default)")
    parser.add_argument("--parity", action="store_true", help="parity against the original instead of timing")
    parser.add_argument("--trace", metavar="VARIANT", help="op time by kernel and the fused nodes of VARIANT")
    parser.add_argument("--json", help="also write the result here")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.trace:
        result = trace(args)
    elif args.parity:
        result = parity(args)
    else:
        result = time_variants(args)
    result["load_end"] = common.load_average()
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        common.write_json(args.json, result, indent=1)


if __name__ == "__main__":
    main()
