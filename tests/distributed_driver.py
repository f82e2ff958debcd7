"""run_classifier.py for the distribution tests: the real command line (flags, strategy,
Estimator, optimizer), with two test-only patches that make runs under different
strategies comparable step for step:

* no dropout: `create_model` is called with is_training=False (the classifier's
  dropout rate of 0.1 is hard-coded, as in the original);
* a fixed shuffle seed for the training data: without one, tf.data derives the shuffle's
  op seed from the graph's op count, which differs between strategies.

Usage: python tests/distributed_driver.py <run_classifier flags>; BERT_LOGICAL_CPUS=N
gives `--distribution_strategy=mirrored` N replicas on the CPU.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402

import run_classifier  # noqa: E402

SHUFFLE_SEED = 1234


def _patch():
    create_model = run_classifier.create_model
    input_fn_builder = run_classifier.file_based_input_fn_builder

    def create_model_without_dropout(bert_config, is_training, *args, **kwargs):
        return create_model(bert_config, False, *args, **kwargs)

    def input_fn_builder_with_seed(*args, **kwargs):
        kwargs.setdefault("shuffle_seed", SHUFFLE_SEED)
        return input_fn_builder(*args, **kwargs)

    run_classifier.create_model = create_model_without_dropout
    run_classifier.file_based_input_fn_builder = input_fn_builder_with_seed


if __name__ == "__main__":
    _patch()
    app.run(run_classifier.run_main)
