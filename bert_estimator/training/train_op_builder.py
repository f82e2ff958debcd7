"""The training op of this project: BERT's recipe plus what `optimization.py` leaves out.

`optimization.create_optimizer(..., build_train_op=TrainOpOptions(...))` keeps the
original's global step, learning-rate schedule and optimizer hyperparameters, and
`TrainOpOptions` builds the rest of the training op from them (the recipe is the same:
gradients clipped to global norm 1.0, AdamWeightDecay at the current step's learning
rate, then the global step advanced by one, after the update):

* the update runs in TensorFlow's Adam kernel (`ResourceApplyAdam`, with the
  bias-correction powers set to 0) after a weight-decay subtraction, two passes over
  each variable instead of the original's dozen element-wise ops; the weights follow
  the original's update to float rounding (`ExtendedAdamWeightDecayOptimizer.fused_update`).
  Reference variables, and Adam's bias correction, keep the element-wise graph;
* Adam's optional bias correction (`adam_bias_correction`);
* under a `tf.distribute` strategy (`create_optimizer` called in a replica context,
  e.g. from an Estimator model_fn with `RunConfig(train_distribute=...)`), each
  replica's gradients (of its own mean loss) are all-reduced to their mean over
  replicas, which is the gradient of the mean loss over the global batch, before the
  clipping; the update is then applied once per step in cross-replica context
  (`merge_call`), to every copy of each mirrored variable alike. Without a strategy (or
  on TPU, where `CrossShardOptimizer` does the reduction) none of this is built;
* gradient accumulation (`num_accumulation_steps` = k > 1): the gradients of k
  micro-batches (single device only) are accumulated and their mean applied as one
  update of the recipe; the global step then counts updates, not session runs;
* dynamic loss scaling for mixed precision (`use_amp`);
* TensorBoard scalars `learning_rate` and `global_gradient_norm` (not on TPU, not
  inside a tf.distribute replica).

With the defaults (`TrainOpOptions()`) the trajectory follows the original's to float
rounding (tests/test_optimization.py: within 1e-6 of the original end to end, 2e-6 of
its optimizer on our modeling).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np
import tensorflow.compat.v1 as tf

import optimization

_AMP_UNSUPPORTED = ("use_amp (loss scaling) is supported on a single CPU/GPU device only, without "
                    "use_tpu, gradient accumulation or a tf.distribute strategy")


@dataclasses.dataclass(frozen=True)
class TrainOpOptions:
    """The training features on top of BERT's recipe; an instance is the
    `build_train_op` hook of `optimization.create_optimizer`.

    Attributes:
      num_accumulation_steps: int >= 1, micro-batches per optimizer update. 1 (the
        default): no accumulator. With k > 1 the `loss` given to `create_optimizer` is
        the mean loss of one micro-batch. Every run of the training op computes its
        gradients and adds them to non-trainable accumulators; every k-th run applies
        the accumulated mean gradient (sum / k) with the unchanged recipe (clipping to
        global norm 1.0, AdamWeightDecay, learning rate of the current global step),
        advances the global step by 1 and zeroes the accumulators. The global step
        therefore counts optimizer updates, and k micro-batches of B/k examples give the
        update of one batch of B (to float rounding, for a model without interactions
        between the examples of a batch, and without dropout): the caller divides the
        batch size by k and runs k * num_train_steps micro-batches, so the global step
        reaches num_train_steps as without accumulation (num_train_steps and
        num_warmup_steps are counted in updates). The global norm of the clipping is the
        original's even for `tf.IndexedSlices` gradients (from `tf.gather`, e.g. the
        word embeddings), whose norm `tf.clip_by_global_norm` takes over the rows per
        token occurrence (duplicate ids not summed): their squared row norms are
        accumulated alongside, each micro-batch's rows divided by k (they are the
        gradients of a mean over B/k examples, k times the big batch's rows). The new
        state lives under the variable scope `gradient_accumulation/`
        (`grads/<variable name>`, float32, the variable's shape;
        `indexed_slices_sum_of_squares`, float32 scalar; `micro_step`, int64 scalar:
        micro-batches accumulated since the last update), names that released or
        fine-tuned BERT checkpoints never use; the Adam moments keep their names. Not
        supported (ValueError) with `use_tpu` or under a `tf.distribute` strategy (the
        accumulators would have to be per-replica variables, synchronised by hand, and
        the IndexedSlices norm all-reduced too): accumulate on one device only.
      use_amp: bool, dynamic loss scaling for mixed-precision training (the graph
        rewrite itself, float16 on GPU and bfloat16 on CPU, is switched on in the
        session config; see `bert_estimator.training.estimator_setup.session_config`):
        the loss is multiplied by a scale (2**15 at first) before the gradients, which
        are divided by it again; a step whose gradients are not all finite updates
        nothing and halves the scale, 2,000 finite steps in a row double it
        (`tf.mixed_precision.MixedPrecisionLossScaleOptimizer`). The global step
        advances on every step, skipped or not, so the schedule keeps its length. In
        float32 the updates equal those without loss scaling to float rounding. Single
        device only (with k = 1, not on TPU).
      adam_bias_correction: bool, divide Adam's moments by (1 - beta^t), t = global
        step + 1, as Adam and `torch.optim.AdamW` do. False (the default) is BERT's
        optimizer, which leaves them out: early and small-data updates are then larger
        (up to ~3.2x at the first steps, still ~1.35x after 800), which can make
        fine-tuning on small tasks unstable (Zhang et al. 2021, "Revisiting Few-sample
        BERT Fine-tuning"; docs/RESULTS.md).

    Raises:
      ValueError (on construction): num_accumulation_steps is not an integer >= 1, or
        use_amp with num_accumulation_steps > 1.
    """

    num_accumulation_steps: int = 1
    use_amp: bool = False
    adam_bias_correction: bool = False

    def __post_init__(self) -> None:
        if (isinstance(self.num_accumulation_steps, bool)
                or not isinstance(self.num_accumulation_steps, numbers.Integral)
                or self.num_accumulation_steps < 1):
            raise ValueError(f"num_accumulation_steps must be an integer >= 1 (1: no gradient accumulation), "
                             f"got {self.num_accumulation_steps!r}")
        if self.use_amp and self.num_accumulation_steps > 1:
            raise ValueError(_AMP_UNSUPPORTED)

    def __call__(self, loss: tf.Tensor, optimizer: optimization.AdamWeightDecayOptimizer,
                 global_step: tf.Variable, use_tpu: bool) -> tf.Operation:
        """Builds the training op (the `build_train_op` hook of `create_optimizer`).

        Args:
          loss: float32 scalar Tensor to minimise (with accumulation: the mean loss of
            one micro-batch).
          optimizer: the `optimization.AdamWeightDecayOptimizer` of `create_optimizer`,
            whose hyperparameters (and learning-rate schedule) the update uses.
          global_step: int64 scalar variable.
          use_tpu: bool, wrap the optimizer in `CrossShardOptimizer`.

        Returns:
          The training op. With num_accumulation_steps 1: one run updates every variable
          once and adds 1 to the global step. With k > 1: one run accumulates one
          micro-batch's gradients; every k-th run also updates the variables and adds 1
          to the global step.

        Raises:
          ValueError: num_accumulation_steps > 1 or use_amp with `use_tpu` or under a
            `tf.distribute` strategy (before anything is built here).
        """
        k = self.num_accumulation_steps
        if k > 1 and use_tpu:
            raise ValueError(f"gradient accumulation (num_accumulation_steps={k}) is not "
                             f"supported with use_tpu=True; use num_accumulation_steps=1")
        if k > 1 and strategy_replica_context() is not None:
            raise ValueError(f"gradient accumulation (num_accumulation_steps={k}) is not "
                             f"supported under a tf.distribute strategy; use num_accumulation_steps=1 or one device")
        if self.use_amp and (use_tpu or strategy_replica_context() is not None):
            raise ValueError(_AMP_UNSUPPORTED)
        bias_correction_step = tf.cast(global_step, tf.float32) + 1.0 if self.adam_bias_correction else None
        optimizer = ExtendedAdamWeightDecayOptimizer.from_optimizer(optimizer, bias_correction_step)
        if k > 1:
            return accumulating_train_op(loss, optimizer, global_step, k)
        if self.use_amp:
            return loss_scaled_train_op(loss, optimizer, global_step)
        return plain_train_op(loss, optimizer, global_step, use_tpu)


def plain_train_op(loss: tf.Tensor, optimizer: ExtendedAdamWeightDecayOptimizer, global_step: tf.Variable,
                   use_tpu: bool) -> tf.Operation:
    """The training op of `TrainOpOptions` without accumulation or loss scaling: the
    steps of `optimization.create_optimizer`, plus the all-reduce under a strategy and
    the summaries.

    Args:
      loss: float32 scalar Tensor to minimise (under a strategy: this replica's mean
        loss over its share of the global batch).
      optimizer: the `ExtendedAdamWeightDecayOptimizer` of the update (not wrapped).
      global_step: int64 scalar variable, advanced by 1 after the update.
      use_tpu: bool, wrap the optimizer in `CrossShardOptimizer`.

    Returns:
      The training op.
    """
    learning_rate = optimizer.learning_rate
    if use_tpu:
        optimizer = tf.tpu.CrossShardOptimizer(optimizer)

    tvars = tf.trainable_variables()
    grads = tf.gradients(loss, tvars)
    if strategy_replica_context() is not None:
        # Mean over replicas of the per-replica gradients: the global batch's gradient,
        # clipped below exactly as on one device.
        grads = all_reduce_gradients(grads)
    grads, global_norm = tf.clip_by_global_norm(grads, clip_norm=1.0)  # as in pre-training
    add_training_summaries(learning_rate, global_norm, use_tpu)

    update_op = optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)

    # After the update, so the update used the learning rate of the current step (as
    # optimization.create_optimizer).
    with tf.control_dependencies([update_op]):
        increment_op = global_step.assign(global_step + 1)
    return tf.group(update_op, increment_op, name="train_op")


def loss_scaled_train_op(loss: tf.Tensor, optimizer: ExtendedAdamWeightDecayOptimizer,
                         global_step: tf.Variable) -> tf.Operation:
    """The training op of `TrainOpOptions` with dynamic loss scaling (`use_amp`).

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
    add_training_summaries(optimizer.learning_rate, global_norm, use_tpu=False)
    update_op = scaled_optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)
    with tf.control_dependencies([update_op]):
        increment_op = global_step.assign(global_step + 1)
    return tf.group(update_op, increment_op, name="train_op")


def add_training_summaries(learning_rate: tf.Tensor, global_norm: tf.Tensor, use_tpu: bool) -> None:
    """TensorBoard scalars `learning_rate` and `global_gradient_norm` (the gradients'
    global norm before clipping), float32 scalars. They add ops that only read; on TPU,
    where summaries need a host call, and inside a tf.distribute replica, none."""
    if use_tpu or strategy_replica_context() is not None:
        return
    tf.summary.scalar("learning_rate", learning_rate)
    tf.summary.scalar("global_gradient_norm", global_norm)


def accumulating_train_op(loss: tf.Tensor, optimizer: ExtendedAdamWeightDecayOptimizer, global_step: tf.Variable,
                          num_accumulation_steps: int) -> tf.Operation:
    """The training op of `TrainOpOptions` with gradient accumulation (k > 1).

    Args:
      loss: float32 scalar Tensor, the mean loss of one micro-batch.
      optimizer: the `ExtendedAdamWeightDecayOptimizer` of the update (not wrapped).
      global_step: int64 scalar variable, advanced once per update.
      num_accumulation_steps: int k > 1, micro-batches per update.

    Returns:
      The training op (see `TrainOpOptions.num_accumulation_steps`).
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
                "grads/" + optimizer.variable_name(var), shape=var.shape.as_list(),
                dtype=tf.float32, trainable=False, initializer=tf.zeros_initializer()))

    # The Adam moments are created here, outside the tf.cond below (variables can't be
    # created in a cond branch), with the names apply_gradients would give them.
    moments = [optimizer.create_moments(optimizer.variable_name(var), var) for _, var in pairs]

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

    # 2. Every k-th run: one update from the mean gradient, as without accumulation.
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
            assignments.extend(optimizer.update_variable(optimizer.variable_name(var), grad, var, m, v))
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


def adam_kernel_moment_scales(beta_1: float, beta_2: float) -> tuple[float, float]:
    """(m scale, v scale): TensorFlow's Adam kernel's moments over the original's.

    The original multiplies g by `1.0 - beta` computed in Python (float64), then
    rounded to float32 (0.1 and 0.001 to 8 digits); the kernel computes `1 - beta` in
    float32 from the float32 beta (1 - 0.999f = 0.00099998713). Both decay the old
    moment by the float32 beta, so each moment differs by this one constant factor
    (v: 1 - 1.3e-5, m: 1 + 2.4e-7), which `ExtendedAdamWeightDecayOptimizer.fused_update`
    compensates.
    """
    scales = []
    for beta in (beta_1, beta_2):
        kernel = 1.0 - float(np.float32(beta))  # exact: what the kernel multiplies g by
        original = float(np.float32(1.0 - beta))
        scales.append(kernel / original)
    return scales[0], scales[1]


def is_resource_variable(var) -> bool:
    """True for a resource variable (TF 2's default), False for a reference variable."""
    handle = getattr(var, "handle", None)
    return handle is not None and handle.dtype == tf.resource


def strategy_replica_context():
    """The replica context when called in a replica of a (non-default) `tf.distribute`
    strategy, e.g. inside `strategy.extended.call_for_each_replica`; else None (no
    strategy, or cross-replica context)."""
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    return tf.distribute.get_replica_context()


def all_reduce_gradients(grads):
    """Averages a list of gradients over the replicas of the current strategy.

    Must be called in a replica context (see `strategy_replica_context`). None entries
    (variables the loss does not depend on) stay None. With every replica's loss the
    mean over its equal share of the global batch, the result is, on every replica, the
    gradient of the mean loss over the global batch.

    Args:
      grads: list of float32 Tensors (or `tf.IndexedSlices`, or None), one per variable.

    Returns:
      list of the same length: the mean over the replicas of each gradient (None kept).

    Raises:
      ValueError: not in a replica context of a tf.distribute strategy.
    """
    replica_context = strategy_replica_context()
    if replica_context is None:
        raise ValueError("all_reduce_gradients must be called in a replica context of a "
                         "tf.distribute strategy")
    present = [i for i, grad in enumerate(grads) if grad is not None]
    reduced = replica_context.all_reduce(tf.distribute.ReduceOp.MEAN, [grads[i] for i in present])
    result = list(grads)
    for i, grad in zip(present, reduced):
        result[i] = grad
    return result


class ExtendedAdamWeightDecayOptimizer(optimization.AdamWeightDecayOptimizer):
    """BERT's `AdamWeightDecayOptimizer` with a faster update, optional bias correction,
    and tf.distribute.

    The update of each variable (`update_variable`):

    * resource variables without bias correction (the default): `fused_update`, the
      original's update in two kernels, equal to it to float rounding;
    * with `bias_correction_step`: m / (1 - beta_1^t) and v / (1 - beta_2^t) take the
      places of m and v in the original's element-wise update, as in Adam (the stored m
      and v are the same either way);
    * otherwise (reference variables): the original's element-wise update.

    Under a `tf.distribute` strategy, `apply_gradients` called in a replica context
    expects gradients already averaged over the replicas (`all_reduce_gradients`; the
    same values on every replica) and applies the update once, in cross-replica context,
    to every copy of each variable (`apply_gradients_cross_replica`).
    """

    def __init__(self, learning_rate, weight_decay_rate=0.0, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                 exclude_from_weight_decay=None, name="AdamWeightDecayOptimizer", bias_correction_step=None):
        """Builds the optimizer.

        Args:
          learning_rate, weight_decay_rate, beta_1, beta_2, epsilon,
            exclude_from_weight_decay, name: as `optimization.AdamWeightDecayOptimizer`.
          bias_correction_step: (optional) float32 scalar Tensor t >= 1, the 1-based
            number of the update; given, Adam's bias correction is applied (not in
            BERT's original optimizer, hence off by default).
        """
        super().__init__(learning_rate, weight_decay_rate, beta_1, beta_2, epsilon, exclude_from_weight_decay,
                         name)
        self.bias_correction_step = bias_correction_step

    @classmethod
    def from_optimizer(cls, optimizer: optimization.AdamWeightDecayOptimizer,
                       bias_correction_step=None) -> ExtendedAdamWeightDecayOptimizer:
        """The optimizer with `optimizer`'s hyperparameters (learning rate, weight decay,
        betas, epsilon, exclusions, name) and `bias_correction_step` (see `__init__`)."""
        return cls(optimizer.learning_rate, optimizer.weight_decay_rate, optimizer.beta_1, optimizer.beta_2,
                   optimizer.epsilon, optimizer.exclude_from_weight_decay, optimizer.get_name(),
                   bias_correction_step=bias_correction_step)

    def variable_name(self, param) -> str:
        """The name of variable `param` as the moments use it ("bert/x/kernel")."""
        return self._get_variable_name(param.name)

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """Returns an op applying one update to every (gradient, variable) pair (see
        `optimization.AdamWeightDecayOptimizer.apply_gradients`).

        In a replica context of a `tf.distribute` strategy the gradients must already
        be all-reduced (`all_reduce_gradients`); the update then runs once, through
        `merge_call`, on each variable's copies (`apply_gradients_cross_replica`).
        """
        if strategy_replica_context() is not None:
            return tf.distribute.get_replica_context().merge_call(
                self.apply_gradients_cross_replica, args=(list(grads_and_vars),), kwargs={"name": name})
        return super().apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def apply_gradients_cross_replica(self, strategy, grads_and_vars, name=None):
        """`apply_gradients` in cross-replica context (`merge_call`): the moments are
        created as mirrored variables and every (variable, moments) copy is updated on
        its own device from that device's copy of the (all-reduced) gradient
        (`strategy.extended.update`)."""
        updates = []
        for grad, param in grads_and_vars:
            if grad is None or param is None:
                continue
            param_name = self.variable_name(param)
            m, v = self.create_moments(param_name, param)

            def update_copy(param_copy, grad_copy, m_copy, v_copy, param_name=param_name):
                return tf.group(*self.update_variable(param_name, grad_copy, param_copy, m_copy, v_copy))

            updates.append(strategy.extended.update(param, update_copy, args=(grad, m, v), group=True))
        return tf.group(*updates, name=name)

    def update_variable(self, param_name, grad, param, m, v):
        """The ops of one step of `param` and its moments `m`, `v` (a list; see the
        class docstring for which update)."""
        if self.bias_correction_step is not None:
            return self.bias_corrected_update(param_name, grad, param, m, v)
        if all(map(is_resource_variable, (param, m, v))):
            return self.fused_update(param_name, grad, param, m, v)
        return super().update_variable(param_name, grad, param, m, v)

    def bias_corrected_update(self, param_name, grad, param, m, v):
        """The original's element-wise update with Adam's bias correction: m / (1 -
        beta_1^t) and v / (1 - beta_2^t) in place of m and v in the step (t =
        `bias_correction_step`). Returns [param.assign, m.assign, v.assign]."""
        next_m = tf.multiply(self.beta_1, m) + tf.multiply(1.0 - self.beta_1, grad)
        next_v = tf.multiply(self.beta_2, v) + tf.multiply(1.0 - self.beta_2, tf.square(grad))
        t = self.bias_correction_step
        m_hat = next_m / (1.0 - tf.pow(self.beta_1, t))
        v_hat = next_v / (1.0 - tf.pow(self.beta_2, t))
        update = m_hat / (tf.sqrt(v_hat) + self.epsilon)

        # Decoupled weight decay: on the weights directly, never through m and v.
        if self._do_use_weight_decay(param_name):
            update += self.weight_decay_rate * param

        next_param = param - self.learning_rate * update
        return [param.assign(next_param), m.assign(next_m), v.assign(next_v)]

    def fused_update(self, param_name, grad, param, m, v):
        """The original's update arithmetic in two kernels instead of about twelve ops.

        1. decoupled weight decay (when `param` gets it): w <- w - lr * wd * w;
        2. TensorFlow's Adam kernel (`ResourceApplyAdam`) with beta_1^t = beta_2^t = 0:
           its step size lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) is then lr exactly,
           i.e. Adam without bias correction: m <- m + (g - m) * (1 - beta_1),
           v <- v + (g^2 - v) * (1 - beta_2), w <- w - lr * m / (sqrt(v) + epsilon).

        Step 2 reads only m and v besides w, so w - lr * (adam + wd * w) is computed as
        two subtractions: the original's update to float rounding (the trajectory tests
        hold it within 2e-6 of the original's; Adam's division by sqrt(v) + 1e-6 magnifies
        the rounding where v is tiny). The stored m and v are the original's
        times the constants of `adam_kernel_moment_scales` (1 + 2.4e-7 and 1 - 1.3e-5),
        which the step size and epsilon undo. Each kernel passes over the variable
        once (one thread pool sweep), where the element-wise graph allocates a temporary
        per op: on all-MiniLM-L6-v2 (22.7M parameters, 11.7M of them the word embeddings,
        updated densely as in the original) the update costs about half as much.

        Args:
          param_name: str, the variable's name (selects weight decay).
          grad: float32 Tensor or `tf.IndexedSlices` of `param`'s shape.
          param, m, v: float32 resource variables of the same shape.

        Returns:
          list of ops: [the Adam kernel's op] (which runs after the decay).
        """
        grad = tf.convert_to_tensor(grad, tf.float32)  # IndexedSlices made dense, as the original's ops did
        decay = []
        if self._do_use_weight_decay(param_name):
            # After the gradient: the subtraction reads no gradient, and unordered it could
            # run while this step's forward pass still reads the variable.
            with tf.control_dependencies([grad]):
                decay.append(param.assign_sub(self.learning_rate * self.weight_decay_rate * param, read_value=False))
        m_scale, v_scale = adam_kernel_moment_scales(self.beta_1, self.beta_2)
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
