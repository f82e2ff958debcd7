"""BERT's fine-tuning optimizer: Adam with decoupled weight decay, warmup and linear decay.

The optimizer of `google-research/bert` (`optimization.py`) on TensorFlow 2.15's
`tf.compat.v1`, graph mode. Its training trajectory equals the original's step for step
(to float rounding: within 1e-6 in tests/test_optimization.py):

* learning rate at global step k (k = 0, 1, ...):
  `init_lr * k / num_warmup_steps` while k < num_warmup_steps, else
  `init_lr * (1 - min(k, num_train_steps) / num_train_steps)` (polynomial decay,
  power 1, to 0). Step 0 therefore trains with learning rate 0 when there is warmup.
* gradients clipped to global norm 1.0;
* `AdamWeightDecayOptimizer`: Adam without bias correction, epsilon 1e-6, plus
  decoupled weight decay 0.01 on every variable except LayerNorm parameters and biases;
  its moment variables are `<variable name>/adam_m` and `<variable name>/adam_v`, as in
  the original's checkpoints;
* `global_step` advances by exactly one per training step.

The update itself runs in TensorFlow's Adam kernel (`ResourceApplyAdam`, with the
bias-correction powers set to 0) after a weight-decay subtraction, two passes over each
variable instead of the original's dozen element-wise ops; the weights follow the
original's update to float rounding (`AdamWeightDecayOptimizer._fused_update`).
Reference variables, and `bias_correction_step`, keep the element-wise graph.

One difference, which makes the original's usual behaviour a guarantee: the original
grouped `global_step.assign(global_step + 1)` with the update without ordering the
two, so with resource variables the learning rate's read of `global_step` and the
increment could in principle run in either order. Here the increment runs after the
update (control dependency), so step k always uses the learning rate of step k.

Under a `tf.distribute` strategy (`create_optimizer` called in a replica context, e.g.
from an Estimator model_fn with `RunConfig(train_distribute=...)`), each replica's
gradients (of its own mean loss) are all-reduced to their mean over replicas, which is
the gradient of the mean loss over the global batch, before the clipping; the update is
then applied once per step in cross-replica context (`merge_call`), to every copy of
each mirrored variable alike. Without a strategy (or on TPU, where
`CrossShardOptimizer` does the reduction) the graph is the one described above.

`create_optimizer(..., num_accumulation_steps=k)` with k > 1 accumulates the gradients
of k micro-batches (single device only) and applies their mean as one update of the
recipe above; the global step then counts updates, not session runs. k = 1 (the
default) builds the graph above unchanged.
"""

from __future__ import annotations

import numbers
import re

import numpy as np
import tensorflow.compat.v1 as tf


def create_learning_rate(global_step, init_lr, num_train_steps, num_warmup_steps):
    """BERT's learning-rate schedule: linear warmup, then linear decay to 0.

    Args:
      global_step: int Tensor (scalar), the step the learning rate is for.
      init_lr: float, peak learning rate (reached at the end of warmup).
      num_train_steps: int, step at which the decay reaches 0 (and stays there).
      num_warmup_steps: int, number of warmup steps; 0 or None for no warmup.

    Returns:
      float32 scalar Tensor.
    """
    learning_rate = tf.constant(value=init_lr, shape=[], dtype=tf.float32)
    # (init_lr - 0) * (1 - min(step, num_train_steps) / num_train_steps) ** 1.0 + 0.
    learning_rate = tf.train.polynomial_decay(
        learning_rate, global_step, num_train_steps, end_learning_rate=0.0, power=1.0, cycle=False)

    if num_warmup_steps:
        # During warmup: init_lr * step / num_warmup_steps.
        step_int = tf.cast(global_step, tf.int32)
        warmup_steps_int = tf.constant(num_warmup_steps, dtype=tf.int32)
        warmup_fraction = tf.cast(step_int, tf.float32) / tf.cast(warmup_steps_int, tf.float32)
        warmup_learning_rate = init_lr * warmup_fraction
        learning_rate = tf.where(step_int < warmup_steps_int, warmup_learning_rate, learning_rate)
    return learning_rate


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu,
                     num_accumulation_steps: int = 1, use_amp: bool = False,
                     adam_bias_correction: bool = False):
    """Builds the training op of BERT fine-tuning.

    Creates (or reuses) the global step, the learning-rate schedule of
    `create_learning_rate`, an `AdamWeightDecayOptimizer` (weight decay 0.01, not on
    LayerNorm parameters or biases), gradients of `loss` for all trainable variables
    clipped to global norm 1.0, and the global step increment.

    Gradient accumulation (`num_accumulation_steps` = k > 1): `loss` is then the mean
    loss of one micro-batch. Every run of the training op computes its gradients and
    adds them to non-trainable accumulators; every k-th run applies the accumulated
    mean gradient (sum / k) with the unchanged recipe above (clipping to global norm
    1.0, AdamWeightDecay, learning rate of the current global step), advances the
    global step by 1 and zeroes the accumulators. The global step therefore counts
    optimizer updates, and k micro-batches of B/k examples give the update of one batch
    of B (to float rounding, for a model without interactions between the examples of a
    batch, and without dropout): the caller divides the batch size by k and runs
    k * num_train_steps micro-batches, so the global step reaches num_train_steps as
    without accumulation. The global norm of the clipping is the original's even for
    `tf.IndexedSlices` gradients (from `tf.gather`, e.g. the word embeddings), whose
    norm `tf.clip_by_global_norm` takes over the rows per token occurrence (duplicate
    ids not summed): their squared row norms are accumulated alongside, each
    micro-batch's rows divided by k (they are the gradients of a mean over B/k
    examples, k times the big batch's rows). The new state lives under the variable
    scope `gradient_accumulation/` (`grads/<variable name>`, float32, the variable's
    shape; `indexed_slices_sum_of_squares`, float32 scalar; `micro_step`, int64 scalar:
    micro-batches accumulated since the last update), names that released or
    fine-tuned BERT checkpoints never use; the Adam moments keep their names. Not
    supported (ValueError) with `use_tpu` or under a `tf.distribute` strategy (the
    accumulators would have to be per-replica variables, synchronised by hand, and
    the IndexedSlices norm all-reduced too): accumulate on one device only.

    Args:
      loss: float32 scalar Tensor to minimise (with accumulation: the mean loss of one
        micro-batch).
      init_lr: float, peak learning rate.
      num_train_steps: int, total training steps (the decay reaches 0 there), counted
        in optimizer updates.
      num_warmup_steps: int, linear warmup steps (0 or None: none), in updates.
      use_tpu: bool, wrap the optimizer in `CrossShardOptimizer` (gradients summed
        across TPU shards).
      num_accumulation_steps: int >= 1, micro-batches per optimizer update. 1 (the
        default) builds exactly the original's graph, with no accumulator.
      use_amp: bool, dynamic loss scaling for mixed-precision training (the float16
        graph rewrite itself is switched on in the session config; see
        `run_classifier.session_config`): the loss is multiplied by a scale (2**15 at
        first) before the gradients, which are divided by it again; a step whose
        gradients are not all finite updates nothing and halves the scale, 2,000
        finite steps in a row double it (`tf.mixed_precision.MixedPrecisionLossScaleOptimizer`).
        The global step advances on every step, skipped or not, so the schedule keeps
        its length. In float32 the updates equal those without loss scaling to float
        rounding. Single device only (with k = 1, not on TPU).
      adam_bias_correction: bool, divide Adam's moments by (1 - beta^t), t = global
        step + 1, as Adam and `torch.optim.AdamW` do. False (the default) is BERT's
        optimizer, which leaves them out: early and small-data updates are then larger
        (up to ~3.2x at the first steps, still ~1.35x after 800), which can make
        fine-tuning on small tasks unstable (Zhang et al. 2021, "Revisiting Few-sample
        BERT Fine-tuning"; docs/RESULTS.md).

    Returns:
      The training op. With num_accumulation_steps 1: one run updates every variable
      once and adds 1 to the global step. With k > 1: one run accumulates one
      micro-batch's gradients; every k-th run also updates the variables and adds 1 to
      the global step.

    Raises:
      ValueError: num_accumulation_steps is not an integer >= 1, or is > 1 with
        `use_tpu` or under a `tf.distribute` strategy; or use_amp with any of these.
    """
    _check_num_accumulation_steps(num_accumulation_steps, use_tpu)
    if use_amp and (use_tpu or num_accumulation_steps > 1 or _strategy_replica_context() is not None):
        raise ValueError("use_amp (loss scaling) is supported on a single CPU/GPU device only, without "
                         "use_tpu, gradient accumulation or a tf.distribute strategy")
    global_step = tf.train.get_or_create_global_step()
    learning_rate = create_learning_rate(global_step, init_lr, num_train_steps, num_warmup_steps)

    # The optimizer BERT was pre-trained with. Its Adam moments are not in Google's
    # released checkpoints, so fine-tuning starts them at zero.
    optimizer = AdamWeightDecayOptimizer(
        learning_rate=learning_rate,
        weight_decay_rate=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"],
        bias_correction_step=tf.cast(global_step, tf.float32) + 1.0 if adam_bias_correction else None)
    if num_accumulation_steps > 1:
        return _accumulating_train_op(loss, optimizer, global_step, num_accumulation_steps)
    if use_amp:
        return _loss_scaled_train_op(loss, optimizer, global_step)
    if use_tpu:
        optimizer = tf.tpu.CrossShardOptimizer(optimizer)

    tvars = tf.trainable_variables()
    grads = tf.gradients(loss, tvars)
    if _strategy_replica_context() is not None:
        # Mean over replicas of the per-replica gradients: the global batch's gradient,
        # clipped below exactly as on one device.
        grads = all_reduce_gradients(grads)
    grads, global_norm = tf.clip_by_global_norm(grads, clip_norm=1.0)  # as in pre-training
    _add_training_summaries(learning_rate, global_norm, use_tpu)

    update_op = optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)

    # `AdamWeightDecayOptimizer.apply_gradients` leaves the global step alone (as the
    # original did), so it is advanced here; after the update, so the update used the
    # learning rate of the current step.
    with tf.control_dependencies([update_op]):
        new_global_step = global_step + 1
        increment_op = global_step.assign(new_global_step)
    return tf.group(update_op, increment_op, name="train_op")


def _loss_scaled_train_op(loss: tf.Tensor, optimizer: AdamWeightDecayOptimizer,
                          global_step: tf.Variable) -> tf.Operation:
    """The training op of `create_optimizer` with dynamic loss scaling (`use_amp`).

    The recipe is the same (clip to global norm 1.0 of the unscaled gradients, then
    AdamWeightDecay at the current step's learning rate); TensorFlow's
    `MixedPrecisionLossScaleOptimizer` scales the loss, unscales the gradients, and
    skips the update (adjusting the scale) when they are not all finite.
    """
    scaled_optimizer = tf.mixed_precision.MixedPrecisionLossScaleOptimizer(optimizer, loss_scale="dynamic")
    tvars = tf.trainable_variables()
    grads_and_vars = scaled_optimizer.compute_gradients(loss, tvars)  # unscaled again
    grads = [g for g, _ in grads_and_vars]
    # Not finite -> the norm is NaN/inf and so are the clipped gradients; the wrapper
    # then skips the update and lowers the scale.
    grads, global_norm = tf.clip_by_global_norm(grads, clip_norm=1.0)
    _add_training_summaries(optimizer.learning_rate, global_norm, use_tpu=False)
    update_op = scaled_optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)
    with tf.control_dependencies([update_op]):
        increment_op = global_step.assign(global_step + 1)
    return tf.group(update_op, increment_op, name="train_op")


def _add_training_summaries(learning_rate, global_norm, use_tpu: bool) -> None:
    """TensorBoard scalars of the learning rate and of the gradients' global norm before
    clipping (they add ops that only read; on TPU, where summaries need a host call,
    and inside a tf.distribute replica, none)."""
    if use_tpu or _strategy_replica_context() is not None:
        return
    tf.summary.scalar("learning_rate", learning_rate)
    tf.summary.scalar("global_gradient_norm", global_norm)


def _check_num_accumulation_steps(num_accumulation_steps: int, use_tpu: bool) -> None:
    """Raises ValueError unless `num_accumulation_steps` is usable here (see
    `create_optimizer`); builds nothing."""
    if (isinstance(num_accumulation_steps, bool) or not isinstance(num_accumulation_steps, numbers.Integral)
            or num_accumulation_steps < 1):
        raise ValueError(f"num_accumulation_steps must be an integer >= 1 (1: no gradient accumulation), "
                         f"got {num_accumulation_steps!r}")
    if num_accumulation_steps == 1:
        return
    if use_tpu:
        raise ValueError(f"gradient accumulation (num_accumulation_steps={num_accumulation_steps}) is not "
                         f"supported with use_tpu=True; use num_accumulation_steps=1")
    if _strategy_replica_context() is not None:
        raise ValueError(f"gradient accumulation (num_accumulation_steps={num_accumulation_steps}) is not "
                         f"supported under a tf.distribute strategy; use num_accumulation_steps=1 or one device")


def _accumulating_train_op(loss: tf.Tensor, optimizer: AdamWeightDecayOptimizer, global_step: tf.Variable,
                           num_accumulation_steps: int) -> tf.Operation:
    """The training op of `create_optimizer` with gradient accumulation (k > 1).

    Args:
      loss: float32 scalar Tensor, the mean loss of one micro-batch.
      optimizer: the `AdamWeightDecayOptimizer` of the update (not wrapped).
      global_step: int64 scalar variable, advanced once per update.
      num_accumulation_steps: int k > 1, micro-batches per update.

    Returns:
      The training op (see `create_optimizer`).
    """
    k = num_accumulation_steps
    tvars = tf.trainable_variables()
    grads = tf.gradients(loss, tvars)
    pairs = [(grad, var) for grad, var in zip(grads, tvars) if grad is not None]

    with tf.variable_scope("gradient_accumulation"):
        # int64 like the global step: the count can't overflow in any run.
        micro_step = tf.get_variable("micro_step", shape=[], dtype=tf.int64, trainable=False,
                                     initializer=tf.zeros_initializer())
        sparse_sum_of_squares = tf.get_variable("indexed_slices_sum_of_squares", shape=[], dtype=tf.float32,
                                                trainable=False, initializer=tf.zeros_initializer())
        accumulators = []
        for _, var in pairs:
            # "grads/" keeps the names apart from the scalars above whatever the
            # variables are called.
            accumulators.append(tf.get_variable(
                "grads/" + optimizer._get_variable_name(var.name), shape=var.shape.as_list(),
                dtype=tf.float32, trainable=False, initializer=tf.zeros_initializer()))

    # The Adam moments are created here, outside the tf.cond below (variables can't be
    # created in a cond branch), with the names apply_gradients would give them.
    moments = [optimizer._create_moments(optimizer._get_variable_name(var.name), var) for _, var in pairs]

    # 1. Every run: add this micro-batch's gradients to the accumulators.
    accumulate_ops = []
    sparse_terms = []
    for (grad, _), accumulator in zip(pairs, accumulators):
        if isinstance(grad, tf.IndexedSlices):
            # Duplicate indices are added up by the scatter, as the dense conversion
            # (unsorted_segment_sum) of the original's optimizer would.
            accumulate_ops.append(tf.scatter_add(accumulator, grad.indices, grad.values))
            # tf.clip_by_global_norm takes an IndexedSlices' norm over its rows, one per
            # occurrence of an id; the big batch's rows are these rows / k.
            sparse_terms.append(tf.reduce_sum(tf.square(grad.values / float(k))))
        else:
            accumulate_ops.append(accumulator.assign_add(grad))
    if sparse_terms:
        accumulate_ops.append(sparse_sum_of_squares.assign_add(tf.add_n(sparse_terms)))
    with tf.control_dependencies(accumulate_ops):
        new_micro_step = micro_step.assign_add(1)
        apply_now = tf.greater_equal(new_micro_step, k)

    # 2. Every k-th run: one update from the mean gradient, as create_optimizer's k = 1.
    def apply_update() -> tf.Tensor:
        mean_grads = [accumulator.read_value() / float(k) for accumulator in accumulators]
        dense_squares = [tf.reduce_sum(tf.square(grad)) for (orig, _), grad in zip(pairs, mean_grads)
                         if not isinstance(orig, tf.IndexedSlices)]
        squares = dense_squares + ([sparse_sum_of_squares.read_value()] if sparse_terms else [])
        global_norm = tf.sqrt(tf.add_n(squares))
        # use_norm: tf.clip_by_global_norm's own scaling (and its NaN for an infinite
        # norm), with the norm the original would have computed on the whole batch.
        clipped, _ = tf.clip_by_global_norm(mean_grads, clip_norm=1.0, use_norm=global_norm)
        assignments = []
        for grad, (_, var), (m, v) in zip(clipped, pairs, moments):
            assignments.extend(optimizer._assign_update(optimizer._get_variable_name(var.name), grad, var, m, v))
        # After the update (which read the accumulators): advance, then start afresh.
        with tf.control_dependencies(assignments):
            resets = [accumulator.assign(tf.zeros_like(accumulator)) for accumulator in accumulators]
            resets.append(sparse_sum_of_squares.assign(0.0))
            resets.append(micro_step.assign(0))
            resets.append(global_step.assign(global_step + 1))
        with tf.control_dependencies(resets):
            return tf.constant(True)

    def skip_update() -> tf.Tensor:
        return tf.constant(False)

    applied = tf.cond(apply_now, apply_update, skip_update)
    return tf.group(applied, name="train_op")


def _adam_kernel_moment_scales(beta_1: float, beta_2: float) -> tuple[float, float]:
    """(m scale, v scale): TensorFlow's Adam kernel's moments over the original's.

    The original multiplies g by `1.0 - beta` computed in Python (float64), then
    rounded to float32 (0.1 and 0.001 to 8 digits); the kernel computes `1 - beta` in
    float32 from the float32 beta (1 - 0.999f = 0.00099998713). Both decay the old
    moment by the float32 beta, so each moment differs by this one constant factor
    (v: 1 - 1.3e-5, m: 1 + 2.4e-7), which `_fused_update` compensates.
    """
    scales = []
    for beta in (beta_1, beta_2):
        kernel = 1.0 - float(np.float32(beta))  # exact: what the kernel multiplies g by
        original = float(np.float32(1.0 - beta))
        scales.append(kernel / original)
    return scales[0], scales[1]


def _is_resource_variable(var) -> bool:
    """True for a resource variable (TF 2's default), False for a reference variable."""
    handle = getattr(var, "handle", None)
    return handle is not None and handle.dtype == tf.resource


def _strategy_replica_context():
    """The replica context when called in a replica of a (non-default) `tf.distribute`
    strategy, e.g. inside `strategy.extended.call_for_each_replica`; else None (no
    strategy, or cross-replica context)."""
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    return tf.distribute.get_replica_context()


def all_reduce_gradients(grads):
    """Averages a list of gradients over the replicas of the current strategy.

    Must be called in a replica context (see `_strategy_replica_context`). None entries
    (variables the loss does not depend on) stay None. With every replica's loss the
    mean over its equal share of the global batch, the result is, on every replica, the
    gradient of the mean loss over the global batch.
    """
    replica_context = _strategy_replica_context()
    if replica_context is None:
        raise ValueError("all_reduce_gradients must be called in a replica context of a "
                         "tf.distribute strategy")
    present = [i for i, grad in enumerate(grads) if grad is not None]
    reduced = replica_context.all_reduce(tf.distribute.ReduceOp.MEAN, [grads[i] for i in present])
    result = list(grads)
    for i, grad in zip(present, reduced):
        result[i] = grad
    return result


class AdamWeightDecayOptimizer(tf.train.Optimizer):
    """Adam with decoupled ("correct") L2 weight decay, as BERT was trained.

    For each variable w with gradient g, learning rate lr:

        m <- beta_1 * m + (1 - beta_1) * g
        v <- beta_2 * v + (1 - beta_2) * g^2
        w <- w - lr * (m / (sqrt(v) + epsilon) + weight_decay_rate * w)

    No bias correction of m and v (unless `bias_correction_step` is given: then
    m / (1 - beta_1^t) and v / (1 - beta_2^t) take their places in the update, as in
    Adam; the stored m and v are the same either way). The decay term is added to the update, not to the
    loss, so it does not pass through m and v (adding ||w||^2 to the loss would
    interact with Adam's scaling). Variables whose name matches one of
    `exclude_from_weight_decay` (regular expressions, `re.search`) are not decayed.

    `apply_gradients` does NOT advance `global_step` (as the original); see
    `create_optimizer`.

    Under a `tf.distribute` strategy, `apply_gradients` called in a replica context
    expects gradients already averaged over the replicas (`all_reduce_gradients`; the
    same values on every replica) and applies the update once, in cross-replica context,
    to every copy of each variable.
    """

    def __init__(self,
                 learning_rate,
                 weight_decay_rate=0.0,
                 beta_1=0.9,
                 beta_2=0.999,
                 epsilon=1e-6,
                 exclude_from_weight_decay=None,
                 name="AdamWeightDecayOptimizer",
                 bias_correction_step=None):
        """Builds the optimizer.

        Args:
          learning_rate: float or float32 scalar Tensor.
          weight_decay_rate: float, decoupled weight decay coefficient.
          beta_1: float, decay of the first moment.
          beta_2: float, decay of the second moment.
          epsilon: float, added to sqrt(v) in the denominator.
          exclude_from_weight_decay: (optional) list of str regular expressions; a
            variable whose name matches one is not decayed.
          name: str, name of the optimizer (`tf.train.Optimizer`'s).
          bias_correction_step: (optional) float32 scalar Tensor t >= 1, the 1-based
            number of the update; given, Adam's bias correction is applied (not in
            BERT's original optimizer, hence off by default).
        """
        super().__init__(False, name)
        self.learning_rate = learning_rate
        self.weight_decay_rate = weight_decay_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.exclude_from_weight_decay = exclude_from_weight_decay
        self.bias_correction_step = bias_correction_step

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """Returns an op applying one update to every (gradient, variable) pair.

        Pairs whose gradient (or variable) is None are skipped. The moments are created
        with `tf.get_variable` in the current variable scope as
        `<variable name>/adam_m` and `<variable name>/adam_v` (float32, zeros, not
        trainable). `global_step` is accepted for the `tf.train.Optimizer` interface
        and not advanced.

        In a replica context of a `tf.distribute` strategy the gradients must already
        be all-reduced (`all_reduce_gradients`); the update then runs once, through
        `merge_call`, on each variable's copies (`strategy.extended.update`).
        """
        if _strategy_replica_context() is not None:
            return tf.distribute.get_replica_context().merge_call(
                self._apply_gradients_cross_replica, args=(list(grads_and_vars),), kwargs={"name": name})
        assignments = []
        for param_name, grad, param, m, v in self._with_moments(grads_and_vars):
            assignments.extend(self._assign_update(param_name, grad, param, m, v))
        return tf.group(*assignments, name=name)

    def _apply_gradients_cross_replica(self, strategy, grads_and_vars, name=None):
        """`apply_gradients` in cross-replica context: the moments are created as mirrored
        variables and every (variable, moments) copy is updated on its own device from
        that device's copy of the (all-reduced) gradient."""
        updates = []
        for param_name, grad, param, m, v in self._with_moments(grads_and_vars):

            def update_copy(param_copy, grad_copy, m_copy, v_copy, param_name=param_name):
                return tf.group(*self._assign_update(param_name, grad_copy, param_copy, m_copy, v_copy))

            updates.append(strategy.extended.update(param, update_copy, args=(grad, m, v), group=True))
        return tf.group(*updates, name=name)

    def _with_moments(self, grads_and_vars):
        """(variable name, gradient, variable, adam_m, adam_v) of each pair with a
        gradient, the moments created as the pair comes."""
        for grad, param in grads_and_vars:
            if grad is None or param is None:
                continue
            param_name = self._get_variable_name(param.name)
            yield (param_name, grad, param, *self._create_moments(param_name, param))

    @staticmethod
    def _create_moments(param_name, param):
        """The Adam moments of `param`, `<param_name>/adam_m` and `<param_name>/adam_v`."""
        # names kept ("<var>/adam_m", "<var>/adam_v"): checkpoints use them.
        m, v = (tf.get_variable(name=f"{param_name}/{moment}", shape=param.shape.as_list(), dtype=tf.float32,
                                trainable=False, initializer=tf.zeros_initializer())
                for moment in ("adam_m", "adam_v"))
        return m, v

    def _assign_update(self, param_name, grad, param, m, v):
        """The ops of one step of `param` and its moments `m`, `v` (a list).

        Resource variables without bias correction (the default) take the two-kernel
        path of `_fused_update`; otherwise the update is the original's element-wise
        graph: [param.assign, m.assign, v.assign].
        """
        if self.bias_correction_step is None and all(map(_is_resource_variable, (param, m, v))):
            return self._fused_update(param_name, grad, param, m, v)
        # Adam moments, without bias correction.
        next_m = tf.multiply(self.beta_1, m) + tf.multiply(1.0 - self.beta_1, grad)
        next_v = tf.multiply(self.beta_2, v) + tf.multiply(1.0 - self.beta_2, tf.square(grad))
        if self.bias_correction_step is None:
            update = next_m / (tf.sqrt(next_v) + self.epsilon)
        else:
            t = self.bias_correction_step
            m_hat = next_m / (1.0 - tf.pow(self.beta_1, t))
            v_hat = next_v / (1.0 - tf.pow(self.beta_2, t))
            update = m_hat / (tf.sqrt(v_hat) + self.epsilon)

        # Decoupled weight decay: on the weights directly, never through m and v.
        if self._do_use_weight_decay(param_name):
            update += self.weight_decay_rate * param

        next_param = param - self.learning_rate * update
        return [param.assign(next_param), m.assign(next_m), v.assign(next_v)]

    def _fused_update(self, param_name, grad, param, m, v):
        """`_assign_update`'s arithmetic in two kernels instead of about twelve ops.

        1. decoupled weight decay (when `param` gets it): w <- w - lr * wd * w;
        2. TensorFlow's Adam kernel (`ResourceApplyAdam`) with beta_1^t = beta_2^t = 0:
           its step size lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) is then lr exactly,
           i.e. Adam without bias correction: m <- m + (g - m) * (1 - beta_1),
           v <- v + (g^2 - v) * (1 - beta_2), w <- w - lr * m / (sqrt(v) + epsilon).

        Step 2 reads only m and v besides w, so w - lr * (adam + wd * w) is computed as
        two subtractions: the original's update to float rounding (the trajectory tests
        hold it within 1e-6 of the original's). The stored m and v are the original's
        times the constants of `_adam_kernel_moment_scales` (1 + 2.4e-7 and 1 - 1.3e-5),
        which the step size and epsilon undo. Each kernel passes over the variable
        once (one thread pool sweep), where the element-wise graph allocates a temporary
        per op: on all-MiniLM-L6-v2 (22.7M parameters, 11.7M of them the word embeddings,
        updated densely as in the original) the update costs about half as much.
        """
        grad = tf.convert_to_tensor(grad, tf.float32)  # IndexedSlices made dense, as the original's ops did
        decay = []
        if self._do_use_weight_decay(param_name):
            # After the gradient: the subtraction reads no gradient, and unordered it could
            # run while this step's forward pass still reads the variable.
            with tf.control_dependencies([grad]):
                decay.append(param.assign_sub(self.learning_rate * self.weight_decay_rate * param, read_value=False))
        m_scale, v_scale = _adam_kernel_moment_scales(self.beta_1, self.beta_2)
        # m and v come out of the kernel scaled by these constants; the step size and
        # epsilon undo it: lr' m_k / (sqrt(v_k) + eps') = lr m / (sqrt(v) + eps).
        step_size = tf.convert_to_tensor(self.learning_rate, tf.float32) * np.float32(np.sqrt(v_scale) / m_scale)
        with tf.control_dependencies(decay):
            adam = tf.raw_ops.ResourceApplyAdam(
                var=param.handle, m=m.handle, v=v.handle, beta1_power=tf.constant(0.0), beta2_power=tf.constant(0.0),
                lr=step_size, beta1=tf.constant(self.beta_1, tf.float32), beta2=tf.constant(self.beta_2, tf.float32),
                epsilon=tf.constant(np.float32(self.epsilon * np.sqrt(v_scale))),
                grad=grad, use_locking=self._use_locking)
        return [adam]

    def _do_use_weight_decay(self, param_name):
        """True when the variable `param_name` gets weight decay."""
        if not self.weight_decay_rate:
            return False
        for pattern in self.exclude_from_weight_decay or []:
            if re.search(pattern, param_name) is not None:
                return False
        return True

    @staticmethod
    def _get_variable_name(param_name):
        """Variable name from a tensor name: "bert/x/kernel:0" -> "bert/x/kernel"."""
        return re.sub(r":\d+$", "", param_name)
