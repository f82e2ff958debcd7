"""The lowest layer: what every other part uses, independent of BERT.

    errors      user errors, and the one place that turns them into a one-line message
    fileio      atomic file writes (and reads), through tf.io.gfile without importing it early
    textfiles   UTF-8 decoding whose errors name the offending byte and its line
    progress    one progress line format: done/total, examples/sec and an ETA
"""
