"""TF-Hub BERT modules (TF1 format) in place of a config and checkpoint.

Google published BERT on TF-Hub as TF1 modules with a "tokens" signature (the model)
and a "tokenization_info" signature (vocab file and casing), which is what
`--bert_hub_module_handle` takes, as in the original `run_classifier_with_tfhub.py`.
"""

from __future__ import annotations

import os

import tensorflow.compat.v1 as tf

from bert_estimator.core.errors import UsageError


def require_tf1_module(handle: str) -> None:
    """Raises UsageError unless `handle` is a local TF1 Hub module directory."""
    if not tf.io.gfile.exists(os.path.join(handle, "tfhub_module.pb")):
        raise UsageError(
            f"--bert_hub_module_handle {handle} is not a TF1 Hub module directory (no tfhub_module.pb); "
            "download and untar the module first (Google's BERT modules on TF-Hub are in this format)")


def pooled_output(handle: str, is_training: bool, input_ids, input_mask, segment_ids):
    """The module's pooled output, float32 Tensor of shape [batch_size, hidden_size].

    Called through the "tokens" signature, with the "train" tag (hence dropout) when
    training. The module's weights are fine-tuned with the classifier.
    """
    import tensorflow_hub as hub  # 0.14 s, for Hub runs only

    module = hub.Module(handle, tags={"train"} if is_training else set(), trainable=True)
    outputs = module(dict(input_ids=input_ids, input_mask=input_mask, segment_ids=segment_ids),
                     signature="tokens", as_dict=True)
    return outputs["pooled_output"]


def tokenization_info(handle: str) -> tuple[str, bool]:
    """(vocab_file, do_lower_case) from the module's "tokenization_info" signature."""
    import tensorflow_hub as hub  # 0.14 s, for Hub runs only

    require_tf1_module(handle)
    with tf.Graph().as_default():
        info = hub.Module(handle)(signature="tokenization_info", as_dict=True)
        with tf.Session() as sess:
            vocab_file, do_lower_case = sess.run([info["vocab_file"], info["do_lower_case"]])
    return vocab_file.decode("utf-8"), bool(do_lower_case)
