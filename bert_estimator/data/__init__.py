"""From examples to the model's input: features, TFRecord files, input_fns, and the
assets and casing records they depend on.

    input_features  `InputFeatures`, the model inputs of one example (the original's class)
    features        the original's path: truncation, convert_single_example, the TFRecord writer
    fast_records    the same records, serialized directly (the fast backend)
    parallel        an ordered parallel map over processes, with a bounded window
    feature_cache   reuse of TFRecord files whose inputs are unchanged and that are still whole
    input_pipeline  tf.data input_fns for training, eval and prediction
    casing          a model's `do_lower_case`: recorded, inferred, enforced
    assets          real weights and sentences fetched from the package index, cached
    downloads       resumable, verified downloads: GLUE's data, Google's checkpoints
"""
