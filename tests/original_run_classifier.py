"""Runs Google's original run_classifier.py (bert-tensorflow 1.0.4) under TF 2.15.

Used by tests as an independent reference program, always in a subprocess of its own
(its flags would clash with ours in one process):

    python tests/original_run_classifier.py --task_name=MRPC --do_predict ...
"""

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _install_contrib_shim():
    import tf_slim

    contrib = types.ModuleType("tensorflow.contrib")
    contrib.layers = tf_slim.layers
    sys.modules["tensorflow.contrib"] = contrib
    sys.modules["tensorflow.contrib.layers"] = tf_slim.layers


if __name__ == "__main__":
    _install_contrib_shim()
    import tensorflow.compat.v1 as tf

    # The original reads `.shape[-1].value`: TF1's Dimension objects.
    tf.disable_v2_tensorshape()
    from absl import app
    from bert import run_classifier

    app.run(run_classifier.main)
