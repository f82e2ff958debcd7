"""BERT's fine-tuning optimizer: Adam with decoupled weight decay, warmup and linear decay.

The optimizer of `google-research/bert` (`optimization.py`) on TensorFlow 2.15's
`tf.compat.v1`, graph mode, with the original's functions and steps in the original's
order. Its training trajectory equals the original's step for step (to float rounding:
within 1e-6 in tests/test_optimization.py):

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

One difference, which makes the original's usual behaviour a guarantee: the original
grouped `global_step.assign(global_step + 1)` with the update without ordering the
two, so with resource variables the learning rate's read of `global_step` and the
increment could in principle run in either order. Here the increment runs after the
update (control dependency), so step k always uses the learning rate of step k.

One addition, a seam: `create_optimizer(..., build_train_op=hook)` hands the global
step, the schedule and the optimizer to `hook`, which builds the training op instead
of the original's last steps, and `AdamWeightDecayOptimizer.update_variable` (one
variable's update) can be overridden. This project's training features (gradient
accumulation, loss scaling, Adam's bias correction, the update in TensorFlow's Adam
kernel, tf.distribute, TensorBoard summaries) are such a hook:
`bert_estimator.training.train_op_builder.TrainOpOptions`. Without a hook the graph is
the original's recipe, nothing added.
"""

from __future__ import annotations

import re
from typing import Callable

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
                     build_train_op: Callable[..., tf.Operation] | None = None):
    """Builds the training op of BERT fine-tuning.

    Creates (or reuses) the global step, the learning-rate schedule of
    `create_learning_rate`, an `AdamWeightDecayOptimizer` (weight decay 0.01, not on
    LayerNorm parameters or biases), gradients of `loss` for all trainable variables
    clipped to global norm 1.0, the update, and the global step increment (after the
    update).

    Args:
      loss: float32 scalar Tensor to minimise.
      init_lr: float, peak learning rate.
      num_train_steps: int, total training steps (the decay reaches 0 there).
      num_warmup_steps: int, linear warmup steps (0 or None: none).
      use_tpu: bool, wrap the optimizer in `CrossShardOptimizer` (gradients summed
        across TPU shards).
      build_train_op: (optional) a hook building the training op in place of the
        steps after the optimizer (TPU wrapper, gradients, clipping, update,
        increment): called as `build_train_op(loss, optimizer, global_step, use_tpu)`
        with this function's `loss` and `use_tpu`, the `AdamWeightDecayOptimizer` above
        (not wrapped; its `learning_rate` is the schedule's float32 scalar Tensor) and
        the global step (int64 scalar variable); it returns the training op, which
        this function returns. It owns the increment of the global step. E.g.
        `bert_estimator.training.train_op_builder.TrainOpOptions(...)`. None (the
        default): the original's recipe, nothing added.

    Returns:
      The training op: one run updates every variable once and adds 1 to the global
      step (with `build_train_op`: what it returned).
    """
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
        exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"])
    if build_train_op is not None:
        return build_train_op(loss, optimizer, global_step, use_tpu)

    if use_tpu:
        optimizer = tf.tpu.CrossShardOptimizer(optimizer)

    tvars = tf.trainable_variables()
    grads = tf.gradients(loss, tvars)
    grads, _ = tf.clip_by_global_norm(grads, clip_norm=1.0)  # as in pre-training

    update_op = optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)

    # `AdamWeightDecayOptimizer.apply_gradients` leaves the global step alone (as the
    # original did), so it is advanced here; after the update, so the update used the
    # learning rate of the current step.
    with tf.control_dependencies([update_op]):
        new_global_step = global_step + 1
        increment_op = global_step.assign(new_global_step)
    return tf.group(update_op, increment_op, name="train_op")


class AdamWeightDecayOptimizer(tf.train.Optimizer):
    """Adam with decoupled ("correct") L2 weight decay, as BERT was trained.

    For each variable w with gradient g, learning rate lr:

        m <- beta_1 * m + (1 - beta_1) * g
        v <- beta_2 * v + (1 - beta_2) * g^2
        w <- w - lr * (m / (sqrt(v) + epsilon) + weight_decay_rate * w)

    No bias correction of m and v. The decay term is added to the update, not to the
    loss, so it does not pass through m and v (adding ||w||^2 to the loss would
    interact with Adam's scaling). Variables whose name matches one of
    `exclude_from_weight_decay` (regular expressions, `re.search`) are not decayed.

    `apply_gradients` does NOT advance `global_step` (as the original); see
    `create_optimizer`. A subclass changes how one variable is updated by overriding
    `update_variable`.
    """

    def __init__(self,
                 learning_rate,
                 weight_decay_rate=0.0,
                 beta_1=0.9,
                 beta_2=0.999,
                 epsilon=1e-6,
                 exclude_from_weight_decay=None,
                 name="AdamWeightDecayOptimizer"):
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
        """
        super().__init__(False, name)
        self.learning_rate = learning_rate
        self.weight_decay_rate = weight_decay_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.exclude_from_weight_decay = exclude_from_weight_decay

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """Returns an op applying one update to every (gradient, variable) pair.

        Pairs whose gradient (or variable) is None are skipped. Each variable's moments
        come from `create_moments`, its update from `update_variable`. `global_step` is
        accepted for the `tf.train.Optimizer` interface and not advanced.
        """
        assignments = []
        for grad, param in grads_and_vars:
            if grad is None or param is None:
                continue
            param_name = self._get_variable_name(param.name)
            m, v = self.create_moments(param_name, param)
            assignments.extend(self.update_variable(param_name, grad, param, m, v))
        return tf.group(*assignments, name=name)

    def create_moments(self, param_name, param):
        """Creates the Adam moments of `param` with `tf.get_variable` in the current
        variable scope.

        Args:
          param_name: str, the variable's name (`<scope>/<name>`, no ":0").
          param: the variable.

        Returns:
          (adam_m, adam_v): float32 variables of `param`'s shape, zeros, not trainable,
          named `<param_name>/adam_m` and `<param_name>/adam_v`.
        """
        # names kept ("<var>/adam_m", "<var>/adam_v"): checkpoints use them.
        m, v = (tf.get_variable(name=f"{param_name}/{moment}", shape=param.shape.as_list(), dtype=tf.float32,
                                trainable=False, initializer=tf.zeros_initializer())
                for moment in ("adam_m", "adam_v"))
        return m, v

    def update_variable(self, param_name, grad, param, m, v):
        """The ops of one update of `param` and its moments (the original's arithmetic).

        Args:
          param_name: str, the variable's name (selects weight decay).
          grad: float32 Tensor (or `tf.IndexedSlices`) of `param`'s shape, the gradient.
          param: the float32 variable.
          m: float32 variable of `param`'s shape, Adam's first moment.
          v: float32 variable of `param`'s shape, Adam's second moment.

        Returns:
          list of ops: [param.assign, m.assign, v.assign].
        """
        # Adam moments, without bias correction.
        next_m = tf.multiply(self.beta_1, m) + tf.multiply(1.0 - self.beta_1, grad)
        next_v = tf.multiply(self.beta_2, v) + tf.multiply(1.0 - self.beta_2, tf.square(grad))
        update = next_m / (tf.sqrt(next_v) + self.epsilon)

        # Decoupled weight decay: on the weights directly, never through m and v.
        if self._do_use_weight_decay(param_name):
            update += self.weight_decay_rate * param

        update_with_lr = self.learning_rate * update
        next_param = param - update_with_lr
        return [param.assign(next_param), m.assign(next_m), v.assign(next_v)]

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
