"""Weights-only checkpoints: a fine-tuned checkpoint without the optimizer's state.

A checkpoint written during training holds, besides the model's variables and
`global_step`, the state that only further training reads: Adam's two moments of every
weight (`<name>/adam_m`, `<name>/adam_v`, twice the size of the weights), and with
`--num_accumulation_steps` > 1 the gradient accumulators (`gradient_accumulation/...`),
with `--use_amp` the dynamic loss scale (`current_loss_scale`, `good_steps`). Prediction,
evaluation and export restore only the model's variables, so a weights-only copy (about
a third of the checkpoint) gives them the same values, bit for bit; training cannot
resume from it.

`write_weights_only` writes such a copy under the same name (`model.ckpt-N`) into a
directory, with the `checkpoint` file that makes it that directory's latest checkpoint
(`tf.train.latest_checkpoint`), and removes the directory's other `model.ckpt-*` files.
"""

from __future__ import annotations

import os
import uuid
from typing import Optional

import tensorflow.compat.v1 as tf

from bert_estimator.core.fileio import write_atomically

CHECKPOINT_PATTERN = "model.ckpt-*"
STATE_FILE = "checkpoint"
MOMENT_SUFFIXES = ("/adam_m", "/adam_v")
ACCUMULATION_SCOPE = "gradient_accumulation/"
LOSS_SCALE_VARIABLES = ("current_loss_scale", "good_steps")


def is_optimizer_state(name: str) -> bool:
    """Whether checkpoint variable `name` is training state rather than a model weight:
    Adam's moments, the gradient accumulators or the dynamic loss scale (the names
    bert_estimator/training/train_op_builder.py and optimization.py give them)."""
    return (name.endswith(MOMENT_SUFFIXES) or name.startswith(ACCUMULATION_SCOPE)
            or name.rsplit("/", 1)[-1] in LOSS_SCALE_VARIABLES)


def optimizer_state_names(checkpoint_path: str) -> list[str]:
    """The variables of `checkpoint_path` that `is_optimizer_state` (sorted); [] for a
    weights-only checkpoint."""
    return sorted(name for name, _ in tf.train.list_variables(checkpoint_path) if is_optimizer_state(name))


def checkpoint_files(checkpoint_path: str) -> list[str]:
    """The files of checkpoint `checkpoint_path` (its `.index`, `.data-*`, `.meta`)."""
    return sorted(tf.io.gfile.glob(checkpoint_path + ".*"))


def write_weights_only(checkpoint_path: str, target_dir: str) -> str:
    """Writes `checkpoint_path` without its optimizer state into `target_dir`.

    The copy keeps the name of `checkpoint_path` (model.ckpt-N) and every variable that is
    not `is_optimizer_state`, `global_step` included, with its dtype, shape and values.
    It is written into a temporary directory inside `target_dir` first: on an error
    nothing of it remains and `target_dir` is as it was. Then its files are renamed into
    `target_dir` (data before index), `target_dir/checkpoint` is pointed at it, and
    every other `model.ckpt-*` file of `target_dir` (the previous checkpoints, the
    `.meta` graph) is removed. `checkpoint_path` may be in `target_dir` (pruning a
    checkpoint in place): it is read whole before its files are replaced.

    Args:
      checkpoint_path: str, a checkpoint prefix (`.../model.ckpt-N`), local or gs://.
      target_dir: str, the directory of the copy (created if needed).

    Returns:
      str, the copy's prefix: `target_dir/model.ckpt-N`.
    """
    if not tf.io.gfile.exists(checkpoint_path + ".index"):
        raise FileNotFoundError(f"{checkpoint_path}: no such checkpoint ({checkpoint_path}.index not found)")
    reader = tf.train.load_checkpoint(checkpoint_path)
    dtypes = reader.get_variable_to_dtype_map()
    names = sorted(name for name in dtypes if not is_optimizer_state(name))
    name = os.path.basename(checkpoint_path)
    tf.io.gfile.makedirs(target_dir)
    staging = os.path.join(target_dir, f".{name}.weights-only.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tf.io.gfile.makedirs(staging)
        with tf.Graph().as_default():
            placeholders = [tf.placeholder(dtypes[n], name=f"value_{i}") for i, n in enumerate(names)]
            save = tf.raw_ops.SaveV2(prefix=os.path.join(staging, name), tensor_names=names,
                                     shape_and_slices=[""] * len(names), tensors=placeholders)
            # On the CPU: in a training process the accelerators' memory is left alone.
            with tf.Session(config=tf.ConfigProto(device_count={"GPU": 0})) as session:
                session.run(save, {p: reader.get_tensor(n) for p, n in zip(placeholders, names)})
        del reader  # its files may be the ones replaced below
        written = [os.path.basename(f) for f in tf.io.gfile.glob(os.path.join(staging, name + ".*"))]
        for file_name in sorted(written, key=lambda f: f.endswith(".index")):  # the index last
            tf.io.gfile.rename(os.path.join(staging, file_name), os.path.join(target_dir, file_name), overwrite=True)
    finally:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
    write_atomically(os.path.join(target_dir, STATE_FILE),
                     f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
    for old in tf.io.gfile.glob(os.path.join(target_dir, CHECKPOINT_PATTERN)):
        if os.path.basename(old) not in written:
            tf.io.gfile.remove(old)
    return os.path.join(target_dir, name)


# ------------------------------------------------------------- a finished run's directory
BEST_DIR = "best"  # where evaluation during training keeps the best checkpoint (evaluation.BEST_DIR)
RECORD_PATTERN = "*.tf_record*"  # train/eval/predict records and their .fingerprint sidecars
STAGING_PATTERN = ".*.weights-only.tmp-*"  # left by a write_weights_only that was killed


def directory_bytes(path: str) -> int:
    """The bytes of the files under local directory `path` (0 when it does not exist)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def prune_output_dir(output_dir: str, from_best: bool) -> Optional[str]:
    """Reduces the --output_dir of a finished run_classifier.py run to what its results,
    a later prediction and an export need: one weights-only checkpoint, the one the run
    predicted from. The run's text files (results, GLUE files, reports, logs, history,
    TensorBoard events) stay; the TFRecord files (made again from the data when needed)
    and every other checkpoint go. Training cannot resume from the directory afterwards.
    Running it again changes nothing.

    Args:
      output_dir: str, the run's output directory (local or gs://).
      from_best: bool, the run predicts from `best/` (--predict_from=best): that
        checkpoint is kept, in `best/`, and those of `output_dir` go with its
        `checkpoint` file. Otherwise (or when there is no `best/` checkpoint) the last
        checkpoint of `output_dir` is kept, and `best/` keeps only its eval_results.txt.

    Returns:
      str or None, the prefix of the kept checkpoint (None: the run had none).
    """
    best_dir = os.path.join(output_dir, BEST_DIR)
    for leftover in (tf.io.gfile.glob(os.path.join(output_dir, STAGING_PATTERN))
                     + tf.io.gfile.glob(os.path.join(best_dir, STAGING_PATTERN))):
        tf.io.gfile.rmtree(leftover)
    best = tf.train.latest_checkpoint(best_dir) if tf.io.gfile.isdir(best_dir) else None
    kept_dir, dropped_dir = (best_dir, output_dir) if from_best and best else (output_dir, best_dir)
    kept = best if kept_dir == best_dir else tf.train.latest_checkpoint(output_dir)
    if kept is not None and (optimizer_state_names(kept) or _other_checkpoint_files(kept)):
        kept = write_weights_only(kept, kept_dir)
    for path in tf.io.gfile.glob(os.path.join(dropped_dir, CHECKPOINT_PATTERN)):
        tf.io.gfile.remove(path)
    if tf.io.gfile.exists(os.path.join(dropped_dir, STATE_FILE)):
        tf.io.gfile.remove(os.path.join(dropped_dir, STATE_FILE))
    for path in tf.io.gfile.glob(os.path.join(output_dir, RECORD_PATTERN)):
        tf.io.gfile.remove(path)
    return kept


def _other_checkpoint_files(checkpoint_path: str) -> list[str]:
    """The `model.ckpt-*` files beside `checkpoint_path` that are not its index and data
    (older checkpoints, its `.meta`)."""
    directory, name = os.path.split(checkpoint_path)
    own = (f"{name}.index", f"{name}.data-")
    return [path for path in tf.io.gfile.glob(os.path.join(directory, CHECKPOINT_PATTERN))
            if not os.path.basename(path).startswith(own)]
